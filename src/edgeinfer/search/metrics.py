"""The optimizer's accuracy levels: whether a subset measurement already settles the budget,
the continuous error mixed precision ranks layers by, and progress phrases (pure arithmetic
on :class:`Quality`, unit-tested; the numbers come from :mod:`edgeinfer.search.quality`).

Fidelity is measured against the FP32 reference's outputs on the same inputs, output by
output. Half of random real-photo crops are ambiguous (reference top-1 probability < 0.5)
and flips between near-tied classes there are harmless, so class-score outputs are judged by
agreement on *confident* reference inputs plus top-1-in-top-5 containment; dense and other
outputs by their mean per-input cosine similarity; labels by the top-1 drop of the labelled
output.
"""

from __future__ import annotations

import math

from edgeinfer.search.quality import KL_PENALTY, QualityAccumulator, quality, quality_of
from edgeinfer.search.results import OutputQuality, Quality

__all__ = [
    "KL_PENALTY",
    "QualityAccumulator",
    "clearly_misses",
    "clearly_passes",
    "describe_quality",
    "error_terms",
    "judged_outputs",
    "quality",
    "quality_of",
    "sensitivity_score",
]


def judged_outputs(q: Quality) -> tuple[OutputQuality, ...]:
    """The outputs the budget applies to; for a Quality without per-output numbers (older
    reports, hand-made results) one output made of its top-level numbers.
    """
    if q.outputs:
        return q.judged
    kind = "classification" if q.agreement is not None else "generic"
    return (
        OutputQuality(
            name="output",
            kind=kind,
            n=q.n,
            top1=q.top1,
            top1_drop_pts=q.top1_drop_pts,
            agreement=q.agreement,
            agreement_confident=q.agreement_confident,
            n_confident=q.n_confident,
            top5_containment=q.top5_containment,
            mean_kl=q.mean_kl,
            cosine=q.cosine,
        ),
    )


def _se_drop(o: OutputQuality) -> float:
    """Standard error of a drop in points: only disagreeing inputs can move it."""
    d = 1.0 - (o.agreement if o.agreement is not None else 0.0)
    n = max(o.n, 1)
    return 100.0 * math.sqrt(max(d, 1.0 / n) / n)


def _se_prop(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1.0 / n) / n)


def clearly_misses(
    q: Quality,
    *,
    max_drop_pts: float,
    min_agreement: float,
    top5: bool,
    min_cosine: float = 0.999,
) -> str | None:
    """A reason when the subset measurement ``q`` already proves the budget is missed on
    some judged output.

    Uses two standard errors of margin, so a close call goes on to the full measurement.
    Top-5 misses and NaN/Inf outputs are certain: they can only recur on more data.
    """
    for o in judged_outputs(q):
        why = _output_misses(o, q, max_drop_pts, min_agreement, top5, min_cosine)
        if why:
            return why if len(q.outputs) <= 1 else f"output '{o.name}': {why}"
    return None


def _output_misses(
    o: OutputQuality,
    q: Quality,
    max_drop_pts: float,
    min_agreement: float,
    top5: bool,
    min_cosine: float,
) -> str | None:
    if o.nonfinite:
        return f"NaN/Inf outputs on {o.nonfinite} of {o.n} subset inputs"
    if q.mode == "labels" and o.top1_drop_pts is not None:
        if o.top1_drop_pts - 2 * _se_drop(o) > max_drop_pts:
            return (
                f"top-1 drop {o.top1_drop_pts:.2f} pts on a {o.n}-input subset "
                f"(> {max_drop_pts:g} pts by more than 2 SE)"
            )
        return None
    if o.kind != "classification" or o.agreement is None:
        hi = o.cosine_ci[1] if o.cosine_ci else o.cosine
        if hi is not None and hi < min_cosine:
            return f"cosine {o.cosine:.5f} on {o.n} subset inputs (95% CI below {min_cosine:g})"
        return None
    if top5 and o.top5_containment is not None and o.top5_containment < 1.0:
        missing = round((1 - o.top5_containment) * o.n)
        return f"top-1-in-top-5 already fails on {missing} of {o.n} subset inputs"
    agr, n = o.agreement_confident, o.n_confident or 0
    if agr is None or n == 0:
        return None
    if agr + 2 * _se_prop(agr, n) < min_agreement:
        return (
            f"agreement on confident inputs {agr:.4f} on {n} subset inputs "
            f"(< {min_agreement:g} by more than 2 SE)"
        )
    return None


