"""Budgets the data cannot resolve are flagged, with the number of inputs they need."""

from __future__ import annotations

import numpy as np

from edgeinfer.evaluate.metrics import inputs_needed, wilson_interval
from edgeinfer.search.quality import quality_of
from edgeinfer.search.resolution import data_warnings, verdict_warnings
from edgeinfer.search.select import Budget


def test_inputs_needed_matches_the_wilson_bound() -> None:
    need = inputs_needed(0.995)
    assert need == 765
    assert wilson_interval(need, need)[0] >= 0.995 > wilson_interval(need - 1, need - 1)[0]
    assert inputs_needed(1.0) is None and inputs_needed(0.9) == 35


def test_995_on_150_confident_inputs_is_flagged_with_what_it_takes() -> None:
    # MobileNetV2 on photos:300: the budget was "met" on ~150 confident crops and missed on
    # fresh ones; 150/150 only shows >= 0.975.
    ref = np.eye(10)[np.arange(300) % 10] * np.where(np.arange(300) % 2, 6, 0.1)[:, None]
    q = quality_of({"logits": ref}, {"logits": ref})
    assert q.n_confident == 150
    (text,) = data_warnings(q, Budget(), "fidelity")
    assert text == (
        "agreement on confident inputs >= 0.995 cannot be resolved by 150 confident held-out "
        "inputs: even 150/150 only shows >= 0.9750 at 95% confidence; it takes >= 765 "
        "confident inputs (about 1,530 inputs at the 50% confident rate seen)"
    )
    assert data_warnings(q, Budget(min_agreement=0.97), "fidelity") == []


def test_a_1pt_budget_on_14_labelled_images_is_flagged() -> None:
    ref = np.eye(10)[np.arange(14) % 10] * 6
    labels = np.arange(14) % 10
    q = quality_of({"logits": ref}, {"logits": ref}, labels)
    (text,) = data_warnings(q, Budget(max_accuracy_drop=1.0), "labels")
    assert text.startswith(
        "the eval set is too small to resolve a 1-pt top-1 budget: 14 held-out labelled inputs "
        "give a 95% CI of at least ±14.0 pts (one image is 7.1 pts); it takes >= 196"
    )


def test_a_pass_within_the_noise_is_called_out() -> None:
    ref = np.eye(10)[np.arange(1000) % 10] * 6
    labels = np.arange(1000) % 10
    cand = ref.copy()
    cand[:8] = np.roll(cand[:8], 1, axis=1)  # 0.8 pts drop: meets 1 pt, CI reaches past it
    q = quality_of({"logits": ref}, {"logits": cand}, labels)
    (text,) = verdict_warnings(q, Budget(max_accuracy_drop=1.0), "labels", "int8")
    assert text.startswith("int8: top-1 drop 0.80 pts meets the 1-pt budget but its 95% CI reaches")
    assert text.endswith("labelled inputs would)")
    assert verdict_warnings(q, Budget(max_accuracy_drop=3.0), "labels", "int8") == []
