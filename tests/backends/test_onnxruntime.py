from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgeinfer.backends import get_backend
from edgeinfer.builder import build, load_runner
from edgeinfer.config import BuildConfig
from edgeinfer.errors import BackendError, ConfigError, FeedError
from edgeinfer.model import Model
from tests.conftest import conv_relu_reference, make_conv_relu, make_matmul


def test_outputs_are_persistent_buffers_reused_across_calls(conv_relu_path: Path) -> None:
    engine = build(conv_relu_path)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1, 3, 16, 16)).astype(np.float32)
    b = rng.standard_normal((1, 3, 16, 16)).astype(np.float32)
    with load_runner(engine) as r:
        out_a = r.infer({"x": a})["y"]
        kept = r.infer({"x": a}, copy=True)["y"]
        out_b = r.infer({"x": b})["y"]
        assert out_a is out_b  # same buffer, no per-call allocation
        np.testing.assert_allclose(out_b, conv_relu_reference(b, make_conv_relu()), atol=1e-4)
        np.testing.assert_allclose(kept, conv_relu_reference(a, make_conv_relu()), atol=1e-4)


def test_dynamic_batch_keeps_one_binding_per_shape(conv_relu_path: Path) -> None:
    engine = build(conv_relu_path)
    ref = make_conv_relu()
    with load_runner(engine) as r:
        for n in (1, 4, 1, 3):
            x = np.random.default_rng(n).standard_normal((n, 3, 16, 16)).astype(np.float32)
            y = r.infer({"x": x})["y"]
            assert y.shape == (n, 8, 16, 16)
            np.testing.assert_allclose(y, conv_relu_reference(x, ref), atol=1e-4)
        assert len(r._bindings) == 3  # type: ignore[attr-defined]


def test_non_contiguous_input_is_copied(conv_relu_path: Path) -> None:
    engine = build(conv_relu_path)
    big = np.random.default_rng(2).standard_normal((1, 3, 16, 32)).astype(np.float32)
    x = big[:, :, :, ::2]
    assert not x.flags.c_contiguous
    with load_runner(engine) as r:
        y = r.infer({"x": x})["y"]
    np.testing.assert_allclose(
        y, conv_relu_reference(np.ascontiguousarray(x), make_conv_relu()), atol=1e-4
    )


def test_input_buffer_zero_copy_path(matmul_path: Path) -> None:
    engine = build(matmul_path)
    w = {i.name: onnx.numpy_helper.to_array(i) for i in make_matmul().graph.initializer}
    with load_runner(engine) as r:
        buf = r.input_buffer("a", (2, 4))
        assert buf is r.input_buffer("a", (2, 4))
        buf[:] = np.arange(8, dtype=np.float32).reshape(2, 4)
        y = r.infer({"a": buf})["y"]
        np.testing.assert_allclose(y, buf @ w["W"] + w["b"], rtol=1e-5)
        buf[:] = 1.0
        y = r.infer({"a": buf})["y"]
        np.testing.assert_allclose(y, buf @ w["W"] + w["b"], rtol=1e-5)


def test_data_dependent_output_shape_falls_back(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("NonZero", ["x"], ["idx"])],
        "nz",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])],
        [helper.make_tensor_value_info("idx", TensorProto.INT64, [1, "k"])],
    )
    path = tmp_path / "nz.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    engine = build(path)
    with load_runner(engine) as r:
        first = r.infer({"x": np.array([0, 1, 0, 2, 3, 0], np.float32)}, copy=True)["idx"]
        second = r.infer({"x": np.array([1, 0, 0, 0, 0, 0], np.float32)})["idx"]
    np.testing.assert_array_equal(first, [[1, 3, 4]])
    np.testing.assert_array_equal(second, [[0]])


def test_optimization_levels_build_and_agree(conv_relu_path: Path) -> None:
    x = np.random.default_rng(3).standard_normal((1, 3, 16, 16)).astype(np.float32)
    outs = []
    for level in ("disable", "basic", "extended", "all"):
        engine = build(conv_relu_path, BuildConfig(options={"optimization_level": level}))
        with load_runner(engine, threads=1) as r:
            outs.append(r.infer({"x": x}, copy=True)["y"])
    for o in outs[1:]:
        np.testing.assert_allclose(o, outs[0], atol=1e-5)


def test_bad_options_are_rejected(conv_relu_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown ONNX Runtime optimization_level 'max'"):
        build(conv_relu_path, BuildConfig(options={"optimization_level": "max"}))
    with pytest.raises(ConfigError, match=r"unknown onnxruntime option\(s\) \['colour'\]"):
        build(conv_relu_path, BuildConfig(options={"colour": 1}))


def test_feed_errors_have_exact_messages(conv_relu_path: Path) -> None:
    engine = build(conv_relu_path)
    with load_runner(engine) as r:
        with pytest.raises(
            FeedError,
            match=r"^feed has missing 'x'; unexpected 'input'; the "
            r"engine's inputs are x: float32\[batch,3,16,16\]$",
        ):
            r.infer({"input": np.zeros((1, 3, 16, 16), np.float32)})
        with pytest.raises(
            FeedError,
            match=r"^input 'x' expects float32\[batch,3,16,16\], got "
            r"uint8\[480,640,3\]; set a preprocessing spec or convert the array$",
        ):
            r.infer({"x": np.zeros((480, 640, 3), np.uint8)})
        with pytest.raises(
            FeedError,
            match=r"input 'x' expects float32\[batch,3,16,16\], got "
            r"float64\[1,3,16,16\]",
        ):
            r.infer({"x": np.zeros((1, 3, 16, 16), np.float64)})
        with pytest.raises(FeedError, match="input 'x' must be a numpy array, got list"):
            r.infer({"x": [1, 2, 3]})  # type: ignore[dict-item]


def test_inactive_runner_is_an_error(conv_relu_path: Path) -> None:
    runner = load_runner(build(conv_relu_path))
    with pytest.raises(BackendError, match="runner is not active; use it as a context manager"):
        runner.infer({"x": np.zeros((1, 3, 16, 16), np.float32)})


def test_unsupported_precision_is_refused() -> None:
    backend = get_backend("onnxruntime")
    model = Model.from_proto(make_matmul())
    with pytest.raises(BackendError, match="backend 'onnxruntime' does not support precision"):
        backend.check_config(BuildConfig(precision="bf16"))
    assert model.inputs[0].name == "a"
