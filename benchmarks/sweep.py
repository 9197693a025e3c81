"""Latency against throughput: a batch × concurrency sweep of one engine, as ``edgeinfer bench
--batch 1,2,4,8 --concurrency 1,2`` measures it (points in interleaved rounds, each runner in
its own thread with ``cpus // concurrency`` intra-op threads), with and without
``--stress-cores``.

    python benchmarks/sweep.py --quick
    python benchmarks/sweep.py                                  # MobileNetV2, ONNX Runtime fp32
    python benchmarks/sweep.py --variant openvino/fp32 --stress-cores 1

Writes JSON (host, date, command, every point with its stability verdict), a PNG of latency
against throughput and a Markdown table for docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import console, header, run_main, save, stdout

from edgeinfer.bench.sweep import sweep
from edgeinfer.builder import build, resolve_model
from edgeinfer.config import BuildConfig
from edgeinfer.fileio import atomic_write_bytes
from edgeinfer.report.bench import sweep_table
from edgeinfer.report.perf_plots import sweep_png


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="mobilenetv2-imagenet")
    ap.add_argument("--variant", default="onnxruntime/fp32", metavar="BACKEND/PRECISION")
    ap.add_argument("--batches", default="1,2,4,8")
    ap.add_argument("--concurrency", default="1,2")
    ap.add_argument("--seconds", type=float, default=None, help="per point (6; quick 1)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--stress-cores", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default="benchmarks/results/sweep.json")
    ap.add_argument("--plot", default=None, help="PNG (default: the JSON's name with .png)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()
    args.seconds = args.seconds or (1.0 if args.quick else 6.0)
    args.plot = args.plot or str(Path(args.json).with_suffix(".png"))
    return args


def _ints(text: str) -> tuple[int, ...]:
    return tuple(sorted({int(v) for v in text.split(",")}))


def _markdown(data: dict[str, Any]) -> str:
    lines = [
        "| batch | concurrency | threads each | p50 ms | p99 ms | max ms | items/s | spread | machine |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in data["points"]:
        lat, spread = p["latency_ms"], p["stability"]["spread"]
        cells = [
            str(p["batch"]), str(p["concurrency"]), str(p["threads"] or "default"),
            f"{lat['p50']:.2f}", f"{lat['p99']:.2f}", f"{lat['max']:.2f}",
            f"{p['throughput_per_s']:.1f}", "" if spread is None else f"{100 * spread:.0f}%",
            "unstable" if p["unstable"] else "stable",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    backend, _, precision = args.variant.partition("/")
    model = resolve_model(args.model, quiet=args.quiet).model
    engine = build(model, BuildConfig(backend, precision), quiet=args.quiet)
    result = sweep(
        engine,
        _ints(args.batches),
        _ints(args.concurrency),
        seconds_per_point=args.seconds,
        rounds=args.rounds,
        stress_cores=args.stress_cores,
        quiet=args.quiet,
    )
    console().print(sweep_table(result, engine))
    data = result.to_dict()
    md = _markdown(data)
    stdout().write(md + "\n")
    atomic_write_bytes(args.plot, sweep_png(result))
    save(
        args.json,
        {**header(), "args": vars(args), "engine": engine.describe(), **data, "markdown": md},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
