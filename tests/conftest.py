"""Shared fixtures: an isolated engine cache and small in-memory ONNX graphs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test session gets its own engine/calibration cache."""
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("edgeinfer-cache")
    mp.setenv("EDGEINFER_CACHE_DIR", str(path))
    yield path
    mp.undo()


def make_conv_relu(batch: int | str = "batch", seed: int = 0) -> onnx.ModelProto:
    """x[batch,3,16,16] -> Conv(8, 3x3, pad 1) -> Relu -> y[batch,8,16,16]."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "B")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["y"]),
        ],
        "conv_relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 8, 16, 16])],
        [w, b],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def make_matmul(seed: int = 0) -> onnx.ModelProto:
    """a[batch,4] @ W[4,3] + b -> y[batch,3] (Gemm-like MatMul + Add)."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "b")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["a", "W"], ["m"]),
            helper.make_node("Add", ["m", "b"], ["y"]),
        ],
        "matmul",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [w, b],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def conv_relu_reference(x: np.ndarray, model: onnx.ModelProto) -> np.ndarray:
    """Numpy reference for :func:`make_conv_relu`."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    w, b = inits["W"], inits["B"]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    n, _, h, wd = x.shape
    out = np.zeros((n, w.shape[0], h, wd), dtype=np.float64)
    for i in range(3):
        for j in range(3):
            patch = xp[:, :, i : i + h, j : j + wd]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    out += b[None, :, None, None]
    return np.maximum(out, 0).astype(np.float32)


@pytest.fixture
def conv_relu_path(tmp_path: Path) -> Path:
    path = tmp_path / "conv_relu.onnx"
    onnx.save(make_conv_relu(), str(path))
    return path


@pytest.fixture
def matmul_path(tmp_path: Path) -> Path:
    path = tmp_path / "matmul.onnx"
    onnx.save(make_matmul(), str(path))
    return path
