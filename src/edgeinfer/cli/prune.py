"""``edgeinfer prune SOURCE --method channel|l1-unstructured --ratio R -o OUT [...]``."""

from __future__ import annotations

import argparse
from typing import Any

from edgeinfer.cli.common import add_json_option, command_line, emit_json, parse_input_shape
from edgeinfer.cli.console import stdout_console
from edgeinfer.cli.eval import preprocess_from_args
from edgeinfer.errors import ConfigError


def register(sub: Any) -> None:
    """Add the ``prune`` verb and its flags to the ``edgeinfer`` subcommand parsers."""
    from edgeinfer.prune.config import AUGMENTS, DEVICES, METHODS

    p = sub.add_parser(
        "prune",
        help="prune a PyTorch model (channels or L1 weights), fine-tune it and export it",
        description="Prune a PyTorch model: remove whole channels (--method channel, smaller "
        "and faster, needs fine-tuning) or zero the smallest weights (--method l1-unstructured, "
        "no speed-up on dense CPU runtimes). Writes OUT/model.onnx (the pruning record in its "
        "metadata), OUT/pruned.pt (torch.load(weights_only=True)) and OUT/pruning.json.",
    )
    p.add_argument(
        "source",
        help="zoo name with a PyTorch definition (fashion-cnn, mobilenetv2-imagenet, …) or "
        "package.module:factory",
    )
    p.add_argument("-o", "--output", required=True, help="directory to write")
    p.add_argument("--method", default="channel", choices=METHODS, help="default: channel")
    p.add_argument(
        "--ratio", type=float, required=True, help="fraction removed per layer, in (0, 1)"
    )
    p.add_argument(
        "--round-to",
        type=int,
        default=8,
        metavar="N",
        help="channel multiple kept (default 8; 1: none)",
    )
    p.add_argument(
        "--layer-ratio",
        action="append",
        default=[],
        metavar="LAYER=R",
        help="per-layer ratio (repeatable)",
    )
    p.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="LAYER",
        help="layer left unpruned (repeatable)",
    )
    p.add_argument("--steps", type=int, default=1, help="prune in K steps, fine-tuning after each")
    p.add_argument(
        "--input-shape", default=None, metavar="1xCxHxW", help="example input of a factory source"
    )
    p.add_argument(
        "--preprocess", default=None, help="preprocessing for image data (default: the model's)"
    )
    g = p.add_argument_group("fine-tuning (needed after channel pruning)")
    g.add_argument(
        "--finetune-epochs",
        type=int,
        default=0,
        metavar="N",
        help="epochs after each step (default 0)",
    )
    g.add_argument(
        "--train",
        default=None,
        metavar="DATASET",
        help="training data, e.g. fashion-mnist:train, photos:600",
    )
    g.add_argument(
        "--train-limit", type=int, default=None, metavar="N", help="use N training samples"
    )
    g.add_argument(
        "--distill",
        action="store_true",
        help="distil from the unpruned model (needed without labels)",
    )
    g.add_argument(
        "--alpha", type=float, default=0.5, help="distillation weight with labels (default 0.5)"
    )
    g.add_argument(
        "--temperature", type=float, default=4.0, help="distillation temperature (default 4)"
    )
    g.add_argument(
        "--lr", type=float, default=3e-3, help="peak learning rate, one-cycle AdamW (default 3e-3)"
    )
    g.add_argument("--batch-size", type=int, default=256, help="training batch size (default 256)")
    g.add_argument("--augment", default="shift-flip", choices=AUGMENTS, help="default: shift-flip")
    g.add_argument("--device", default="cpu", choices=DEVICES, help="default: cpu")
    g.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    g.add_argument("--seed", type=int, default=0, help="seed of data order and augmentation")
    e = p.add_argument_group("evaluation")
    e.add_argument(
        "--eval",
        default=None,
        metavar="DATASET",
        help="score before/after: top-1 with labels, else agreement",
    )
    e.add_argument(
        "--eval-limit", type=int, default=None, metavar="N", help="use N evaluation samples"
    )
    p.add_argument("--force", action="store_true", help="replace an existing output directory")
    add_json_option(p, help="the record as JSON to FILE ('-': standard output)")
    p.set_defaults(func=run)


