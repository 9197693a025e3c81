"""Small graphs and calibration arrays for the precision pass tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def write_calib(
    path: Path, n: int = 32, shape: tuple[int, ...] = (3, 16, 16), seed: int = 0
) -> str:
    """Model-ready float arrays ``(n, *shape)`` in an npz; returns the dataset spec."""
    rng = np.random.default_rng(seed)
    np.savez(path, x=rng.standard_normal((n, *shape)).astype(np.float32))
    return f"npz:{path}"


def make_two_convs() -> onnx.ModelProto:
    """x[batch,3,16,16] -> conv1 -> Relu -> conv2 -> Softmax(axis 1) -> y."""
    rng = np.random.default_rng(1)
    w1 = numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "W1")
    w2 = numpy_helper.from_array(rng.standard_normal((4, 8, 3, 3)).astype(np.float32), "W2")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "W1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
            helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
            helper.make_node("Conv", ["r1", "W2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
            helper.make_node("Softmax", ["c2"], ["y"], axis=1, name="softmax"),
        ],
        "two_convs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, 16, 16])],
        [w1, w2],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def op_types(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def run(model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feed)[0]
