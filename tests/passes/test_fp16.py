from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from edgeinfer.errors import ConfigError
from edgeinfer.model import Model
from edgeinfer.passes import DEFAULT_BLOCK_OPS, Fp16Config, Fp16Pass

from ..conftest import make_conv_relu, make_matmul
from .helpers import make_two_convs, op_types, run


def _init_types(model: Model) -> dict[str, int]:
    return {i.name: i.data_type for i in model.proto.graph.initializer}


def test_weights_become_fp16_and_io_stays_fp32_with_casts_at_the_boundary() -> None:
    m = Model.from_proto(make_conv_relu())
    result = Fp16Pass()(m)
    assert result.modified
    assert op_types(result.model.proto) == ["Cast", "Conv", "Relu", "Cast"]
    assert set(_init_types(result.model).values()) == {TensorProto.FLOAT16}
    assert result.model.inputs == m.inputs and result.model.outputs == m.outputs
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    ref, got = run(m.proto, {"x": x}), run(result.model.proto, {"x": x})
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=0.05, rtol=0.01)


def test_matmul_graph_runs_in_fp16() -> None:
    m = Model.from_proto(make_matmul())
    result = Fp16Pass()(m)
    assert op_types(result.model.proto) == ["Cast", "MatMul", "Add", "Cast"]
    a = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(run(result.model.proto, {"a": a}), run(m.proto, {"a": a}), atol=0.02)


def test_block_list_keeps_softmax_fp32_by_default() -> None:
    assert "Softmax" in DEFAULT_BLOCK_OPS
    result = Fp16Pass()(Model.from_proto(make_two_convs()))
    ops = op_types(result.model.proto)
    # the softmax gets FP32 input through a Cast and writes the FP32 output itself
    assert ops == ["Cast", "Conv", "Relu", "Conv", "Cast", "Softmax"]
    assert any("kept in FP32" in n and "Softmax x1" in n for n in result.notes)


def test_exclude_by_node_name_and_by_op_type() -> None:
    m = Model.from_proto(make_two_convs())
    by_name = Fp16Pass(Fp16Config(exclude=("conv2",)))(m).model.proto
    conv2 = next(n for n in by_name.graph.node if n.name == "conv2")
    assert conv2.input[1] == "W2"  # FP32 weight kept
    by_type = Fp16Pass(Fp16Config(exclude=("Relu",), block_ops=()))(m).model.proto
    assert op_types(by_type) == ["Cast", "Conv", "Cast", "Relu", "Cast", "Conv", "Softmax", "Cast"]


def test_nothing_convertible_is_reported_unmodified() -> None:
    m = Model.from_proto(make_conv_relu())
    result = Fp16Pass(Fp16Config(exclude=("Conv", "Relu")))(m)
    assert result.modified is False and result.model is m
    assert result.notes == ("fp16: no node could be converted; the model stays FP32",)


def test_nodes_with_weights_beyond_fp16_range_stay_fp32() -> None:
    from onnx import helper, numpy_helper

    proto = make_matmul()
    big = numpy_helper.from_array(np.full(3, 1e6, np.float32), "v")  # e.g. a BN variance
    proto.graph.node.append(helper.make_node("Constant", [], ["big"], value=big, name="const"))
    proto.graph.node.append(helper.make_node("Add", ["y0", "big"], ["y"], name="add_big"))
    proto.graph.node[1].output[0] = "y0"
    m = Model.from_proto(proto)
    result = Fp16Pass()(m)
    assert "fp16: kept in FP32, weights beyond ±65504: Add x1, Constant x1" in result.notes
    add = next(n for n in result.model.proto.graph.node if n.name == "add_big")
    assert add.input[1] == "big"  # the FP32 constant, not a Cast to FP16 (that would be inf)
    a = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(run(result.model.proto, {"a": a}), run(m.proto, {"a": a}), rtol=1e-3)


def test_config_is_validated_and_round_trips() -> None:
    cfg = Fp16Config(exclude=("conv1",))
    assert Fp16Config.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="fp16 exclude must be a list"):
        Fp16Config(exclude="conv1")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown fp16 keys"):
        Fp16Config.from_dict({"blocklist": []})
