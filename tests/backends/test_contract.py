"""The Runner contract, run over every available backend (a new backend is tested for free).

Each test builds a tiny in-memory graph with the backend at its default (fp32) settings and
checks behaviour against a numpy reference: round trip, dynamic batch, feed validation with
exact messages, persistent output buffers, the zero-copy input path, lifecycle errors and
reloading an engine from disk.
"""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgeinfer.backends import list_backends
from edgeinfer.builder import build, load_engine, load_runner
from edgeinfer.config import BuildConfig
from edgeinfer.engine import Engine
from edgeinfer.errors import BackendError, FeedError
from edgeinfer.model import Model
from tests.conftest import conv_relu_reference, make_conv_relu, make_matmul
from tests.torch_models import with_torch

BACKENDS = list_backends(available_only=True)
ATOL = 1e-4


def _x(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, 16, 16)).astype(np.float32)


def _ref(x: np.ndarray) -> np.ndarray:
    return conv_relu_reference(x, make_conv_relu())


def _matmul_ref(a: np.ndarray) -> np.ndarray:
    w = {i.name: onnx.numpy_helper.to_array(i) for i in make_matmul().graph.initializer}
    return a @ w["W"] + w["b"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def conv_engine(backend: str) -> Engine:
    return build(with_torch(Model.from_proto(make_conv_relu()), "conv_relu"), BuildConfig(backend=backend))


def test_onnxruntime_and_openvino_are_covered() -> None:
    assert "onnxruntime" in BACKENDS
    try:
        import openvino  # noqa: F401
    except ImportError:
        return
    assert "openvino" in BACKENDS


def test_round_trip_matches_numpy_reference(conv_engine: Engine, backend: str) -> None:
    assert conv_engine.backend == backend
    assert conv_engine.precision == "fp32"
    x = _x(2)
    with load_runner(conv_engine) as r:
        assert r.input_specs == conv_engine.inputs
        assert r.output_specs == conv_engine.outputs
        out = r.infer({"x": x})
    assert set(out) == {"y"}
    assert out["y"].dtype == np.float32
    np.testing.assert_allclose(out["y"], _ref(x), atol=ATOL, rtol=1e-5)


def test_matmul_round_trip(backend: str) -> None:
    engine = build(with_torch(Model.from_proto(make_matmul()), "matmul"), BuildConfig(backend=backend))
    a = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    with load_runner(engine) as r:
        y = r.infer({"a": a})["y"]
    np.testing.assert_allclose(y, _matmul_ref(a), atol=ATOL, rtol=1e-5)


def test_dynamic_batch_gives_right_shapes_and_values(conv_engine: Engine) -> None:
    with load_runner(conv_engine) as r:
        for n in (1, 4, 1, 3, 4):
            x = _x(n, seed=n)
            y = r.infer({"x": x})["y"]
            assert y.shape == (n, 8, 16, 16)
            np.testing.assert_allclose(y, _ref(x), atol=ATOL, rtol=1e-5)


def test_feed_errors_have_exact_messages(conv_engine: Engine) -> None:
    with load_runner(conv_engine) as r:
        with pytest.raises(
            FeedError,
            match=r"^feed has missing 'x'; unexpected 'input'; the engine's inputs are "
            r"x: float32\[batch,3,16,16\]$",
        ):
            r.infer({"input": _x(1)})
        with pytest.raises(
            FeedError,
            match=r"^feed has unexpected 'z'; the engine's inputs are x: float32\[batch,3,16,16\]$",
        ):
            r.infer({"x": _x(1), "z": _x(1)})
        with pytest.raises(
            FeedError,
            match=r"^input 'x' expects float32\[batch,3,16,16\], got float64\[1,3,16,16\]; "
            r"set a preprocessing spec or convert the array$",
        ):
            r.infer({"x": _x(1).astype(np.float64)})
        with pytest.raises(
            FeedError,
            match=r"^input 'x' expects float32\[batch,3,16,16\], got uint8\[480,640,3\]; "
            r"set a preprocessing spec or convert the array$",
        ):
            r.infer({"x": np.zeros((480, 640, 3), np.uint8)})
        with pytest.raises(
            FeedError,
            match=r"^input 'x' must be a numpy array, got list; convert it with np.asarray$",
        ):
            r.infer({"x": [1.0, 2.0]})  # type: ignore[dict-item]
        # a bad feed does not break the runner
        np.testing.assert_allclose(r.infer({"x": _x(1)})["y"], _ref(_x(1)), atol=ATOL)


def test_outputs_are_persistent_buffers(conv_engine: Engine) -> None:
    a, b = _x(2, seed=1), _x(2, seed=2)
    with load_runner(conv_engine) as r:
        first = r.infer({"x": a})
        kept = r.infer({"x": a}, copy=True)
        second = r.infer({"x": b})
        assert second["y"] is first["y"]  # same object: valid until the next call
        assert not np.shares_memory(kept["y"], second["y"])
        np.testing.assert_allclose(first["y"], _ref(b), atol=ATOL)  # overwritten in place
        np.testing.assert_allclose(kept["y"], _ref(a), atol=ATOL)


def test_steady_state_infer_allocates_no_arrays(conv_engine: Engine) -> None:
    """50 calls must not allocate even a quarter of one output (262 KB): no per-call output
    arrays. Small Python objects (tuples kept in interpreter free lists) stay far below."""
    x = _x(32)
    with load_runner(conv_engine) as r:
        out_bytes = r.infer({"x": x})["y"].nbytes
        for _ in range(5):
            r.infer({"x": x})
        gc.collect()
        tracemalloc.start()
        try:
            for _ in range(50):
                r.infer({"x": x})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < out_bytes // 4, f"infer allocated {peak} bytes (outputs are {out_bytes})"


def test_new_and_mutated_inputs_are_seen(conv_engine: Engine) -> None:
    """Zero-copy binding must never serve a stale input."""
    x = _x(1, seed=5)
    with load_runner(conv_engine) as r:
        for seed in (6, 7, 6):
            other = _x(1, seed=seed)
            np.testing.assert_allclose(r.infer({"x": other})["y"], _ref(other), atol=ATOL)
        np.testing.assert_allclose(r.infer({"x": x})["y"], _ref(x), atol=ATOL)
        x *= -1.0  # same array, new values
        np.testing.assert_allclose(r.infer({"x": x})["y"], _ref(x), atol=ATOL)


def test_non_contiguous_and_read_only_inputs(conv_engine: Engine) -> None:
    big = np.random.default_rng(2).standard_normal((1, 3, 16, 32)).astype(np.float32)
    strided = big[:, :, :, ::2]
    frozen = _x(1, seed=3)
    frozen.flags.writeable = False
    with load_runner(conv_engine) as r:
        y = r.infer({"x": strided})["y"]
        np.testing.assert_allclose(y, _ref(np.ascontiguousarray(strided)), atol=ATOL)
        np.testing.assert_allclose(r.infer({"x": frozen})["y"], _ref(frozen), atol=ATOL)


def test_input_buffer_zero_copy_path(conv_engine: Engine) -> None:
    with load_runner(conv_engine) as r:
        buf = r.input_buffer("x", (2, 3, 16, 16))
        assert buf is r.input_buffer("x", (2, 3, 16, 16))
        assert buf.shape == (2, 3, 16, 16) and buf.dtype == np.float32
        buf[:] = _x(2, seed=8)
        np.testing.assert_allclose(r.infer({"x": buf})["y"], _ref(buf), atol=ATOL)
        other = _x(2, seed=9)
        np.testing.assert_allclose(r.infer({"x": other})["y"], _ref(other), atol=ATOL)
        buf[:] = 0.5  # filled in place again after another array was bound
        np.testing.assert_allclose(r.infer({"x": buf})["y"], _ref(buf), atol=ATOL)


def test_input_buffer_errors(conv_engine: Engine) -> None:
    with load_runner(conv_engine) as r:
        with pytest.raises(FeedError, match=r"^engine has no input 'image'; its inputs are x$"):
            r.input_buffer("image", (1, 3, 16, 16))
        with pytest.raises(
            FeedError,
            match=r"^input 'x' expects float32\[batch,3,16,16\], got shape \[1, 3, 8, 8\]$",
        ):
            r.input_buffer("x", (1, 3, 8, 8))


def test_inactive_runner_is_an_error(conv_engine: Engine) -> None:
    runner = load_runner(conv_engine)
    message = (
        r"^runner is not active; use it as a context manager: "
        r"`with load_runner\(engine\) as r: r.infer\(feed\)`$"
    )
    with pytest.raises(BackendError, match=message):
        runner.infer({"x": _x(1)})
    with runner:
        runner.infer({"x": _x(1)})
    with pytest.raises(BackendError, match=message):
        runner.infer({"x": _x(1)})


def test_context_manager_lifecycle(conv_engine: Engine) -> None:
    runner = load_runner(conv_engine)
    assert not runner.is_active
    with runner as r:
        assert r is runner and r.is_active
        with pytest.raises(BackendError, match=r"^runner is already active; activate it once"):
            r.activate()
    assert not runner.is_active
    runner.deactivate()  # idempotent
    with runner:  # re-activation works and gives right results
        np.testing.assert_allclose(runner.infer({"x": _x(1)})["y"], _ref(_x(1)), atol=ATOL)


def test_engine_reloads_from_disk(backend: str, tmp_path: Path) -> None:
    x = _x(3, seed=4)
    model = with_torch(Model.from_proto(make_conv_relu()), "conv_relu")
    built = build(model, BuildConfig(backend=backend), tmp_path / "e")
    loaded = load_engine(tmp_path / "e")
    assert loaded.manifest.to_dict() == built.manifest.to_dict()
    assert loaded.backend == backend and loaded.precision == built.precision
    with load_runner(tmp_path / "e") as r:
        np.testing.assert_allclose(r.infer({"x": x})["y"], _ref(x), atol=ATOL)


def test_runner_thread_option(conv_engine: Engine) -> None:
    with load_runner(conv_engine, threads=1) as r:
        assert r.threads == 1
        np.testing.assert_allclose(r.infer({"x": _x(1)})["y"], _ref(_x(1)), atol=ATOL)


def _two_input_model() -> Model:
    """``out = b - a`` and ``idx = ArgMax(a)``: input order differs from the name order."""
    graph = helper.make_graph(
        [
            helper.make_node("Sub", ["b", "a"], ["out"]),
            helper.make_node("ArgMax", ["a"], ["idx"], axis=1, keepdims=0),
        ],
        "two_inputs",
        [
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["n", 5]),
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["n", 5]),
        ],
        [
            helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 5]),
            helper.make_tensor_value_info("idx", TensorProto.INT64, ["n"]),
        ],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return with_torch(Model.from_proto(proto), "two_inputs")


