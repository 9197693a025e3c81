"""The rich terminal table of an optimize run: every candidate, the winner, the reasons."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from edgeinfer.report.headline import headline
from edgeinfer.report.html import candidate_order, cost_cells, quality_cells
from edgeinfer.search.results import OptimizeResult


def optimize_table(result: OptimizeResult, *, max_reason: int = 70) -> Table:
    """One row per candidate, finalists first (fastest first), then the rest."""
    labels = result.mode == "labels"
    title = f"edgeinfer optimize — {result.model.get('name')} ({result.data_note})"
    table = Table(title=escape(title), caption=escape(_caption(result)))
    cols = ["candidate", "status", "p50 ms", "p99 ms", "vs start"]
    cols += ["top-1 %", "drop"] if labels else []
    costs = any(c.pruning for c in result.candidates)
    cols += [
        "agree conf/all",
        "top5",
        "KL",
        *(["MACs", "params"] if costs else []),
        "MB",
        "RSS+ MiB",
        "decision",
    ]
    for c in cols:
        table.add_column(
            c,
            justify="left" if c in ("candidate", "status", "decision") else "right",
            overflow="fold",
        )

    for r in sorted(result.candidates, key=candidate_order):
        top1, drop, agr, top5, kl = quality_cells(r)
        lat = r.latency
        mark = " ★" if r.name == result.winner else " (start)" if r.name == result.baseline else ""
        row = [
            escape(r.name) + mark,
            r.status,
            (f"{lat.p50:.3f}" + ("!" if r.unstable else "")) if lat else "",
            f"{lat.p99:.3f}" if lat else "",
            f"{1 / r.ratio_vs_baseline:.2f}x" if r.ratio_vs_baseline else "",
        ]
        row += [top1.replace(" (subset)", "*"), drop] if labels else []
        reason = "; ".join(r.reasons) or (r.error or "")
        if len(reason) > max_reason:
            reason = reason[: max_reason - 1] + "…"
        row += [
            agr,
            top5,
            kl[:7],
            *(cost_cells(result, r) or []),
            f"{r.size_bytes / 1e6:.2f}" if r.size_bytes else "",
            f"{r.memory_mb:.0f}" if r.memory_mb is not None else "",
            escape(reason),
        ]
        style = "bold green" if r.name == result.winner else "dim" if r.status != "measured" else ""
        table.add_row(*row, style=style)
    return table


def _caption(result: OptimizeResult) -> str:
    lines = []
    lines.append(headline(result) + (f" Runner-up: {result.runner_up}." if result.runner_up else ""))
    lines.append(
        "* = quick subset; vs start = interleaved p50 speed-up vs the starting point; "
        "! = measured on an unstable machine; RSS+ = peak resident memory loading and running "
        "it added"
    )
    if result.unstable and result.stability:
        lines.append("UNSTABLE machine: " + "; ".join(result.stability.get("reasons", [])[:3]))
    for m in result.mixed:
        cost = f", {m.latency_cost:.2f}x the all-INT8 latency" if m.latency_cost else ""
        verdict = "meets the budget" if m.meets_budget else f"misses the budget ({m.note})"
        lines.append(
            f"mixed precision on {m.base}: {len(m.excluded)} node(s) kept in FP32, {verdict}{cost}"
        )
    lines.extend(result.notes[:1])
    if result.skipped:
        lines.append("skipped: " + ", ".join(result.skipped))
    return "\n".join(lines)
