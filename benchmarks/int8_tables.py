"""Markdown tables from ``int8_quality.py``'s JSON (what docs/PERFORMANCE.md quotes).

    python benchmarks/int8_tables.py benchmarks/results/int8_quality.json [more.json …]

Each file may hold ``native`` and/or ``avx2`` results (or be one ISA's results itself).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _isa_results(data: dict[str, Any]) -> list[dict[str, Any]]:
    if "isa" in data:
        return [data]
    return [v for v in data.values() if isinstance(v, dict) and "isa" in v]


def _cls(m: dict[str, Any]) -> str:
    ok = "yes" if m["meets_budget"] else "no"
    okm = "yes" if m["meets_margin_budget"] else "no"
    return (
        f"{m['flips']}/{m['n_confident']} | {m['flips_margin']}/{m['n_margin']} | "
        f"{m['top5_misses']} | {100 * m['agreement']:.1f}% | {ok} / {okm}"
    )


def mnv2_table(res: dict[str, Any]) -> str:
    """One row per engine: both photo sets' flips, margin flips, top-5 misses, budget."""
    sets = list(next(r for r in res["mnv2"]["rows"] if "sets" in r)["sets"])
    head = " | ".join(
        f"{s}: flips (p>=0.5) | flips (margin) | top-5 misses | agree all | budget / margin"
        for s in sets
    )
    lines = [f"| engine | executes | {head} |", "|---|---|" + "---|" * 5 * len(sets)]
    for row in res["mnv2"]["rows"]:
        if "error" in row:
            lines.append(f"| {row['engine']} | failed: {row['error']} |")
            continue
        cells = " | ".join(_cls(row["sets"][s]) for s in sets)
        lines.append(f"| {row['engine']} | {row['executes']} | {cells} |")
    return "\n".join(lines)


def latency_table(res: dict[str, Any]) -> str:
    """p50/p90/p99 and the ratio to the fastest peer that meets the budget on both sets."""
    stats = res["latency"]
    ok_peers = [
        r["engine"]
        for r in res["mnv2"]["rows"]
        if r["kind"] == "peer" and all(m["meets_budget"] for m in r.get("sets", {}).values())
    ]
    base = min((stats[p]["p50"] for p in ok_peers if p in stats), default=None)
    lines = ["| engine | p50 ms | p90 ms | p99 ms | fastest ok peer p50 / this p50 |"]
    lines.append("|---|---|---|---|---|")
    for name, s in stats.items():
        ratio = f"{base / s['p50']:.2f}x" if base else "n/a (no peer meets the budget)"
        lines.append(f"| {name} | {s['p50']:.2f} | {s['p90']:.2f} | {s['p99']:.2f} | {ratio} |")
    return "\n".join(lines)


def simple_table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    """``engine`` plus ``cols`` (floats with 4 digits)."""
    lines = ["| engine | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['engine']} | not built: {r['error']} |")
            continue
        vals = [f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in cols]
        lines.append(f"| {r['engine']} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def render(data: dict[str, Any]) -> str:
    """All tables of one JSON file."""
    out = []
    for res in _isa_results(data):
        out.append(f"### {res['isa']} — {res['date']}: `{res['command']}`\n")
        if "loadavg_start" in res:
            load = f"{res['loadavg_start'][0]:.1f} -> {res['loadavg_end'][0]:.1f}"
            out.append(f"load average (1 min) {load} on {res['host']['cpu_count']} cores\n")
        if "mnv2" in res:
            out += ["MobileNetV2 accuracy vs ONNX Runtime FP32:\n", mnv2_table(res), ""]
        if "latency" in res:
            out += ["MobileNetV2 latency (batch 1, interleaved):\n", latency_table(res), ""]
        if "fashion" in res:
            rows = res["fashion"]["rows"]
            out += ["fashion-cnn, 10k test set:\n", simple_table(rows, ["top1", "drop_pts"]), ""]
        if "ppocr" in res:
            rows = res["ppocr"]["rows"]
            out += ["PP-OCRv4 det vs FP32:\n", simple_table(rows, ["cosine", "snr_db"]), ""]
    return "\n".join(out)


def main() -> int:
    for path in sys.argv[1:]:
        print(render(json.loads(Path(path).read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
