"""Pruned variants as optimize candidates: measured with the same protocol, MACs and
parameters in the report next to the latency, the winner built from its own (pruned) model."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from edgeinfer.api import optimize, write_outputs
from edgeinfer.bench.stats import LatencyStats
from edgeinfer.config import BuildConfig
from edgeinfer.errors import ConfigError
from edgeinfer.model import Model
from edgeinfer.prune import FinetuneConfig
from edgeinfer.report.optimize import optimize_table
from edgeinfer.search import Budget, OptimizeConfig
from edgeinfer.search.candidates import Candidate, thread_variant
from edgeinfer.search.pruned import macs_vs_time
from edgeinfer.search.results import CandidateResult

from ..test_schemas import assert_valid
from .test_optimize import FAST
from .tiny import write_classifier


def _cfg(data: Path, **kwargs: object) -> OptimizeConfig:
    settings = {"precisions": ("fp32", "int8"), **FAST, **kwargs}
    return OptimizeConfig(
        eval=f"npz:{data}", calib=f"npz:{data}", backends=("onnxruntime",),
        budget=Budget(max_accuracy_drop=100.0), quiet=True, torch_baseline=False,
        **settings,  # type: ignore[arg-type]
    )  # fmt: skip


def test_pruned_candidates_are_measured_and_reported(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("torch_pruning")
    from tests.torch_models import with_torch

    path, data = write_classifier(tmp_path)
    model = with_torch(Model.load(path), "classifier")
    finetune = FinetuneConfig(epochs=1, train=f"npz:{data}", batch_size=32)
    res = optimize(model, _cfg(data, prune_ratios=(0.5,), prune_finetune=finetune, finalists=8))
    pruned = [c for c in res.candidates if c.name.startswith("channel50%/")]
    assert {c.name for c in pruned} - {"channel50%/onnxruntime/fp32 t1"} == {
        "channel50%/onnxruntime/fp32",
        "channel50%/onnxruntime/int8(percentile)",  # one calibrator on pruned models
        "channel50%/onnxruntime/int8(percentile)[bias_correction=True]",  # the bc route
    }  # (a one-thread variant of the fastest finalist, when it is a pruned one, is pruned too)
    for c in pruned:
        assert c.pruning is not None and c.quality is not None and c.latency is not None
        assert c.pruning["macs_after"] < c.pruning["macs_before"] and c.pruning["epochs"] == 1
    assert res.candidate("onnxruntime/fp32").pruning is None
    report = res.to_dict()
    assert_valid("report.schema.json", json.loads(json.dumps(report)))
    assert [c["pruning"] is not None for c in report["candidates"]].count(True) == len(pruned)
    table = optimize_table(res)
    assert [col.header for col in table.columns][-4:-2] == ["MACs", "params"]
    # fewer MACs and the measured time side by side, against the same backend/precision
    said = [n for n in res.notes if n.startswith("channel50%/onnxruntime/fp32: ")]
    assert len(said) == 1 and " the MACs of onnxruntime/fp32, " in said[0], res.notes
    # a pruned winner is built from its pruned model: the manifest carries the record
    out = tmp_path / "out"
    write_outputs(dataclasses.replace(res, winner="channel50%/onnxruntime/fp32"), out)
    manifest = json.loads((out / "engine" / "manifest.json").read_text())
    assert manifest["metadata"]["pruning"]["ratio"] == 0.5
    assert "<th>MACs</th>" in (out / "report.html").read_text()


def test_a_model_without_a_pytorch_source_gets_a_note(tmp_path: Path) -> None:
    path, data = write_classifier(tmp_path)
    finetune = FinetuneConfig(epochs=1, train=f"npz:{data}")
    res = optimize(path, _cfg(data, prune_ratios=(0.5,), prune_finetune=finetune, precisions=("fp32",)))
    assert not any(c.pruning for c in res.candidates)
    assert any(n.startswith("pruned candidates left out: the model has no PyTorch source") for n in res.notes)
    assert "MACs" not in [col.header for col in optimize_table(res).columns]


def _result(name: str, p50: float, macs: int | None = None, source: str = "interleaved") -> CandidateResult:
    stats = LatencyStats(n=10, mean=p50, std=0.0, min=p50, p50=p50, p90=p50, p99=p50, p999=p50, max=p50)
    r = CandidateResult(name, BuildConfig("onnxruntime", "fp32"), latency=stats, latency_source=source)
    if macs is not None:
        r.pruning = {"macs_before": 1000, "macs_after": macs, "params_before": 10, "params_after": 5}
    return r


def test_macs_vs_time_says_when_fewer_macs_did_not_mean_less_time() -> None:
    results = {
        r.name: r
        for r in (
            _result("onnxruntime/fp32", 1.0),
            _result("onnxruntime/int8(percentile)", 0.5, source="probe"),
            _result("channel50%/onnxruntime/fp32", 0.5, macs=250),
            _result("channel70%/onnxruntime/fp32", 1.2, macs=100),
            _result("channel70%/onnxruntime/int8(percentile)", 0.5, macs=100),
            _result("channel30%/openvino/fp32", 0.5, macs=500),  # no unpruned twin: nothing said
        )
    }
    assert macs_vs_time(results) == [
        "channel50%/onnxruntime/fp32: 0.25x the MACs of onnxruntime/fp32, 2.00x its speed "
        "(faster; p50 0.500 vs 1.000 ms, interleaved)",
        "channel70%/onnxruntime/fp32: 0.10x the MACs of onnxruntime/fp32, 0.83x its speed "
        "(NOT faster; p50 1.200 vs 1.000 ms, interleaved)",
        "channel70%/onnxruntime/int8(percentile): 0.10x the MACs of onnxruntime/int8(percentile), "
        "1.00x its speed (about as fast; p50 0.500 vs 0.500 ms, quick probes only, not "
        "interleaved: rough on a busy host)",
    ]


def test_a_thread_variant_of_a_pruned_candidate_keeps_its_model_and_tag() -> None:
    model = Model.load  # any sentinel object: the variant must carry the same one
    cand = Candidate("channel50%/onnxruntime/fp32", BuildConfig("onnxruntime", "fp32", 2), model=model)  # type: ignore[arg-type]
    var = thread_variant(cand, 1)
    assert var.name == "channel50%/onnxruntime/fp32 t1" and var.model is model
    plain = thread_variant(Candidate("onnxruntime/fp32", BuildConfig("onnxruntime", "fp32", 2)), 1)
    assert plain.name == "onnxruntime/fp32 t1" and plain.model is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"prune_ratios": (0.5,)},
            "--prune needs fine-tuning (channel pruning without it loses most of the accuracy: "
            "fashion-cnn 91.85% -> 10% at 0.5); pass --prune-epochs N --prune-train DATASET",
        ),
        (
            {"prune_ratios": (0.0,)},
            "--prune must be a fraction strictly between 0 and 1 (0.5 removes half), got 0.0",
        ),
        (
            {"prune_ratios": (float("nan"),)},
            "--prune must be a fraction strictly between 0 and 1 (0.5 removes half), got nan",
        ),
    ],
)
def test_bad_pruning_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        OptimizeConfig(**kwargs)  # type: ignore[arg-type]
    assert str(err.value) == message


def test_a_pruning_failure_is_a_note_naming_the_optimize_flags(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("torch_pruning")
    from tests.torch_models import with_torch

    path, data = write_classifier(tmp_path)
    unlabelled = tmp_path / "x.npz"
    np.savez(unlabelled, x=np.load(data)["x"])
    model = with_torch(Model.load(path), "classifier")
    finetune = FinetuneConfig(epochs=1, train=f"npz:{unlabelled}")
    res = optimize(model, _cfg(data, prune_ratios=(0.5,), prune_finetune=finetune, precisions=("fp32",)))
    assert not any(c.pruning for c in res.candidates)
    left = [n for n in res.notes if n.startswith("channel50% left out: ")]
    assert len(left) == 1 and "--prune-distill" in left[0] and "--distill," not in left[0], res.notes
