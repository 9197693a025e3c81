"""Runner safety: one thread per runner, NaN/Inf refused and counted, pass-through outputs,
runtime failures as one line, thread counts bounded by the machine."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgeinfer.builder import build, load_engine, load_runner
from edgeinfer.config import BuildConfig
from edgeinfer.engine import MANIFEST_NAME, manifest_digest
from edgeinfer.errors import BackendError, ConfigError, NonFiniteError
from edgeinfer.tensors import max_threads

BACKENDS = ["onnxruntime", "openvino"]


def _passthrough(tmp_path: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "passthrough",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4]),
        ],
    )
    path = tmp_path / "passthrough.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_output_that_is_an_input_is_copied(tmp_path: Path) -> None:
    engine = build(_passthrough(tmp_path))
    with load_runner(engine) as r:
        for k in range(3):
            x = np.array([[-1.0, 2.0, -3.0, 4.0]], np.float32) + k
            out = r.infer({"x": x})
            np.testing.assert_array_equal(out["x"], x)  # was uninitialised memory
            np.testing.assert_array_equal(out["y"], np.maximum(x, 0))


def test_runtime_failure_is_one_backend_error(tmp_path: Path) -> None:
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [3, -1])
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])],
        "reshape",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, None])],
        [shape],
    )
    path = tmp_path / "reshape.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with load_runner(build(path)) as r:
        assert r.infer({"x": np.ones(6, np.float32)})["y"].shape == (3, 2)
        with pytest.raises(BackendError, match=r"ONNX Runtime inference failed on engine .*; "):
            r.infer({"x": np.ones(4, np.float32)})


@pytest.mark.parametrize("backend", BACKENDS)
def test_nonfinite_inputs_are_refused_and_counted(conv_relu_path: Path, backend: str) -> None:
    engine = build(conv_relu_path, BuildConfig(backend=backend))
    x = np.ones((1, 3, 16, 16), np.float32)
    with load_runner(engine, check_finite=True) as r:
        r.infer({"x": x})
        bad = x.copy()
        bad[0, 0, 0, :3] = np.nan
        bad[0, 1, 0, 0] = np.inf
        with pytest.raises(NonFiniteError, match=r"input 'x' holds 4 NaN/Inf value\(s\)") as info:
            r.infer({"x": bad})
        assert (info.value.where, info.value.tensor, info.value.count) == ("input", "x", 4)
        assert (r.finite_counts.checked, r.finite_counts.bad_inputs) == (2, 1)
    with load_runner(engine) as r:  # off by default: no check, no count
        r.infer({"x": bad})
        assert r.finite_counts.checked == 0


def test_nonfinite_outputs_are_refused(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Log", ["x"], ["y"])],
        "log",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    )
    path = tmp_path / "log.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with load_runner(build(path), check_finite=True) as r:
        with pytest.raises(NonFiniteError, match=r"output 'y' holds 1 NaN/Inf value"):
            r.infer({"x": np.array([[1.0, -1.0]], np.float32)})
        assert r.finite_counts.bad_outputs == 1


def test_openvino_infer_many_checks_nonfinite(conv_relu_path: Path) -> None:
    engine = build(conv_relu_path, BuildConfig(backend="openvino"))
    x = np.ones((1, 3, 16, 16), np.float32)
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with load_runner(engine, check_finite=True) as r:
        assert len(r.infer_many([{"x": x}])) == 1
        with pytest.raises(NonFiniteError, match="input 'x' holds 1 NaN/Inf"):
            r.infer_many([{"x": x}, {"x": bad}])


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_runner_per_thread(conv_relu_path: Path, backend: str) -> None:
    engine = build(conv_relu_path, BuildConfig(backend=backend))
    x = np.ones((1, 3, 16, 16), np.float32)
    errors: list[BaseException] = []

    def other() -> None:
        try:
            runner.infer({"x": x})
        except BaseException as exc:
            errors.append(exc)

    runner = load_runner(engine)
    with runner:
        runner.infer({"x": x})  # binds the runner to this thread
        t = threading.Thread(target=other, name="worker-2")
        t.start()
        t.join()
    assert len(errors) == 1 and isinstance(errors[0], BackendError)
    assert "was called from thread 'worker-2'; a runner's buffers belong to one thread: " \
        "create one runner per thread" in str(errors[0])

    def activate_here_infer_there() -> None:  # hand-off before first use is fine
        try:
            runner.infer({"x": x})
        except BaseException as exc:
            errors.append(exc)

    with runner:  # deactivate released the binding
        t = threading.Thread(target=activate_here_infer_there)
        t.start()
        t.join()
    assert len(errors) == 1


def test_thread_counts_are_bounded(conv_relu_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"build config's threads must be an integer from 1"):
        build(conv_relu_path, BuildConfig(threads=100_000))
    engine = build(conv_relu_path, out=tmp_path / "eng")
    with pytest.raises(ConfigError, match=r"runner threads must be an integer from 1 to"):
        load_runner(engine, threads=100_000)
    # a manifest (from a bigger build host, or resealed by hand) asking for 100000 threads
    path = tmp_path / "eng" / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["build_config"]["threads"] = 100_000
    data["digest"] = manifest_digest(data)
    path.write_text(json.dumps(data))
    with load_runner(load_engine(tmp_path / "eng")) as r:  # capped, no segfault
        assert r.threads == max_threads()
        r.infer({"x": np.ones((1, 3, 16, 16), np.float32)})
