"""Pruning benchmark: does pruning pay, measured (docs/PERFORMANCE.md, "Pruning").

Parts (all by default, in this order; each writes its section of the JSON):

* ``fashion``: fashion-cnn on real Fashion-MNIST. Channel pruning at 30/50/70% and a width
  plan, each fine-tuned on the 60k training images, then FP32 and INT8 (QDQ, percentile,
  128 training images) on ONNX Runtime and OpenVINO: MACs, parameters, top-1 on the 10k test
  set, and latency of every engine interleaved in one run, as a speed-up over the best
  unpruned INT8 engine (per repetition). Target: >= 1.5x with <= 1 point top-1 drop.
* ``mobilenetv2``: MobileNetV2 (real ImageNet weights) channel-pruned and fine-tuned by
  distillation alone on unlabelled real-photo crops; agreement with the unpruned FP32 model
  on held-out crops (all, confident, top-1-in-top-5) and latency.
* ``unstructured``: L1 unstructured 50% of fashion-cnn and MobileNetV2 (no fine-tuning):
  latency before/after on every backend, in one table.
* ``ov-sparse``: OpenVINO's sparse weights decompression on a layer shape where it applies
  (INT8 FullyConnected 1024x1024, 80% zeros, AMX CPUs only): kernel chosen and latency.

Pruned models are cached under ``--work`` (reused when the recipe is unchanged; the record
keeps the original fine-tuning time), so the measuring can be re-run on a quiet machine::

    python benchmarks/pruning.py --quick                  # smoke run (minutes)
    python benchmarks/pruning.py                          # the full run (hours on 2 loaded cores)
    python benchmarks/pruning.py --parts fashion --markdown /tmp/pruning.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import console, header, interleaved, run_main, save
from pruning_parts import (
    LATENCY_REPS,
    Engine,
    Row,
    agreement_of,
    build_engines,
    made,
    ov_sparse,
    top1_of,
)

from edgeinfer import zoo
from edgeinfer.fileio import cache_dir
from edgeinfer.prune import FinetuneConfig, PruneConfig

PARTS = ("fashion", "mobilenetv2", "unstructured", "ov-sparse")
FASHION_LAYERS = ("features.0.0", "features.1.0", "features.2.0", "features.3.0", "features.4.0")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    p.add_argument("--work", default=None, help="pruned models (default: cache dir/bench-pruning)")
    p.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs of 30/50/70%% (6)")
    p.add_argument(
        "--plan-epochs", type=int, default=None, help="fine-tuning epochs of the plan (20)"
    )
    p.add_argument(
        "--photos", type=int, default=None, help="unlabelled crops for distillation (600)"
    )
    p.add_argument(
        "--kd-epochs", type=int, default=None, help="MobileNetV2 distillation epochs (2)"
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=None, help="latency repetitions (6)")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny data, one epoch")
    p.add_argument(
        "--make-only",
        nargs="*",
        default=None,
        metavar="VARIANT",
        help="only prune and fine-tune the fashion-cnn variants named (all without names); "
        "run several in parallel, then measure with a plain run (it reuses them)",
    )
    p.add_argument("--json", default="benchmarks/results/pruning.json")
    p.add_argument("--markdown", default=None, help="also write the Markdown tables here")
    args = p.parse_args(argv)
    q = args.quick
    args.epochs = args.epochs or (1 if q else 6)
    args.plan_epochs = args.plan_epochs or (1 if q else 20)
    args.photos = args.photos or (64 if q else 600)
    args.kd_epochs = args.kd_epochs or (1 if q else 2)
    args.reps = args.reps or (2 if q else LATENCY_REPS)
    args.train_limit = 2000 if q else None
    args.eval_limit = 500 if q else None
    args.work = Path(args.work or cache_dir() / ("bench-pruning-quick" if q else "bench-pruning"))
    return args


# -- fashion-cnn ---------------------------------------------------------------------------
def fashion_configs(args: argparse.Namespace) -> dict[str, PruneConfig]:
    def ft(epochs: int) -> FinetuneConfig:
        return FinetuneConfig(
            epochs=epochs, train="fashion-mnist:train", limit=args.train_limit, threads=args.threads
        )

    plan = (("features.3.0", 0.4), ("features.4.0", 0.2))  # widths [8, 16, 16, 48, 64]
    return {
        "channel 30%": PruneConfig(ratio=0.3, finetune=ft(args.epochs)),
        "channel 50%": PruneConfig(ratio=0.5, finetune=ft(args.epochs)),
        "channel 70%": PruneConfig(ratio=0.7, finetune=ft(args.epochs)),
        "plan 8/16/16/48/64": PruneConfig(
            ratio=0.6, layer_ratios=plan, finetune=ft(args.plan_epochs)
        ),
    }


def make_fashion(args: argparse.Namespace) -> int:
    for label, cfg in fashion_configs(args).items():
        if not args.make_only or label in args.make_only:
            made("fashion-cnn", label, cfg, args, eval_data="fashion-mnist:test")
    return 0


def run_fashion(args: argparse.Namespace, out: dict[str, Any]) -> list[str]:
    dense = zoo.get_model("fashion-cnn")
    models = {"unpruned": (dense, None)}
    for label, cfg in fashion_configs(args).items():
        models[label] = made("fashion-cnn", label, cfg, args, eval_data="fashion-mnist:test")
    engines = build_engines(models, "fashion-mnist:train", args.threads, int8=True)
    for e in engines:
        e.quality = top1_of(e.engine, "fashion-mnist:test", args.eval_limit)
    timed = time_all(engines, args.reps, per_round=100, rounds=10)
    rows = speedups(engines, timed, reference=("unpruned", "int8"))
    fp32 = next(r.quality for r in engines if r.model == "unpruned" and r.precision == "fp32")
    for r in rows:
        r.drop = None if r.quality is None or fp32 is None else 100 * (fp32 - r.quality)
    met = [r for r in rows if r.model != "unpruned" and r.speedup >= 1.5 and (r.drop or 99) <= 1.0]
    out["fashion"] = {"rows": [r.to_dict() for r in rows], "target_met_by": [r.name for r in met]}
    verdict = (
        f"TARGET MET by {', '.join(r.name for r in met)}"
        if met
        else "TARGET NOT MET: no pruned engine is >= 1.5x the best unpruned INT8 with <= 1 point drop"
    )
    return print_rows("fashion-cnn (top-1 on the Fashion-MNIST test set)", rows, verdict, "top-1")


# -- MobileNetV2 ---------------------------------------------------------------------------
def run_mobilenetv2(args: argparse.Namespace, out: dict[str, Any]) -> list[str]:
    cfg = PruneConfig(
        ratio=0.3,
        finetune=FinetuneConfig(
            epochs=args.kd_epochs, train=f"photos:{args.photos}", distill=True, temperature=2.0,
            lr=1e-3, batch_size=32, augment="shift-flip", seed=1, threads=args.threads,
        ),
    )  # fmt: skip
    dense = zoo.get_model("mobilenetv2-imagenet")
    eval_spec = f"photos:{100 if args.quick else 500}"
    models = {
        "unpruned": (dense, None),
        "channel 30% + KD": made("mobilenetv2-imagenet", "kd30", cfg, args, eval_data=eval_spec),
    }
    engines = build_engines(models, "photos", args.threads, int8=True, calib_samples=64)
    reference = next(
        e for e in engines if e.model == "unpruned" and e.name.endswith("onnxruntime fp32")
    )
    for e in engines:
        e.quality, e.extra = agreement_of(e.engine, reference.engine, eval_spec)
    timed = time_all(engines, max(2, args.reps // 2), per_round=5 if args.quick else 20, rounds=3)
    rows = speedups(engines, timed, reference=("unpruned", "fp32"))
    ok = [r for r in rows if r.model != "unpruned" and (r.extra or {}).get("meets_budget")]
    out["mobilenetv2"] = {
        "rows": [r.to_dict() for r in rows],
        "meets_fidelity_budget": [r.name for r in ok],
    }
    verdict = (
        f"default fidelity budget (>= 99.5% confident agreement, 100% top-1-in-top-5) met by "
        f"{', '.join(r.name for r in ok)}"
        if ok
        else "NO pruned engine meets the default fidelity budget (>= 99.5% agreement on confident "
        "crops and 100% top-1-in-top-5)"
    )
    return print_rows(
        f"MobileNetV2 (agreement with unpruned FP32 on {eval_spec})", rows, verdict, "agree"
    )


# -- L1 unstructured -----------------------------------------------------------------------
def run_unstructured(args: argparse.Namespace, out: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    out["unstructured"] = {}
    for name, calib, quality in (
        ("fashion-cnn", "fashion-mnist:train", "fashion-mnist:test"),
        ("mobilenetv2-imagenet", "photos", None),
    ):
        cfg = PruneConfig(method="l1-unstructured", ratio=0.5)
        pruned = made(name, "l1-50", cfg, args, eval_data=quality)
        models = {"unpruned": (zoo.get_model(name), None), "L1 50%": pruned}
        engines = build_engines(
            models, calib, args.threads, int8=True, torch=True, calib_samples=64
        )
        if quality:
            for e in engines:
                e.quality = top1_of(e.engine, quality, args.eval_limit)
        small = name == "fashion-cnn"
        timed = time_all(
            engines,
            max(2, args.reps // 2),
            per_round=100 if small else 10,
            rounds=6 if small else 3,
        )
        rows = pairwise(engines, timed)
        out["unstructured"][name] = [r.to_dict() for r in rows]
        lines += print_rows(
            f"{name}: L1 unstructured 50% (no fine-tuning), latency before/after", rows, "", "top-1"
        )
    return lines


# -- timing and tables ---------------------------------------------------------------------
def time_all(
    engines: list[Engine], reps: int, *, per_round: int, rounds: int
) -> dict[str, list[float]]:
    """Per repetition, the p50 (ms) of every engine, all interleaved in each repetition."""
    from edgeinfer.builder import load_runner

    runners = {e.name: load_runner(e.engine) for e in engines}
    for r in runners.values():
        r.__enter__()
    try:
        feeds = {e.name: e.feed for e in engines}
        p50: dict[str, list[float]] = {n: [] for n in runners}
        for _ in range(reps):
            fns = {n: (lambda r=r, f=feeds[n]: r.infer(f)) for n, r in runners.items()}
            samples = interleaved(fns, rounds=rounds, per_round=per_round, warmup=20, pause_s=0.02)
            for n, s in samples.items():
                p50[n].append(float(np.median(s)) / 1e6)
    finally:
        for r in runners.values():
            r.__exit__(None, None, None)
    return p50


def speedups(
    engines: list[Engine], p50: dict[str, list[float]], reference: tuple[str, str]
) -> list[Row]:
    """Rows with p50 and the speed-up over the best ``reference`` (model, precision) engine."""
    refs = [e.name for e in engines if (e.model, e.precision) == reference]
    best = [min(p50[n][i] for n in refs) for i in range(len(p50[refs[0]]))]
    rows = []
    for e in engines:
        ratios = [b / t for b, t in zip(best, p50[e.name], strict=True)]
        rows.append(e.row(p50[e.name], ratios))
    return rows


def pairwise(engines: list[Engine], p50: dict[str, list[float]]) -> list[Row]:
    """Rows with the speed-up of each pruned engine over the unpruned one of its backend/precision."""
    rows = []
    for e in engines:
        base = next(b for b in engines if b.model == "unpruned" and b.config_key == e.config_key)
        ratios = [b / t for b, t in zip(p50[base.name], p50[e.name], strict=True)]
        rows.append(e.row(p50[e.name], ratios))
    return rows


def print_rows(title: str, rows: list[Row], verdict: str, metric: str) -> list[str]:
    table = Table(title=title, title_justify="left")
    heads = [
        "variant",
        "engine",
        "MACs",
        "params",
        "fine-tune",
        metric,
        "drop",
        "p50 ms",
        "p90 ms",
        "speed-up (min-max)",
    ]
    for h in heads:
        table.add_column(h, justify="left" if h in ("variant", "engine") else "right")
    md = [f"**{title}**", "", "| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for r in rows:
        cells = r.cells()
        table.add_row(*cells)
        md.append("| " + " | ".join(cells) + " |")
    console().print(table)
    if verdict:
        console().print(f"[bold]{verdict}[/]")
        md += ["", verdict]
    return [*md, ""]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.make_only is not None:
        return make_fashion(args)
    out: dict[str, Any] = {**header(), "settings": {k: str(v) for k, v in vars(args).items()}}
    md: list[str] = []
    t0 = time.perf_counter()
    runners = {
        "fashion": run_fashion,
        "mobilenetv2": run_mobilenetv2,
        "unstructured": run_unstructured,
        "ov-sparse": lambda a, o: ov_sparse(a, o, print_rows),
    }
    for part in args.parts:
        md += runners[part](args, out)
        out["seconds"] = round(time.perf_counter() - t0, 1)
        save(args.json, out)  # after every part: a long run keeps what it measured
    if args.markdown:
        Path(args.markdown).write_text("\n".join(md) + "\n")
    console().print(f"wrote {args.json} ({out['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
