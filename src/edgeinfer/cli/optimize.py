"""``edgeinfer optimize MODEL``: the fastest engine on this host that keeps accuracy."""

from __future__ import annotations

import argparse
from typing import Any

from edgeinfer.cli.common import (
    MODEL_HELP,
    NameList,
    add_json_option,
    add_preprocess_option,
    command_line,
    emit_json,
    preprocess_from_args,
)
from edgeinfer.cli.console import stdout, stdout_console
from edgeinfer.errors import ConfigError

MAX_PRUNE_EPOCHS = 1000  # as edgeinfer prune --finetune-epochs


def _names(values: list[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    return tuple(n.strip() for v in values for n in v.split(",") if n.strip())


def register(sub: Any) -> None:
    """Add the ``optimize`` verb and its flags to the ``edgeinfer`` subcommand parsers."""
    p = sub.add_parser(
        "optimize",
        help="search backends/precisions for the fastest engine within an accuracy budget",
        description="Build and measure candidate engines (backend x precision x calibrator, "
        "mixed precision), select the fastest that meets the budgets, write the winning "
        "engine, report.json and report.html to OUT_DIR.",
    )
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP.replace(", engine directory", ""))
    _data_args(p)
    _budget_args(p)
    _search_args(p)
    _prune_args(p)
    p.add_argument(
        "-o",
        "--output",
        default="optimize-out",
        metavar="OUT_DIR",
        help="where the engine and reports go (default: optimize-out)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write into an OUT_DIR that holds other files (they are kept; only edgeinfer's "
        "own engine/ and reports are replaced)",
    )
    add_json_option(p, help="report.json's content to FILE ('-': standard output) as well")
    p.set_defaults(func=run)


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--calib",
        default=None,
        metavar="DATA",
        help="calibration data: fashion-mnist:train, images:DIR, npz:FILE, photos[:N] "
        "(default: a zoo model's own dataset, e.g. fashion-cnn: fashion-mnist:train and "
        "--eval fashion-mnist:test; else photos:300)",
    )
    p.add_argument(
        "--eval",
        default=None,
        metavar="DATASET",
        help="evaluation data; labels make the budget a top-1 drop (default: "
        "fidelity to FP32 on the calibration-style data)",
    )
    p.add_argument("--calib-samples", type=int, default=128, help="samples per calibration")
    p.add_argument(
        "--eval-limit", type=int, default=None, metavar="N", help="use at most N eval samples"
    )
    add_preprocess_option(
        p,
        help="how images (calibration and eval data) become the input tensor; stored in every "
        "candidate and the winning engine: imagenet[:SIZE], a JSON file, inline JSON or "
        "KEY=VALUE,... (e.g. size=224x224,resize=shorter,mean=0.5/0.5/0.5,std=0.5/0.5/0.5); "
        "default: the spec stored in the model (required for image data when it has none)",
    )


def _budget_args(p: argparse.ArgumentParser) -> None:
    acc = p.add_mutually_exclusive_group()
    acc.add_argument(
        "--max-accuracy-drop",
        type=float,
        default=None,
        metavar="PTS",
        help="allowed top-1 drop vs FP32 in points (labels; default 1)",
    )
    acc.add_argument(
        "--min-agreement",
        type=float,
        default=None,
        metavar="FRAC",
        help="required top-1 agreement with FP32 on confident inputs (default 0.995)",
    )
    p.add_argument(
        "--confidence",
        type=float,
        default=0.5,
        help="reference top-1 probability that makes an input confident (0.5)",
    )
    p.add_argument(
        "--min-cosine",
        type=float,
        default=0.999,
        metavar="C",
        help="required mean cosine similarity to FP32 of outputs that are not class scores "
        "(dense maps, boxes; default 0.999)",
    )
    p.add_argument(
        "--outputs",
        action=NameList,
        default=None,
        metavar="NAME,...",
        help="outputs the accuracy budget applies to, comma-separated (default: every output; "
        "all are reported)",
    )
    p.add_argument(
        "--no-top5",
        action="store_true",
        help="do not require 100%% top-1-in-top-5 containment (fidelity budget)",
    )
    p.add_argument(
        "--latency-budget-ms",
        type=float,
        default=None,
        metavar="X",
        help="the winner's latency (the --objective percentile) must be <= X ms (default: none)",
    )
    p.add_argument(
        "--objective",
        default="p50",
        choices=("p50", "p99", "throughput"),
        help="what 'fastest' means and what the latency budget is judged on (default: p50)",
    )
    p.add_argument(
        "--max-memory-mb",
        type=float,
        default=None,
        metavar="MB",
        help="peak resident memory an engine may add when loaded and run, MiB (default: none)",
    )


def _search_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backends",
        action=NameList,
        default=None,
        metavar="NAME,...",
        help="backends to search, e.g. onnxruntime,openvino (default: every installed backend searched by default)",
    )
    p.add_argument(
        "--precisions",
        action=NameList,
        default=None,
        metavar="NAME,...",
        help="precisions to search, e.g. fp32,bf16,int8 (default: each backend's usual ones)",
    )
    p.add_argument(
        "--calibrators",
        action=NameList,
        default=None,
        metavar="NAME,...",
        help="int8 calibrators, e.g. percentile,minmax (default: percentile,minmax)",
    )
    p.add_argument(
        "--threads", type=int, default=None, help="intra-op threads (default: backend's)"
    )
    p.add_argument(
        "--time-budget",
        type=float,
        default=15.0,
        metavar="MIN",
        help="stop starting new candidates after MIN minutes (default 15)",
    )
    p.add_argument("--finalists", type=int, default=4, help="candidates measured fully (4)")
    p.add_argument("--no-mixed", action="store_true", help="do not try mixed precision")
    p.add_argument(
        "--mixed-units",
        type=int,
        default=12,
        help="mixed precision: at most this many sensitivity probes (layers grouped beyond)",
    )


