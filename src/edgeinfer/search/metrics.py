"""Accuracy and fidelity numbers from output arrays (pure numpy, unit-tested).

Fidelity is measured against the FP32 reference's outputs on the same inputs. Half of
random real-photo crops are ambiguous (reference top-1 probability < 0.5) and flips between
near-tied classes there are harmless, so the default no-label budget uses agreement on
*confident* reference inputs plus top-1-in-top-5 containment; all-input agreement and mean
KL are always reported too.
"""

from __future__ import annotations

import math

import numpy as np

from edgeinfer.search.results import Quality


def as_probs(outputs: np.ndarray) -> np.ndarray:
    """Rows of ``outputs`` as probabilities: kept when they already are, else softmax."""
    x = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    if x.size and np.all(x >= 0) and np.allclose(x.sum(axis=1), 1.0, atol=1e-3):
        return x
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    eps = 1e-12
    return float(np.mean(np.sum(p * (np.log(p + eps) - np.log(q + eps)), axis=1)))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a2 = a.reshape(len(a), -1).astype(np.float64)
    b2 = b.reshape(len(b), -1).astype(np.float64)
    num = np.sum(a2 * b2, axis=1)
    den = np.linalg.norm(a2, axis=1) * np.linalg.norm(b2, axis=1)
    cos = np.where(den > 0, num / np.where(den > 0, den, 1), 1.0)
    return float(np.mean(cos))


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

    Args:
        reference: FP32 reference outputs, ``(N, classes)`` (logits or probabilities).
        candidate: candidate outputs of the same shape.
        labels: ``(N,)`` class indices, or None.
        confidence: reference top-1 probability that makes an input "confident".
        mode: ``labels`` or ``fidelity`` (None: labels when given).
        subset: mark the result as measured on the quick subset.
    """
    if reference.shape != candidate.shape:
        raise ValueError(f"output shapes differ: {reference.shape} vs {candidate.shape}")
    n = len(reference)
    mode = mode or ("labels" if labels is not None else "fidelity")
    if reference.ndim != 2 or reference.shape[1] < 2:  # not class scores: cosine only
        return Quality(mode, n, cosine=_cosine(reference, candidate), subset=subset)
    p_ref, p_cand = as_probs(reference), as_probs(candidate)
    ref_top = p_ref.argmax(axis=1)
    cand_top = p_cand.argmax(axis=1)
    k = min(5, p_cand.shape[1])
    top5 = np.argpartition(-p_cand, k - 1, axis=1)[:, :k]
    agree = ref_top == cand_top
    confident = p_ref.max(axis=1) >= confidence
    n_conf = int(confident.sum())
    top1 = drop = None
    if labels is not None:
        lab = np.asarray(labels).reshape(-1)
        top1 = float(np.mean(cand_top == lab))
        drop = 100.0 * (float(np.mean(ref_top == lab)) - top1)
    return Quality(
        mode=mode,
        n=n,
        top1=top1,
        top1_drop_pts=drop,
        agreement=float(agree.mean()),
        agreement_confident=float(agree[confident].mean()) if n_conf else None,
        n_confident=n_conf,
        top5_containment=float(np.mean(np.any(top5 == ref_top[:, None], axis=1))),
        mean_kl=_kl(p_ref, p_cand),
        cosine=_cosine(reference, candidate),
        subset=subset,
    )


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
    spare (only such a candidate may prune others as dominated)."""
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
