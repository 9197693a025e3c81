"""Can the data resolve the budget? Warnings for budgets the eval set is too small to show
met or missed, from the confidence intervals (pure arithmetic, unit-tested).

A budget is a claim about the population of inputs, measured on a sample. 99.5 % agreement
on confident inputs cannot be shown by 150 of them: even 150 out of 150 only proves about
97.5 % at 95 % confidence (a perfect ``n/n`` has a Wilson lower bound of ``n / (n + z^2)``),
so it takes 765. A 1-point top-1 budget cannot be judged on 14 labelled images, where one
image is 7 points. The search says so, with the number of inputs it would take, instead of
presenting a coin flip as a verdict.
"""

from __future__ import annotations

import math

from edgeinfer.evaluate.metrics import Z95, inputs_needed
from edgeinfer.search.metrics import judged_outputs
from edgeinfer.search.results import OutputQuality, Quality
from edgeinfer.search.select import Budget

__all__ = ["data_warnings", "describe_outputs", "verdict_warnings"]


def _named(o: OutputQuality, many: bool) -> str:
    return f"output '{o.name}': " if many else ""


def data_warnings(reference: Quality, budget: Budget, mode: str) -> list[str]:
    """What the held-out split cannot resolve, known before any candidate is measured
    (from the reference's own held-out numbers: how many inputs, how many confident).
    """
    outs = judged_outputs(reference)
    many = len(outs) > 1
    out: list[str] = []
    for o in outs:
        if mode == "labels" and o.top1 is not None:
            half = Z95 * 100.0 / max(o.n, 1)  # one discordant input: the smallest interval
            if half > budget.drop_pts:
                at_least = math.ceil(Z95 * 100.0 / budget.drop_pts)
                out.append(
                    f"{_named(o, many)}the eval set is too small to resolve a "
                    f"{budget.drop_pts:g}-pt top-1 budget: {o.n} held-out labelled inputs "
                    f"give a 95% CI of at least ±{half:.1f} pts (one image is "
                    f"{100.0 / max(o.n, 1):.1f} pts); it takes >= {at_least} (more when "
                    "candidates disagree with FP32 more often)"
                )
        elif o.kind == "classification" and o.agreement is not None:
            needed = inputs_needed(budget.agreement)
            n_conf = o.n_confident or 0
            if needed is not None and n_conf < needed:
                rate = n_conf / o.n if o.n else 0.0
                total = (
                    f" (about {math.ceil(needed / rate):,} inputs at the {rate:.0%} confident "
                    "rate seen)"
                    if rate > 0
                    else ""
                )
                lo = n_conf / (n_conf + Z95 * Z95) if n_conf else 0.0
                out.append(
                    f"{_named(o, many)}agreement on confident inputs >= {budget.agreement:g} "
                    f"cannot be resolved by {n_conf} confident held-out inputs: even "
                    f"{n_conf}/{n_conf} only shows >= {lo:.4f} at 95% confidence; it takes "
                    f">= {needed:,} confident inputs{total}"
                )
    return out


def verdict_warnings(q: Quality, budget: Budget, mode: str, name: str) -> list[str]:
    """Where candidate ``name``'s held-out verdict is within the noise: a budget met by the
    point estimate that its 95 % interval does not clear.
    """
    outs = judged_outputs(q)
    many = len(outs) > 1
    out: list[str] = []
    for o in outs:
        text = _noise(o, budget, mode)
        if text:
            out.append(f"{name}: {_named(o, many)}{text}")
    return out


def _noise(o: OutputQuality, budget: Budget, mode: str) -> str | None:
    if mode == "labels" and o.top1_drop_pts is not None and o.top1_drop_ci is not None:
        drop, hi = o.top1_drop_pts, o.top1_drop_ci[1]
        if drop <= budget.drop_pts < hi:
            half = hi - drop
            room = max(budget.drop_pts - drop, 0.05)
            need = math.ceil(o.n * (half / room) ** 2)
            return (
                f"top-1 drop {drop:.2f} pts meets the {budget.drop_pts:g}-pt budget but its "
                f"95% CI reaches {hi:.2f} pts on {o.n} inputs: the eval set is too small to "
                f"resolve it (about {need:,} labelled inputs would)"
            )
        return None
    if o.kind == "classification" and o.agreement is not None:
        ci, value = o.agreement_confident_ci, o.agreement_confident
        if ci is not None and value is not None and ci[0] < budget.agreement <= value:
            needed = inputs_needed(budget.agreement)
            return (
                f"agreement on confident inputs {value:.4f} ({o.n_confident} inputs) meets "
                f">= {budget.agreement:g} but its 95% CI starts at {ci[0]:.4f}"
                + (f"; >= {needed:,} confident inputs resolve it" if needed else "")
            )
        return None
    if (
        o.cosine is not None
        and o.cosine_ci is not None
        and o.cosine_ci[0] < budget.min_cosine <= o.cosine
    ):
        return (
            f"cosine {o.cosine:.5f} meets >= {budget.min_cosine:g} but its 95% CI starts "
            f"at {o.cosine_ci[0]:.5f} ({o.n} inputs)"
        )
    return None


def describe_outputs(q: Quality | None) -> list[tuple[str, str]]:
    """The judged outputs as ``(name, kind)`` pairs, for :meth:`Budget.describe`."""
    return [(o.name, o.kind) for o in judged_outputs(q)] if q is not None and q.outputs else []