def _prune_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "pruned candidates (models with a PyTorch source; see docs/pruning.md)"
    )
    g.add_argument(
        "--prune", action=NameList, default=[], metavar="R,...",
        help="channel-pruning ratios whose fine-tuned models are candidates too, e.g. 0.3,0.5 "
        "(default: none)",
    )  # fmt: skip
    g.add_argument("--prune-epochs", type=int, default=0, metavar="N", help="fine-tuning epochs")
    g.add_argument("--prune-train", default=None, metavar="DATASET", help="fine-tuning data")
    g.add_argument(
        "--prune-train-limit", type=int, default=None, metavar="N",
        help="fine-tune on at most N training samples (a seeded subset)",
    )  # fmt: skip
    g.add_argument(
        "--prune-distill", action="store_true", help="distil from the unpruned model (no labels)"
    )


def _prune_finetune(args: argparse.Namespace) -> Any:
    """The fine-tuning of pruned candidates (refused with the optimize flags' names)."""
    from edgeinfer.prune.config import FinetuneConfig

    if args.prune_epochs and not args.prune_train:
        raise ConfigError(
            "--prune-epochs needs training data; pass --prune-train DATASET (e.g. "
            "fashion-mnist:train, or photos:600 with --prune-distill)"
        )
    if not 0 <= args.prune_epochs <= MAX_PRUNE_EPOCHS:
        raise ConfigError(
            f"--prune-epochs must be 0..{MAX_PRUNE_EPOCHS}, got {args.prune_epochs}"
        )
    if args.prune_train_limit is not None and args.prune_train_limit < 1:
        raise ConfigError(f"--prune-train-limit must be >= 1, got {args.prune_train_limit}")
    return FinetuneConfig(
        epochs=args.prune_epochs, train=args.prune_train, distill=args.prune_distill,
        limit=args.prune_train_limit, threads=args.threads,
    )  # fmt: skip


def _ratios(texts: list[str]) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in texts)
    except ValueError:
        raise ConfigError(
            f"--prune takes comma-separated ratios, e.g. --prune 0.3,0.5; got {','.join(texts)}"
        ) from None


def config_from_args(args: argparse.Namespace) -> Any:
    """An :class:`OptimizeConfig` from the parsed flags (validated there)."""
    from edgeinfer.search.config import OptimizeConfig
    from edgeinfer.search.select import Budget

    budget = Budget(
        max_accuracy_drop=args.max_accuracy_drop,
        min_agreement=args.min_agreement,
        confidence=args.confidence,
        require_top5=not args.no_top5,
        latency_budget_ms=args.latency_budget_ms,
        objective=args.objective,
        max_memory_mb=args.max_memory_mb,
        min_cosine=args.min_cosine,
    )
    return OptimizeConfig(
        calib=args.calib,
        eval=args.eval,
        budget=budget,
        preprocess=preprocess_from_args(args),
        outputs=_names(args.outputs),
        backends=_names(args.backends),
        precisions=_names(args.precisions),
        calibrators=_names(args.calibrators),
        threads=args.threads,
        time_budget_min=args.time_budget,
        calib_samples=args.calib_samples,
        eval_limit=args.eval_limit,
        finalists=args.finalists,
        mixed=not args.no_mixed,
        mixed_units=args.mixed_units,
        prune_ratios=_ratios(args.prune),
        prune_finetune=_prune_finetune(args),
        out_dir=args.output,
        quiet=bool(getattr(args, "quiet", False)),
    )


def run(args: argparse.Namespace) -> int:
    """Search backends and precisions for the fastest engine within the budgets and report it.

    Returns:
        The exit code: 0.

    Raises:
        BudgetError: no candidate met the budgets (exit code 3).
        SearchInterrupted: Ctrl-C; the partial report is written first.
    """
    from rich.console import Console
    from rich.markup import escape

    from edgeinfer.api import optimize
    from edgeinfer.report.optimize import optimize_table
    from edgeinfer.search import SearchInterrupted, check_budget

    cfg = config_from_args(args)
    try:
        result = optimize(args.model, cfg, command=command_line(args), force=args.force)
    except SearchInterrupted:
        Console(stderr=True, highlight=False).print(
            f"[yellow]interrupted:[/] partial report in {cfg.out_dir or '(no -o)'}"
        )
        raise
    # Piped output (logs, CI) gets a wide table instead of rich's 80-column default.
    out = stdout_console() if stdout().isatty() else stdout_console(width=170)
    out.print(optimize_table(result))
    for text in result.warnings:
        out.print(f"[bold yellow]warning:[/] {escape(text)}", highlight=False)
    err = Console(stderr=True, highlight=False)
    if result.engine_dir:
        err.print(f"[bold green]engine[/] {result.engine_dir}")
    err.print(f"report: {cfg.out_dir}/report.html, {cfg.out_dir}/report.json")
    if args.json:
        emit_json(args.json, result.to_dict())
    check_budget(result)
    return 0
