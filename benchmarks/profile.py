"""Per-layer profiles of MobileNetV2 and ResNet-50 on every backend and precision.

For each engine: the per-layer table's total against the end-to-end latency measured in the
same run (alternating blocks; target: within 10%), the top-5 layers with their executed
precision and the ONNX nodes they compute, time by precision, and whether the machine
disturbed the run.

    python benchmarks/profile.py --quick           # smoke run
    python benchmarks/profile.py                   # MobileNetV2 + ResNet-50, every backend
    python benchmarks/profile.py --models resnet50 --variants openvino/int8

Writes JSON (host, date, command, every number) and prints a table plus a Markdown table for
docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import console, header, run_main, save, stdout

from edgeinfer.backends import get_backend, list_backends
from edgeinfer.builder import build, load_runner, resolve_model
from edgeinfer.calibration import CalibrationConfig
from edgeinfer.config import BuildConfig
from edgeinfer.errors import EdgeInferError, first_line
from edgeinfer.model import Model
from edgeinfer.profile import ProfileConfig, profile_runner, source_graph
from edgeinfer.profile.summary import by_group, layer_rows

MODELS = ("mobilenetv2-imagenet", "resnet50")
VARIANTS = (
    "onnxruntime/fp32",
    "onnxruntime/int8",
    "openvino/fp32",
    "openvino/bf16",
    "openvino/int8",
    "torch/fp32",
)
TARGET = 0.10  # |layer sum / end-to-end - 1|


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), metavar="BACKEND/PRECISION")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=None, help="profiled inferences (60)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--calib-samples", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="few iterations (smoke run)")
    ap.add_argument("--json", default="benchmarks/results/profile.json")
    ap.add_argument("--markdown", default=None, metavar="FILE")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()
    args.iterations = args.iterations or (9 if args.quick else 60)
    return args


def _config(variant: str, args: argparse.Namespace) -> BuildConfig | None:
    backend, _, precision = variant.partition("/")
    if backend not in list_backends(available_only=True):
        return None
    cal = None
    if precision == "int8":
        cal = CalibrationConfig(
            method="minmax", samples=args.calib_samples, data="photos", batch_size=8
        )
    cfg = BuildConfig(backend, precision, args.threads, calibration=cal)
    try:
        get_backend(backend).check_config(cfg)
    except EdgeInferError:
        return None  # not on this host (e.g. bf16 without AVX512_BF16)
    return cfg


def profile_variant(model: Model, cfg: BuildConfig, args: argparse.Namespace) -> dict[str, Any]:
    engine = build(model, cfg, quiet=args.quiet)
    pcfg = ProfileConfig(iterations=args.iterations, rounds=args.rounds, warmup=10)
    with load_runner(engine) as runner:
        res = profile_runner(runner, pcfg, source=source_graph(engine, model), quiet=args.quiet)
    rows = layer_rows(res.profile)
    return {
        "engine": res.engine,
        "source": res.profile.source,
        "layers": len(res.profile.layers),
        "layer_sum_p50_ms": res.layer_sum_p50,
        "e2e_p50_ms": res.e2e.p50,
        "e2e_mean_ms": res.e2e.mean,
        "coverage": res.coverage,
        "round_coverage": list(res.round_coverage),
        "profiled_run_p50_ms": float(np.median(res.profile.run_ms)) if res.profile.run_ms else None,
        "within_target": abs(res.coverage - 1) <= TARGET,
        "top5": [r.to_dict() for r in rows[:5]],
        "by_precision": [g.to_dict() for g in by_group(res.profile, "precision")],
        "by_op_type": [g.to_dict() for g in by_group(res.profile, "op_type")[:5]],
        "workspace_bytes": res.profile.workspace_bytes,
        "unstable": not res.stability.stable,
        "stability": res.stability.to_dict(),
    }


def _top5(row: dict[str, Any]) -> str:
    def one(layer: dict[str, Any]) -> str:
        name = layer["onnx_nodes"][0] if layer["onnx_nodes"] else f"[{layer['name']}]"
        more = f" +{len(layer['onnx_nodes']) - 1}" if len(layer["onnx_nodes"]) > 1 else ""
        return f"{name}{more} ({layer['op_type']}, {layer['precision'] or '?'}, {100 * layer['share']:.0f}%)"

    return "; ".join(one(layer) for layer in row["top5"])


def _markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| model | engine | layers | layer sum p50 ms | end-to-end p50 ms | coverage | time by precision | top-5 layers (ONNX node, op, precision, share) | machine |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['variant']} | | | | | | {r['error']} | |")
            continue
        prec = ", ".join(f"{g['key']} {100 * g['share']:.0f}%" for g in r["by_precision"])
        ok = "✓" if r["within_target"] else "✗"
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['layers']} | {r['layer_sum_p50_ms']:.2f} | "
            f"{r['e2e_p50_ms']:.2f} | {100 * r['coverage']:.0f}% {ok} | {prec} | {_top5(r)} | "
            f"{'unstable' if r['unstable'] else 'stable'} |"
        )
    return "\n".join(lines)


def _table(results: list[dict[str, Any]]) -> Table:
    t = Table(title="per-layer profile vs end-to-end latency (target: coverage within 10%)")
    for col in ("model", "engine", "layers", "sum p50", "e2e p50", "coverage", "precision", "machine"):
        t.add_column(col, justify="left" if col in ("model", "engine", "precision") else "right")
    for r in results:
        if "error" in r:
            t.add_row(r["model"], r["variant"], "", "", "", "", r["error"], "")
            continue
        prec = ", ".join(f"{g['key']} {100 * g['share']:.0f}%" for g in r["by_precision"])
        t.add_row(
            r["model"], r["variant"], str(r["layers"]), f"{r['layer_sum_p50_ms']:.2f}",
            f"{r['e2e_p50_ms']:.2f}", f"{100 * r['coverage']:.0f}%", prec,
            "unstable" if r["unstable"] else "stable",
        )  # fmt: skip
    return t


def main() -> int:
    args = parse_args()
    results: list[dict[str, Any]] = []
    for name in args.models:
        model = resolve_model(name, quiet=args.quiet).model
        for variant in args.variants:
            cfg = _config(variant, args)
            if cfg is None:
                results.append({"model": name, "variant": variant, "error": "not available here"})
                continue
            try:
                row = profile_variant(model, cfg, args)
            except EdgeInferError as exc:
                row = {"error": first_line(exc)}
            results.append({"model": name, "variant": variant, **row})
            console().print(f"{name} {variant}: " + (row.get("error") or f"coverage {100 * row['coverage']:.0f}%"))
    con = console()
    con.print(_table(results))
    md = _markdown(results)
    stdout().write(md + "\n")
    save(args.json, {**header(), "args": vars(args), "results": results, "markdown": md})
    if args.markdown:
        Path(args.markdown).write_text(md + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
