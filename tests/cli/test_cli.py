"""CLI in-process: exit codes and exact one-line errors, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeinfer.backends import register_backend
from edgeinfer.backends.onnxruntime import OnnxRuntimeBackend
from edgeinfer.cli import main
from edgeinfer.engine import MANIFEST_NAME, manifest_digest
from edgeinfer.errors import ModelError


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_build_then_bench_engine_writes_json(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eng = tmp_path / "eng"
    code, out, _ = run(capsys, "build", str(conv_relu_path), "-o", str(eng), "--threads", "1")
    assert code == 0 and "engine" in out and (eng / MANIFEST_NAME).exists()
    report = tmp_path / "bench.json"
    code, out, _ = run(
        capsys, "bench", str(eng), "--iterations", "30", "--warmup", "3", "--json", str(report)
    )
    assert code == 0
    for label in ("p50", "p90", "p99", "p99.9", "min", "max", "mean", "std", "throughput"):
        assert label in out
    data = json.loads(report.read_text())
    assert data["latency_ms"]["n"] == 30
    assert data["latency_ms"]["p50"] <= data["latency_ms"]["p99"] <= data["latency_ms"]["max"]
    assert data["command"].startswith("edgeinfer bench ")
    assert data["host"]["cpu_model"]
    assert data["engine"]["backend"] == "onnxruntime"


def test_bench_model_builds_on_the_fly_and_fixed_rate(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "rate.json"
    code, out, _ = run(
        capsys,
        "bench",
        str(conv_relu_path),
        "--batch",
        "2",
        "--rate",
        "500",
        "--deadline-ms",
        "50",
        "--iterations",
        "20",
        "--json",
        str(report),
    )
    assert code == 0
    data = json.loads(report.read_text())
    assert data["config"]["rate_hz"] == 500 and data["config"]["batch"] == 2
    assert data["deadline_misses"] == 0
    assert "deadline 50 ms: 0 misses" in out


def test_info_shows_specs(conv_relu_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info", str(conv_relu_path))
    assert code == 0 and "[batch, 3, 16, 16]" in out


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "bench", str(tmp_path / "nope.onnx"))
    assert code == 2
    assert (
        err
        == f"edgeinfer: error: model file '{tmp_path / 'nope.onnx'}' does not exist; check the path\n"
    )
    assert "Traceback" not in err + out


def test_not_onnx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.onnx"
    path.write_text("hello, I am a text file\n" * 5)
    code, _, err = run(capsys, "build", str(path), "-o", str(tmp_path / "e"))
    assert code == 2
    assert err.startswith(f"edgeinfer: error: '{path}' is not ")
    assert "export the model to ONNX first" in err and err.count("\n") == 1


def test_invalid_graph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from onnx import TensorProto, helper, save

    graph = helper.make_graph(
        [helper.make_node("Relu", ["ghost"], ["y"])],
        "bad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "bad.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    code, _, err = run(capsys, "bench", str(path))
    assert code == 2
    assert err.startswith(f"edgeinfer: error: '{path}' is not a valid ONNX graph: ")
    assert err.rstrip().endswith(
        "fix the exporter output (onnx.checker.check_model shows the full report)"
    )


def test_unknown_backend(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys,
        "build",
        str(conv_relu_path),
        "-o",
        str(tmp_path / "e"),
        "--backend",
        "tensorflow-lite",
    )
    assert code == 2
    assert err.startswith(
        "edgeinfer: error: unknown backend 'tensorflow-lite'; available backends: "
    )
    assert "onnxruntime" in err


def test_missing_optional_extra(
    conv_relu_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from edgeinfer import backends

    # register the fake backend in a copy of the registry: other tests must not see it
    monkeypatch.setattr(backends, "_REGISTERED", dict(backends._REGISTERED))
    monkeypatch.setattr(backends, "_INSTANCES", dict(backends._INSTANCES))

    @register_backend
    class NotInstalled(OnnxRuntimeBackend):
        name = "not-installed-test"
        extra = "imaginary"
        distribution = "edgeinfer-imaginary-runtime"
        module = "edgeinfer_imaginary_runtime"

    code, _, err = run(
        capsys,
        "build",
        str(conv_relu_path),
        "-o",
        str(tmp_path / "e"),
        "--backend",
        "not-installed-test",
    )
    assert code == 2
    assert err == (
        "edgeinfer: error: backend 'not-installed-test' needs 'edgeinfer-imaginary-runtime', "
        "which is not installed; install it with: pip install 'edgeinfer[imaginary]'\n"
    )


def test_corrupted_engine(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eng = tmp_path / "eng"
    assert run(capsys, "build", str(conv_relu_path), "-o", str(eng))[0] == 0
    (eng / "model.onnx").write_bytes(b"flipped bits")
    code, _, err = run(capsys, "bench", str(eng))
    assert code == 2
    assert err == (
        f"edgeinfer: error: engine '{eng}': payload file 'model.onnx' does not match its hash in "
        "manifest.json (corrupted or modified); rebuild the engine with edgeinfer build\n"
    )


def test_foreign_engine(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eng = tmp_path / "eng"
    assert run(capsys, "build", str(conv_relu_path), "-o", str(eng))[0] == 0
    data = json.loads((eng / MANIFEST_NAME).read_text())
    data["host"]["machine"] = "riscv64"
    data["digest"] = manifest_digest(data)  # as a copy from another machine would have it
    (eng / MANIFEST_NAME).write_text(json.dumps(data))
    code, _, err = run(capsys, "bench", str(eng))
    assert code == 2
    assert err.startswith(
        f"edgeinfer: error: engine '{eng}' was built on a host with architecture riscv64"
    )
    assert err.rstrip().endswith("rebuild the engine on this host with edgeinfer build")


def test_directory_without_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "bench", str(tmp_path))
    assert code == 2
    assert "is not an engine directory (no manifest.json)" in err


def test_bad_bench_arguments(conv_relu_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "bench", str(conv_relu_path), "--iterations", "0")
    assert code == 2
    assert err == "edgeinfer: error: --iterations must be >= 1, got 0\n"
    code, _, err = run(capsys, "bench", str(conv_relu_path), "--option", "nonsense")
    assert code == 2
    assert "--option 'nonsense' must be KEY=VALUE" in err


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        main(["--debug", "bench", str(tmp_path / "nope.onnx")])


def test_usage_error_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench"]) == 2
    assert main([]) == 2
    assert main(["--help"]) == 0


def test_bench_shape_for_dynamic_dims(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from onnx import TensorProto, helper, save

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "dyn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h", "w"])],
    )
    path = tmp_path / "dyn.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    code, _, err = run(capsys, "bench", str(path), "--iterations", "5")
    assert code == 2
    assert "symbolic dim 'h' at axis 2 with no value" in err
    code, _, err = run(capsys, "bench", str(path), "--iterations", "5", "--shape", "x:1x3x32x48")
    assert code == 0, err
    code, _, err = run(capsys, "bench", str(path), "--shape", "x:1x4x32x48")
    assert code == 2
    assert "--shape x:1x4x32x48 does not fit input 'x' float32[n,3,h,w]; keep the fixed dims" in err
    code, _, err = run(capsys, "bench", str(path), "--shape", "x:big")
    assert err == "edgeinfer: error: --shape 'x:big' must be NAME:DxDx..., e.g. x:1x3x640x640\n"
