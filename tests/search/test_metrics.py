from __future__ import annotations

import numpy as np
import pytest

from edgeinfer.evaluate.metrics import probabilities
from edgeinfer.search.metrics import clearly_misses, quality


def test_identical_outputs_are_perfect() -> None:
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((50, 10)).astype(np.float32) * 4
    q = quality(ref, ref.copy(), confidence=0.5)
    assert q.mode == "fidelity" and q.n == 50
    assert q.agreement == 1.0 and q.top5_containment == 1.0
    assert q.mean_kl == pytest.approx(0.0, abs=1e-9) and q.cosine == pytest.approx(1.0)
    assert q.n_confident == int((probabilities(ref).max(axis=1) >= 0.5).sum())


def test_confident_agreement_ignores_flips_on_ambiguous_inputs() -> None:
    # Input 0: confident, same top-1. Input 1: near-tie flipped. Input 2: confident, flipped
    # to the 2nd class (still in top-5).
    ref = np.log(np.array([[0.9, 0.05, 0.05], [0.41, 0.40, 0.19], [0.8, 0.15, 0.05]]))
    cand = np.log(np.array([[0.9, 0.05, 0.05], [0.40, 0.41, 0.19], [0.4, 0.55, 0.05]]))
    q = quality(ref, cand, confidence=0.5)
    assert q.agreement == pytest.approx(1 / 3)
    assert q.n_confident == 2 and q.agreement_confident == pytest.approx(0.5)
    assert q.top5_containment == 1.0
    assert q.mean_kl > 0


def test_labels_give_top1_and_drop_in_points() -> None:
    ref = np.eye(4)[[0, 1, 2, 3]] * 5
    cand = np.eye(4)[[0, 1, 2, 0]] * 5
    q = quality(ref, cand, np.array([0, 1, 2, 3]))
    assert q.mode == "labels" and q.top1 == 0.75 and q.top1_drop_pts == pytest.approx(25.0)


def test_top5_containment_counts_misses() -> None:
    ref = np.zeros((2, 8))
    ref[:, 0] = 5
    cand = np.arange(8, dtype=float)[None].repeat(2, 0)  # class 0 is last
    q = quality(ref, cand)
    assert q.top5_containment == 0.0


def test_dense_outputs_fall_back_to_cosine() -> None:
    ref = np.ones((3, 1, 4, 4))
    q = quality(ref, ref * 2)
    assert q.agreement is None and q.cosine == pytest.approx(1.0)


def test_clearly_misses_keeps_close_calls() -> None:
    ref = np.eye(10)[np.arange(200) % 10] * 6
    cand = ref.copy()
    cand[:4] = np.roll(cand[:4], 1, axis=1)  # 4 flips in 200 confident inputs: 0.98
    q = quality(ref, cand, subset=True)
    assert clearly_misses(q, max_drop_pts=1, min_agreement=0.995, top5=False) is None
    cand[:30] = np.roll(ref[:30], 1, axis=1)  # 0.85
    q = quality(ref, cand, subset=True)
    why = clearly_misses(q, max_drop_pts=1, min_agreement=0.995, top5=False)
    assert why is not None and why.startswith("agreement on confident inputs 0.8500 on 200")
    labels = np.arange(200) % 10
    ql = quality(ref, cand, labels)
    assert clearly_misses(ql, max_drop_pts=1, min_agreement=0.995, top5=True).startswith(
        "top-1 drop 15.00 pts on a 200-input subset"
    )
    ql2 = quality(ref, cand, labels)
    assert clearly_misses(ql2, max_drop_pts=20, min_agreement=0.995, top5=True) is None


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="output shapes differ"):
        quality(np.zeros((2, 3)), np.zeros((2, 4)))


def test_clearly_passes_needs_a_margin() -> None:
    from edgeinfer.search.metrics import clearly_passes

    ref = np.eye(10)[np.arange(400) % 10] * 6
    q = quality(ref, ref.copy(), np.arange(400) % 10)
    assert clearly_passes(q, max_drop_pts=0.5, min_agreement=0.995, top5=True)
    assert not clearly_passes(q, max_drop_pts=0.1, min_agreement=0.995, top5=True)
    cand = ref.copy()
    cand[:2] = np.roll(cand[:2], 1, axis=1)  # 0.995 agreement: passes, but not with margin
    qf = quality(ref, cand)
    assert not clearly_passes(qf, max_drop_pts=1, min_agreement=0.995, top5=False)
    assert clearly_passes(qf, max_drop_pts=1, min_agreement=0.98, top5=False)
