"""``edgeinfer eval``: exit codes, tables, JSON and exact errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeinfer.cli import main
from edgeinfer.data import open_dataset
from tests.evaluate.helpers import centroid_classifier, centroid_weights, numpy_predictions


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("eval") / "centroids.onnx"
    centroid_classifier(metadata=True).save(path)
    return path


def test_eval_prints_accuracy_and_writes_json(
    model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "acc.json"
    code, out, _ = run(
        capsys,
        "eval",
        str(model_path),
        "--dataset",
        "fashion-mnist",
        "--limit",
        "400",
        "--json",
        str(report),
    )
    assert code == 0
    data = json.loads(report.read_text())
    ds = open_dataset("fashion-mnist", limit=400)
    pred = numpy_predictions(ds.images(range(400)), *centroid_weights()).argmax(1)
    assert data["n"] == 400 and data["correct_top1"] == int((pred == ds.labels_array()).sum())
    assert len(data["confusion"]) == 10 and sum(map(sum, data["confusion"])) == 400
    assert data["command"].startswith("edgeinfer eval ") and data["preprocess_source"] == "engine"
    for label in ("top-1", "95% CI (Wilson)", "top-5", "per-class top-1", "Trouser"):
        assert label in out
    assert f"{100 * data['top1']:.2f}%" in out


def test_eval_with_corruptions_shows_drops(
    model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "rob.json"
    code, out, _ = run(
        capsys,
        "eval",
        str(model_path),
        "--data",
        "fashion-mnist:test",
        "--limit",
        "100",
        "--corruptions",
        "noise,dark",
        "--severity",
        "1-2",
        "--json",
        str(report),
    )
    assert code == 0
    data = json.loads(report.read_text())
    assert [(c["corruption"], c["severity"]) for c in data["corruptions"]] == [
        ("noise", 1),
        ("noise", 2),
        ("dark", 1),
        ("dark", 2),
    ]
    assert data["clean"]["n"] == 100
    for c in data["corruptions"]:
        assert c["drop"] == pytest.approx(data["clean"]["top1"] - c["top1"])
    assert (
        "robustness on fashion-mnist:test" in out and "drop (pts)" in out and "dark (mean)" in out
    )


def test_eval_usage_errors(
    model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "eval", str(model_path))
    assert code == 2 and "one of the arguments --dataset --images --data is required" in err
    code, _, err = run(
        capsys, "eval", str(model_path), "--dataset", "fashion-mnist", "--severity", "2"
    )
    assert code == 2
    assert (
        err == "edgeinfer: error: --severity needs --corruptions (e.g. --corruptions noise,blur)\n"
    )
    code, _, err = run(
        capsys, "eval", str(model_path), "--dataset", "fashion-mnist", "--corruptions", "fog"
    )
    assert code == 2 and err.startswith(
        "edgeinfer: error: unknown corruption 'fog'; choose from noise"
    )
    code, _, err = run(capsys, "eval", str(model_path), "--images", str(tmp_path / "none"))
    assert (
        code == 2
        and err
        == f"edgeinfer: error: image folder '{tmp_path / 'none'}' does not exist or is not a directory\n"
    )


def test_eval_preprocess_override_and_mismatch(
    model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "eval", str(model_path), "--dataset", "fashion-mnist", "--preprocess", "imagenet"
    )
    assert code == 2
    assert err == (
        "edgeinfer: error: dataset 'fashion-mnist:test' preprocessed with 224x224 rgb NCHW gives "
        "[3, 224, 224] but input 'x' expects float32[N,1,28,28]; pass --preprocess "
        "size=28x28,resize=shorter,color=gray,layout=NCHW (or store that spec in the model's metadata)\n"
    )
    imgs = (np.arange(2 * 28 * 28) % 256).astype(np.uint8).reshape(2, 28, 28)
    np.savez(tmp_path / "two.npz", x=imgs, y=np.array([1, 2]))
    code, out, _ = run(
        capsys,
        "eval",
        str(model_path),
        "--data",
        str(tmp_path / "two.npz"),
        "--preprocess",
        "size=28x28,resize=none,color=gray",
    )
    assert code == 0 and "N" in out
