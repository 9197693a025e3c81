"""The optimize report as one self-contained HTML file: summary, plots (PNG, base64), table."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from edgeinfer.fileio import atomic_write_text
from edgeinfer.report.headline import headline
from edgeinfer.report.plots import cdf_png, scatter_png

if TYPE_CHECKING:
    from edgeinfer.search.results import CandidateResult, OptimizeResult

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right;vertical-align:top}
th{background:#f3f3f3} td.l{text-align:left}
tr.winner{background:#e8f7e8} tr.baseline{background:#eef3fb}
.note{color:#555} .bad{color:#b00}
"""


def _esc(value: object) -> str:
    return html.escape(str(value))


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "" if value is None else format(value, spec)


def quality_cells(r: CandidateResult) -> list[str]:
    """top-1, drop, agreement (confident / all), top-5 containment, mean KL."""
    q = r.quality
    if q is None:
        return ["", "", "", "", ""]
    top1 = _fmt(None if q.top1 is None else 100 * q.top1, ".2f")
    drop = _fmt(q.top1_drop_pts, "+.2f")
    conf = _fmt(q.agreement_confident, ".4f")
    agr = (
        f"{conf} / {_fmt(q.agreement, '.4f')}" if q.agreement is not None else _fmt(q.cosine, ".5f")
    )
    sub = " (subset)" if q.subset else ""
    return [top1 + sub, drop, agr, _fmt(q.top5_containment, ".4f"), _fmt(q.mean_kl, ".5f")]


def cost_cells(result: OptimizeResult, r: CandidateResult) -> list[str] | None:
    """MACs and parameters of a candidate's model when the run has pruned candidates
    (unpruned ones show the searched model's); None when it has none (no columns then).
    """
    pruned = [c.pruning for c in result.candidates if c.pruning]
    if not pruned:
        return None
    p = r.pruning
    if p is None:
        macs, params = pruned[0].get("macs_before"), pruned[0].get("params_before")
        return [f"{macs / 1e6:.2f}M" if macs else "", f"{params:,}" if params else ""]
    ratio = p["macs_after"] / p["macs_before"] if p.get("macs_before") else None
    macs = f"{p['macs_after'] / 1e6:.2f}M" + (f" ({ratio:.2f}x)" if ratio else "")
    return [macs, f"{p['params_after']:,}"]


def candidate_order(r: CandidateResult) -> tuple[int, float]:
    """Finalists first (fastest first), then probed, pruned, failed, skipped."""
    rank = {"measured": 0, "probed": 1, "pruned": 2, "error": 3, "skipped": 4}
    return (rank.get(r.status, 5), r.latency.p50 if r.latency else float("inf"))


def _row(result: OptimizeResult, r: CandidateResult) -> str:
    cls = "winner" if r.name == result.winner else "baseline" if r.name == result.baseline else ""
    lat = r.latency
    speed = f"{1 / r.ratio_vs_baseline:.2f}x" if r.ratio_vs_baseline else ""
    size = "" if r.size_bytes is None else f"{r.size_bytes / 1e6:.2f}"
    why = "; ".join(r.reasons) or (r.error or "")
    cells = [
        f'<td class="l">{_esc(r.name)}{" ★" if r.name == result.winner else ""}</td>',
        f'<td class="l">{_esc(r.status)}{" (" + _esc(r.latency_source) + ")" if r.latency_source else ""}</td>',
        f"<td>{_esc(r.executed_precision or '')}</td>",
        f"<td>{_fmt(lat.p50 if lat else None)}{' ⚠' if r.unstable else ''}</td>",
        f"<td>{_fmt(lat.p99 if lat else None)}</td>",
        f"<td>{speed}</td>",
        *[f"<td>{_esc(c)}</td>" for c in quality_cells(r)],
        *[f"<td>{_esc(c)}</td>" for c in cost_cells(result, r) or ()],
        f"<td>{size}</td>",
        f"<td>{_fmt(r.memory_mb, '.0f')}</td>",
        f"<td>{_fmt(r.build_s, '.1f')}</td>",
        f'<td class="l">{_esc(why)}</td>',
    ]
    return f'<tr class="{cls}">' + "".join(cells) + "</tr>"


def table_html(result: OptimizeResult) -> str:
    """The candidates table as HTML, one row per candidate in report order."""
    head = [
        "candidate",
        "status",
        "runs",
        "p50 ms",
        "p99 ms",
        "speed-up",
        "top-1 %",
        "drop pts",
        "agreement conf / all",
        "top-1 in top-5",
        "mean KL",
        *(["MACs", "params"] if any(c.pruning for c in result.candidates) else []),
        "size MB",
        "RSS+ MiB",
        "build s",
        "decision",
    ]
    rows = "".join(_row(result, r) for r in sorted(result.candidates, key=candidate_order))
    return "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr>{rows}</table>"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode()
    return f'<p><img alt="{_esc(alt)}" src="data:image/png;base64,{data}"></p>'


