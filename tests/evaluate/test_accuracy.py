"""Accuracy of a real nearest-centroid Fashion-MNIST classifier, checked against numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeinfer.builder import build
from edgeinfer.data import open_dataset
from edgeinfer.data.idx import FASHION_MNIST_LABELS, FashionMNIST
from edgeinfer.engine import Engine
from edgeinfer.errors import DataError
from edgeinfer.evaluate import evaluate_accuracy, evaluate_robustness
from edgeinfer.evaluate.accuracy import label_map, wilson_interval
from edgeinfer.evaluate.corruptions import corrupt_image
from tests.evaluate.helpers import centroid_classifier, centroid_weights, numpy_predictions


@pytest.fixture(scope="module")
def weights() -> tuple[np.ndarray, np.ndarray]:
    return centroid_weights()


@pytest.fixture(scope="module")
def engine(weights: tuple[np.ndarray, np.ndarray]) -> Engine:
    w, b = weights
    model = centroid_classifier(metadata=True, w=w, b=b).with_meta(labels=FASHION_MNIST_LABELS)
    return build(model)


def test_real_test_set_counts_match_numpy(
    engine: Engine, weights: tuple[np.ndarray, np.ndarray]
) -> None:
    test = FashionMNIST()
    logits = numpy_predictions(test.x, *weights)
    pred = logits.argmax(axis=1)
    top5 = np.argsort(-logits, axis=1, kind="stable")[:, :5]
    result = evaluate_accuracy(engine, open_dataset("fashion-mnist"), batch_size=500, quiet=True)
    assert result.n == 10000
    assert result.correct_top1 == int((pred == test.y).sum())
    assert result.correct_topk == int((top5 == test.y[:, None]).any(axis=1).sum())
    assert 0.6 < result.top1 < 0.75  # a real (weak) classifier, far above chance
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (test.y, pred), 1)
    assert np.array_equal(result.confusion, confusion)
    per_class = result.per_class
    assert [c.n for c in per_class] == [1000] * 10
    assert [c.correct for c in per_class] == np.diag(confusion).tolist()
    assert per_class[1].label == "Trouser"
    assert result.preprocess_source == "engine" and result.batch_size == 500
    lo, hi = result.ci95
    assert lo < result.top1 < hi and hi - lo < 0.02
    data = result.to_dict()
    assert data["top1"] == result.top1 and data["confusion"] == confusion.tolist()
    assert data["per_class"][0]["label"] == "T-shirt/top" and data["top5_k"] == 5


def test_wilson_interval_textbook_values() -> None:
    lo, hi = wilson_interval(50, 100)
    assert (round(lo, 4), round(hi, 4)) == (0.4038, 0.5962)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_fixed_batch_engine_pads_the_last_batch(weights: tuple[np.ndarray, np.ndarray]) -> None:
    w, b = weights
    eng = build(centroid_classifier(batch=4, w=w, b=b))
    ds = open_dataset("fashion-mnist", limit=10)
    result = evaluate_accuracy(eng, ds, batch_size=64, quiet=True)
    pred = numpy_predictions(ds.images(range(10)), w, b).argmax(axis=1)
    assert result.batch_size == 4 and result.n == 10
    assert result.correct_top1 == int((pred == ds.labels_array()).sum())
    assert result.preprocess_source == "dataset"
    assert result.labels == FASHION_MNIST_LABELS  # from the dataset


def test_probability_outputs_give_the_same_accuracy(weights: tuple[np.ndarray, np.ndarray]) -> None:
    w, b = weights
    ds = open_dataset("fashion-mnist", limit=300)
    logits = evaluate_accuracy(build(centroid_classifier(w=w, b=b)), ds, quiet=True)
    probs = evaluate_accuracy(build(centroid_classifier(w=w, b=b, softmax=True)), ds, quiet=True)
    assert logits.correct_top1 == probs.correct_top1 and logits.correct_topk == probs.correct_topk


def test_image_folder_labels_are_mapped_to_model_labels_by_name(
    engine: Engine, tmp_path: Path, weights: tuple[np.ndarray, np.ndarray]
) -> None:
    test = FashionMNIST()
    for i in range(30):
        folder = tmp_path / FASHION_MNIST_LABELS[int(test.y[i])].replace("/", "-")
        folder.mkdir(exist_ok=True)
        Image.fromarray(test.x[i]).save(folder / f"{i:03d}.png")
    ds = open_dataset(f"images:{tmp_path}")
    assert ds.labels is not None and ds.labels[0] == "Ankle boot"  # alphabetical
    names = [n.replace("/", "-") for n in FASHION_MNIST_LABELS]
    mapping = label_map(ds.labels, names)
    assert mapping is not None
    eng = build(
        centroid_classifier(metadata=True, w=weights[0], b=weights[1]).with_meta(labels=names)
    )
    result = evaluate_accuracy(eng, ds, quiet=True)
    pred = numpy_predictions(test.x[:30], *weights).argmax(axis=1)
    assert result.n == 30 and result.correct_top1 == int((pred == test.y[:30]).sum())
    assert result.preprocess_source == "engine"  # the PNGs were read as RGB, made gray again


def test_unlabelled_data_and_bad_labels_are_clear_errors(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        evaluate_accuracy(engine, open_dataset("photos:2"), quiet=True, preprocess=None)
    assert "image is 256x256 but the model takes 28x28" in str(exc.value)
    np.save(tmp_path / "x.npy", FashionMNIST().x[:5])
    with pytest.raises(DataError) as exc:
        evaluate_accuracy(engine, open_dataset(str(tmp_path / "x.npy")), quiet=True)
    assert str(exc.value) == (
        f"dataset 'npy:{tmp_path / 'x.npy'}' has no labels; accuracy needs labelled data (class "
        "sub-folders, labels.csv, or an .npz with 'y')"
    )
    np.savez(tmp_path / "bad.npz", x=FashionMNIST().x[:3], y=np.array([0, 12, 3]))
    with pytest.raises(
        DataError, match="has label 12 \\(or negative\\) but the model has 10 classes"
    ):
        evaluate_accuracy(engine, open_dataset(str(tmp_path / "bad.npz")), quiet=True)


def test_corrupted_accuracy_matches_numpy_and_robustness_reports_drops(
    engine: Engine, weights: tuple[np.ndarray, np.ndarray]
) -> None:
    ds = open_dataset("fashion-mnist", limit=200, seed=1)
    images = ds.images(range(200))
    noisy = np.stack(
        [corrupt_image(im, "noise", 4, seed=7, index=i) for i, im in enumerate(images)]
    )
    pred = numpy_predictions(noisy, *weights).argmax(axis=1)
    result = evaluate_accuracy(
        engine, ds, corruption="noise", severity=4, seed=7, batch_size=64, quiet=True
    )
    assert result.corruption == "noise" and result.severity == 4
    assert result.correct_top1 == int((pred == ds.labels_array()).sum())
    rob = evaluate_robustness(
        engine, ds, corruptions=("noise", "contrast"), severities=(1, 5), seed=7, quiet=True
    )
    assert [(e.corruption, e.severity) for e in rob.entries] == [
        ("noise", 1),
        ("noise", 5),
        ("contrast", 1),
        ("contrast", 5),
    ]
    for e in rob.entries:
        assert e.drop == pytest.approx(rob.clean.top1 - e.result.top1)
    assert rob.entries[3].result.top1 < rob.clean.top1  # contrast 0.05 hurts a centroid classifier
    data = rob.to_dict()
    assert set(data["mean_by_corruption"]) == {"noise", "contrast"}
    assert data["corruptions"][0]["drop"] == rob.entries[0].drop
