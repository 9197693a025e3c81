"""Plots of measurements other than ``optimize``: the slowest layers of a profile and the
latency/throughput trade-off of a batch × concurrency sweep (PNG bytes; extra ``report``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from edgeinfer.report.plots import _png, _pyplot

if TYPE_CHECKING:
    from edgeinfer.bench.sweep import SweepResult

__all__ = ["layer_bars_png", "sweep_png"]

_PRECISION_COLORS = {"int8": "#2ca02c", "bf16": "#9467bd", "fp16": "#ff7f0e", "fp32": "#1f77b4"}


def layer_bars_png(
    names: Sequence[str], times_ms: Sequence[float], precisions: Sequence[str]
) -> bytes:
    """Horizontal bars of the slowest layers (slowest on top), coloured by precision."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 0.28 * len(names) + 1.2))
    ys = list(range(len(names)))[::-1]
    colors = [_PRECISION_COLORS.get(p, "#7f7f7f") for p in precisions]
    ax.barh(ys, times_ms, color=colors)
    short = [n if len(n) <= 60 else "…" + n[-59:] for n in names]
    ax.set_yticks(ys, short, fontsize=7)
    ax.set_xlabel("ms per inference")
    for prec in sorted(set(precisions)):
        ax.barh([], [], color=_PRECISION_COLORS.get(prec, "#7f7f7f"), label=prec or "?")
    ax.legend(fontsize=8, loc="lower right", title="precision")
    ax.set_title("slowest layers")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def sweep_png(result: SweepResult) -> bytes:
    """p50 (and p99 as a dashed line) latency against throughput, one line per concurrency,
    each point labelled with its batch; unstable points are hollow.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for c in sorted({p.concurrency for p in result.points}):
        pts = sorted((p for p in result.points if p.concurrency == c), key=lambda p: p.batch)
        xs = [p.throughput for p in pts]
        (line,) = ax.plot(xs, [p.stats.p50 for p in pts], marker="o", label=f"concurrency {c} p50")
        ax.plot(
            xs,
            [p.stats.p99 for p in pts],
            ls="--",
            color=line.get_color(),
            alpha=0.6,
            label=f"concurrency {c} p99",
        )
        for p in pts:
            if not p.stability.stable:
                ax.scatter(
                    [p.throughput],
                    [p.stats.p50],
                    s=120,
                    facecolors="none",
                    edgecolors="#d62728",
                    zorder=4,
                )
            ax.annotate(
                f"b{p.batch}",
                (p.throughput, p.stats.p50),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
            )
    ax.set_xlabel("throughput (items/s)")
    ax.set_ylabel("latency per request (ms)")
    ax.set_yscale("log")
    from matplotlib.ticker import FormatStrFormatter

    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax.tick_params(axis="y", which="minor", labelsize=7)
    title = "latency vs throughput (b = batch)"
    if not result.stability.stable:
        title += " — UNSTABLE machine (red circles: points whose rounds disagree)"
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _png(fig)