def _summary(result: OptimizeResult) -> str:
    verdict = f"<b>{_esc(headline(result))}</b>"
    if result.winner:
        runner_up = f" Runner-up: {_esc(result.runner_up)}." if result.runner_up else ""
        head = f'<p class="headline">{verdict}{runner_up}</p>'
    else:
        head = f'<p class="headline bad">{verdict}</p>'
    if result.unstable and result.stability:
        head += (
            '<p class="bad"><b>Unstable machine:</b> '
            + _esc("; ".join(result.stability.get("reasons", [])))
            + ". Latencies marked ⚠ may be off; re-run on a quieter machine.</p>"
        )
    items = [result.data_note, *result.notes]
    if result.skipped:
        items.append("skipped: " + ", ".join(result.skipped))
    for m in result.mixed:
        cost = f", latency {m.latency_cost:.2f}x pure INT8" if m.latency_cost else ""
        items.append(
            f"mixed precision on {m.base}: kept {len(m.excluded)} node(s) in FP32 "
            f"({', '.join(m.excluded[:8])}{'…' if len(m.excluded) > 8 else ''})"
            f" — {'meets' if m.meets_budget else 'misses'} the budget{cost}. {m.note}"
        )
    notes = "".join(f'<li class="note">{_esc(i)}</li>' for i in items)
    warn = "".join(f'<li class="bad">warning: {_esc(w)}</li>' for w in result.warnings)
    return head + f"<ul>{warn}{notes}</ul>" + _outputs_html(result)


def _ci(ci: tuple[float, float] | None, pct: bool) -> str:
    if ci is None:
        return ""
    return f"{100 * ci[0]:.2f}-{100 * ci[1]:.2f}%" if pct else f"{ci[0]:.5f}-{ci[1]:.5f}"


def _outputs_html(result: OptimizeResult) -> str:
    """The winner's verdict output by output (held-out split), with 95 % intervals."""
    name = result.winner or (result.closest[0] if result.closest else None)
    q = result.candidate(name).quality if name else None
    if q is None or not q.outputs:
        return ""
    rows = []
    for o in q.outputs:
        cells: list[tuple[str, str, str]] = []
        if o.top1_drop_pts is not None:
            cells.append(("top-1 drop pts", f"{o.top1_drop_pts:+.2f}", _ci(o.top1_drop_ci, False)))
        if o.agreement_confident is not None:
            cells.append(
                (
                    f"agreement, confident (n={o.n_confident})",
                    f"{100 * o.agreement_confident:.2f}%",
                    _ci(o.agreement_confident_ci, True),
                )
            )
        if o.top5_containment is not None:
            cells.append(
                ("top-1 in top-5", f"{100 * o.top5_containment:.2f}%", _ci(o.top5_ci, True))
            )
        if o.cosine is not None:
            cells.append(("mean cosine", f"{o.cosine:.5f}", _ci(o.cosine_ci, False)))
        judged = "judged" if o.judged else "reported only"
        for metric, value, ci in cells:
            rows.append(
                f'<tr><td class="l">{_esc(o.name)}</td><td class="l">{_esc(o.kind)}, {judged}</td>'
                f'<td class="l">{_esc(metric)}</td><td>{value}</td><td>{ci}</td><td>{o.n}</td></tr>'
            )
    head = "".join(
        f"<th>{h}</th>" for h in ("output", "kind", "metric", "value", "95% CI", "inputs")
    )
    split = "held-out split" if q.split == "holdout" else "tuning subset"
    return (
        f"<h2>{_esc(name)}, output by output ({split})</h2>"
        f"<table><tr>{head}</tr>{''.join(rows)}</table>"
    )


def render_html(result: OptimizeResult, sections: Sequence[str] = ()) -> str:
    """The whole report as an HTML string (plots need the ``report`` extra); ``sections``
    (HTML, e.g. the winner's per-layer profile) go after the candidates table.
    """
    title = f"edgeinfer optimize — {result.model.get('name')}"
    host = result.host
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_esc(title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>{_esc(title)}</h1>",
        f"<p class='note'>{_esc(host.get('cpu_model'))}, {_esc(host.get('cpu_count'))} cpus; "
        f"{_esc(result.created)}; {result.wall_s:.0f} s"
        + (" — <b class='bad'>PARTIAL (interrupted)</b>" if result.partial else "")
        + "</p>",
        _summary(result),
        "<h2>Accuracy vs latency</h2>",
        _img(scatter_png(result), "accuracy vs latency"),
        "<h2>Latency CDF</h2>",
        _img(cdf_png(result), "latency CDF"),
        "<h2>Every candidate</h2>",
        table_html(result),
        *sections,
        "<h2>Configuration</h2>",
        f"<pre>{_esc(json.dumps(result.config, indent=2))}</pre>",
        f"<p class='note'>command: {_esc(result.command or '')}</p></body></html>",
    ]
    return "\n".join(parts)


def page(
    path: str | Path, title: str, body: str, host: dict[str, object], command: str | None
) -> Path:
    """Write a standalone HTML page (the report's style) around ``body`` atomically."""
    text = "\n".join(
        [
            f"<!doctype html><html><head><meta charset='utf-8'><title>{_esc(title)}</title>",
            f"<style>{_CSS}</style></head><body><h1>{_esc(title)}</h1>",
            f"<p class='note'>{_esc(host.get('cpu_model'))}, {_esc(host.get('cpu_count'))} cpus</p>",
            body,
            f"<p class='note'>command: {_esc(command or '')}</p></body></html>",
        ]
    )
    return atomic_write_text(path, text)


def write_html(result: OptimizeResult, path: str | Path, *, sections: Sequence[str] = ()) -> Path:
    """Write ``report.html`` atomically (``sections``: see :func:`render_html`)."""
    return atomic_write_text(path, render_html(result, sections))
