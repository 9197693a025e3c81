"""``edgeinfer zoo list`` / ``edgeinfer zoo get NAME -o DIR``: real models from packages."""

from __future__ import annotations

import argparse
from typing import Any

from edgeinfer.cli.common import add_json_option, emit_json
from edgeinfer.cli.console import stdout, stdout_console


def register(sub: Any) -> None:
    """Add the ``zoo`` verb and its ``list`` and ``get`` actions to the subcommand parsers."""
    p = sub.add_parser("zoo", help="list and fetch real models (the model zoo)")
    zsub = p.add_subparsers(dest="zoo_command", metavar="ZOO_COMMAND")
    lp = zsub.add_parser("list", help="show the zoo's models, provenance and availability")
    add_json_option(lp, help="the list as JSON to FILE ('-': standard output)")
    lp.set_defaults(func=run_list)
    gp = zsub.add_parser("get", help="write a zoo model to DIR/model.onnx + DIR/zoo.json")
    gp.add_argument("name", help="zoo model name (see: edgeinfer zoo list)")
    gp.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    gp.add_argument("--force", action="store_true", help="replace an existing DIR")
    add_json_option(gp, help="zoo.json to FILE ('-': standard output) besides the summary")
    gp.set_defaults(func=run_get)
    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(stdout())
    return 2


def _rows() -> list[dict[str, Any]]:
    from edgeinfer import zoo

    rows = []
    for name in zoo.list_models():
        entry = zoo.get_entry(name)
        rows.append({**entry.to_dict(), "availability": zoo.availability(name).to_dict()})
    return rows


def _params(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.2f} M" if n >= 1e5 else f"{n / 1e3:.1f} k"


def _shape(dims: list[Any]) -> str:
    """``[batch, 3, height, width]`` -> ``Nx3xHxW``."""
    short = {"batch": "N", "height": "H", "width": "W"}
    return "x".join(short.get(d, str(d)) if isinstance(d, str) else str(d) for d in dims)


def run_list(args: argparse.Namespace) -> int:
    """Print the zoo's models with provenance and availability (or JSON with ``--json``).

    Returns:
        The exit code: 0.
    """
    from rich.markup import escape
    from rich.table import Table

    rows = _rows()
    if args.json:
        emit_json(args.json, rows)
        return 0
    table = Table(title="edgeinfer model zoo")
    for col in ("name", "task", "input", "params", "weights", "licence", "source", "status"):
        no_wrap = col in ("name", "input", "params")
        table.add_column(col, overflow="fold", no_wrap=no_wrap)
    for r in rows:
        avail = r["availability"]
        weights = "[bold red]random: LATENCY ONLY[/]" if r["latency_only"] else "real"
        status = {"ready": "[green]ready[/]", "missing": "[red]missing[/]"}.get(
            avail["state"], "on first get"
        )
        if avail["state"] == "missing":
            status += f"\n{escape(avail['detail'])}"
        table.add_row(
            r["name"],
            r["task"],
            _shape(r["input_shape"]),
            _params(avail["params"]),
            weights,
            escape(r["licence"]),
            escape(r["source"]),
            status,
        )
    console = stdout_console()
    if not console.is_terminal:  # logs and pipes: do not squeeze the table into 80 columns
        console = stdout_console(width=160)
    console.print(table)
    return 0


def run_get(args: argparse.Namespace) -> int:
    """Write a zoo model to ``DIR/model.onnx`` and ``DIR/zoo.json`` and print what it is.

    Returns:
        The exit code: 0.
    """
    import json

    from rich.markup import escape

    from edgeinfer.zoo import save_model
    from edgeinfer.zoo.registry import INFO_FILE, MODEL_FILE

    out = save_model(args.name, args.output, force=args.force, quiet=args.quiet)
    info = json.loads((out / INFO_FILE).read_text())
    if args.json:
        emit_json(args.json, info)
    console = stdout_console()
    prov, model = info["provenance"], info["model"]
    ins = ", ".join(
        f"{s['name']}: {s['dtype']}[{','.join(map(str, s['shape']))}]" for s in model["inputs"]
    )
    console.print(f"[bold]{escape(info['name'])}[/] -> {escape(str(out / MODEL_FILE))}")
    console.print(f"  task: {info['task']}   input: {escape(ins)}")
    console.print(f"  licence: {escape(prov['licence'])}")
    console.print(f"  source: {escape(prov['source'])}")
    console.print(f"  made by: {escape(prov['how'])}")
    if "test_accuracy" in prov:
        acc = prov["test_accuracy"]
        console.print(f"  test top-1: {acc['top1']:.4f} ({acc['correct']}/{acc['n']} images)")
    if info["latency_only"]:
        console.print("  [bold red]LATENCY ONLY[/]: random weights; its predictions mean nothing")
    console.print(f"  sha256: {model['sha256']}   info: {escape(str(out / INFO_FILE))}")
    return 0
