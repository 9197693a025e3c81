"""Small generated models with the properties of the real models issue 17 was found on:
a classifier with its own (non-ImageNet) normalization, a two-output detector with a fixed
batch of 1 exported at opset 11, and a dense text detector with dynamic height/width.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _model(nodes, name, inputs, outputs, inits, opset: int) -> onnx.ModelProto:  # type: ignore[no-untyped-def]
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7 if opset < 13 else 8
    onnx.checker.check_model(model)
    return model


def two_output_detector(batch: int | str = 1, opset: int = 11, seed: int = 0) -> onnx.ModelProto:
    """x[1,3,16,16] -> Conv -> Relu -> T; ``scores`` = softmax classes from T (robust to INT8);
    ``boxes`` = small differences between near-identical channels of T (INT8's per-tensor
    activation step wipes them out): a second output only a per-output judge sees break.
    """
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    w1 = np.repeat(base, 2, axis=0)
    w1[1::2] *= 1.02  # channel pairs that differ by 2%
    b1 = np.full(8, 0.5, np.float32)
    w2 = np.zeros((4, 8, 1, 1), np.float32)
    for o in range(4):
        w2[o, 2 * o + 1, 0, 0], w2[o, 2 * o, 0, 0] = 1.0, -1.0
    wfc = rng.standard_normal((10, 8)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "W1", "B1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c1"], ["t"], name="relu1"),
        helper.make_node("GlobalAveragePool", ["t"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "Wfc"], ["logits"], transB=1, name="fc"),
        helper.make_node("Softmax", ["logits"], ["scores"], axis=1, name="softmax"),
        helper.make_node("Conv", ["t", "W2"], ["boxes"], name="box_head"),
    ]
    inits = [
        numpy_helper.from_array(w1, "W1"),
        numpy_helper.from_array(b1, "B1"),
        numpy_helper.from_array(w2, "W2"),
        numpy_helper.from_array(wfc, "Wfc"),
    ]
    return _model(
        nodes,
        "two_output_detector",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 16, 16])],
        [
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [batch, 10]),
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [batch, 4, 16, 16]),
        ],
        inits,
        opset,
    )


def heatmap_detector(opset: int = 17) -> onnx.ModelProto:
    """x[N,3,H,W] (dynamic H/W) -> Conv -> Relu -> Conv head -> Sigmoid -> maps[N,1,H,W]:
    a text-detector-like probability map, high on bright blobs, ~0 elsewhere.
    """
    w1 = np.full((8, 3, 3, 3), 1 / 27, np.float32)
    w1 *= np.linspace(0.8, 1.2, 8, dtype=np.float32)[:, None, None, None]
    nodes = [
        helper.make_node("Conv", ["x", "W1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "W2", "B2"], ["c2"], name="head"),
        helper.make_node("Sigmoid", ["c2"], ["maps"], name="sigmoid"),
    ]
    inits = [
        numpy_helper.from_array(w1, "W1"),
        numpy_helper.from_array(np.full((1, 8, 1, 1), 12 / 8, np.float32), "W2"),
        numpy_helper.from_array(np.array([-6.0], np.float32), "B2"),
    ]
    return _model(
        nodes,
        "heatmap_detector",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("maps", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        inits,
        opset,
    )


def text_tensors(n: int, size: int = 64, seed: int = 0, blank: int = 0) -> np.ndarray:
    """Dark noisy ``[n,3,size,size]`` inputs with blurred bright blobs; the first ``blank``
    hold no blob, only noise (a calibration batch without text).
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 0.05, (n, 3, size, size)).astype(np.float32)
    x[:blank] = rng.normal(0.0, 0.3, (blank, 3, size, size))
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(blank, n):
        for _ in range(rng.integers(1, 5)):
            cy, cx = rng.uniform(4, size - 4), rng.uniform(8, size - 8)
            sy, sx, amp = rng.uniform(1.5, 4), rng.uniform(3, 8), rng.uniform(0.4, 1.2)
            blob = amp * np.exp(-(((yy - cy) / sy) ** 2) - ((xx - cx) / sx) ** 2)
            x[i] += blob.astype(np.float32)
    return x


def write_images(folder: Path, n: int = 24, size: int = 40, seed: int = 0) -> Path:
    """``n`` colour PNG images (varied, with structure) in ``folder``; returns it."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        img = np.zeros((size, size, 3), np.float32)
        for c in range(3):
            fx, fy, ph = rng.uniform(0.05, 0.4), rng.uniform(0.05, 0.4), rng.uniform(0, 6.3)
            img[:, :, c] = 127 + 120 * np.sin(fx * xx + fy * yy + ph)
        img += rng.normal(0, 12, img.shape)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"img{i:03d}.png")
    return folder
