"""``edgeinfer eval ENGINE_OR_MODEL --dataset ...``: task accuracy, clean and corrupted."""

from __future__ import annotations

import argparse
from typing import Any

from edgeinfer.cli.common import (
    MODEL_HELP,
    add_build_options,
    add_preprocess_option,
    command_line,
    emit_json,
    open_engine,
    preprocess_from_args,
)
from edgeinfer.cli.console import stdout_console
from edgeinfer.errors import ConfigError


def add_data_options(p: argparse.ArgumentParser, *, required: bool) -> None:
    """``--dataset/--images/--data`` (one of), ``--limit``, ``--seed``, ``--preprocess``."""
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument(
        "--dataset",
        metavar="NAME",
        help="fashion-mnist[:test|:train] or photos[:N] (or any --data spec)",
    )
    g.add_argument(
        "--images", metavar="DIR", help="image folder: one sub-folder per class, or labels.csv"
    )
    g.add_argument(
        "--data",
        metavar="SPEC",
        help="dataset spec: images:DIR, npz:FILE, npy:FILE, a .npz path, photos:N",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help="use a seeded random subset of N samples",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for subsets, photo crops, corruptions, random inputs",
    )
    add_preprocess_option(p)


def dataset_from_args(args: argparse.Namespace) -> Any:
    """The dataset named by ``--dataset/--images/--data`` (None when none was given)."""
    from edgeinfer.data.datasets import open_dataset

    spec = f"images:{args.images}" if args.images else args.dataset or args.data
    if spec is None:
        return None
    return open_dataset(spec, limit=args.limit, seed=args.seed)


def register(sub: Any) -> None:
    """Add the ``eval`` verb and its flags to the ``edgeinfer`` subcommand parsers."""
    p = sub.add_parser(
        "eval",
        help="measure task accuracy on labelled data (top-1/top-5, CI, per class, corruptions)",
    )
    p.add_argument("target", metavar="MODEL", help=MODEL_HELP + " (built on the fly, cached)")
    add_data_options(p, required=True)
    add_build_options(p)
    p.add_argument(
        "--batch",
        type=int,
        default=64,
        help="batch size (default 64; fixed-batch engines use theirs)",
    )
    p.add_argument(
        "--corruptions",
        default=None,
        metavar="LIST",
        help="also evaluate under corruptions: noise,blur,motion,brightness,dark,contrast,jpeg "
        "(or 'default' = noise,blur,brightness,contrast,jpeg, or 'all')",
    )
    p.add_argument(
        "--severity",
        default=None,
        metavar="S",
        help="corruption severity: 3 (default), a range 1-5, or a list 1,3,5",
    )
    p.add_argument("--per-class", action="store_true", help="print the per-class table")
    p.add_argument(
        "--json",
        default=None,
        metavar="FILE",
        help="write results (with confusion matrix) as JSON to FILE ('-': standard output)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Measure an engine's accuracy on labelled data (and under corruptions) and print it.

    Returns:
        The exit code: 0.
    """
    from edgeinfer.evaluate.accuracy import evaluate_accuracy
    from edgeinfer.evaluate.corruptions import parse_corruptions, parse_severities
    from edgeinfer.evaluate.robustness import evaluate_robustness
    from edgeinfer.evaluate.tables import accuracy_table, per_class_table, robustness_table

    corruptions = parse_corruptions(args.corruptions)
    severities = parse_severities(args.severity)
    if args.severity and not corruptions:
        raise ConfigError("--severity needs --corruptions (e.g. --corruptions noise,blur)")
    dataset = dataset_from_args(args)
    preprocess = preprocess_from_args(args)
    engine = open_engine(args.target, args)
    kw: dict[str, Any] = {
        "batch_size": args.batch,
        "preprocess": preprocess,
        "seed": args.seed,
        "quiet": args.quiet,
    }
    console = stdout_console()
    data: dict[str, Any]
    if corruptions:
        rob = evaluate_robustness(
            engine, dataset, corruptions=corruptions, severities=severities, **kw
        )
        clean = rob.clean
        data = rob.to_dict()
    else:
        clean = evaluate_accuracy(engine, dataset, **kw)
        data = clean.to_dict()
    console.print(accuracy_table(clean))
    if args.per_class or not corruptions:
        console.print(per_class_table(clean))
    if corruptions:
        console.print(robustness_table(rob))
    if args.json:
        data["command"] = command_line(args)
        emit_json(args.json, data)
    return 0