def parse_layer_ratios(items: list[str]) -> tuple[tuple[str, float], ...]:
    """``["features.0.0=0.6"]`` -> ``(("features.0.0", 0.6),)``.

    Raises:
        ConfigError: an item that is not ``LAYER=R`` with a number R.
    """
    out = []
    for item in items:
        name, sep, value = item.rpartition("=")
        try:
            ratio = float(value)
        except ValueError:
            ratio = float("nan")
        if not sep or not name or ratio != ratio:
            raise ConfigError(f"--layer-ratio '{item}' must be LAYER=R, e.g. features.0.0=0.6")
        out.append((name, ratio))
    return tuple(out)


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~edgeinfer.prune.config.PruneConfig` the flags describe."""
    from edgeinfer.prune.config import FinetuneConfig, PruneConfig

    finetune = FinetuneConfig(
        epochs=args.finetune_epochs, train=args.train, distill=args.distill, alpha=args.alpha,
        temperature=args.temperature, lr=args.lr, batch_size=args.batch_size,
        augment=args.augment, limit=args.train_limit, seed=args.seed, threads=args.threads,
        device=args.device,
    )  # fmt: skip
    return PruneConfig(
        method=args.method, ratio=args.ratio, round_to=args.round_to,
        layer_ratios=parse_layer_ratios(args.layer_ratio), ignore=tuple(args.ignore),
        steps=args.steps, finetune=finetune,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Prune, fine-tune, export and print the record.

    Returns:
        The exit code: 0.
    """
    from edgeinfer.prune import prune

    config = config_from_args(args)
    if args.distill and not config.finetune.enabled:
        raise ConfigError(
            "--distill distils while fine-tuning; add --finetune-epochs N --train DATASET"
        )
    con = stdout_console(highlight=False, soft_wrap=True)
    result = prune(
        args.source, config, args.output, input_shape=parse_input_shape(args.input_shape),
        preprocess=preprocess_from_args(args), eval_data=args.eval, eval_limit=args.eval_limit,
        overwrite=args.force, quiet=args.quiet, log=None if args.quiet else con.print,
    )  # fmt: skip
    print_record(con, result.record)
    con.print(f"[bold green]wrote[/] {result.out}: model.onnx, pruned.pt, pruning.json")
    con.print(f"next: edgeinfer optimize {result.out}/model.onnx (measures the real speed)")
    if args.json:
        emit_json(
            args.json,
            {
                "record": result.record.to_dict(),
                "out": str(result.out),
                "command": command_line(args),
            },
        )
    return 0


def print_record(con: Any, record: Any) -> None:
    """The layers that changed, MACs and parameters, quality and notes."""
    from rich.markup import escape
    from rich.table import Table

    con.print(escape(record.summary()))
    table = Table()
    for col in ("layer", "kind", "before", "after", "sparsity"):
        table.add_column(col, justify="left" if col in ("layer", "kind") else "right")
    for layer in record.layers:
        if layer.before != layer.after or layer.zeros:
            table.add_row(
                escape(layer.name),
                layer.kind,
                str(layer.before),
                str(layer.after),
                f"{layer.sparsity:.0%}",
            )
    con.print(table)
    q = record.quality
    if q is not None:
        con.print(
            f"{q.metric} on {escape(q.data)}: unpruned {q.dense:.2%}, pruned {q.pruned:.2%}, "
            f"final {q.final:.2%} (drop {q.drop_points:.2f} points)"
        )
        if q.confident_agreement is not None:
            con.print(
                f"agreement on confident inputs {q.confident_agreement:.2%}, top-1 in top-5 "
                f"{q.top5_contains:.2%} (the default fidelity budget asks >= 99.5% and 100%)"
            )
    for note in record.notes:
        con.print(f"[yellow]note:[/] {escape(note)}")
