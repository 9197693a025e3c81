"""``edgeinfer build MODEL.onnx -o ENGINE_DIR``."""

from __future__ import annotations

import argparse
from typing import Any

from edgeinfer.cli.common import add_build_options, build_config_from_args


def register(sub: Any) -> None:
    p = sub.add_parser("build", help="build an engine directory from an ONNX model")
    p.add_argument("model", help="ONNX model file")
    p.add_argument("-o", "--output", required=True, help="engine directory to write")
    add_build_options(p)
    p.add_argument("--precision", default="fp32", help="fp32 | fp16 | bf16 | int8")
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p.add_argument("--no-cache", action="store_true", help="rebuild even when cached")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from edgeinfer.engine import build

    config = build_config_from_args(args)
    engine = build(args.model, config, args.output, cache=not args.no_cache, overwrite=args.force)
    con = Console()
    state = "cache hit" if engine.from_cache else f"built in {engine.manifest.build_seconds:.2f} s"
    con.print(
        f"[bold green]engine[/] {escape(str(engine.path))}  {escape(engine.describe())}  ({state})"
    )
    for note in engine.manifest.notes:
        con.print(f"[yellow]note:[/] {escape(note)}")
    return 0
