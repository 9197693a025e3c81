"""Precision lowering on a real zoo model (fashion-cnn) through the ONNX Runtime backend."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinfer.builder import build, load_runner
from edgeinfer.calibration import CalibrationConfig
from edgeinfer.config import BuildConfig
from edgeinfer.engine import Engine
from edgeinfer.model import Model
from edgeinfer.passes import run_pipeline


@pytest.fixture(scope="module")
def fashion() -> Model:
    from edgeinfer import zoo

    return zoo.get_model("fashion-cnn")


def _predict(engine: Engine, images: np.ndarray) -> np.ndarray:
    with load_runner(engine) as r:
        out = r.infer({engine.inputs[0].name: images}, copy=True)
    return out[engine.outputs[0].name].argmax(1)


def _test_images(n: int = 200) -> np.ndarray:
    from edgeinfer.data.datasets import iter_batches, open_dataset
    from edgeinfer.preprocess import PreprocessSpec

    ds = open_dataset("fashion-mnist", limit=n)
    spec = PreprocessSpec(size=(28, 28), resize="none", color="gray", mean=(0.2857,), std=(0.3537,))
    return next(iter_batches(ds, spec, n))[0]


def test_fp16_and_int8_engines_agree_with_fp32(fashion: Model) -> None:
    x = _test_images()
    ref = _predict(build(fashion, BuildConfig(threads=2)), x)
    fp16 = build(fashion, BuildConfig(precision="fp16", threads=2))
    assert fp16.manifest.precision == "fp16" and fp16.precision in ("fp16", "fp32")
    assert (_predict(fp16, x) == ref).mean() >= 0.98
    cal = CalibrationConfig(method="entropy", data="fashion-mnist:train", samples=64)
    int8 = build(fashion, BuildConfig(precision="int8", calibration=cal, threads=2))
    assert int8.precision == "int8"  # ONNX Runtime fused the QDQ groups into integer kernels
    assert any("integer kernels" in n and "QLinearConv" in n for n in int8.manifest.notes)
    assert (_predict(int8, x) == ref).mean() >= 0.9
    # the calibration went through the model's stored preprocessing (gray, 28x28, mean/std)
    assert any(n.startswith("calibration: ") for n in int8.manifest.notes)


def test_run_pipeline_api(fashion: Model) -> None:
    same, notes = run_pipeline(fashion, BuildConfig())
    assert same is fashion and notes == []
    half, notes = run_pipeline(fashion, BuildConfig(precision="fp16", exclude=("Gemm",)))
    gemm = next(n for n in half.proto.graph.node if n.op_type == "Gemm")
    types = {i.name: i.data_type for i in half.proto.graph.initializer}
    assert all(types.get(x, 1) == 1 for x in gemm.input)  # FP32 weights kept
    same, notes = run_pipeline(fashion, BuildConfig(backend="openvino", precision="bf16"))
    assert same is fashion and notes == []  # bf16 is an inference precision, not a graph pass


@pytest.mark.slow
def test_fp16_keeps_ppocr_faithful_despite_huge_batchnorm_variance() -> None:
    """PP-OCRv4's detector has a BatchNormalization variance of ~1e8: clipped to FP16's
    65504 it broke the model (cosine 0.27); the pass keeps such nodes in FP32."""
    from edgeinfer import zoo
    from edgeinfer.data import open_dataset
    from edgeinfer.evaluate import compare_engines

    model = zoo.get_model("ppocr-det")
    fp16 = build(model, BuildConfig(precision="fp16", threads=2))
    assert any("weights beyond ±65504: BatchNormalization" in n for n in fp16.manifest.notes)
    result = compare_engines(fp16, build(model, BuildConfig(threads=2)), open_dataset("photos:2"))
    assert result.outputs[0].cosine > 0.999
