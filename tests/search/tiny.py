"""A tiny in-memory classifier (Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_classifier(seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.standard_normal((16, 3, 3, 3)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.standard_normal(16).astype(np.float32) * 0.1, "B"),
        numpy_helper.from_array(rng.standard_normal((10, 16)).astype(np.float32), "Wfc"),
        numpy_helper.from_array(rng.standard_normal(10).astype(np.float32) * 0.1, "Bfc"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "Wfc", "Bfc"], ["y"], transB=1, name="fc"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def write_classifier(tmp: Path) -> tuple[Path, Path]:
    """The model file and an ``.npz`` eval set labelled by the model itself (100% top-1)."""
    import onnxruntime as ort

    proto = make_classifier()
    path = tmp / "tiny.onnx"
    onnx.save(proto, str(path))
    x = np.random.default_rng(1).standard_normal((96, 3, 16, 16)).astype(np.float32)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    y = sess.run(None, {"x": x})[0].argmax(axis=1)
    data = tmp / "eval.npz"
    np.savez(data, x=x, y=y)
    return path, data
