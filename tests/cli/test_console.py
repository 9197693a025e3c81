"""The CLI owns the console: its own output on stdout, third-party chatter off it (on stderr
with --debug), third-party loggers quiet for the command, everything restored afterwards."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeinfer.cli import main
from edgeinfer.cli.console import command_console, echo, stdout

CHATTER = "Collecting tensor data and making histogram"  # ONNX Runtime's calibrator, on stdout


def _int8_args(model: Path, tmp_path: Path, out: str) -> list[str]:
    data = tmp_path / "calib.npz"
    rng = np.random.default_rng(99)
    np.savez(data, x=rng.standard_normal((32, 3, 16, 16)).astype(np.float32))
    return [
        "build", str(model), "-o", str(tmp_path / out), "--precision", "int8",
        "--calib", f"npz:{data}", "--calibrator", "entropy", "--no-cache", "--no-guardrail",
        "--option", "quantize_outputs=true",  # one layer: a float output would leave no int8
    ]  # fmt: skip


def test_int8_build_output_is_clean_and_state_restored(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stdout_before, root_before = sys.stdout, logging.getLogger().level
    assert main(["-q", *_int8_args(conv_relu_path, tmp_path, "e")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("engine ") and "precision: int8" in out
    assert CHATTER not in out and CHATTER not in err and err == ""
    assert sys.stdout is stdout_before and logging.getLogger().level == root_before


def test_debug_shows_third_party_output_on_stderr(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--debug", "-q", *_int8_args(conv_relu_path, tmp_path, "e")]) == 0
    out, err = capsys.readouterr()
    assert CHATTER in err and CHATTER not in out and out.startswith("engine ")


def test_json_on_stdout_stays_valid(
    conv_relu_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", str(conv_relu_path), "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["name"]


def test_command_console_routes_and_restores(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    before = root.level
    with command_console():
        print("third-party chatter")
        echo("our output")
        assert stdout() is not sys.stdout
        assert root.level == logging.ERROR
        assert logging.getLogger("edgeinfer.calibration").getEffectiveLevel() == logging.WARNING
    assert root.level == before and stdout() is sys.stdout
    print("after")
    assert capsys.readouterr().out == "our output\nafter\n"
    with command_console(debug=True):
        print("shown")
        assert root.level == before
    assert capsys.readouterr().err == "shown\n"


def test_onnxruntime_tracebacks_are_kept_off_the_console() -> None:
    """ONNX Runtime's quantization tools log tracebacks at ERROR (e.g. a failed pre-processing
    optimization) for failures edgeinfer reports in one line.
    """
    ort_logger = logging.getLogger("onnxruntime.quantization.shape_inference")
    before = logging.getLogger("onnxruntime").level
    with command_console():
        assert not ort_logger.isEnabledFor(logging.ERROR)
    assert logging.getLogger("onnxruntime").level == before
    with command_console(debug=True):
        assert ort_logger.isEnabledFor(logging.ERROR)
