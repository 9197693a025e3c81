"""Keeping tensors or nodes of a QDQ model in float; INT8 options (outputs, reduce_range)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgeinfer.calibration import CalibrationConfig
from edgeinfer.errors import ModelError
from edgeinfer.model import Model
from edgeinfer.passes import Int8Config, Int8Pass, prepare_for_quantization
from edgeinfer.passes.qdq_float import float_nodes, float_tensors, quantized_units

from .helpers import op_types, run, write_calib
from .test_equalize import make_mobile_block


def _quantize(tmp_path: Path, **kw: object) -> tuple[Model, Model]:
    data = write_calib(tmp_path / "c.npz", shape=(3, 8, 8))
    cfg = Int8Config(
        calibration=CalibrationConfig(method="minmax", samples=32, data=data),
        **kw,  # type: ignore[arg-type]
    )
    fp32, _ = prepare_for_quantization(Model.from_proto(make_mobile_block()))
    return Int8Pass(cfg)(Model.from_proto(make_mobile_block())).model, fp32


def _x() -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(5).standard_normal((4, 3, 8, 8)).astype(np.float32) * 4}


def test_every_unit_in_float_is_the_fp32_model_exactly(tmp_path: Path) -> None:
    q, fp32 = _quantize(tmp_path)  # the graph output stays float
    # ONNX Runtime folded the ReLU6 and the ReLU into the quantization ranges
    assert "Clip" not in op_types(q.proto) and "Relu" not in op_types(q.proto)
    units = quantized_units(q.proto, fp32.proto)
    assert [op for _, op in units] == ["Conv", "Conv", "Conv"]
    floated, edit = float_nodes(q.proto, fp32.proto, [name for name, _ in units])
    onnx.checker.check_model(floated)
    assert sorted(edit.reinserted) == sorted(
        n.name for n in fp32.proto.graph.node if n.op_type in ("Clip", "Relu")
    )
    np.testing.assert_array_equal(run(floated, _x()), run(fp32.proto, _x()))
    assert not np.array_equal(run(q.proto, _x()), run(fp32.proto, _x()))


def test_one_node_in_float_reads_the_clipped_value(tmp_path: Path) -> None:
    q, fp32 = _quantize(tmp_path, quantize_outputs=True)
    dw = next(n.name for n in fp32.proto.graph.node if n.op_type == "Conv" and n.name == "dw")
    floated, edit = float_nodes(q.proto, fp32.proto, [dw])
    assert edit.nodes == ["dw"] and edit.reinserted == ["relu6"]
    node = next(n for n in floated.graph.node if n.name == "dw")
    producers = {o: n.op_type for n in floated.graph.node for o in n.output}
    assert [producers.get(i, "initializer") for i in node.input] == [
        "Clip",
        "initializer",
        "initializer",
    ]


def test_graph_outputs_stay_float_by_default(tmp_path: Path) -> None:
    q, _ = _quantize(tmp_path)
    producer = next(n for n in q.proto.graph.node if "y" in n.output)
    assert producer.op_type == "Conv"  # not a DequantizeLinear
    assert [o.name for o in q.proto.graph.output] == ["y"]
    quantized, _ = _quantize(tmp_path, quantize_outputs=True)
    assert next(n for n in quantized.proto.graph.node if "y" in n.output).op_type == (
        "DequantizeLinear"
    )


def test_output_note_and_exclude_by_name(tmp_path: Path) -> None:
    data = write_calib(tmp_path / "c.npz", shape=(3, 8, 8))
    cfg = Int8Config(
        calibration=CalibrationConfig(method="minmax", samples=32, data=data), exclude=("dw",)
    )
    result = Int8Pass(cfg)(Model.from_proto(make_mobile_block()))
    assert "int8: graph outputs not quantized: y" in result.notes
    assert (
        "int8: 1 folded activation(s) re-inserted before the nodes kept in float (their "
        "inputs are the FP32 values)" in result.notes
    )
    assert "int8: kept in FP32 by --exclude: dw" in result.notes


def test_reduce_range_uses_seven_bit_weights(tmp_path: Path) -> None:
    q, _ = _quantize(tmp_path, reduce_range=True)
    weights = [
        numpy_helper.to_array(t) for t in q.proto.graph.initializer if t.name.endswith("_quantized")
    ]
    int8 = [w for w in weights if w.dtype == np.int8]
    assert int8 and max(int(np.abs(w.astype(np.int32)).max()) for w in int8) <= 64
    full, _ = _quantize(tmp_path)
    full8 = [
        numpy_helper.to_array(t)
        for t in full.proto.graph.initializer
        if t.name.endswith("_quantized") and t.data_type == onnx.TensorProto.INT8
    ]
    assert max(int(np.abs(w.astype(np.int32)).max()) for w in full8) == 127


def test_unknown_names_are_errors(tmp_path: Path) -> None:
    q, fp32 = _quantize(tmp_path)
    with pytest.raises(ModelError, match="node\\(s\\) nope not in the quantized model"):
        float_nodes(q.proto, fp32.proto, ["nope"])
    with pytest.raises(ModelError, match="tensor 'x2' is not quantized in the model"):
        float_tensors(q.proto, fp32.proto, ["x2"])
    same, edit = float_tensors(q.proto, fp32.proto, ["x2"], strict=False)
    assert edit.tensors == [] and len(same.graph.node) == len(q.proto.graph.node)