def clearly_passes(
    q: Quality,
    *,
    max_drop_pts: float,
    min_agreement: float,
    top5: bool,
    min_cosine: float = 0.999,
) -> bool:
    """True when the subset measurement ``q`` meets the budget on every judged output with
    two standard errors to spare (only such a candidate may prune others as dominated).
    """
    return all(
        _output_passes(o, q, max_drop_pts, min_agreement, top5, min_cosine)
        for o in judged_outputs(q)
    )


def _output_passes(
    o: OutputQuality,
    q: Quality,
    max_drop_pts: float,
    min_agreement: float,
    top5: bool,
    min_cosine: float,
) -> bool:
    if o.nonfinite:
        return False
    if q.mode == "labels" and o.top1_drop_pts is not None:
        return o.top1_drop_pts + 2 * _se_drop(o) <= max_drop_pts
    if o.kind != "classification" or o.agreement is None:
        lo = o.cosine_ci[0] if o.cosine_ci else None
        if lo is None:  # no interval (an older report): a fixed margin
            return o.cosine is not None and o.cosine >= max(min_cosine, 0.9999)
        return lo >= min_cosine
    if top5 and (o.top5_containment or 0.0) < 1.0:
        return False
    agr, n = o.agreement_confident, o.n_confident or 0
    if agr is None or n == 0:
        return False
    return agr - 2 * _se_prop(agr, n) >= min_agreement


def error_terms(q: Quality) -> dict[str, float]:
    """Per judged output, a continuous error (lower is better, never NaN): mean KL for
    class scores, ``1 - cosine`` for everything else.
    """
    out: dict[str, float] = {}
    for o in judged_outputs(q):
        if o.mean_kl is not None:
            value = o.mean_kl
        else:
            value = 1.0 - o.cosine if o.cosine is not None else 1.0
        out[o.name] = max(0.0, value) if math.isfinite(value) else KL_PENALTY
    return out


def sensitivity_score(q: Quality, base: Quality) -> float:
    """Mixed precision's ranking score (higher is better, never NaN): minus the sum over
    judged outputs of each output's error relative to the all-INT8 ``base``'s, so class
    scores (KL) and maps (1 - cosine) weigh alike.
    """
    ref = error_terms(base)
    total = 0.0
    for name, err in error_terms(q).items():
        scale = ref.get(name, 0.0)
        total += err / scale if scale > 1e-12 else (0.0 if err <= 1e-12 else err * 1e12)
    return -total


def describe_quality(q: Quality | None) -> str:
    """One short phrase for progress lines (every judged output of a multi-output model)."""
    if q is None:
        return "no accuracy"
    parts = []
    for o in judged_outputs(q):
        text = _describe_output(o, q.mode)
        parts.append(text if len(q.outputs) <= 1 else f"{o.name}: {text}")
    return "; ".join(parts)


def _describe_output(o: OutputQuality, mode: str) -> str:
    bad = f", {o.nonfinite} NaN/Inf" if o.nonfinite else ""
    if mode == "labels" and o.top1 is not None:
        return f"top-1 {100 * o.top1:.2f}% (drop {o.top1_drop_pts:+.2f} pts){bad}"
    if o.agreement is not None:
        conf = "-" if o.agreement_confident is None else f"{o.agreement_confident:.4f}"
        text = f"agreement {conf} confident / {o.agreement:.4f} all"
        if o.top5_containment is not None and o.mean_kl is not None:
            text += f", top-5 {o.top5_containment:.4f}, KL {o.mean_kl:.4f}"
        return text + bad
    return f"cosine {o.cosine:.5f}{bad}" if o.cosine is not None else "no measurement"
