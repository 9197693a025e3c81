"""Robustness benchmark: is a lower-precision engine more fragile than FP32 under corruptions?

Evaluates each variant of one classifier (default: the zoo's fashion-cnn, ONNX Runtime FP32
and INT8 calibrated on the train split) on clean data and under seeded common corruptions
(noise, blur, motion, brightness, dark, contrast, jpeg), and prints top-1 and the drop from
clean per variant side by side.

    python benchmarks/eval_robustness.py --quick             # smoke run: 500 images, severity 3
    python benchmarks/eval_robustness.py                     # 10k test images, severities 1-5
    python benchmarks/eval_robustness.py --engines eng_a/ eng_b/ --dataset images:val/

Writes JSON (host, date, command, every number) to benchmarks/results/eval_robustness.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import console, header, run_main, save

from edgeinfer.builder import build, load_engine
from edgeinfer.config import BuildConfig
from edgeinfer.data import open_dataset
from edgeinfer.engine import Engine
from edgeinfer.errors import EdgeInferError
from edgeinfer.evaluate import evaluate_robustness
from edgeinfer.evaluate.corruptions import CORRUPTIONS, parse_corruptions, parse_severities
from edgeinfer.evaluate.robustness import RobustnessResult


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default=None, help="ONNX classifier (default: zoo fashion-cnn)")
    p.add_argument(
        "--precisions", default="fp32,int8", help="variants built from --model (fp32,int8)"
    )
    p.add_argument("--backend", default="onnxruntime")
    p.add_argument("--calib", default="fashion-mnist:train", help="int8 calibration data")
    p.add_argument("--engines", nargs="*", default=[], help="extra engine directories to evaluate")
    p.add_argument("--dataset", default="fashion-mnist:test")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--corruptions", default=",".join(CORRUPTIONS))
    p.add_argument("--severity", default="1-5")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="500 images, severity 3")
    p.add_argument("--json", default="benchmarks/results/eval_robustness.json")
    return p.parse_args()


def _variants(args: argparse.Namespace) -> dict[str, Engine]:
    from edgeinfer.calibration import CalibrationConfig

    model = args.model
    if model is None:
        from edgeinfer.zoo.registry import get_model

        model = get_model("fashion-cnn")
    out: dict[str, Engine] = {}
    for precision in filter(None, args.precisions.split(",")):
        calib = None
        if precision == "int8":
            calib = CalibrationConfig(data=args.calib, samples=256 if args.quick else 512)
        cfg = BuildConfig(backend=args.backend, precision=precision, calibration=calib)
        try:
            out[f"{args.backend} {precision}"] = build(model, cfg)
        except EdgeInferError as exc:
            console().print(f"[yellow]skipping {precision}: {exc}[/]")
    for path in args.engines:
        eng = load_engine(path)
        out[f"{Path(path).name} ({eng.precision})"] = eng
    return out


def _table(results: dict[str, RobustnessResult]) -> Table:
    names = list(results)
    first = results[names[0]]
    table = Table(title=f"top-1 under corruptions: {first.clean.dataset}, N={first.clean.n}")
    table.add_column("condition")
    table.add_column("sev", justify="right")
    for n in names:
        table.add_column(f"{n} top-1", justify="right")
        table.add_column("drop", justify="right")
    clean = ["clean", "-"]
    for n in names:
        clean += [f"{100 * results[n].clean.top1:.2f}%", "-"]
    table.add_row(*clean, style="bold")
    for i, e in enumerate(first.entries):
        row = [e.corruption, str(e.severity)]
        for n in names:
            entry = results[n].entries[i]
            row += [f"{100 * entry.result.top1:.2f}%", f"{100 * entry.drop:+.2f}"]
        table.add_row(*row)
    return table


def main() -> int:
    args = _parse()
    limit = 500 if args.quick and args.limit is None else args.limit
    severities = (3,) if args.quick else parse_severities(args.severity)
    corruptions = parse_corruptions(args.corruptions)
    dataset = open_dataset(args.dataset, limit=limit, seed=args.seed)
    variants = _variants(args)
    results: dict[str, RobustnessResult] = {}
    for name, eng in variants.items():
        console().print(f"evaluating {name} …")
        results[name] = evaluate_robustness(
            eng,
            dataset,
            corruptions=corruptions,
            severities=severities,
            batch_size=args.batch,
            seed=args.seed,
        )
    console().print(_table(results))
    data: dict[str, Any] = {
        **header(),
        "dataset": dataset.describe(),
        "seed": args.seed,
        "variants": {
            n: {"engine": str(e.path), **r.to_dict()}
            for (n, e), r in zip(variants.items(), results.values(), strict=True)
        },
    }
    save(args.json, data)
    console().print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
