"""``edgeinfer profile``, ``edgeinfer doctor`` and bench's sweep, stress and energy flags."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from edgeinfer.cli import main
from tests.profile.graphs import SOURCE_NODES, make_residual


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def residual_path(tmp_path: Path) -> Path:
    path = tmp_path / "residual.onnx"
    onnx.save(make_residual(), str(path))
    return path


def test_profile_model_writes_table_json_trace_and_html(
    residual_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json, trace, page = tmp_path / "p.json", tmp_path / "t.json", tmp_path / "p.html"
    code, out, err = run(
        capsys, "profile", str(residual_path), "--iterations", "6", "--rounds", "2",
        "--warmup", "1", "--threads", "1", "--json", str(out_json), "--trace", str(trace),
        "--html", str(page),
    )  # fmt: skip
    assert code == 0, err
    assert "slowest layers" in out and "time by op" in out and "time by precision" in out
    assert "conv1 +1" in out  # the first ONNX node of the fused Conv+Relu kernel
    data = json.loads(out_json.read_text())
    assert data["iterations"] == 6 and data["mapped_to_onnx"] is True
    assert sorted(n for layer in data["layers"] for n in layer["onnx_nodes"]) == sorted(SOURCE_NODES)
    assert data["coverage"] > 0 and data["command"].startswith("edgeinfer profile ")
    events = json.loads(trace.read_text())["traceEvents"]
    assert sum(1 for e in events if e.get("cat") == "inference") == 6
    html = page.read_text()
    assert "Per-layer profile" in html and "conv1" in html and "data:image/png;base64," in html


def test_profile_engine_directory(
    residual_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eng = tmp_path / "eng"
    assert run(capsys, "build", str(residual_path), "-o", str(eng), "--backend", "openvino")[0] == 0
    code, out, err = run(capsys, "profile", str(eng), "--iterations", "3", "--rounds", "1")
    assert code == 0, err
    assert "[openvino, fp32]" in out and "fp32" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--precision", "int8"], "profile builds fp32, fp16 or bf16 engines from a model; for "
         "INT8 build with calibration first (edgeinfer build MODEL --precision int8 --calib DATA "
         "-o ENGINE) and profile the engine directory"),
        (["--top", "0"], "--top must be >= 1, got 0"),
        (["--iterations", "2", "--rounds", "3"], "--rounds must be in 1..--iterations (2), got 3"),
    ],
)
def test_profile_errors(
    residual_path: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "profile", str(residual_path), *argv)
    assert code == 2 and err == f"edgeinfer: error: {message}\n"


def test_profile_unknown_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "profile", "no-such-model")
    assert code == 2 and err.startswith("edgeinfer: error: 'no-such-model' is neither an ONNX file")


def test_doctor_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "doctor", "--json", "-", "--sample-s", "0")
    assert code == 0
    data = json.loads(out)
    assert data["cpu"]["cores"]["usable"] >= 1
    assert set(data["cpu"]["isa"]) == {"SIMD", "AVX-512", "INT8 dot products", "BF16", "AMX", "SVE"}
    ort = next(b for b in data["backends"] if b["name"] == "onnxruntime")
    assert ort["version"] and "fp32" in ort["precisions"] and "int8" in ort["precisions"]
    assert data["precisions"][0] == "fp32: every backend"
    assert data["cache"]["path"] and data["machine_now"] is None
    assert "rapl_reason" in data["energy"]


def test_doctor_table_and_bad_sample(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "doctor", "--sample-s", "0.2")
    assert code == 0
    for text in ("machine", "backends", "What this CPU means for precisions", "engine cache"):
        assert text in out
    assert "machine now:" in out
    code, _, err = run(capsys, "doctor", "--sample-s", "11")
    assert code == 2 and err == "edgeinfer: error: --sample-s must be in 0..10 seconds, got 11.0\n"


def test_bench_sweep_writes_table_plot_and_json(
    residual_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot, out_json = tmp_path / "s.png", tmp_path / "s.json"
    code, out, err = run(
        capsys, "bench", str(residual_path), "--batch", "1,2", "--concurrency", "1,2",
        "--duration", "0.4", "--warmup", "1", "--plot", str(plot), "--json", str(out_json),
    )  # fmt: skip
    assert code == 0, err
    assert "sweep" in out and "items/s" in out
    assert plot.read_bytes().startswith(b"\x89PNG")
    data = json.loads(out_json.read_text())
    assert [(p["batch"], p["concurrency"]) for p in data["points"]] == [(1, 1), (2, 1), (1, 2), (2, 2)]
    assert {"date", "host", "command", "engine"} <= set(data)


def test_bench_single_run_reports_memory_and_stability(
    residual_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "b.json"
    code, out, _ = run(
        capsys, "bench", str(residual_path), "--iterations", "20", "--warmup", "2",
        "--stress-cores", "1", "--energy", "--json", str(out_json),
    )  # fmt: skip
    assert code == 0
    assert "memory: engine" in out and "energy:" in out and "under contention: 1 core" in out
    data = json.loads(out_json.read_text())
    assert data["memory"]["engine_bytes"] > 0 and data["memory"]["run"]["peak_mb"] > 0
    assert data["config"]["stress_cores"] == 1 and data["stability"]["usage"]["planned_cpu_s"] >= 0
    assert isinstance(data["unstable"], bool)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--batch", "1,x"], "--batch must be positive integers separated by commas, got '1,x'"),
        (["--concurrency", "0"], "--concurrency must be >= 1, got 0"),
        (["--concurrency", "1,5000"], "--concurrency must be <= 4096, got 5000"),
        (["--plot", "p.png"], "--plot draws a sweep; give several --batch or --concurrency "
         "values, e.g. --batch 1,2,4,8 --concurrency 1,2"),
        (["--batch", "1,2", "--rate", "30"], "a sweep runs closed loop for --duration seconds "
         "per point; drop --rate, --iterations and --energy, or give one --batch and --concurrency"),
        (["--pipeline", "--stress-cores", "1"], "--pipeline times one runner stage by stage; "
         "drop --stress-cores, --energy and the --batch/--concurrency lists"),
    ],
)
def test_bench_flag_errors(
    residual_path: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "bench", str(residual_path), *argv)
    assert code == 2 and err == f"edgeinfer: error: {message}\n"


def test_compare_reports_memory(
    residual_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "c.json"
    code, out, _ = run(
        capsys, "compare", str(residual_path), str(residual_path), "--limit", "4",
        "--json", str(out_json),
    )  # fmt: skip
    assert code == 0
    assert "memory: candidate" in out and "with both loaded" in out
    mem = json.loads(out_json.read_text())["memory"]
    assert mem["candidate_engine_bytes"] > 0 and mem["peak_mb"] >= mem["before_mb"]
