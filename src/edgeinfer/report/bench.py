"""Terminal tables of ``bench`` sweeps (the single-run table is :func:`latency_table`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from edgeinfer.bench.sweep import SweepResult
    from edgeinfer.engine import Engine

__all__ = ["sweep_table"]


def sweep_table(result: SweepResult, engine: Engine) -> Table:
    """One row per (batch, concurrency) point: latency percentiles, throughput, spread;
    points whose rounds disagree are marked ``unstable``.
    """
    stress = f", {result.stress_cores} cores stressed" if result.stress_cores else ""
    table = Table(
        title=escape(f"sweep — {engine.describe()}{stress}"),
        caption=escape(
            f"{result.rounds} interleaved rounds, {result.seconds_per_point:g} s per point; "
            "latency per request; throughput in items/s over all threads; thr = intra-op "
            "threads per runner; spread = (max - min) / median of the point's per-round p50s"
        ),
    )
    for col in ("batch", "conc", "thr", "p50 ms", "p99 ms", "max ms", "items/s", "spread"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("", overflow="fold")
    for p in result.points:
        s = p.stats
        spread = p.stability.spread
        table.add_row(
            str(p.batch),
            str(p.concurrency),
            str(p.threads or "-"),
            *(f"{v:.2f}" for v in (s.p50, s.p99, s.max)),
            f"{p.throughput:,.1f}",
            "" if spread is None else f"{100 * spread:.0f}%",
            "[yellow]unstable[/]" if not p.stability.stable else "",
        )
    return table
