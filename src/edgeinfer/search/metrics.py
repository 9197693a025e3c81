"""The optimizer's accuracy levels: a :class:`Quality` from output arrays, and whether a
subset measurement already settles the budget (pure numpy, unit-tested).

Fidelity is measured against the FP32 reference's outputs on the same inputs. Half of
random real-photo crops are ambiguous (reference top-1 probability < 0.5) and flips between
near-tied classes there are harmless, so the default no-label budget uses agreement on
*confident* reference inputs plus top-1-in-top-5 containment; all-input agreement and mean
KL are always reported too.
"""

from __future__ import annotations

import math

import numpy as np

from edgeinfer.evaluate import metrics
from edgeinfer.search.results import Quality


def quality(
    reference: np.ndarray,
    candidate: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    confidence: float = 0.5,
    mode: str | None = None,
    subset: bool = False,
) -> Quality:
    """Compare ``candidate`` outputs with ``reference`` outputs (and ``labels`` if given).

    The numbers come from :mod:`edgeinfer.evaluate.metrics` (as ``compare`` computes them);
    whether the outputs already are probabilities is decided from the reference.

    Args:
        reference: FP32 reference outputs, ``(N, classes)`` (logits or probabilities).
        candidate: candidate outputs of the same shape.
        labels: ``(N,)`` class indices, or None.
        confidence: reference top-1 probability that makes an input "confident".
        mode: ``labels`` or ``fidelity`` (None: labels when given).
        subset: mark the result as measured on the quick subset.

    Raises:
        ValueError: the two outputs have different shapes.
    """
    if reference.shape != candidate.shape:
        raise ValueError(f"output shapes differ: {reference.shape} vs {candidate.shape}")
    n = len(reference)
    mode = mode or ("labels" if labels is not None else "fidelity")
    cosine = float(np.mean(metrics.cosine_rows(reference, candidate)))
    if not metrics.is_class_scores(reference.shape):  # not class scores: cosine only
        return Quality(mode, n, cosine=cosine, subset=subset)
    already = metrics.looks_like_probabilities(reference)
    agree = metrics.agreement(reference, candidate)
    confident = metrics.confident(metrics.probabilities(reference, already=already), confidence)
    n_conf = int(confident.sum())
    kl = metrics.kl_divergence(
        metrics.log_probabilities(reference, already=already),
        metrics.log_probabilities(candidate, already=already),
    )
    top1, drop = _top1_and_drop(reference, candidate, labels)
    return Quality(
        mode=mode,
        n=n,
        top1=top1,
        top1_drop_pts=drop,
        agreement=float(agree.mean()),
        agreement_confident=float(agree[confident].mean()) if n_conf else None,
        n_confident=n_conf,
        top5_containment=float(np.mean(metrics.top_k_contains(candidate, reference, 5))),
        mean_kl=float(np.mean(kl)),
        cosine=cosine,
        subset=subset,
    )


def _top1_and_drop(
    reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray | None
) -> tuple[float | None, float | None]:
    """The candidate's top-1 accuracy and the reference's minus it in points (None, None
    without labels).
    """
    if labels is None:
        return None, None
    lab = np.asarray(labels).reshape(-1)
    top1 = float(np.mean(metrics.as_rows(candidate).argmax(axis=1) == lab))
    return top1, 100.0 * (float(np.mean(metrics.as_rows(reference).argmax(axis=1) == lab)) - top1)


def clearly_misses(
    q: Quality, *, max_drop_pts: float, min_agreement: float, top5: bool
) -> str | None:
    """A reason when the subset measurement ``q`` already proves the budget is missed.

    Uses two standard errors of margin, so a close call goes on to the full measurement.
    Top-5 misses are certain: an input missing on the subset also misses on the full set.
    """
    if q.mode == "labels":
        if q.top1_drop_pts is None:
            return None
        # Only inputs where the two disagree can change correctness: var(drop) <= d / n.
        d = 1.0 - (q.agreement if q.agreement is not None else 0.0)
        se = 100.0 * math.sqrt(max(d, 1.0 / q.n) / q.n)
        if q.top1_drop_pts - 2 * se > max_drop_pts:
            return (
                f"top-1 drop {q.top1_drop_pts:.2f} pts on a {q.n}-input subset "
                f"(> {max_drop_pts:g} pts by more than 2 SE)"
            )
        return None
    if top5 and q.top5_containment is not None and q.top5_containment < 1.0:
        missing = round((1 - q.top5_containment) * q.n)
        return f"top-1-in-top-5 already fails on {missing} of {q.n} subset inputs"
    agr, n = q.agreement_confident, q.n_confident or 0
    if agr is None or n == 0:
        return None
    upper = agr + 2 * math.sqrt(max(agr * (1 - agr), 1.0 / n) / n)
    if upper < min_agreement:
        return (
            f"agreement on confident inputs {agr:.4f} on {n} subset inputs "
            f"(< {min_agreement:g} by more than 2 SE)"
        )
    return None


def clearly_passes(q: Quality, *, max_drop_pts: float, min_agreement: float, top5: bool) -> bool:
    """True when the subset measurement ``q`` meets the budget with two standard errors to
    spare (only such a candidate may prune others as dominated).
    """
    if q.mode == "labels":
        if q.top1_drop_pts is None:
            return False
        d = 1.0 - (q.agreement if q.agreement is not None else 0.0)
        se = 100.0 * math.sqrt(max(d, 1.0 / q.n) / q.n)
        return q.top1_drop_pts + 2 * se <= max_drop_pts
    if q.agreement is None:
        return q.cosine is not None and q.cosine >= 0.9999
    if top5 and (q.top5_containment or 0.0) < 1.0:
        return False
    agr, n = q.agreement_confident, q.n_confident or 0
    if agr is None or n == 0:
        return False
    return agr - 2 * math.sqrt(max(agr * (1 - agr), 1.0 / n) / n) >= min_agreement


def describe_quality(q: Quality | None) -> str:
    """One short phrase for progress lines."""
    if q is None:
        return "no accuracy"
    if q.mode == "labels" and q.top1 is not None:
        return f"top-1 {100 * q.top1:.2f}% (drop {q.top1_drop_pts:+.2f} pts)"
    if q.agreement_confident is not None:
        text = f"agreement {q.agreement_confident:.4f} confident / {q.agreement:.4f} all"
        return text + (
            f", top-5 {q.top5_containment:.4f}, KL {q.mean_kl:.4f}"
            if q.mean_kl is not None and q.top5_containment is not None
            else ""
        )
    return f"cosine {q.cosine:.5f}"
