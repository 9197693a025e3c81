"""``edgeinfer prune``: a real run on fashion-cnn, and one-line errors (exit 2) that name the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeinfer.cli import main

pytest.importorskip("torch")
pytest.importorskip("torch_pruning")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_prune_fashion_cnn_with_finetuning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pruned"
    code, stdout, _ = run(
        capsys, "prune", "fashion-cnn", "--ratio", "0.5", "--finetune-epochs", "1", "--train",
        "fashion-mnist:train", "--train-limit", "512", "--eval", "fashion-mnist:test",
        "--eval-limit", "500", "-o", str(out), "--json", str(tmp_path / "record.json"),
    )  # fmt: skip
    assert code == 0, stdout
    assert "channel 0.5: MACs 8.73M -> 1.77M (0.20x), params 109,510 -> 24,338 (0.22x)" in stdout
    assert (
        "features.0.0" in stdout and "top1 on fashion-mnist:test (500 samples): unpruned" in stdout
    )
    assert f"wrote {out}: model.onnx, pruned.pt, pruning.json" in stdout
    data = json.loads((tmp_path / "record.json").read_text())
    assert data["record"]["layers"][0] == {
        "name": "features.0.0", "kind": "conv", "before": 20, "after": 8, "weights": 72, "zeros": 0,
    }  # fmt: skip
    assert data["command"].startswith("edgeinfer prune fashion-cnn")
    assert json.loads((out / "pruning.json").read_text()) == data["record"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["fashion-cnn", "--ratio", "1.2"],
            "--ratio must be a fraction strictly between 0 and 1 (0.5 removes half), got 1.2",
        ),
        (
            ["fashion-cnn", "--ratio", "0.97", "--round-to", "1"],
            "ratio 0.97 would remove every one of the 20 channels of layer 'features.0.0' (the "
            "whole layer); use a ratio <= 0.95 for it (--ratio or --layer-ratio features.0.0=R), "
            "or --ignore features.0.0",
        ),
        (
            ["fashion-cnn", "--ratio", "0.5", "--finetune-epochs", "2"],
            "fine-tuning for 2 epochs needs training data; pass --train DATASET (e.g. "
            "fashion-mnist:train, or photos:600 with --distill)",
        ),
        (
            ["fashion-cnn", "--ratio", "0.5", "--distill"],
            "--distill distils while fine-tuning; add --finetune-epochs N --train DATASET",
        ),
        (
            ["fashion-cnn", "--ratio", "0.5", "--layer-ratio", "features.0.0"],
            "--layer-ratio 'features.0.0' must be LAYER=R, e.g. features.0.0=0.6",
        ),
        (
            ["tests.prune.models:small_cnn", "--ratio", "0.5", "--input-shape", "1x3xbig"],
            "--input-shape '1x3xbig' must be positive sizes joined by x, e.g. 1x3x224x224",
        ),
        (
            ["fashion-cnn", "--ratio", "0.5", "--finetune-epochs", "1", "--train", "photos:8"],
            "training dataset 'photos:8' does not fit model 'fashion-cnn': image is 256x256 but "
            "the model takes 28x28 and the preprocessing does not resize; set resize to 'direct' "
            "or 'shorter'",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "prune", *argv, "-o", str(tmp_path / "out"))
    assert code == 2
    assert err.startswith(f"edgeinfer: error: {message}") and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []
