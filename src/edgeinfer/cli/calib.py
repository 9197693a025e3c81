"""``edgeinfer calib inspect FILE``: show a calibration cache (key and per-tensor ranges)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from edgeinfer.cli.common import add_json_option, emit_json
from edgeinfer.cli.console import stdout, stdout_console


def register(sub: Any) -> None:
    """Add the ``calib`` verb and its ``inspect`` action to the subcommand parsers."""
    p = sub.add_parser("calib", help="inspect INT8 calibration caches")
    verbs = p.add_subparsers(dest="calib_command", metavar="ACTION")
    inspect = verbs.add_parser("inspect", help="print a calibration cache's key and ranges")
    inspect.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="calibration cache JSON files (written by build --calib-cache, or in the cache)",
    )
    add_json_option(inspect, help="the caches as JSON to FILE ('-': standard output)")
    inspect.add_argument(
        "--limit", type=int, default=None, metavar="N", help="show the first N tensors only"
    )
    inspect.set_defaults(func=run_inspect)
    p.set_defaults(func=_usage(p))


def _usage(parser: argparse.ArgumentParser) -> Any:
    def run(args: argparse.Namespace) -> int:
        parser.print_help(stdout())
        return 2

    return run


def run_inspect(args: argparse.Namespace) -> int:
    """Print each calibration cache's key and per-tensor ranges (``--json FILE``: them all as
    one JSON object, file name -> cache).

    Returns:
        The exit code: 0.
    """
    from edgeinfer.calibration import CalibrationTable

    tables = [(name, CalibrationTable.load(name)) for name in args.files]
    if args.json:
        emit_json(args.json, {name: table.to_dict() for name, table in tables})
    for name, table in tables:
        _print_table(name, table, args.limit)
    return 0


def _print_table(name: str, table: Any, limit: int | None) -> None:
    from rich.markup import escape
    from rich.table import Table

    con = stdout_console()
    key = table.key
    head = Table(title=escape(f"calibration cache {name}"), show_header=False)
    head.add_column("field")
    head.add_column("value")
    head.add_row("model", escape(f"{table.model_name} ({key.model_hash[:16]}…)"))
    head.add_row("method", escape(key.method))
    head.add_row("params", escape(", ".join(f"{k}={v}" for k, v in sorted(key.params.items()))))
    head.add_row("data fingerprint", key.data_fingerprint[:16] + "…")
    pre = key.preprocess
    head.add_row("preprocess", escape("none (tensor data)" if pre is None else _spec(pre)))
    head.add_row("samples", str(table.samples))
    head.add_row("created", f"{table.created} ({table.seconds:.1f} s)")
    head.add_row("key digest", key.digest()[:32])
    con.print(head)
    ranges = Table(title=f"{len(table)} tensor ranges")
    for col in ("tensor", "min", "max", "method"):
        ranges.add_column(col, justify="right" if col in ("min", "max") else "left")
    items = sorted(table.ranges.items())
    for tensor, (lo, hi) in items[:limit] if limit else items:
        ranges.add_row(escape(tensor), f"{lo:.6g}", f"{hi:.6g}", key.method)
    con.print(ranges)


def _spec(pre: Mapping[str, Any]) -> str:
    size = pre.get("size")
    dims = f"{size[0]}x{size[1]}" if size else "original size"
    return (
        f"{dims} {pre.get('resize')} {pre.get('color')} {pre.get('layout')} "
        f"mean={pre.get('mean')} std={pre.get('std')} scale={pre.get('scale'):.6g}"
    )
