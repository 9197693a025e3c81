from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeinfer.calibration import CalibrationConfig, calibrate
from edgeinfer.errors import ConfigError, ModelError
from edgeinfer.model import Model
from edgeinfer.passes import Int8Config, Int8Pass, prepare_for_quantization

from ..conftest import make_conv_relu
from .helpers import make_two_convs, op_types, run, write_calib


def _cfg(data: str, **kw: object) -> Int8Config:
    exclude = kw.pop("exclude", ())
    return Int8Config(
        calibration=CalibrationConfig(method="minmax", samples=32, data=data, **kw),  # type: ignore[arg-type]
        exclude=exclude,  # type: ignore[arg-type]
    )


def _quantized_inputs(proto: object, node_name: str) -> list[str]:
    node = next(n for n in proto.graph.node if n.name == node_name)  # type: ignore[attr-defined]
    producers = {o: n.op_type for n in proto.graph.node for o in n.output}  # type: ignore[attr-defined]
    return [producers.get(x, "") for x in node.input]


def test_static_qdq_quantizes_convs_per_channel(tmp_path: Path) -> None:
    data = write_calib(tmp_path / "c.npz")
    m = Model.from_proto(make_two_convs())
    result = Int8Pass(_cfg(data))(m)
    ops = op_types(result.model.proto)
    assert result.modified
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    assert _quantized_inputs(result.model.proto, "conv1")[:2] == ["DequantizeLinear"] * 2
    # per-channel: the weight's scale is a vector of one value per output channel
    scales = [
        i
        for i in result.model.proto.graph.initializer
        if i.name.startswith("W1") and "scale" in i.name
    ]
    assert scales and list(scales[0].dims) == [8]
    assert any(n.startswith("int8: static QDQ") for n in result.notes)
    x = np.random.default_rng(3).standard_normal((1, 3, 16, 16)).astype(np.float32)
    agree = run(result.model.proto, {"x": x}).argmax(1) == run(m.proto, {"x": x}).argmax(1)
    assert agree.mean() > 0.9


def test_per_tensor_weights(tmp_path: Path) -> None:
    data = write_calib(tmp_path / "c.npz")
    result = Int8Pass(_cfg(data, per_channel=False))(Model.from_proto(make_two_convs()))
    scales = [
        i
        for i in result.model.proto.graph.initializer
        if i.name.startswith("W1") and "scale" in i.name
    ]
    assert scales and list(scales[0].dims) == []


def test_exclude_by_name_and_op_type_keeps_nodes_fp32(tmp_path: Path) -> None:
    data = write_calib(tmp_path / "c.npz")
    m = Model.from_proto(make_two_convs())
    by_name = Int8Pass(_cfg(data, exclude=("conv2",)))(m).model.proto
    assert _quantized_inputs(by_name, "conv1")[:2] == ["DequantizeLinear"] * 2
    assert _quantized_inputs(by_name, "conv2")[1] == ""  # FP32 weight initializer
    by_type = Int8Pass(_cfg(data, exclude=("Conv",)))(m)
    for conv in ("conv1", "conv2"):
        assert "DequantizeLinear" not in _quantized_inputs(by_type.model.proto, conv)
    assert "QuantizeLinear" in op_types(by_type.model.proto)  # the Softmax still is
    assert "int8: kept in FP32 by --exclude: Conv" in by_type.notes


def test_symmetric_activations_use_int8_zero_point_zero(tmp_path: Path) -> None:
    from onnx import TensorProto, numpy_helper

    data = write_calib(tmp_path / "c.npz")
    proto = Int8Pass(_cfg(data, symmetric_activations=True))(
        Model.from_proto(make_conv_relu())
    ).model.proto
    zps = [i for i in proto.graph.initializer if i.name.startswith("x") and "zero_point" in i.name]
    assert zps and zps[0].data_type == TensorProto.INT8 and numpy_helper.to_array(zps[0]) == 0
    asym = Int8Pass(_cfg(data))(Model.from_proto(make_conv_relu())).model.proto
    zps = [i for i in asym.graph.initializer if i.name.startswith("x") and "zero_point" in i.name]
    assert zps[0].data_type == TensorProto.UINT8


def test_one_calibration_serves_every_exclude_set(tmp_path: Path) -> None:
    data = write_calib(tmp_path / "c.npz")
    m = Model.from_proto(make_two_convs())
    first = Int8Pass(_cfg(data))
    first(m)
    assert first.last_table is not None and not first.last_table.from_cache
    second = Int8Pass(_cfg(data, exclude=("conv1",)))
    second(m)
    assert second.last_table is not None and second.last_table.from_cache


def test_precomputed_table_for_another_model_is_refused(tmp_path: Path) -> None:
    data = write_calib(tmp_path / "c.npz")
    other, _ = prepare_for_quantization(Model.from_proto(make_conv_relu()))
    table = calibrate(other, CalibrationConfig(method="minmax", samples=32, data=data))
    with pytest.raises(ConfigError, match="the calibration table was made for another model"):
        Int8Pass(_cfg(data), table=table)(Model.from_proto(make_two_convs()))


def test_already_quantized_model_is_refused(tmp_path: Path) -> None:
    data = write_calib(tmp_path / "c.npz")
    q = Int8Pass(_cfg(data))(Model.from_proto(make_conv_relu())).model
    with pytest.raises(ModelError, match="is already quantized"):
        Int8Pass(_cfg(data))(q)


def test_unknown_exclude_is_an_error(tmp_path: Path) -> None:
    data = write_calib(tmp_path / "c.npz")
    with pytest.raises(ModelError, match="--exclude convX: no node or op type"):
        Int8Pass(_cfg(data, exclude=("convX",)))(Model.from_proto(make_two_convs()))


@pytest.mark.parametrize(
    "options",
    [
        {"backend": "onnxruntime"},
        {"backend": "openvino"},
        {"backend": "openvino", "options": {"quantizer": "nncf"}},
    ],
)
def test_models_with_external_data_quantize(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, object]
) -> None:
    """A model whose weights live in an external data file (models over 2 GiB; PyTorch's
    exporter writes them) quantizes on every INT8 route. The limit is lowered so that a small
    model takes the >2 GiB code paths; saving must not move the weights out of the model.
    """
    import onnx

    from edgeinfer.builder import build
    from edgeinfer.config import BuildConfig

    if options["backend"] == "openvino":
        pytest.importorskip("openvino")
    path = tmp_path / "m.onnx"
    onnx.save_model(
        make_two_convs(), str(path), save_as_external_data=True, location="m.onnx.data",
        size_threshold=0,
    )  # fmt: skip
    monkeypatch.setattr("edgeinfer.model._PROTO_SIZE_LIMIT", 1000)
    model = Model.load(path)
    assert model.large
    data = write_calib(tmp_path / "c.npz")
    cal = CalibrationConfig(method="minmax", samples=32, data=data)
    engine = build(model, BuildConfig(precision="int8", calibration=cal, **options), cache=False)  # type: ignore[arg-type]
    assert engine.precision.startswith("int8")
    weights = [t for t in model.proto.graph.initializer if t.name == "W1"]
    assert weights[0].raw_data and not weights[0].external_data  # still in memory
