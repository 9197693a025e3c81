"""Small real models for evaluation tests, built in memory with onnx.helper."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeinfer.data.idx import FashionMNIST
from edgeinfer.model import Model
from edgeinfer.preprocess import PreprocessSpec


def centroid_weights(n_train: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-centroid weights from the class means of the first ``n_train`` train images.

    ``argmin_k |x - c_k|^2 == argmax_k (x . c_k - |c_k|^2 / 2)``: a linear layer.
    """
    train = FashionMNIST("train")
    x = train.x[:n_train].reshape(n_train, -1).astype(np.float32) / 255.0
    y = train.y[:n_train]
    centroids = np.stack([x[y == k].mean(axis=0) for k in range(10)]).astype(np.float32)
    w = np.ascontiguousarray(centroids.T)
    b = (-0.5 * (centroids**2).sum(axis=1)).astype(np.float32)
    return w, b


def centroid_classifier(
    batch: int | str = "N",
    *,
    metadata: bool = False,
    softmax: bool = False,
    w: np.ndarray | None = None,
    b: np.ndarray | None = None,
) -> Model:
    """x[batch,1,28,28] -> Flatten -> MatMul -> Add (-> Softmax) -> logits[batch,10]."""
    if w is None or b is None:
        w, b = centroid_weights()
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"]),
        helper.make_node("MatMul", ["f", "W"], ["m"]),
        helper.make_node("Add", ["m", "B"], ["s" if softmax else "logits"]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["s"], ["logits"], axis=1))
    graph = helper.make_graph(
        nodes,
        "centroids",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")],
    )
    model = Model.from_proto(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    if metadata:
        spec = PreprocessSpec(size=(28, 28), resize="none", color="gray")
        model = model.with_meta(preprocess=spec.to_dict(), task="classification")
    return model


def numpy_predictions(images: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The centroid classifier's logits in numpy (float32, as the graph computes)."""
    x = images.reshape(len(images), -1).astype(np.float32) * np.float32(1 / 255)
    return x @ w + b


def nan_model(at: float = 0.5) -> onnx.ModelProto:
    """y = Sqrt(x - at) on x[N,4]: NaN wherever an element of x is below ``at``."""
    shift = numpy_helper.from_array(np.array([at], dtype=np.float32), "shift")
    graph = helper.make_graph(
        [helper.make_node("Sub", ["x", "shift"], ["d"]), helper.make_node("Sqrt", ["d"], ["y"])],
        "nan",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [shift],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def identity_model(shape: list[int | str]) -> onnx.ModelProto:
    """y = Identity(x) for a float input of ``shape``."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