def test_several_inputs_and_outputs_map_by_name(backend: str) -> None:
    engine = build(_two_input_model(), BuildConfig(backend=backend))
    rng = np.random.default_rng(0)
    with load_runner(engine) as r:
        for n in (2, 3):
            a = rng.standard_normal((n, 5)).astype(np.float32)
            b = rng.standard_normal((n, 5)).astype(np.float32)
            out = r.infer({"a": a, "b": b})
            np.testing.assert_allclose(out["out"], b - a, atol=1e-6)
            assert out["idx"].dtype == np.int64
            np.testing.assert_array_equal(out["idx"], a.argmax(axis=1))


def test_data_dependent_output_shapes(backend: str, tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("NonZero", ["x"], ["idx"])],
        "nz",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])],
        [helper.make_tensor_value_info("idx", TensorProto.INT64, [1, "k"])],
    )
    model = Model.from_proto(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    engine = build(with_torch(model, "nonzero"), BuildConfig(backend=backend))
    with load_runner(engine) as r:
        first = r.infer({"x": np.array([0, 1, 0, 2, 3, 0], np.float32)}, copy=True)["idx"]
        second = r.infer({"x": np.array([1, 0, 0, 0, 0, 0], np.float32)}, copy=True)["idx"]
        third = r.infer({"x": np.array([1, 1, 1, 1, 1, 1], np.float32)})["idx"]
    np.testing.assert_array_equal(first, [[1, 3, 4]])
    np.testing.assert_array_equal(second, [[0]])
    np.testing.assert_array_equal(third, [[0, 1, 2, 3, 4, 5]])
