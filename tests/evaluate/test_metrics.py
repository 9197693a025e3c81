from __future__ import annotations

import numpy as np
import pytest

from edgeinfer.evaluate import metrics


@pytest.mark.parametrize(
    ("shape", "task", "kind"),
    [
        ((8, 10), None, "classification"),
        (("batch", 1000), None, "classification"),
        ((1, 1000, 1, 1), None, "classification"),
        ((8, 1), None, "generic"),
        ((1, 1, 64, 64), None, "dense"),
        ((1, 1, "height", "width"), None, "dense"),
        ((1, 100, 85), None, "generic"),
        ((1, 100, 85), "dense", "dense"),
        ((4,), None, "generic"),
    ],
)
def test_output_kind(shape: tuple[int | str, ...], task: str | None, kind: str) -> None:
    assert metrics.output_kind(shape, task) == kind
    assert metrics.is_class_scores(shape) == (kind == "classification")


def test_declared_task_only_knows_the_kinds() -> None:
    assert metrics.declared_task({"task": "dense"}) == "dense"
    assert metrics.declared_task({"task": "detection"}) is None
    assert metrics.declared_task({}) is None


def test_probabilities_keep_probabilities_and_softmax_logits() -> None:
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25]])
    assert metrics.looks_like_probabilities(probs)
    np.testing.assert_array_equal(metrics.probabilities(probs), probs)
    logits = np.array([1.0, 3.0, 2.0])
    p = metrics.probabilities(logits)
    assert p.shape == (3,) and p.sum() == pytest.approx(1.0) and p.argmax() == 1
    np.testing.assert_allclose(np.exp(metrics.log_probabilities(logits))[0], p)
    # forced: treat probabilities as logits
    assert not np.allclose(metrics.probabilities(probs, already=False), probs)


def test_kl_is_zero_for_identical_rows_and_positive_otherwise() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 7))
    lx = metrics.log_probabilities(x)
    np.testing.assert_allclose(metrics.kl_divergence(lx, lx), 0.0, atol=1e-12)
    ly = metrics.log_probabilities(x + rng.standard_normal((5, 7)))
    assert (metrics.kl_divergence(lx, ly) > 0).all()


def test_cosine_rows_of_zero_rows() -> None:
    a = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    b = np.array([[2.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(metrics.cosine_rows(a, b), [1.0, 1.0, 0.0])


def test_top_k_is_stable_for_vectors_and_rows() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 4, size=(50, 20)).astype(np.float32)  # many ties
    expected = np.argsort(-x.astype(np.float64), axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(metrics.top_k(x, 5), expected)
    for row, want in zip(x, expected, strict=True):  # the one-vector path agrees
        np.testing.assert_array_equal(metrics.top_k(row, 5), want)
    assert list(metrics.top_k(np.array([np.nan, 1.0, 2.0]), 2)) == [2, 1]
    assert metrics.top_k(np.array([3.0, 1.0]), 5).tolist() == [0, 1]


def test_agreement_confidence_and_containment() -> None:
    ref = np.log(np.array([[0.9, 0.05, 0.05], [0.41, 0.40, 0.19], [0.8, 0.15, 0.05]]))
    cand = np.log(np.array([[0.9, 0.05, 0.05], [0.40, 0.41, 0.19], [0.4, 0.55, 0.05]]))
    assert metrics.agreement(ref, cand).tolist() == [True, False, False]
    assert metrics.confident(metrics.probabilities(ref), 0.5).tolist() == [True, False, True]
    assert metrics.top_k_contains(cand, ref, 1).tolist() == [True, False, False]
    assert metrics.top_k_contains(cand, ref, 2).tolist() == [True, True, True]
