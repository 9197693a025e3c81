from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeinfer.api import optimize
from edgeinfer.errors import BudgetError, ConfigError, DataError, ModelError
from edgeinfer.search import Budget, OptimizeConfig, check_budget
from edgeinfer.search.results import OptimizeResult

from ..test_schemas import assert_valid
from .tiny import write_classifier

FAST = {
    "time_budget_min": 2.0,
    "rounds": 2,
    "round_s": 0.05,
    "calib_samples": 16,
    "quick_n": 48,
    "finalists": 3,
}


def test_end_to_end_labels_onnxruntime(tmp_path: Path) -> None:
    model, data = write_classifier(tmp_path)
    out = tmp_path / "out"
    cfg = OptimizeConfig(
        eval=f"npz:{data}",
        calib=f"npz:{data}",
        backends=("onnxruntime",),
        budget=Budget(max_accuracy_drop=5.0),
        out_dir=str(out),
        quiet=True,
        **FAST,
    )
    res = optimize(model, cfg)
    assert res.mode == "labels" and res.data_note.startswith("top-1 accuracy on npz:")
    assert res.budget_met and res.winner is not None
    names = {c.name for c in res.candidates}
    assert {"onnxruntime/fp32", "onnxruntime/int8(percentile)", "onnxruntime/int8(minmax)"} <= names
    ref = res.candidate("onnxruntime/fp32")
    assert ref.role == "reference" and ref.status == "measured"
    assert ref.quality is not None and ref.quality.top1 == 1.0 and ref.quality.top1_drop_pts == 0
    assert res.baseline == "onnxruntime/fp32"  # no PyTorch source for a plain ONNX file
    for c in res.candidates:  # every candidate says what happened to it
        assert c.reasons, c.name
    report = json.loads((out / "report.json").read_text())
    assert OptimizeResult.from_dict(report).winner == res.winner
    assert_valid("report.schema.json", report)
    assert_valid("manifest.schema.json", json.loads((out / "engine" / "manifest.json").read_text()))
    assert "data:image/png;base64," in (out / "report.html").read_text()


def test_without_eval_data_falls_back_to_fidelity_and_says_so(tmp_path: Path) -> None:
    model, data = write_classifier(tmp_path)
    cfg = OptimizeConfig(
        calib=f"npz:{data}",
        backends=("onnxruntime",),
        precisions=("fp32",),
        budget=Budget(max_accuracy_drop=1.0),
        quiet=True,
        **FAST,
    )
    res = optimize(model, cfg)
    assert res.mode == "fidelity"
    assert res.data_note.startswith("NO EVAL DATA: fidelity to the FP32 reference")
    assert "--max-accuracy-drop needs labels; the fidelity budget applied instead" in res.notes


def test_nothing_meets_budget_raises_budget_error_with_closest(tmp_path: Path) -> None:
    model, data = write_classifier(tmp_path)
    cfg = OptimizeConfig(
        eval=f"npz:{data}",
        backends=("onnxruntime",),
        precisions=("fp32",),
        budget=Budget(latency_budget_ms=1e-6),
        quiet=True,
        thread_variants=False,
        **FAST,
    )
    res = optimize(model, cfg)
    assert not res.budget_met and res.closest == ["onnxruntime/fp32"]
    with pytest.raises(BudgetError) as exc:
        check_budget(res)
    assert exc.value.exit_code == 3
    assert str(exc.value).startswith(
        "no candidate meets the budgets (top-1 drop <= 1 pts vs FP32, latency <= 1e-06 ms); "
        "closest: onnxruntime/fp32 (p50 "
    )


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as exc:
        optimize(tmp_path / "missing.onnx")
    assert (
        str(exc.value) == f"model file '{tmp_path / 'missing.onnx'}' does not exist; check the path"
    )
    with pytest.raises(ConfigError, match="--time-budget must be > 0 minutes, got 0"):
        OptimizeConfig(time_budget_min=0)
    with pytest.raises(ConfigError, match="unknown precision 'int4'"):
        OptimizeConfig(precisions=("int4",))


def test_config_round_trip() -> None:
    cfg = OptimizeConfig(
        eval="fashion-mnist", backends=("onnxruntime",), budget=Budget(min_agreement=0.99)
    )
    assert OptimizeConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_ctrl_c_keeps_finished_candidates_and_writes_partial_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgeinfer.search import optimize as search_optimize
    from edgeinfer.search.phases import Search

    def interrupted(search: Search) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(search_optimize, "try_mixed", interrupted)  # as if Ctrl-C came mid-search
    model, data = write_classifier(tmp_path)
    out = tmp_path / "out"
    cfg = OptimizeConfig(
        eval=f"npz:{data}",
        calib=f"npz:{data}",
        backends=("onnxruntime",),
        out_dir=str(out),
        quiet=True,
        **FAST,
    )
    with pytest.raises(KeyboardInterrupt):
        optimize(model, cfg)
    report = OptimizeResult.from_dict(json.loads((out / "report.json").read_text()))
    assert report.partial
    assert "INTERRUPTED: partial results; unfinished candidates are marked skipped" in report.notes
    probed = [c for c in report.candidates if c.latency is not None]
    assert len(probed) >= 3  # fp32 reference + the int8 candidates finished before Ctrl-C
    assert "PARTIAL (interrupted)" in (out / "report.html").read_text()


