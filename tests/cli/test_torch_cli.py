"""The torch backend from the command line: building from a PyTorch source, the --device and
--autotune flags, and bench's energy line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edgeinfer.cli import main

pytest.importorskip("torch")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_build_a_factory_source_and_bench_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    eng = tmp_path / "eng"
    code, out, err = run(
        capsys, "build", "tests.torch_models:conv_relu", "--input-shape", "1x3x16x16",
        "--backend", "torch", "--device", "cpu", "-o", str(eng),
    )  # fmt: skip
    assert code == 0, err
    assert "torch" in out and "eager fp32 on CPU" in out
    manifest = json.loads((eng / "manifest.json").read_text())
    assert manifest["build_config"]["options"] == {"device": "cpu"}
    report = tmp_path / "b.json"
    code, out, err = run(capsys, "bench", str(eng), "--iterations", "5", "--energy-s", "1", "--json", str(report))
    assert code == 0, err
    text = " ".join(out.split())  # the console wraps long lines
    assert (
        "energy: not available (the engine runs on the CPU; pass --energy to read the CPU's "
        "RAPL counters)"
    ) in text
    assert json.loads(report.read_text())["energy"]["available"] is False


def test_cli_refusals_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "build", "tests.torch_models:conv_relu", "--input-shape", "1x3", "--backend", "torch", "-o", str(tmp_path / "e"))
    assert code == 2 and err.startswith("edgeinfer: error: the PyTorch module fails on an input of shape 1x3: Expected 3D")
    assert err.endswith("; check --input-shape\n") and err.count("\n") == 1
    code, _, err = run(capsys, "build", "tests.torch_models:conv_relu", "--input-shape", "1x3x16x16", "--backend", "torch", "--precision", "int8", "-o", str(tmp_path / "e"))
    assert code == 2 and err.startswith("edgeinfer: error: the torch backend has no int8: ") and err.count("\n") == 1
    code, _, err = run(capsys, "build", "tests.torch_models:conv_relu", "--input-shape", "1xa", "-o", str(tmp_path / "e"))
    assert err == "edgeinfer: error: --input-shape '1xa' must be positive sizes joined by x, e.g. 1x3x224x224\n"
    code, _, err = run(capsys, "bench", str(tmp_path / "nothing.onnx"), "--energy-s", "0.5")
    assert code == 2 and "energy window must be >= 1 s" in err and "use --energy-s 1 or more (0 skips it)" in err
    code, _, err = run(capsys, "build", "tests.torch_models:conv_relu", "--input-shape", "1x3x16x16", "--autotune", "-o", str(tmp_path / "e"))
    assert code == 2 and "unknown onnxruntime option(s) ['autotune']" in err


@pytest.mark.skipif(
    not {"avx512_bf16", "amx_bf16"} & set(__import__("edgeinfer.host").host.current_host().isa_flags),
    reason="no native bf16 on this CPU",
)
def test_a_lower_precision_torch_build_gets_its_guardrail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the FP32 twin is built from the engine's PyTorch source (the exported ONNX file has none)
    code, out, err = run(
        capsys, "build", "tests.torch_models:conv_relu", "--input-shape", "1x3x16x16",
        "--backend", "torch", "--precision", "bf16", "-o", str(tmp_path / "eng"),
    )  # fmt: skip
    assert code == 0, err
    text = " ".join(out.split())
    assert re.search(r"(guardrail|note): bf16 is (not |[0-9.]+x )?faster than fp32 on this host \(", text), text
