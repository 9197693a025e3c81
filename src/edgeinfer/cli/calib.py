"""``edgeinfer calib inspect FILE``: show a calibration cache (key and per-tensor ranges)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from edgeinfer.cli.common import dumps
from edgeinfer.cli.console import echo, stdout, stdout_console


def register(sub: Any) -> None:
    """Add the ``calib`` verb and its ``inspect`` action to the subcommand parsers."""
    p = sub.add_parser("calib", help="inspect INT8 calibration caches")
    verbs = p.add_subparsers(dest="calib_command", metavar="ACTION")
    inspect = verbs.add_parser("inspect", help="print a calibration cache's key and ranges")
    inspect.add_argument("file", help="calibration cache JSON (written by build --calib-cache)")
    inspect.add_argument("--json", action="store_true", help="print the file's JSON")
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
    """Print a calibration cache's key and per-tensor ranges (or its JSON with ``--json``).

    Returns:
        The exit code: 0.
    """
    from rich.markup import escape
    from rich.table import Table

    from edgeinfer.calibration import CalibrationTable

    table = CalibrationTable.load(args.file)
    con = stdout_console()
    if args.json:
        echo(dumps(table.to_dict()))
        return 0
    key = table.key
    head = Table(title=escape(f"calibration cache {args.file}"), show_header=False)
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
    for name, (lo, hi) in items[: args.limit] if args.limit else items:
        ranges.add_row(escape(name), f"{lo:.6g}", f"{hi:.6g}", key.method)
    con.print(ranges)
    return 0


def _spec(pre: Mapping[str, Any]) -> str:
    size = pre.get("size")
    dims = f"{size[0]}x{size[1]}" if size else "original size"
    return (
        f"{dims} {pre.get('resize')} {pre.get('color')} {pre.get('layout')} "
        f"mean={pre.get('mean')} std={pre.get('std')} scale={pre.get('scale'):.6g}"
    )
