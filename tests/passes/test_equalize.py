"""Cross-layer equalization: exact for ReLU6 and depthwise Convs, channel ranges equalized."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeinfer.config import BuildConfig
from edgeinfer.errors import ConfigError
from edgeinfer.model import Model
from edgeinfer.passes import EqualizeConfig, EqualizePass, list_passes, run_pipeline
from edgeinfer.passes.equalize import find_pairs
from tests.conftest import make_conv_relu

from .helpers import op_types, run


def make_mobile_block(seed: int = 0) -> onnx.ModelProto:
    """x -> Conv(3->8) -> Clip(0,6) -> depthwise Conv(8) -> Relu -> Conv(8->4) -> y, with
    output channels of very different ranges (what per-tensor INT8 weights suffer from).
    """
    rng = np.random.default_rng(seed)
    spread = np.logspace(-2, 1, 8).astype(np.float32)
    inits = [
        numpy_helper.from_array(
            (rng.standard_normal((8, 3, 3, 3)) * spread[:, None, None, None]).astype(np.float32),
            "W1",
        ),
        numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "B1"),
        numpy_helper.from_array(rng.standard_normal((8, 1, 3, 3)).astype(np.float32), "W2"),
        numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "B2"),
        numpy_helper.from_array(rng.standard_normal((4, 8, 1, 1)).astype(np.float32), "W3"),
        numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
        numpy_helper.from_array(np.array(6.0, np.float32), "hi"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "W1", "B1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Clip", ["c1", "lo", "hi"], ["a1"], name="relu6"),
        helper.make_node("Conv", ["a1", "W2", "B2"], ["c2"], pads=[1, 1, 1, 1], group=8, name="dw"),
        helper.make_node("Relu", ["c2"], ["a2"], name="relu"),
        helper.make_node("Conv", ["a2", "W3"], ["y"], name="project"),
    ]
    graph = helper.make_graph(
        nodes,
        "mobile_block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, 8, 8])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _channel_spread(proto: onnx.ModelProto, name: str) -> float:
    w = numpy_helper.to_array(next(t for t in proto.graph.initializer if t.name == name))
    r = np.abs(w).reshape(w.shape[0], -1).max(axis=1)
    return float(r.max() / r.min())


def test_equalization_keeps_the_function_and_evens_the_channel_ranges() -> None:
    model = Model.from_proto(make_mobile_block())
    result = EqualizePass()(model)
    assert result.modified
    assert result.notes == (
        "equalize: 2 Conv pairs equalized (1 into depthwise Convs), channel scales "
        + result.notes[0].split("channel scales ")[1],
    )
    assert "1 ReLU6 -> Relu + per-channel Min (exact)" in result.notes[0]
    x = np.random.default_rng(3).standard_normal((4, 3, 8, 8)).astype(np.float32) * 3
    np.testing.assert_allclose(
        run(result.model.proto, {"x": x}), run(model.proto, {"x": x}), rtol=1e-4, atol=1e-4
    )
    assert _channel_spread(result.model.proto, "W1") < _channel_spread(model.proto, "W1") / 10
    assert op_types(result.model.proto) == ["Conv", "Relu", "Min", "Conv", "Relu", "Conv"]
    assert model.proto.graph.node[1].op_type == "Clip"  # the input model is untouched


def test_relu6_clip_is_reproduced_per_channel() -> None:
    """Inputs large enough to saturate ReLU6 everywhere: the per-channel Min must clip."""
    model = Model.from_proto(make_mobile_block())
    out = EqualizePass()(model).model
    x = np.full((1, 3, 8, 8), 50.0, np.float32)
    np.testing.assert_allclose(run(out.proto, {"x": x}), run(model.proto, {"x": x}), rtol=1e-4)


def test_a_model_without_pairs_is_skipped_with_the_reason() -> None:
    model = Model.from_proto(make_conv_relu())
    result = EqualizePass()(model)
    assert not result.modified and result.model is model
    assert result.notes == (
        "equalize: skipped, no Conv -> (Relu|ReLU6) -> Conv chain with unshared weights "
        "(BatchNorm must be folded into the Convs first)",
    )


def test_shared_weights_and_branching_tensors_are_left_alone() -> None:
    proto = make_mobile_block()
    proto.graph.output.append(helper.make_tensor_value_info("a2", TensorProto.FLOAT, None))
    pairs = find_pairs(proto)  # a2 is a graph output now: dw -> project cannot be rescaled
    assert [(p.a.name, p.b.name) for p in pairs] == [("conv1", "dw")]


def test_registered_and_run_from_the_build_config() -> None:
    assert "equalize" in list_passes()
    out, notes = run_pipeline(
        Model.from_proto(make_mobile_block()), BuildConfig(passes=("equalize",))
    )
    assert notes[0].startswith("equalize: 2 Conv pairs equalized")
    assert "Min" in op_types(out.proto)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"iterations": 0}, "equalize iterations must be in 1..1000, got 0"),
        ({"max_scale": 1.0}, "equalize max_scale must be in (1, 1e6], got 1.0"),
    ],
)
def test_bad_config(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        EqualizeConfig(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message
