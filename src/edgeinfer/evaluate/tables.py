"""Rich terminal tables for accuracy, robustness and fidelity results."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from edgeinfer.evaluate.accuracy import AccuracyResult
    from edgeinfer.evaluate.fidelity import FidelityResult, OutputFidelity
    from edgeinfer.evaluate.robustness import RobustnessResult

__all__ = ["accuracy_table", "fidelity_table", "per_class_table", "robustness_table"]

MAX_CLASS_ROWS = 20


def _pct(x: float | None, digits: int = 2) -> str:
    if x is None or math.isnan(x):
        return "-"
    return f"{100 * x:.{digits}f}%"


def _ci(lo_hi: tuple[float, float]) -> str:
    return f"{100 * lo_hi[0]:.2f}-{100 * lo_hi[1]:.2f}%"


def accuracy_table(result: AccuracyResult) -> Table:
    """Top-1 with its 95 % CI, top-5, N and speed."""
    eng = result.engine
    title = f"{eng.get('name')} [{eng.get('backend')} {eng.get('precision_executed')}] on {result.dataset}"
    if result.corruption:
        title += f", {result.corruption} severity {result.severity}"
    table = Table(title=escape(title), caption=f"preprocessing: {result.preprocess_source}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("top-1", _pct(result.top1))
    table.add_row("95% CI (Wilson)", _ci(result.ci95))
    table.add_row(f"top-{result.k}", _pct(result.top5))
    table.add_row("N", f"{result.n:,}")
    table.add_row("correct", f"{result.correct_top1:,}")
    if result.seconds > 0:
        table.add_row("images/s", f"{result.n / result.seconds:,.0f}")
    if result.nonfinite:
        table.add_row("NaN/Inf scores", f"[red]{result.nonfinite}[/red]")
    return table


def per_class_table(result: AccuracyResult) -> Table:
    """Per-class accuracy (the worst ``MAX_CLASS_ROWS`` when there are more classes)."""
    rows = [c for c in result.per_class if c.n]
    shown = (
        rows
        if len(rows) <= MAX_CLASS_ROWS
        else sorted(rows, key=lambda c: c.accuracy)[:MAX_CLASS_ROWS]
    )
    title = (
        "per-class top-1"
        if len(shown) == len(rows)
        else f"worst {len(shown)} of {len(rows)} classes"
    )
    table = Table(title=title)
    for col, just in (("class", "left"), ("label", "left"), ("n", "right"), ("top-1", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for c in shown:
        table.add_row(str(c.index), escape(c.label), str(c.n), _pct(c.accuracy, 1))
    return table


def robustness_table(result: RobustnessResult) -> Table:
    """Clean accuracy, then each corruption x severity with its drop in points."""
    clean = result.clean
    table = Table(title=f"robustness on {escape(clean.dataset)} (seed {result.seed})")
    for col in ("condition", "severity", "top-1", "95% CI", "drop (pts)"):
        table.add_column(col, justify="left" if col == "condition" else "right")
    table.add_row("clean", "-", _pct(clean.top1), _ci(clean.ci95), "-", style="bold")
    for e in result.entries:
        drop = 100 * e.drop
        style = "red" if drop >= 5 else None
        table.add_row(
            e.corruption,
            str(e.severity),
            _pct(e.result.top1),
            _ci(e.result.ci95),
            f"{drop:+.2f}",
            style=style,
        )
    means = result.mean_by_corruption()
    if len(result.entries) > len(means):
        for name, top1 in means.items():
            table.add_row(
                f"{name} (mean)",
                "all",
                _pct(top1),
                "",
                f"{100 * (clean.top1 - top1):+.2f}",
                style="dim",
            )
    return table


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if math.isnan(x):
        return "nan"
    return f"{x:.4g}"


def _with_ci(value: float | None, ci: tuple[float, float] | None) -> str:
    """``99.50% [98.9-99.8]``: a proportion with its 95 % interval."""
    if value is None:
        return "-"
    return _pct(value) + (f" [{100 * ci[0]:.1f}-{100 * ci[1]:.1f}]" if ci else "")


def _output_rows(o: OutputFidelity) -> list[tuple[str, str]]:
    mean_cos = "-"
    if o.mean_cosine is not None:
        ci = o.mean_cosine_ci
        mean_cos = f"{o.mean_cosine:.6f}" + (f" [{ci[0]:.6f}-{ci[1]:.6f}]" if ci else "")
    rows = [
        ("max abs error", _fmt(o.max_abs)),
        ("mean abs error", _fmt(o.mean_abs)),
        ("max rel error", _fmt(o.max_rel)),
        ("mean rel error", _fmt(o.mean_rel)),
        ("cosine (min per input)", f"{o.cosine:.6f} ({o.min_cosine:.6f})"),
        ("mean cosine per input [95% CI]", mean_cos),
        ("SNR dB", _fmt(o.snr_db)),
    ]
    if o.kind == "classification":
        rows += [
            ("top-1 agreement [95% CI]", _with_ci(o.agreement, o.agreement_ci)),
            ("top-5 overlap", _pct(o.top5_overlap)),
            ("top-1 in top-5 [95% CI]", _with_ci(o.top1_in_top5, o.top1_in_top5_ci)),
            (
                "confident agreement [95% CI]",
                f"{_with_ci(o.confident_agreement, o.confident_agreement_ci)} "
                f"(n={o.confident_n})",
            ),
            ("mean KL" + (" (probs)" if o.probabilities else " (softmax)"), _fmt(o.kl_mean)),
        ]
    if o.kind == "dense":
        rows.append(("IoU of thresholded maps", _pct(o.iou)))
    if o.candidate_nonfinite or o.reference_nonfinite:
        rows.append(
            ("NaN/Inf inputs (cand/ref)", f"{o.candidate_nonfinite}/{o.reference_nonfinite}")
        )
    return rows


def fidelity_table(result: FidelityResult) -> Table:
    """One column per output, one row per metric."""
    cand, ref = result.candidate, result.reference
    title = (
        f"{cand.get('name')} [{cand.get('backend')} {cand.get('precision_executed')}] vs "
        f"{ref.get('name')} [{ref.get('backend')} {ref.get('precision_executed')}]"
    )
    table = Table(title=escape(title), caption=escape(f"{result.n} inputs: {result.inputs}"))
    table.add_column("metric")
    per_output = [_output_rows(o) for o in result.outputs]
    for o in result.outputs:
        table.add_column(escape(f"{o.name} ({o.kind})"), justify="right")
    labels: list[str] = []
    for rows in per_output:
        labels += [k for k, _ in rows if k not in labels]
    for label in labels:
        cells = [dict(rows).get(label, "") for rows in per_output]
        table.add_row(escape(label), *cells)
    return table
