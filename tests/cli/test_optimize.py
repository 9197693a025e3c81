from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeinfer.cli import main

from ..search.tiny import write_classifier

FAST = ["--time-budget", "2", "--calib-samples", "16", "--finalists", "2", "--quiet"]


def test_optimize_writes_engine_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, data = write_classifier(tmp_path)
    out = tmp_path / "out"
    rc = main(
        [
            "optimize",
            str(model),
            "--eval",
            f"npz:{data}",
            "--calib",
            f"npz:{data}",
            "--backends",
            "onnxruntime",
            "--precisions",
            "fp32,int8",
            "--calibrators",
            "minmax",
            "--max-accuracy-drop",
            "5",
            "-o",
            str(out),
            *FAST,
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "edgeinfer optimize — tiny" in captured.out and "★" in captured.out
    report = json.loads((out / "report.json").read_text())
    assert report["winner"] and report["budget_met"] is True
    assert report["command"].startswith("edgeinfer optimize ")
    assert {c["name"] for c in report["candidates"]} >= {
        "onnxruntime/fp32",
        "onnxruntime/int8(minmax)",
    }
    assert (out / "engine" / "manifest.json").exists() and (out / "report.html").exists()


def test_exit_code_3_when_nothing_meets_the_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, data = write_classifier(tmp_path)
    out = tmp_path / "out"
    rc = main(
        [
            "optimize",
            str(model),
            "--eval",
            f"npz:{data}",
            "--backends",
            "onnxruntime",
            "--precisions",
            "fp32",
            "--latency-budget-ms",
            "0.000001",
            "-o",
            str(out),
            *FAST,
        ]
    )
    err = capsys.readouterr().err
    assert rc == 3
    assert "edgeinfer: error: no candidate meets the budgets (top-1 drop <= 1 pts vs FP32, " in err
    assert "closest: onnxruntime/fp32" in err
    assert json.loads((out / "report.json").read_text())["budget_met"] is False


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--min-agreement", "99.5"],
            "edgeinfer: error: --min-agreement is a fraction in (0, 1], got 99.5; e.g. 0.995 for 99.5%",
        ),
        (["--time-budget", "0"], "edgeinfer: error: --time-budget must be > 0 minutes, got 0.0"),
        (["--max-memory-mb", "-5"], "edgeinfer: error: --max-memory-mb must be > 0, got -5"),
        (["--max-memory-mb", "nan"], "edgeinfer: error: --max-memory-mb must be a finite number, got nan"),
        (
            ["--precisions", "int4"],
            "edgeinfer: error: unknown precision 'int4'; choose from fp32, fp16, bf16, int8",
        ),
        (
            ["--backends", "tensorflow"],
            "edgeinfer: error: unknown backend 'tensorflow'; available backends: onnxruntime, openvino, torch",
        ),
        (
            ["--prune", "1.5", "--prune-epochs", "1", "--prune-train", "fashion-mnist:train"],
            "edgeinfer: error: --prune must be a fraction strictly between 0 and 1 (0.5 removes half), got 1.5",
        ),
        (
            ["--prune", "0.5"],
            "edgeinfer: error: --prune needs fine-tuning (channel pruning without it loses most of "
            "the accuracy: fashion-cnn 91.85% -> 10% at 0.5); pass --prune-epochs N --prune-train DATASET",
        ),
        (
            ["--prune", "0.5", "--prune-epochs", "2"],
            "edgeinfer: error: --prune-epochs needs training data; pass --prune-train DATASET (e.g. "
            "fashion-mnist:train, or photos:600 with --prune-distill)",
        ),
        (
            ["--prune", "0.3,half"],
            "edgeinfer: error: --prune takes comma-separated ratios, e.g. --prune 0.3,0.5; got 0.3,half",
        ),
        (
            ["--prune", "0.3,0.301", "--prune-epochs", "1", "--prune-train", "x"],
            "edgeinfer: error: --prune ratios must differ by at least 0.01, got [0.3, 0.301]",
        ),
    ],
)
def test_bad_input_exit_2_with_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    model, data = write_classifier(tmp_path)
    rc = main(
        ["optimize", str(model), "--eval", f"npz:{data}", "-o", str(tmp_path / "o"), *FAST, *extra]
    )
    assert rc == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == message


def test_unknown_model_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["optimize", "no-such-model", "-o", str(tmp_path / "o"), "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "edgeinfer: error: 'no-such-model' is neither an ONNX file, a zoo model nor a PyTorch "
        "source (package.module:factory); pass a .onnx path or one of: fashion-cnn, "
    )
    rc = main(["optimize", str(tmp_path / "m.onnx"), "--quiet"])
    assert rc == 2
    assert capsys.readouterr().err.strip() == (
        f"edgeinfer: error: model file '{tmp_path / 'm.onnx'}' does not exist; check the path"
    )
