"""The per-layer profile for people: terminal tables and an HTML section (with a bar chart).

Both show the slowest layers with their share, executed precision, kernel and the ONNX
nodes each one computes; time by operator type and by precision; and how much of the
measured end-to-end latency the layers explain (coverage), with the stability warning.
"""

from __future__ import annotations

import base64
import html
from typing import TYPE_CHECKING

import numpy as np
from rich import box
from rich.markup import escape
from rich.table import Table

from edgeinfer.profile.summary import GroupRow, LayerRow, by_group, layer_rows
from edgeinfer.report.perf_plots import layer_bars_png

if TYPE_CHECKING:
    from edgeinfer.profile.run import ProfileResult

__all__ = ["onnx_text", "profile_html", "profile_tables", "short"]


def short(name: str, width: int = 40) -> str:
    """``name`` cut in the middle to ``width`` characters (keeping where it starts and ends)."""
    if len(name) <= width:
        return name
    head = (width - 1) * 2 // 5
    return name[:head] + "…" + name[-(width - 1 - head) :]


def onnx_text(row: LayerRow, width: int = 36, *, mapped: bool = True) -> str:
    """The layer as ONNX names: its first node and how many more it fuses; the backend's
    name in brackets when it maps to none (or when no source model was available).
    """
    nodes = row.layer.fused
    if not nodes or not mapped:
        return f"[{short(row.layer.name, width - 2)}]"
    more = f" +{len(nodes) - 1}" if len(nodes) > 1 else ""
    return short(nodes[0], width - len(more)) + more


PROFILER_SLOWDOWN = 1.10  # a profiled run this much slower than an unprofiled one is said


def _summary(result: ProfileResult) -> str:
    p, e = result.profile, result.e2e
    run = f"; profiled runs p50 {float(np.median(p.run_ms)):.3f} ms" if p.run_ms else ""
    slow = float(np.median(p.run_ms)) / e.p50 if p.run_ms and e.p50 > 0 else 1.0
    if slow > PROFILER_SLOWDOWN:
        run += (
            f" (profiling slowed each inference by {100 * (slow - 1):.0f}%: the layer times "
            "are those of the slowed runs)"
        )
    ws = f"; runtime workspace {p.workspace_bytes / 2**20:.1f} MiB" if p.workspace_bytes else ""
    return (
        f"{len(p.layers)} layers, {p.iterations} profiled inferences ({p.source}); "
        f"layers sum to {result.layer_sum_p50:.3f} ms (p50) = {100 * result.coverage:.0f}% of "
        f"the end-to-end p50 {e.p50:.3f} ms measured alternately{run}{ws}"
    )


def _kernels_vary(rows: list[LayerRow]) -> bool:
    return len({r.layer.detail for r in rows}) > 1


def _layer_table(result: ProfileResult, rows: list[LayerRow], width: int) -> Table:
    eng = result.engine
    t = Table(
        title=escape(
            f"slowest layers — {eng.get('name')} [{eng.get('backend')}, "
            f"{eng.get('precision_executed')}]"
        ),
        caption=escape(
            _summary(result)
            + (
                ". layer: the kernel's first ONNX node (+N more fused into it); [name]: the "
                "backend's own name (a node it added)"
                if result.mapped
                else ". [name]: the backend's names (the source model was not available to "
                "map them to ONNX nodes: profile the model, not the engine directory)"
            )
        ),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    kernels = width >= 110 and _kernels_vary(rows)
    name_width = max(24, min(60, width - (78 if kernels else 50)))
    for col in ["#", "layer (ONNX)", "op", "prec", "ms", "share"] + (["kernel"] if kernels else []):
        t.add_column(
            col,
            justify="right" if col in ("#", "ms", "share") else "left",
            no_wrap=True,
            overflow="ellipsis",
            max_width={"layer (ONNX)": name_width, "op": 14, "kernel": 26}.get(col),
            min_width={"prec": 5, "ms": 7, "share": 6}.get(col),
        )
    for r in rows:
        lay = r.layer
        cells = [
            str(r.rank), escape(onnx_text(r, name_width, mapped=result.mapped)),
            escape(lay.op_type), escape(lay.precision or "?"), f"{lay.time_ms:.3f}",
            f"{100 * r.share:.1f}%",
        ]  # fmt: skip
        t.add_row(*cells, *([escape(lay.detail)] if kernels else []))
    return t


def _group_table(title: str, rows: list[GroupRow]) -> Table:
    t = Table(title=title)
    for col in (title.split()[-1], "layers", "ms", "share"):
        t.add_column(col, justify="left" if col == title.split()[-1] else "right")
    for g in rows:
        t.add_row(escape(g.key), str(g.layers), f"{g.time_ms:.3f}", f"{100 * g.share:.1f}%")
    return t


def profile_tables(result: ProfileResult, *, top: int = 15, width: int = 80) -> list[Table]:
    """The slowest ``top`` layers (for a console ``width`` characters wide: the kernel
    column from 110), time by operator type, time by precision.
    """
    p = result.profile
    return [
        _layer_table(result, layer_rows(p)[:top], width),
        _group_table("time by op", by_group(p, "op_type")),
        _group_table("time by precision", by_group(p, "precision")),
    ]


def _esc(value: object) -> str:
    return html.escape(str(value))


def _cells(r: LayerRow) -> str:
    lay = r.layer
    values = [
        (r.rank, ""), (lay.name, "l"), (lay.op_type, "l"), (lay.precision or "?", "l"),
        (f"{lay.time_ms:.3f}", ""), (f"{100 * r.share:.1f}%", ""), (f"{100 * r.cumulative:.0f}%", ""),
        (lay.detail, "l"), (" + ".join(lay.fused), "l"),
    ]  # fmt: skip
    return "".join(f"<td class='{c}'>{_esc(v)}</td>" for v, c in values)


def _group_html(title: str, key: str, rows: list[GroupRow]) -> str:
    body = "".join(
        f"<tr><td class='l'>{_esc(g.key)}</td><td>{g.layers}</td><td>{g.time_ms:.3f}</td>"
        f"<td>{100 * g.share:.1f}%</td></tr>"
        for g in rows
    )
    return (
        f"<h3>{title}</h3><table><tr><th>{key}</th><th>layers</th><th>ms</th><th>share</th>"
        f"</tr>{body}</table>"
    )


def profile_html(result: ProfileResult, *, top: int = 15) -> str:
    """The profile as an HTML section (``<section>``) for a report (the bar chart needs the
    ``report`` extra).
    """
    p = result.profile
    rows = layer_rows(p)[:top]
    warn = result.stability.warning("the layer times and the end-to-end latency")
    png = layer_bars_png(
        [r.layer.name for r in rows],
        [r.layer.time_ms for r in rows],
        [r.layer.precision for r in rows],
    )
    head = ["#", "layer", "op", "precision", "ms", "share", "cum.", "kernel", "ONNX nodes"]
    table = "".join(f"<tr>{_cells(r)}</tr>" for r in rows)
    return "\n".join(
        [
            f"<section class='profile'><h2>Per-layer profile — {_esc(result.engine.get('name'))}</h2>",
            f"<p class='note'>{_esc(_summary(result))}</p>",
            f"<p class='bad'><b>{_esc(warn)}</b></p>" if warn else "",
            f'<p><img alt="slowest layers" src="data:image/png;base64,{base64.b64encode(png).decode()}"></p>',
            "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr>{table}</table>",
            _group_html("Time by op type", "op_type", by_group(p, "op_type")),
            _group_html("Time by precision", "precision", by_group(p, "precision")),
            "</section>",
        ]
    )
