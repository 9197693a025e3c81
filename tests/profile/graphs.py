"""Small named ONNX graphs for profiling tests."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_residual(channels: int = 8, size: int = 32, batch: int | str = "batch") -> onnx.ModelProto:
    """x -> conv1 -> relu1 -> conv2 -> add(+x) -> relu2 -> pool -> y, every node named."""
    rng = np.random.default_rng(0)

    def weight(name: str) -> onnx.TensorProto:
        w = rng.standard_normal((channels, channels, 3, 3)).astype(np.float32) * 0.1
        return numpy_helper.from_array(w, name)

    nodes = [
        helper.make_node("Conv", ["x", "W1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "W2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "x"], ["a"], name="add"),
        helper.make_node("Relu", ["a"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["y"], name="pool"),
    ]
    graph = helper.make_graph(
        nodes,
        "residual",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, channels, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, channels, 1, 1])],
        [weight("W1"), weight("W2")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


SOURCE_NODES = ("conv1", "relu1", "conv2", "add", "relu2", "pool")
