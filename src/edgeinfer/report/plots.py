"""Plots for the optimize report (matplotlib, Agg backend, imported lazily: extra ``report``).

Each function returns PNG bytes, so the HTML report can embed them (base64) and stay a
single self-contained file.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from edgeinfer.backends import list_backends
from edgeinfer.errors import require
from edgeinfer.search.pareto import ParetoPoint, pareto_front

if TYPE_CHECKING:
    from edgeinfer.search.results import CandidateResult, OptimizeResult

# Tableau's 10 colours: backends get them in registry order, so a colour means the same
# backend in every report (no backend is named here).
_PALETTE = (
    "#1f77b4", "#9467bd", "#d62728", "#2ca02c", "#ff7f0e",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
)  # fmt: skip


def backend_color(backend: str) -> str:
    """A stable colour per registered backend (grey for anything else)."""
    names = list_backends()
    return _PALETTE[names.index(backend) % len(_PALETTE)] if backend in names else "#7f7f7f"


def _pyplot() -> Any:
    mpl = require("matplotlib", "report", purpose="the report's plots")
    mpl.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def accuracy_axis(result: OptimizeResult) -> tuple[str, float | None]:
    """The y-axis label and the budget line.

    With labels the axis is the top-1 change vs the FP32 reference in points (comparable
    between the quick subset and the full set, each measured against the reference on the
    same inputs); without labels it is the agreement on confident inputs.
    """
    budget = result.config.get("budget", {})
    if result.mode == "labels":
        drop = budget.get("max_accuracy_drop")
        return "top-1 change vs FP32 (points)", -(1.0 if drop is None else drop)
    if _cosine_axis(result):  # no class scores (a dense model): what the budget applies
        return "mean cosine similarity to FP32", budget.get("min_cosine", 0.999)
    agr = budget.get("min_agreement")
    return "top-1 agreement with FP32 on confident inputs (%)", 100 * (
        0.995 if agr is None else agr
    )


def _cosine_axis(result: OptimizeResult) -> bool:
    """Whether the primary output holds no class scores (its quality has no agreement)."""
    qs = [c.quality for c in result.candidates if c.quality is not None]
    return bool(qs) and all(q.agreement is None and q.cosine is not None for q in qs)


def _y(r: CandidateResult, mode: str, cosine: bool = False) -> float | None:
    q = r.quality
    if q is None:
        return None
    if mode == "labels":
        return None if q.top1_drop_pts is None else -q.top1_drop_pts
    if cosine:
        return q.cosine
    v = q.agreement_confident if q.agreement_confident is not None else q.agreement
    return None if v is None else 100 * v


def _backend(r: CandidateResult) -> str:
    return r.config.backend if r.config else r.kind


def plotted_front(pts: dict[str, tuple[float, float]]) -> list[str]:
    """The Pareto front in the two plotted objectives (latency lower, quality higher), fastest
    first: the names no other plotted point beats on both axes. The search's front also weighs
    file size; that is a column of the table, not an axis here.
    """
    return pareto_front([ParetoPoint(n, x, y) for n, (x, y) in pts.items()])


def log_x(ax: Any, values: list[float]) -> None:
    """A log latency axis with plain-number labels that never overlap: minor ticks are
    labelled only when the data spans less than a decade (then there are few major ones).
    """
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    positive = [v for v in values if v > 0]
    narrow = bool(positive) and max(positive) / min(positive) < 10
    if narrow:
        ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 3.0, 5.0)))
        ax.xaxis.set_minor_formatter(FormatStrFormatter("%g"))
        ax.tick_params(axis="x", which="minor", labelsize=7)
    else:
        ax.xaxis.set_minor_formatter(NullFormatter())


def scatter_png(result: OptimizeResult) -> bytes:
    """Accuracy vs latency: every measured candidate, the Pareto front and the budget lines."""
    plt = _pyplot()
    objective = result.config.get("budget", {}).get("objective", "p50")
    key = "p99" if objective == "p99" else "p50"
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    ylabel, yline = accuracy_axis(result)
    pts: dict[str, tuple[float, float]] = {}
    cosine = _cosine_axis(result)
    for r in result.candidates:
        y = _y(r, result.mode, cosine)
        if r.latency is None or y is None:
            continue
        x = getattr(r.latency, key)
        pts[r.name] = (x, y)
        final = r.status == "measured"
        ax.scatter(
            x,
            y,
            s=60 if final else 28,
            c=backend_color(_backend(r)),
            marker="o" if final else "x",
            alpha=1.0 if final else 0.6,
            zorder=3,
        )
        label = r.name + (" ★" if r.name == result.winner else "")
        ax.annotate(
            label,
            (x, y),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=7 if final else 6,
            alpha=1.0 if final else 0.6,
        )
    measured = {r.name for r in result.candidates if r.status == "measured"}
    front = plotted_front({n: xy for n, xy in pts.items() if n in measured} or pts)
    if front:
        xs, ys = zip(*(pts[n] for n in front), strict=True)
        ax.step(xs, ys, where="post", color="#2ca02c", lw=1.5, label="Pareto front", zorder=2)
    if yline is not None:
        ax.axhline(yline, color="#ff7f0e", ls="--", lw=1, label="accuracy budget")
    ms = result.config.get("budget", {}).get("latency_budget_ms")
    if ms:
        ax.axvline(ms, color="#d62728", ls="--", lw=1, label="latency budget")
    log_x(ax, [x for x, _ in pts.values()])
    ax.set_xlabel(f"latency {key} (ms, batch 1, log scale)")
    ax.set_ylabel(ylabel)
    for backend in sorted({_backend(r) for r in result.candidates if r.name in pts}):
        ax.scatter([], [], c=backend_color(backend), label=backend)
    ax.set_title(
        f"{result.model.get('name')}: accuracy vs latency "
        "(o full measurement, x quick probe on a subset)"
    )
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower right")
    return _png(fig)


def cdf_png(result: OptimizeResult) -> bytes:
    """Latency CDF of every finalist (interleaved samples)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for r in result.candidates:
        if not r.samples_ms:
            continue
        xs = sorted(r.samples_ms)
        ys = [(i + 1) / len(xs) for i in range(len(xs))]
        lw = 2.5 if r.name == result.winner else 1.2
        ax.plot(xs, ys, lw=lw, label=r.name + (" (winner)" if r.name == result.winner else ""))
    log_x(ax, [x for r in result.candidates for x in (r.samples_ms or [])])
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of calls")
    ax.set_title("latency CDF per finalist (interleaved rounds)")
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower right")
    return _png(fig)
