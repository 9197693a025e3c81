"""``edgeinfer profile ENGINE``: where the time goes, layer by layer, in which precision."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgeinfer.cli.common import (
    add_build_options,
    add_json_option,
    build_config_from_args,
    command_line,
    emit_json,
    parse_shapes,
)
from edgeinfer.cli.console import stdout_console
from edgeinfer.errors import ConfigError


def register(sub: Any) -> None:
    """Add the ``profile`` verb and its flags to the ``edgeinfer`` subcommand parsers."""
    p = sub.add_parser(
        "profile",
        help="per-layer times from the backend's own profiler, with each layer's precision",
        description="Profile an engine layer by layer with its backend's profiler (ONNX "
        "Runtime's profiling JSON, OpenVINO's performance counters, the PyTorch profiler) in "
        "a separate profiling session, alternating with end-to-end timing of the engine "
        "itself: the slowest layers with their share, executed precision, kernel and ONNX "
        "nodes; time by operator type and by precision; how much of the end-to-end latency "
        "the layers explain.",
    )
    p.add_argument(
        "target", help="engine directory, ONNX model or zoo name (built on the fly, cached)"
    )
    add_build_options(p)
    p.add_argument(
        "--precision",
        default="fp32",
        help="precision when building from a model: fp32 | fp16 | bf16 (INT8 needs "
        "calibration: build it with edgeinfer build, then profile the engine)",
    )
    p.add_argument(
        "--iterations", type=int, default=60, help="profiled inferences in total (default 60)"
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="alternations of end-to-end timing and profiling (default 4)",
    )
    p.add_argument("--warmup", type=int, default=10, help="warm-up inferences (default 10)")
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument(
        "--shape",
        action="append",
        default=[],
        metavar="NAME:DxDxD",
        help="input shape for dynamic dims, e.g. x:1x3x640x640 (repeatable)",
    )
    p.add_argument("--top", type=int, default=15, help="layers in the table (default 15)")
    add_json_option(p, help="write every layer as JSON to FILE ('-': standard output)")
    p.add_argument("--trace", default=None, metavar="FILE", help="write a Chrome-trace JSON")
    p.add_argument("--html", default=None, metavar="FILE", help="write an HTML page")
    p.set_defaults(func=run)


def _engine_and_source(args: argparse.Namespace) -> tuple[Any, Any]:
    """The engine to profile and the ONNX graph it came from (None when unknown)."""
    from edgeinfer.builder import build, load_engine, resolve_model
    from edgeinfer.engine import MANIFEST_NAME
    from edgeinfer.profile import source_graph

    path = Path(args.target)
    if path.is_dir() and (path / MANIFEST_NAME).exists():
        engine = load_engine(path)
        return engine, source_graph(engine)
    if args.precision == "int8":
        raise ConfigError(
            "profile builds fp32, fp16 or bf16 engines from a model; for INT8 build with "
            "calibration first (edgeinfer build MODEL --precision int8 --calib DATA -o ENGINE) "
            "and profile the engine directory"
        )
    resolved = resolve_model(args.target, quiet=args.quiet)
    engine = build(resolved.model, build_config_from_args(args), quiet=args.quiet)
    return engine, source_graph(engine, resolved.model)


def run(args: argparse.Namespace) -> int:
    """Profile an engine and print the slowest layers, time by op type and by precision.

    Returns:
        The exit code: 0.
    """
    from rich.console import Console
    from rich.markup import escape

    from edgeinfer.builder import load_runner
    from edgeinfer.profile import ProfileConfig, profile_runner, write_trace
    from edgeinfer.report.profile import profile_tables

    if args.top < 1:
        raise ConfigError(f"--top must be >= 1, got {args.top}")
    cfg = ProfileConfig(
        iterations=args.iterations,
        rounds=args.rounds,
        warmup=args.warmup,
        batch=args.batch,
        seed=args.seed,
        shapes=parse_shapes(args.shape),
    )
    engine, source = _engine_and_source(args)
    with load_runner(engine, threads=args.threads) as runner:
        result = profile_runner(runner, cfg, source=source, quiet=args.quiet)
    result.command = command_line(args)
    con = stdout_console()
    for table in profile_tables(result, top=args.top, width=con.width):
        con.print(table)
    if not result.stability.stable:
        con.print(f"[bold yellow]warning:[/] {escape(result.stability.warning())}")
    err = Console(stderr=True)
    if args.json:
        emit_json(args.json, result.to_dict())
    if args.trace:
        write_trace(result.profile, args.trace, engine.describe())
        err.print(f"wrote {escape(args.trace)} (open in chrome://tracing or ui.perfetto.dev)")
    if args.html:
        _write_html(result, args.html, args.top)
        err.print(f"wrote {escape(args.html)}")
    return 0


def _write_html(result: Any, path: str, top: int) -> None:
    from edgeinfer.report.html import page
    from edgeinfer.report.profile import profile_html

    title = f"edgeinfer profile — {result.engine.get('name')}"
    page(path, title, profile_html(result, top=top), result.host, result.command)
