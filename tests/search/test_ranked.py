"""Mixed precision from a ranking: the fewest top-ranked layers that meet the budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeinfer.builder import build, load_runner
from edgeinfer.config import BuildConfig, CalibrationConfig
from edgeinfer.model import Model
from edgeinfer.search.candidates import Candidate, candidate_name, mixed_variant
from edgeinfer.search.ranked import diagnosis_ranking, fewest_layers
from edgeinfer.search.results import Quality

from ..evaluate.test_layerwise import make_broken_cnn
from ..passes.helpers import write_calib

RANKING = [f"layer{i}" for i in range(20)]


def _evaluate_needing(k_needed: int, calls: list[int]):  # type: ignore[no-untyped-def]
    def evaluate(exclude: tuple[str, ...]) -> Quality:
        calls.append(len(exclude))
        assert list(exclude) == RANKING[: len(exclude)]
        return Quality("fidelity", 100, agreement=min(1.0, 0.9 + 0.1 * len(exclude) / k_needed))

    return evaluate


def _meets(q: Quality) -> bool:
    return (q.agreement or 0) >= 1.0


def _score(q: Quality) -> float:
    return q.agreement or 0.0


def test_finds_the_smallest_k_with_few_builds() -> None:
    for needed in (1, 2, 3, 5, 8, 13, 20):
        calls: list[int] = []
        out = fewest_layers(RANKING, _evaluate_needing(needed, calls), _meets, _score)
        assert out.meets and out.excluded == tuple(RANKING[:needed]), needed
        assert len(calls) <= 2 * 5 + 1  # ~2 log2(20) builds, not 20
        assert out.steps[-1][0] in calls


def test_unreachable_budget_reports_the_best_tried() -> None:
    calls: list[int] = []
    out = fewest_layers(RANKING, _evaluate_needing(50, calls), _meets, _score)
    assert not out.meets and calls == [1, 2, 4, 8, 16, 20]
    assert out.excluded == tuple(RANKING) and out.note == (
        "keeping every ranked layer in float still misses the budget"
    )


def test_failed_builds_and_the_time_budget() -> None:
    def broken(exclude: tuple[str, ...]) -> Quality | None:
        return None

    out = fewest_layers(RANKING, broken, _meets, _score)
    assert not out.meets and out.quality is None and out.excluded == ()
    out = fewest_layers(RANKING, broken, _meets, _score, late=lambda: True)
    assert out.note == "time budget ran out"
    out = fewest_layers([], broken, _meets, _score)
    assert out.note == "the diagnosis ranked no layer as harmful"


# -- the ranking of debug precision drives it (real builds of a deliberately broken model) ----


def _sqnr_db(ref: np.ndarray, out: np.ndarray) -> float:
    noise = float(np.mean((ref - out) ** 2)) or 1e-30
    return 10 * float(np.log10(float(np.mean(ref**2)) / noise))


def test_the_diagnosis_ranking_finds_the_one_layer_to_keep_in_float(tmp_path: Path) -> None:
    model = Model.from_proto(make_broken_cnn())
    spec = write_calib(tmp_path / "c.npz", n=96)
    cfg = BuildConfig(
        precision="int8", calibration=CalibrationConfig("minmax", samples=64, data=spec)
    )
    ranking = diagnosis_ranking(model, cfg, samples=16)
    assert ranking[0][0] == "conv3" and ranking[0][1] > 0.9
    x = np.random.default_rng(5).standard_normal((8, 3, 16, 16)).astype(np.float32)

    def outputs(config: BuildConfig) -> np.ndarray:
        with load_runner(build(model, config, quiet=True)) as r:
            return next(iter(r.infer({"x": x}, copy=True).values()))

    ref = outputs(BuildConfig())
    calls: list[tuple[str, ...]] = []

    def evaluate(exclude: tuple[str, ...]) -> Quality:
        calls.append(exclude)
        sqnr = _sqnr_db(ref, outputs(mixed_variant(Candidate("c", cfg), exclude).config))
        return Quality("fidelity", len(x), cosine=1 - 10 ** (-sqnr / 10))

    out = fewest_layers([n for n, _ in ranking], evaluate, lambda q: (q.cosine or 0) > 0.999, _cos)
    assert out.meets and out.excluded == ("conv3",) and calls == [("conv3",)]
    assert _sqnr_db(ref, outputs(cfg)) < 30  # all-INT8 misses the 30 dB (0.999) bar


def _cos(q: Quality) -> float:
    return q.cosine or 0.0


def test_mixed_variants_run_the_rest_in_what_the_route_asks_where_the_host_has_it() -> None:
    ort = BuildConfig(precision="int8")
    assert mixed_variant(Candidate("o", ort), ["conv3"]).config == ort.replace(exclude=("conv3",))
    pytest.importorskip("openvino")
    import openvino as ov

    caps = [str(c) for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")]
    nncf = BuildConfig("openvino", "int8", options={"quantizer": "nncf"})
    var = mixed_variant(Candidate("n", nncf), ["conv3"]).config
    assert var.exclude == ("conv3",)
    assert var.option("inference_precision") == ("bf16" if "BF16" in caps else None)
    assert ("inference_precision=bf16" in candidate_name(var)) == ("BF16" in caps)
