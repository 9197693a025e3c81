"""Precision benchmark: every available backend × precision × calibrator on real zoo models.

For each model: p50/p99 latency at batch 1 (interleaved across all variants, same threads),
quality (fashion-cnn: top-1 on the Fashion-MNIST test set; mobilenetv2-imagenet: top-1
agreement with FP32, confident agreement and top-5 containment on real-photo crops;
resnet50 / ppocr-det: fidelity to FP32, cosine and SNR), engine size and build time, plus
PyTorch eager FP32 (the user's starting point) where the zoo has the torch module.

    python benchmarks/precision.py --quick                 # smoke run, small N
    python benchmarks/precision.py                         # the full table (slow)
    python benchmarks/precision.py --markdown docs/precision_table.md

Writes JSON (host, date, command, every number) and prints a rich table and a Markdown table
for docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import console, header, interleaved, latency_stats, run_main, save, stdout

from edgeinfer.bench.guardrail import feed_dims
from edgeinfer.builder import build
from edgeinfer.calibration import METHODS, CalibrationConfig
from edgeinfer.config import BuildConfig
from edgeinfer.engine import Engine
from edgeinfer.errors import EdgeInferError
from edgeinfer.model import Model

MODELS = ("fashion-cnn", "mobilenetv2-imagenet", "resnet50", "ppocr-det")


@dataclass(frozen=True)
class ModelPlan:
    """How to measure one zoo model: quality kind, data, and its PyTorch module (if any)."""

    quality: str  # accuracy | agreement | fidelity
    eval_data: str
    calib_data: str
    torch_arch: str | None = None
    torch_kwargs: dict[str, Any] = field(default_factory=dict)
    calib_batch: int = 16  # smaller for big activations: the calibrator keeps every tensor


PLANS = {
    "fashion-cnn": ModelPlan(
        "accuracy", "fashion-mnist:test", "fashion-mnist:train", "fashion_cnn"
    ),
    "mobilenetv2-imagenet": ModelPlan("agreement", "photos", "photos", "mobilenet_v2"),
    "resnet50": ModelPlan("fidelity", "photos", "photos", "resnet50", calib_batch=8),
    "ppocr-det": ModelPlan("fidelity", "photos", "photos", calib_batch=2),
}


@dataclass
class Variant:
    label: str
    config: BuildConfig | None  # None: PyTorch eager
    engine: Engine | None = None
    skipped: str | None = None
    result: dict[str, Any] = field(default_factory=dict)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument(
        "--from-json",
        nargs="+",
        default=None,
        metavar="FILE",
        help="only print the Markdown tables of earlier runs' JSON files (no measuring)",
    )
    p.add_argument("--backends", nargs="+", default=None, help="default: every available one")
    p.add_argument("--calibrators", nargs="+", default=None, choices=METHODS)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iterations", type=int, default=None, help="timed runs per variant (300)")
    p.add_argument("--eval-limit", type=int, default=None, help="fashion test images (10000)")
    p.add_argument("--photos", type=int, default=None, help="photo crops for agreement (500)")
    p.add_argument("--calib-samples", type=int, default=None, help="calibration samples (256)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch eager column")
    p.add_argument("--quick", action="store_true", help="smoke run: small N, two calibrators")
    p.add_argument("--json", default="benchmarks/results/precision.json")
    p.add_argument("--markdown", default=None, help="also write the Markdown table here")
    p.add_argument("--keep-cache", action="store_true", help="reuse the user's engine cache")
    args = p.parse_args(argv)
    q = args.quick
    args.iterations = args.iterations or (20 if q else 300)
    args.eval_limit = args.eval_limit or (200 if q else None)
    args.photos = args.photos or (32 if q else 500)
    args.calib_samples = args.calib_samples or (32 if q else 256)
    args.calibrators = args.calibrators or (["minmax", "entropy"] if q else list(METHODS))
    return args


# -- variants --------------------------------------------------------------------------------
def plan_variants(backends: list[str], args: argparse.Namespace, plan: ModelPlan) -> list[Variant]:
    """fp32/fp16/bf16 and int8 × calibrator for each backend (+ OpenVINO's NNCF route)."""
    from edgeinfer.backends import get_backend

    out: list[Variant] = []
    for name in backends:
        backend = get_backend(name)
        configs: list[tuple[str, BuildConfig]] = []
        for prec in ("fp32", "fp16", "bf16"):  # the option sets optimize would try
            for opts in backend.capabilities.search_options:
                extra = " [" + ",".join(f"{k}={v}" for k, v in opts) + "]" if opts else ""
                configs.append((f"{name} {prec}{extra}", BuildConfig(name, prec, args.threads, options=opts)))
        for method in args.calibrators:
            cal = CalibrationConfig(
                method=method,
                data=plan.calib_data,
                samples=args.calib_samples,
                seed=1,
                batch_size=plan.calib_batch,
            )
            configs.append(
                (
                    f"{name} int8 {method}",
                    BuildConfig(name, "int8", args.threads, calibration=cal),
                )
            )
        if name == "openvino":
            cal = CalibrationConfig(
                data=plan.calib_data,
                samples=args.calib_samples,
                seed=1,
                batch_size=plan.calib_batch,
            )
            opts = {"quantizer": "nncf"}
            configs.append(
                (
                    "openvino int8 nncf",
                    BuildConfig(
                        name, "int8", args.threads, options=opts, calibration=cal
                    ),
                )
            )
        for label, cfg in configs:
            try:
                backend.check_config(cfg)
                out.append(Variant(label, cfg))
            except EdgeInferError as exc:
                out.append(Variant(label, cfg, skipped=str(exc).split(";")[0]))
    return out


def build_variants(model: Model, variants: list[Variant], quiet: bool) -> None:
    for v in variants:
        if v.skipped or v.config is None:
            continue
        t0 = time.perf_counter()
        try:
            v.engine = build(model, v.config, cache=False)
        except EdgeInferError as exc:
            v.skipped = f"build failed: {exc}"
            continue
        m = v.engine.manifest
        reused = any(n.startswith("calibration: reused") for n in m.notes)
        v.result.update(
            executed=m.executed_precision,
            build_s=round(time.perf_counter() - t0, 2),
            calibration_reused=reused,
            size_mb=round(v.engine.size_bytes() / 2**20, 3),
            notes=list(m.notes),
        )
        if not quiet:
            console().print(
                f"  built {escape(v.label)}: executes {m.executed_precision} in {v.result['build_s']} s"
            )


# -- quality ---------------------------------------------------------------------------------
def measure_quality(
    plan: ModelPlan, variants: list[Variant], ref: Engine, args: argparse.Namespace
) -> None:
    from edgeinfer.data import open_dataset
    from edgeinfer.evaluate import compare_engines, evaluate_accuracy

    if plan.quality == "accuracy":
        ds = open_dataset(plan.eval_data, limit=args.eval_limit)
    else:
        ds = open_dataset(f"{plan.eval_data}:{args.photos}", seed=0)
    for v in variants:
        if v.engine is None:
            continue
        if plan.quality == "accuracy":
            acc = evaluate_accuracy(v.engine, ds, quiet=True)
            v.result["quality"] = {"top1": acc.top1, "n": len(ds)}
            continue
        fid = compare_engines(v.engine, ref, ds, quiet=True)
        o = fid.outputs[0]
        q = {"n": fid.n, "cosine": o.cosine, "snr_db": o.snr_db, "max_abs": o.max_abs}
        if plan.quality == "agreement":
            q.update(agreement=o.agreement, confident=o.confident_agreement, top5=o.top1_in_top5)
        v.result["quality"] = q


def quality_text(q: dict[str, Any] | None) -> str:
    if not q:
        return "-"
    if "top1" in q:
        return f"top-1 {100 * q['top1']:.2f}% (n={q['n']})"
    if q.get("agreement") is not None:
        conf = q.get("confident")
        top5 = q.get("top5")
        return (
            f"agree {100 * q['agreement']:.1f}%"
            + (f", confident {100 * conf:.1f}%" if conf is not None else "")
            + (f", top-5 {100 * top5:.1f}%" if top5 is not None else "")
            + f" (n={q['n']})"
        )
    return f"cos {q['cosine']:.4f}, SNR {q['snr_db']:.1f} dB (n={q['n']})"


# -- latency ---------------------------------------------------------------------------------
def torch_callable(
    model_name: str, plan: ModelPlan, model: Model, threads: int
) -> Callable[[], object] | None:
    """PyTorch eager FP32 of the zoo architecture (weights do not matter for latency)."""
    if plan.torch_arch is None:
        return None
    import torch

    from edgeinfer.zoo import archs

    kwargs = dict(plan.torch_kwargs)
    if model_name == "fashion-cnn":
        prov = model.meta("provenance") or {}
        kwargs.setdefault("width", int(prov.get("train_config", {}).get("width", 32)))
    torch.set_num_threads(threads)
    module = getattr(archs, plan.torch_arch)(**kwargs).eval()
    shape = model.inputs[0].concrete_shape(batch=1)  # zoo torch models have fixed H, W
    x = torch.randn(*shape)

    def run() -> object:
        with torch.inference_mode():
            return module(x)

    run()
    return run


def measure_latency(
    variants: list[Variant], args: argparse.Namespace, torch_fn: Callable[[], object] | None
) -> None:
    from contextlib import ExitStack

    from edgeinfer.bench import random_feed
    from edgeinfer.builder import load_runner

    fns: dict[str, Callable[[], object]] = {}
    with ExitStack() as stack:
        for v in variants:
            if v.engine is None:
                continue
            r = stack.enter_context(load_runner(v.engine, threads=args.threads))
            feed = random_feed(v.engine.inputs, batch=1, seed=0, dims=feed_dims(v.engine))
            fns[v.label] = lambda r=r, feed=feed: r.infer(feed)
        if torch_fn is not None:
            fns["pytorch eager fp32"] = torch_fn
        per_round = 10 if args.iterations >= 100 else 5
        rounds = max(1, args.iterations // per_round)
        lat = interleaved(fns, rounds=rounds, per_round=per_round, warmup=10, pause_s=0.02)
    for v in variants:
        if v.label in lat:
            s = latency_stats(lat[v.label])
            v.result["latency_ms"] = s.to_dict()


# -- output ----------------------------------------------------------------------------------
COLUMNS = ("variant", "executes", "p50 ms", "p99 ms", "quality", "size MB", "build s")


def rows(variants: list[Variant]) -> list[list[str]]:
    out = []
    for v in variants:
        if v.skipped:
            out.append([v.label, "-", "-", "-", f"skipped: {v.skipped}", "-", "-"])
            continue
        r = v.result
        lat = r.get("latency_ms", {})
        build_s = (
            "-"
            if "build_s" not in r
            else f"{r['build_s']:.2f}" + (" (cal. cached)" if r.get("calibration_reused") else "")
        )
        out.append(
            [
                v.label,
                r.get("executed", "fp32"),
                f"{lat['p50']:.3f}" if lat else "-",
                f"{lat['p99']:.3f}" if lat else "-",
                quality_text(r.get("quality")),
                f"{r['size_mb']:.2f}" if "size_mb" in r else "-",
                build_s,
            ]
        )
    return out


def markdown(results: dict[str, list[list[str]]], args: argparse.Namespace) -> str:
    lines = []
    for model, table in results.items():
        lines.append(
            f"### {model} (batch 1, {args.threads} threads, {args.iterations} runs each, interleaved)\n"
        )
        lines.append("| " + " | ".join(COLUMNS) + " |")
        lines.append("|" + "|".join("---" for _ in COLUMNS) + "|")
        lines.extend("| " + " | ".join(row) + " |" for row in table)
        lines.append("")
    return "\n".join(lines)


def markdown_from_json(paths: list[str]) -> str:
    """The Markdown tables of saved runs, each headed by its date and command."""
    import json

    parts = []
    for path in paths:
        data = json.loads(Path(path).read_text())
        settings = argparse.Namespace(**data["settings"])
        tables = {
            name: rows(
                [Variant(v["label"], None, None, v.get("skipped"), v) for v in m["variants"]]
            )
            for name, m in data["models"].items()
            if "variants" in m
        }
        parts.append(
            f"Run {data['date']} on {data['host']['cpu_model']} "
            f"({data['host']['cpu_count']} cpus): `{data['command']}`\n"
        )
        parts.append(markdown(tables, settings))
    return "\n".join(parts)


def run_model(
    name: str, backends: list[str], args: argparse.Namespace
) -> tuple[list[Variant], list[str]]:
    from edgeinfer import zoo

    plan = PLANS[name]
    notes: list[str] = []
    model = zoo.get_model(name, quiet=True)
    variants = plan_variants(backends, args, plan)
    build_variants(model, variants, quiet=False)
    ref = next((v.engine for v in variants if v.label == "onnxruntime fp32" and v.engine), None)
    ref = ref or build(model, BuildConfig(threads=args.threads))
    measure_quality(plan, variants, ref, args)
    torch_fn = None
    if not args.no_torch:
        try:
            torch_fn = torch_callable(name, plan, model, args.threads)
        except ImportError as exc:
            notes.append(f"PyTorch eager skipped: {exc}")
        if plan.torch_arch is None:
            notes.append("PyTorch eager: no torch module (native ONNX model)")
    if torch_fn is not None:
        variants.append(Variant("pytorch eager fp32", None, result={"executed": "fp32"}))
    measure_latency(variants, args, torch_fn)
    return variants, notes


def main(argv: list[str] | None = None) -> int:
    from edgeinfer import zoo
    from edgeinfer.backends import list_backends

    args = parse_args(argv)
    if args.from_json:
        print(markdown_from_json(args.from_json), file=stdout())
        return 0
    if not args.keep_cache:  # fresh engine/calibration caches: build times are real builds
        os.environ["EDGEINFER_CACHE_DIR"] = tempfile.mkdtemp(prefix="edgeinfer-bench-")
    backends = args.backends or list_backends(available_only=True)
    con = console()
    data: dict[str, Any] = {
        **header(),
        "settings": {k: v for k, v in vars(args).items()},
        "models": {},
    }
    tables: dict[str, list[list[str]]] = {}
    for name in args.models:
        state = zoo.availability(name)
        if state.state == "missing":
            con.print(f"[yellow]skip {name}: {state.detail}[/]")
            data["models"][name] = {"skipped": state.detail}
            continue
        con.print(f"[bold]{name}[/]")
        variants, notes = run_model(name, backends, args)
        tables[name] = rows(variants)
        data["models"][name] = {
            "notes": notes,
            "variants": [
                {
                    "label": v.label,
                    "config": v.config.to_dict() if v.config else None,
                    "skipped": v.skipped,
                    **v.result,
                }
                for v in variants
            ],
        }
        table = Table(
            title=f"{name}: batch 1, {args.threads} threads, n={args.iterations} (interleaved)"
        )
        for col in COLUMNS:
            table.add_column(
                col,
                justify="right" if col in ("p50 ms", "p99 ms", "size MB", "build s") else "left",
            )
        for row in tables[name]:
            table.add_row(*(escape(c) for c in row))
        con.print(table)
        for n in notes:
            con.print(f"note: {n}")
        save(args.json, data)  # after every model: a long run interrupted keeps what it measured
    md = markdown(tables, args)
    data["markdown"] = md
    save(args.json, data)
    if args.markdown:
        Path(args.markdown).write_text(md + "\n")
    con.print(md, markup=False, highlight=False)
    con.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