def test_a_backend_that_fails_to_build_is_recorded_and_the_search_goes_on(
    tmp_path: Path,
) -> None:
    from edgeinfer import backends
    from edgeinfer.backends.base import Backend, Capabilities

    class Broken(Backend):  # a real backend class whose build fails, like a crashing runtime
        name = "broken-test"
        distribution = "onnxruntime"
        module = "onnxruntime"
        capabilities = Capabilities(precisions=("fp32",))

        def build(self, model, config, directory, **kwargs):  # type: ignore[no-untyped-def]
            raise RuntimeError("segfault in the graph compiler")

        def runner(self, engine, **options):  # type: ignore[no-untyped-def]
            raise AssertionError("never built")

    backends.register_backend(Broken)
    try:
        model, data = write_classifier(tmp_path)
        cfg = OptimizeConfig(
            eval=f"npz:{data}",
            backends=("onnxruntime", "broken-test"),
            precisions=("fp32",),
            quiet=True,
            **FAST,
        )
        res = optimize(model, cfg)
    finally:
        backends._REGISTERED.pop("broken-test", None)
        backends._INSTANCES.pop("broken-test", None)
    broken = res.candidate("broken-test/fp32")
    assert broken.status == "error"
    assert broken.error == "build failed: segfault in the graph compiler"
    assert broken.reasons == ["build failed: segfault in the graph compiler"]
    assert res.winner is not None and res.winner.startswith("onnxruntime/fp32")


def test_a_pytorch_source_is_the_starting_point(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from edgeinfer.model import Model
    from tests.torch_models import with_torch

    path, data = write_classifier(tmp_path)
    model = with_torch(Model.load(path), "classifier")
    cfg = OptimizeConfig(
        eval=f"npz:{data}", backends=("onnxruntime",), precisions=("fp32",), quiet=True, **FAST
    )
    res = optimize(model, cfg)
    start = res.candidate("pytorch-eager/fp32")
    assert res.baseline == start.name and start.role == "baseline" and start.kind == "baseline"
    assert start.config is not None and start.config.backend == "torch"
    assert start.status == "measured" and start.ratio_vs_baseline == 1.0
    assert start.quality is not None and start.quality.top1 == 1.0  # same weights as the graph
    assert res.winner is not None and res.winner.startswith("onnxruntime/fp32")  # never the start
    assert res.candidate(res.winner).ratio_vs_baseline is not None


def test_two_output_fixed_batch_opset11_detector_on_images_needs_no_workaround(
    tmp_path: Path,
) -> None:
    """The detector of issue 17: two outputs, a fixed batch of 1, opset 11, its own
    normalization, images for calibration and no eval data."""
    import onnx

    from edgeinfer.preprocess import PreprocessSpec

    from .issue_models import two_output_detector, write_images

    path = tmp_path / "det.onnx"
    onnx.save(two_output_detector(batch=1, opset=11), str(path))
    images = write_images(tmp_path / "imgs", n=48)
    base = {**FAST, "calib_samples": 24, "quick_n": 12}
    with pytest.raises(DataError, match="edgeinfer does not guess one"):
        optimize(path, OptimizeConfig(calib=f"images:{images}", quiet=True, **base))
    spec = PreprocessSpec(size=(16, 16), mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3), color="bgr")
    out = tmp_path / "out"
    cfg = OptimizeConfig(
        calib=f"images:{images}", preprocess=spec, backends=("onnxruntime",),
        precisions=("fp32", "int8"), calibrators=("minmax",), mixed=False, out_dir=str(out),
        quiet=True, **base,
    )  # fmt: skip
    res = optimize(path, cfg)
    assert res.notes[0] == (
        "accuracy budget: output 'scores' (classification): agreement on confident inputs "
        "(ref p >= 0.5) >= 0.995 and 100% top-1-in-top-5; output 'boxes' (dense): cosine "
        "similarity to FP32 >= 0.999 (mean per input)"
    )
    assert (
        "left out 24 eval input(s) that are also calibration samples: candidates are judged on "
        "data they were not calibrated on"
    ) in res.notes
    assert res.data_note.endswith("tuned on 12, judged on 12 held-out inputs")
    int8 = res.candidate("onnxruntime/int8(minmax)")
    assert int8.error is None and int8.quality is not None
    assert [o.name for o in int8.quality.outputs] == ["scores", "boxes"]
    assert any(r.startswith("output 'boxes': cosine") for r in int8.reasons)  # judged too
    assert any("opset 11 upgraded to 13" in n for n in int8.notes)
    assert res.winner is not None and res.winner.startswith("onnxruntime/fp32")  # or its t1
    winner = res.candidate(res.winner)
    assert winner.quality is not None and winner.quality.split == "holdout"
    assert res.warnings and "cannot be resolved by" in res.warnings[0]
    report = json.loads((out / "report.json").read_text())  # strict JSON
    assert_valid("report.schema.json", report)
    manifest = json.loads((out / "engine" / "manifest.json").read_text())
    assert PreprocessSpec.from_dict(manifest["metadata"]["preprocess"]) == spec
    html = (out / "report.html").read_text()
    assert "output by output (held-out split)" in html and "warning: " in html
