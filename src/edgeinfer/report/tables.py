"""Rich terminal tables shared by the CLI verbs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from edgeinfer.bench.latency import BenchResult
    from edgeinfer.bench.pipeline import PipelineResult
    from edgeinfer.engine import Engine


def latency_table(result: BenchResult, title: str | None = None) -> Table:
    """p50/p90/p99/p99.9/min/max/mean/std and throughput of one benchmark."""
    s = result.stats
    eng = result.engine
    cfg = result.config
    mode = f"fixed rate {cfg.rate_hz:g} Hz" if cfg.rate_hz else "closed loop"
    table = Table(
        title=escape(title)
        if title
        else escape(
            f"{eng.get('name')} — {eng.get('backend')} {eng.get('precision_executed')}, "
            f"batch {cfg.batch}, {mode}"
        ),
        caption=f"{result.host.get('cpu_model')}, {result.host.get('cpu_count')} cpus; "
        f"threads={eng.get('threads') or 'default'}; n={s.n}, warm-up {cfg.warmup}",
    )
    table.add_column("latency", justify="left")
    table.add_column("ms", justify="right")
    for name, value in (
        ("p50", s.p50),
        ("p90", s.p90),
        ("p99", s.p99),
        ("p99.9", s.p999),
        ("min", s.min),
        ("max", s.max),
        ("mean", s.mean),
        ("std", s.std),
    ):
        table.add_row(name, f"{value:.3f}")
    table.add_row("throughput", f"{result.throughput:,.1f} items/s")
    if result.jitter_ms is not None:
        table.add_row("jitter", f"{result.jitter_ms:.3f}")
    caption = table.caption or ""
    if result.deadline_misses is not None and cfg.deadline_ms is not None:
        pct = 100.0 * result.deadline_misses / max(s.n, 1)
        caption += f"\ndeadline {cfg.deadline_ms:g} ms: {result.deadline_misses} misses ({pct:.2f}%)"
    if result.jitter_ms is not None:
        caption += "\njitter = std of the intervals between results (ms)"
    if cfg.stress_cores:
        caption += f"\nunder contention: {cfg.stress_cores} core(s) kept busy by other processes"
    if result.stability is not None and not result.stability.stable:
        table.title = f"{table.title} — UNSTABLE machine"
        caption += "\n[yellow]measured on an unstable machine (see the warning below)[/]"
    table.caption = caption
    return table


def pipeline_table(result: PipelineResult, engine: Engine) -> Table:
    """Per-stage latency of the frame → preprocess → infer → postprocess pipeline."""
    cfg = result.config
    h, w = cfg.image_size
    table = Table(
        title=escape(f"pipeline — {engine.describe()}, {w}x{h} frames from {cfg.data}"),
        caption=f"n={cfg.frames} frames after {cfg.warmup} warm-up; preprocessing from the engine spec",
    )
    table.add_column("stage")
    for col in ("p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms"):
        table.add_column(col, justify="right")
    for stage, s in result.stages.items():
        table.add_row(stage, *(f"{v:.3f}" for v in (s.p50, s.p90, s.p99, s.max, s.mean)))
    return table
