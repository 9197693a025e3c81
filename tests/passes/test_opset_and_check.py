"""INT8 below opset 13 (upgrade or per-tensor, with a note) and the post-INT8 check that
refuses a degenerate engine (an entropy-capped probability map) naming a better calibrator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from edgeinfer.builder import build, load_runner
from edgeinfer.config import BuildConfig, CalibrationConfig
from edgeinfer.errors import BackendError
from edgeinfer.model import Model
from edgeinfer.passes import int8_check, opset
from edgeinfer.passes.int8 import Int8Config, Int8Pass

from ..search.issue_models import heatmap_detector, text_tensors, two_output_detector
from .helpers import write_calib


def _cal(data: str, **kw: object) -> CalibrationConfig:
    return CalibrationConfig(**{"method": "minmax", "samples": 32, "data": data, **kw})  # type: ignore[arg-type]


def test_per_channel_on_opset_11_upgrades_to_13_and_says_so(tmp_path: Path) -> None:
    model = Model.from_proto(two_output_detector(opset=11))
    result = Int8Pass(Int8Config(calibration=_cal(write_calib(tmp_path / "c.npz"))))(model)
    assert result.model.opset == 13
    onnx.checker.check_model(result.model.proto)  # per-axis DequantizeLinear is valid now
    axes = [a for n in result.model.proto.graph.node if n.op_type == "DequantizeLinear"
            for a in n.attribute if a.name == "axis"]  # fmt: skip
    assert axes  # really per channel
    assert result.notes[0] == (
        "int8: opset 11 upgraded to 13 with ONNX's version converter for per-channel weights "
        "(per-channel DequantizeLinear needs opset 13) (same outputs as before)"
    )


def test_a_model_the_converter_cannot_upgrade_is_quantized_per_tensor_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cannot(model: Model) -> Model:
        raise onnx.version_converter.ConvertError("No Adapter For Foo")

    monkeypatch.setattr(opset, "_upgrade", cannot)
    model = Model.from_proto(two_output_detector(opset=11))
    result = Int8Pass(Int8Config(calibration=_cal(write_calib(tmp_path / "c.npz"))))(model)
    assert result.model.opset == 11
    onnx.checker.check_model(result.model.proto)  # a valid graph, not "Unrecognized attribute"
    assert result.notes[0] == (
        "int8: per-tensor weights: per-channel quantization needs opset 13 and this opset-11 "
        "model could not be upgraded (No Adapter For Foo); re-export at opset 13+ for "
        "per-channel weights"
    )
    assert opset.per_channel_possible(model)[0] is False


def test_optimize_enumerates_per_tensor_variants_when_per_channel_is_impossible() -> None:
    from edgeinfer.search.candidates import enumerate_candidates

    cands, _ = enumerate_candidates(
        ["onnxruntime"], ["int8"], ["minmax"], calib_data="photos", per_channel=False
    )
    assert [c.name for c in cands] == [
        "onnxruntime/int8(minmax)[per-tensor]",
        "onnxruntime/int8(minmax)[bias_correction=True,per-tensor]",  # the bc route
    ]
    for cand in cands:
        assert cand.config.calibration is not None
        assert cand.config.calibration.per_channel is False


def test_entropy_capping_a_dense_map_is_refused_naming_a_better_calibrator(
    tmp_path: Path,
) -> None:
    # The text detector case: the first calibration batch holds no text, ONNX Runtime's
    # entropy calibrator then clips the map's logits; FP32 reaches 1.0, INT8 ~0.02.
    np.savez(tmp_path / "cal.npz", x=text_tensors(48, size=32, blank=16))
    model = Model.from_proto(heatmap_detector())
    data = f"npz:{tmp_path / 'cal.npz'}"
    # quantize_outputs: the 8-bit Sigmoid output is what entropy caps (by default graph
    # outputs stay float, and the same calibration is then fine: cosine 0.9999, below)
    entropy = BuildConfig(
        precision="int8",
        calibration=_cal(data, method="entropy", samples=48),
        options={"quantize_outputs": True},
    )
    with pytest.raises(BackendError) as exc:
        build(model, entropy)
    text = str(exc.value)
    assert text.startswith(
        "the INT8 build of 'heatmap_detector' is degenerate on 8 held-out calibration-style "
        "inputs: output 'maps': saturates at "
    )
    assert "IoU at 0.3 0.00" in text
    assert text.endswith(
        "the entropy calibrator's ranges broke it: build with --calibrator percentile, or keep "
        "the last layers in FP32 with --exclude (`edgeinfer debug precision MODEL --calib DATA` "
        "ranks them), or use --precision bf16 if INT8 cannot hold this model"
    )
    good = build(model, entropy.replace(calibration=_cal(data, method="percentile", samples=48)))
    check = [n for n in good.manifest.notes if n.startswith("int8 check vs FP32")]
    assert check and check[0].endswith("IoU at 0.3 1.00")
    float_out = build(model, entropy.replace(options={}))
    check = [n for n in float_out.manifest.notes if n.startswith("int8 check vs FP32")]
    assert check == [
        "int8 check vs FP32 on 8 held-out calibration-style inputs: output 'maps': cosine "
        "0.9999, IoU at 0.3 1.00"
    ]
    assert not [n for n in good.manifest.notes if n.startswith("WARNING")]
    with load_runner(good) as r:
        maps = r.infer({"x": text_tensors(4, size=32, seed=3)})["maps"]
    assert float(np.max(maps)) > 0.9


def test_compare_outputs_spots_constant_nan_and_saturated_outputs() -> None:
    rng = np.random.default_rng(0)
    ref = rng.random((4, 1, 8, 8)).astype(np.float32)
    ok = int8_check.compare_outputs("y", ref, ref + 0.001)
    assert not ok.degenerate and not ok.poor and ok.cosine > 0.999
    const = int8_check.compare_outputs("y", ref, np.full_like(ref, 0.5))
    assert const.constant and const.degenerate
    nan = ref.copy()
    nan[1, 0, 0, 0] = np.nan
    assert int8_check.compare_outputs("y", ref, nan).nonfinite == 1
    capped = int8_check.compare_outputs("y", ref, np.minimum(ref, 0.2))
    assert capped.saturated and capped.degenerate and capped.iou is not None
    assert int8_check.better_calibrator("entropy") == "percentile"
    assert int8_check.better_calibrator("percentile") == "minmax"
