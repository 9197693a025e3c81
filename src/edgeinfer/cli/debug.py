"""``edgeinfer debug precision MODEL --calib DATA``: which layers break INT8."""

from __future__ import annotations

import argparse
from typing import Any

from edgeinfer.cli.common import (
    add_build_options,
    add_json_option,
    build_config_from_args,
    command_line,
    emit_json,
)
from edgeinfer.cli.console import stdout, stdout_console
from edgeinfer.errors import ConfigError


def register(sub: Any) -> None:
    """Add the ``debug`` verb and its ``precision`` action to the subcommand parsers."""
    from edgeinfer.config import METHODS

    p = sub.add_parser("debug", help="diagnose a model's lower-precision behaviour")
    verbs = p.add_subparsers(dest="debug_command", metavar="ACTION")
    q = verbs.add_parser(
        "precision",
        help="rank layers by their contribution to the INT8 output error (FP32 vs INT8 "
        "side by side, every tensor compared)",
    )
    q.add_argument("model", help="ONNX model file or zoo name")
    add_build_options(q)
    q.add_argument("--calib", required=True, metavar="DATA", help="calibration data (as build)")
    q.add_argument("--calibrator", default=None, choices=METHODS, help="calibration method")
    q.add_argument("--calib-samples", type=int, default=None, metavar="N", help="samples (256)")
    q.add_argument("--percentile", type=float, default=None, help="percentile calibrator's value")
    q.add_argument("--per-tensor", action="store_true", help="per-tensor (not per-channel) weights")
    q.add_argument(
        "--samples",
        type=int,
        default=32,
        metavar="N",
        help="held-out calibration-style inputs to compare on (default 32)",
    )
    q.add_argument(
        "--quantizer",
        default="qdq",
        choices=("qdq", "nncf"),
        help="qdq: edgeinfer's INT8 pass (ONNX Runtime, OpenVINO QDQ); nncf: NNCF (OpenVINO "
        "quantizer=nncf)",
    )
    q.add_argument(
        "--max-layers", type=int, default=None, metavar="N", help="rank at most N layers"
    )
    q.add_argument("--top", type=int, default=20, metavar="N", help="table rows (default 20)")
    add_json_option(q, help="the ranking as JSON to FILE ('-': standard output)")
    q.set_defaults(func=run_precision)
    p.set_defaults(func=_usage(p))


def _usage(parser: argparse.ArgumentParser) -> Any:
    def run(args: argparse.Namespace) -> int:
        parser.print_help(stdout())
        return 2

    return run


def _config(args: argparse.Namespace) -> Any:
    from edgeinfer.config import CalibrationConfig

    for flag in ("samples", "top", "max_layers", "calib_samples"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ConfigError(f"--{flag.replace('_', '-')} must be a positive integer, got {value}")
    given: dict[str, Any] = {"data": args.calib}
    for flag, key in (
        ("calibrator", "method"),
        ("calib_samples", "samples"),
        ("percentile", "percentile"),
    ):
        if getattr(args, flag) is not None:
            given[key] = getattr(args, flag)
    if args.per_tensor:
        given["per_channel"] = False
    args.precision = "int8"
    return build_config_from_args(args, calibration=CalibrationConfig(**given))


def run_precision(args: argparse.Namespace) -> int:
    """Diagnose, print the ranking table and the fallback curve, optionally write JSON.

    Returns:
        The exit code: 0.
    """
    from edgeinfer.builder import resolve_model
    from edgeinfer.evaluate.layerwise import diagnose_precision

    config = _config(args)
    model = resolve_model(args.model, quiet=args.quiet).model
    report = diagnose_precision(
        model,
        config,
        samples=args.samples,
        quantizer=args.quantizer,
        max_layers=args.max_layers,
        quiet=args.quiet,
    )
    _print(report, args.top)
    if args.json:
        emit_json(args.json, {**report.to_dict(), "command": command_line(args)})
    return 0


def _print(report: Any, top: int) -> None:
    from rich.markup import escape
    from rich.table import Table

    con = stdout_console()
    agree = "" if report.agreement is None else f", top-1 agreement {100 * report.agreement:.1f}%"
    con.print(
        f"[bold]{escape(report.model)}[/]: INT8 output SQNR {report.output_sqnr_db:.1f} dB vs FP32"
        f"{agree} on {report.samples} held-out samples ({report.seconds:.0f} s)"
    )
    table = Table(title="layers by contribution to the INT8 output error")
    for col, just in (
        ("#", "right"),
        ("layer", "left"),
        ("op", "left"),
        ("SQNR dB", "right"),
        ("error removed in float", "right"),
        ("share", "right"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for x in report.layers[:top]:
        sqnr = "-" if x.sqnr_db is None else f"{x.sqnr_db:.1f}"
        table.add_row(
            str(x.rank),
            escape(x.name),
            x.op_type,
            sqnr,
            f"{100 * x.gain:.1f}%",
            f"{100 * x.share:.1f}%",
        )
    con.print(table)
    curve = Table(title="top layers in float together (FP32/BF16 fallback)")
    for col in ("layers in float", "output SQNR dB", "top-1 agreement"):
        curve.add_column(col, justify="right")
    for s in report.fallback:
        agree_s = "-" if s.agreement is None else f"{100 * s.agreement:.1f}%"
        curve.add_row(str(s.layers), f"{s.sqnr_db:.1f}", agree_s)
    con.print(curve)
    for note in report.notes:
        con.print(f"[yellow]note:[/] {escape(note)}")
