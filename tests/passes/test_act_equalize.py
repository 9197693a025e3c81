"""Activation equalization into depthwise Convs: exact in FP32, fused again in INT8."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeinfer.calibration import CalibrationConfig
from edgeinfer.config import BuildConfig
from edgeinfer.model import Model
from edgeinfer.passes import ActEqualizePass, Int8Config, Int8Pass, prepare_for_quantization
from edgeinfer.passes.qdq_float import float_nodes, quantized_units
from tests.conftest import make_conv_relu

from .helpers import op_types, run, write_calib
from .test_equalize import make_mobile_block


def _cal(tmp_path: Path) -> CalibrationConfig:
    data = write_calib(tmp_path / "c.npz", n=48, shape=(3, 8, 8))
    return CalibrationConfig(method="minmax", samples=48, data=data)


def _x() -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(7).standard_normal((4, 3, 8, 8)).astype(np.float32) * 3}


def _channel_peaks(model: Model, tensor: str, x: dict[str, np.ndarray]) -> np.ndarray:
    import onnx

    proto = onnx.ModelProto()
    proto.CopyFrom(model.proto)
    proto.graph.output.append(
        onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None)
    )
    return np.abs(_run_named(proto, x, tensor)).max(axis=(0, 2, 3))


def _run_named(proto: object, feed: dict[str, np.ndarray], name: str) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])  # type: ignore[attr-defined]
    return sess.run([name], feed)[0]


def test_exact_and_channels_equalized(tmp_path: Path) -> None:
    model = Model.from_proto(make_mobile_block())
    result = ActEqualizePass(_cal(tmp_path), quiet=True)(model)
    assert result.modified
    assert result.notes[0].startswith(
        "act-equalize: 1 depthwise-Conv inputs equalized on 48 samples"
    )
    assert result.notes[0].endswith("1 ReLU6 -> Relu + per-channel Min (exact)")
    np.testing.assert_allclose(
        run(result.model.proto, _x()), run(model.proto, _x()), rtol=1e-4, atol=1e-4
    )
    like_calibration = {"x": _x()["x"] / 3}
    before = _channel_peaks(model, "a1", like_calibration)
    after = _channel_peaks(result.model, "a1", like_calibration)
    live = before > 0  # a channel the ReLU6 never lets through stays dead
    assert after[live].min() / after.max() > 5 * before[live].min() / before.max()


def test_int8_drops_the_redundant_bounds_and_float_layers_stay_exact(tmp_path: Path) -> None:
    cal = _cal(tmp_path)
    equalized = ActEqualizePass(cal, quiet=True)(Model.from_proto(make_mobile_block())).model
    result = Int8Pass(Int8Config(calibration=cal), quiet=True)(equalized)
    assert any(
        "1 equalized ReLU6 bound(s) lie above the calibrated range" in n for n in result.notes
    )
    assert "Min" not in op_types(result.model.proto) and "Relu" not in op_types(result.model.proto)
    fp32, _ = prepare_for_quantization(equalized)
    units = [u for u, _ in quantized_units(result.model.proto, fp32.proto)]
    floated, edit = float_nodes(result.model.proto, fp32.proto, units)
    assert edit.reinserted.count("relu6") == 1  # the Min (named like the old ReLU6) is back
    np.testing.assert_array_equal(run(floated, _x()), run(fp32.proto, _x()))


def test_skipped_with_the_reason(tmp_path: Path) -> None:
    model = Model.from_proto(make_conv_relu())
    no_pairs = ActEqualizePass(_cal(tmp_path))(model)
    assert not no_pairs.modified and no_pairs.notes == (
        "act-equalize: skipped, no Conv -> (Relu|ReLU6) -> depthwise Conv chain",
    )
    no_data = ActEqualizePass(None)(Model.from_proto(make_mobile_block()))
    assert not no_data.modified and no_data.notes == (
        "act-equalize: skipped, it needs calibration data (--calib)",
    )
    from edgeinfer.passes import run_pipeline

    _, notes = run_pipeline(
        Model.from_proto(make_mobile_block()), BuildConfig(passes=("act-equalize",))
    )
    assert notes == ["act-equalize: skipped, it needs calibration data (--calib)"]
