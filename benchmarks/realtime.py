"""Real-time behaviour: a camera rate (30 Hz) for 60 s, with and without other processes
keeping a core busy (``--stress-cores 1``), as ``edgeinfer bench --rate --deadline-ms`` measures it.

The two conditions alternate in blocks (quiet, stressed, quiet, stressed …) within one run,
so a drift of a shared machine hits both alike; each condition gets ``--duration`` seconds
in total. Per engine and condition: deadline miss rate, p50/p99/max latency from the
scheduled arrival, jitter (standard deviation of the intervals between results), and the
stability verdict (the stress processes are ours and do not count as a disturbance).

    python benchmarks/realtime.py --quick
    python benchmarks/realtime.py                      # MobileNetV2, ONNX Runtime fp32 + int8
    python benchmarks/realtime.py --variants openvino/int8 --rate 30 --duration 60
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import console, header, latency_stats, run_main, save, stdout

from edgeinfer.bench import BenchConfig, bench_runner
from edgeinfer.bench.stability import Stability, assess
from edgeinfer.builder import build, load_runner, resolve_model
from edgeinfer.calibration import CalibrationConfig
from edgeinfer.config import BuildConfig
from edgeinfer.tensors import random_feed

VARIANTS = ("onnxruntime/fp32", "onnxruntime/int8")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="mobilenetv2-imagenet")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), metavar="BACKEND/PRECISION")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rate", type=float, default=30.0)
    ap.add_argument("--deadline-ms", type=float, default=None, help="default: the period")
    ap.add_argument("--duration", type=float, default=None, help="seconds per condition (60)")
    ap.add_argument("--blocks", type=int, default=4, help="alternations per condition (4)")
    ap.add_argument("--stress-cores", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default="benchmarks/results/realtime.json")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()
    args.duration = args.duration or (4.0 if args.quick else 60.0)
    args.blocks = 2 if args.quick else args.blocks
    args.deadline_ms = args.deadline_ms or 1000.0 / args.rate
    return args


def _config(variant: str, threads: int) -> BuildConfig:
    backend, _, precision = variant.partition("/")
    cal = None
    if precision == "int8":
        cal = CalibrationConfig(method="minmax", samples=64, data="photos", batch_size=8)
    return BuildConfig(backend, precision, threads, calibration=cal)


def _summary(lat: list[np.ndarray], jitters: list[float], verdicts: list[Stability], args: argparse.Namespace) -> dict[str, Any]:
    ns = np.concatenate(lat)
    stats = latency_stats(ns)
    misses = int(np.count_nonzero(ns > args.deadline_ms * 1e6))
    reasons = [r for v in verdicts for r in v.reasons]
    block_p50s = [float(np.median(x)) / 1e6 for x in lat]
    spread_verdict = assess(None, block_p50s)
    return {
        "frames": int(ns.size),
        "miss_rate": misses / ns.size,
        "misses": misses,
        "latency_ms": stats.to_dict(),
        "jitter_ms": float(np.mean(jitters)),
        "block_p50_ms": block_p50s,
        "unstable": bool(reasons) or not spread_verdict.stable,
        "reasons": reasons + list(spread_verdict.reasons),
    }


def measure(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    model = resolve_model(args.model, quiet=args.quiet).model
    engine = build(model, _config(variant, args.threads), quiet=args.quiet)
    conditions = {"quiet": 0, f"stress {args.stress_cores}": args.stress_cores}
    got: dict[str, tuple[list[np.ndarray], list[float], list[Stability]]] = {
        c: ([], [], []) for c in conditions
    }
    block_s = args.duration / args.blocks
    with load_runner(engine) as runner:
        feed = random_feed(runner.input_specs, 1, 0)
        for b in range(args.blocks):
            order = list(conditions) if b % 2 == 0 else list(conditions)[::-1]
            for cond in order:
                cfg = BenchConfig(
                    duration_s=block_s, rate_hz=args.rate, deadline_ms=args.deadline_ms,
                    warmup=10, stress_cores=conditions[cond],
                )  # fmt: skip
                res = bench_runner(runner, cfg, feed, quiet=True, observe=True)
                got[cond][0].append(res.latencies_ns)
                got[cond][1].append(res.jitter_ms or 0.0)
                got[cond][2].append(res.stability or Stability(True))
                console().print(
                    f"{variant} {cond} block {b + 1}/{args.blocks}: p50 {res.stats.p50:.2f} ms, "
                    f"misses {res.deadline_misses}/{res.stats.n}"
                )
    return {
        "engine": engine.describe(),
        "conditions": {c: _summary(*got[c], args) for c in conditions},
    }


def main() -> int:
    args = parse_args()
    results = {v: measure(v, args) for v in args.variants}
    t = Table(
        title=f"{args.model} at {args.rate:g} Hz, deadline {args.deadline_ms:.1f} ms, "
        f"{args.duration:g} s per condition in {args.blocks} alternating blocks"
    )
    for col in ("engine", "condition", "frames", "miss rate", "p50 ms", "p99 ms", "max ms", "jitter ms", "machine"):
        t.add_column(col, justify="left" if col in ("engine", "condition", "machine") else "right")
    lines = [
        "| engine | condition | frames | miss rate | p50 ms | p99 ms | max ms | jitter ms | machine |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for variant, r in results.items():
        for cond, s in r["conditions"].items():
            lat = s["latency_ms"]
            cells = [
                variant, cond, str(s["frames"]), f"{100 * s['miss_rate']:.1f}%",
                f"{lat['p50']:.2f}", f"{lat['p99']:.2f}", f"{lat['max']:.2f}",
                f"{s['jitter_ms']:.2f}", "unstable" if s["unstable"] else "stable",
            ]  # fmt: skip
            t.add_row(*cells)
            lines.append("| " + " | ".join(cells) + " |")
    console().print(t)
    md = "\n".join(lines)
    stdout().write(md + "\n")
    save(args.json, {**header(), "args": vars(args), "results": results, "markdown": md})
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
