"""``edgeinfer bench MODEL_OR_ENGINE``: latency percentiles and throughput."""

from __future__ import annotations

import argparse
from typing import Any

from edgeinfer.cli.build import print_guardrail
from edgeinfer.cli.common import (
    MODEL_HELP,
    add_build_options,
    add_json_option,
    add_preprocess_option,
    build_config_from_args,
    command_line,
    emit_json,
    open_engine,
    parse_shapes,
    parse_size,
    preprocess_from_args,
)
from edgeinfer.cli.console import stdout_console
from edgeinfer.errors import ConfigError


def register(sub: Any) -> None:
    """Add the ``bench`` verb and its flags to the ``edgeinfer`` subcommand parsers."""
    p = sub.add_parser("bench", help="measure latency percentiles and throughput")
    p.add_argument("target", metavar="MODEL", help=MODEL_HELP + " (built on the fly, cached)")
    add_build_options(p)
    p.add_argument(
        "--batch",
        type=int,
        default=1,
        help="inputs per call (default 1); a fixed-batch ONNX model gets a dynamic batch where "
        "its graph allows (checked), a fixed-batch engine is refused",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--iterations", type=int, default=None, help="measured iterations (default 200)")
    g.add_argument(
        "--duration", type=float, default=None, metavar="S", help="measure for S seconds"
    )
    p.add_argument("--warmup", type=int, default=20, help="warm-up iterations (default 20)")
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="HZ",
        help="fixed-rate mode: requests every 1/HZ s, latency from scheduled arrival",
    )
    p.add_argument("--deadline-ms", type=float, default=None, help="count latencies over this")
    p.add_argument("--seed", type=int, default=0, help="seed for the random inputs")
    p.add_argument(
        "--shape",
        action="append",
        default=[],
        metavar="NAME:DxDxD",
        help="input shape for dynamic dims, e.g. x:1x3x640x640 (repeatable)",
    )
    p.add_argument(
        "--energy-s",
        type=float,
        default=2.0,
        metavar="S",
        help="measure energy per inference over S >= 1 seconds after the latency run (GPU "
        "engines, NVML; 0 = skip)",
    )
    add_json_option(p)
    p.add_argument("--samples", action="store_true", help="include every latency in the JSON")
    p.add_argument(
        "--no-guardrail", action="store_true", help="skip comparing a lower precision with FP32"
    )
    g = p.add_argument_group("pipeline (--pipeline): frame → preprocess → infer → postprocess")
    g.add_argument(
        "--pipeline",
        action="store_true",
        help="time the whole per-frame pipeline with real images, stage by stage",
    )
    g.add_argument("--data", default="photos:32", help="image source (default photos:32)")
    g.add_argument(
        "--image-size",
        default="640x480",
        metavar="WxH",
        help="camera resolution frames are resized to first (default 640x480)",
    )
    add_preprocess_option(
        g,
        help="how frames become the input tensor when the engine stores no spec: "
        "imagenet[:SIZE], a JSON file, inline JSON or KEY=VALUE,... (the syntax of every verb)",
    )
    g.add_argument("--top-k", type=int, default=5, help="classifier post-processing top-k")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Measure latency and throughput of an engine (built on the fly from ONNX) and print them.

    With ``--pipeline`` it times preprocessing, inference and postprocessing on real frames
    instead; lower-precision engines are also timed against their FP32 build (the guardrail).

    Returns:
        The exit code: 0.
    """
    from edgeinfer.bench.latency import BenchConfig, bench_runner
    from edgeinfer.builder import load_runner
    from edgeinfer.report.tables import latency_table

    cfg = BenchConfig(
        batch=args.batch,
        iterations=args.iterations,
        duration_s=args.duration,
        warmup=args.warmup,
        seed=args.seed,
        rate_hz=args.rate,
        deadline_ms=args.deadline_ms,
        shapes=parse_shapes(args.shape),
    )
    if args.energy_s != 0:
        from edgeinfer.bench.energy import check_window

        check_window(args.energy_s)
    engine = _engine(args)
    if args.pipeline:
        return _run_pipeline(engine, args)
    with load_runner(engine, threads=args.threads) as runner:
        result = bench_runner(runner, cfg, quiet=args.quiet)
        energy = _energy(runner, cfg, args.energy_s)
    result.command = command_line(args)
    stdout_console().print(latency_table(result))
    data = result.to_dict(include_samples=args.samples)
    if energy is not None:
        stdout_console().print(energy.describe())
        data["energy"] = energy.to_dict()
    if engine.manifest.precision != "fp32" and not args.no_guardrail:
        comparison = print_guardrail(engine, args)
        data["guardrail"] = None if comparison is None else comparison.to_dict()
    if args.json:
        emit_json(args.json, data)
    return 0


def _energy(runner: Any, cfg: Any, seconds: float) -> Any:
    """Energy per inference of the benchmark's feed (None with ``--energy-s 0``)."""
    from edgeinfer.bench.energy import runner_energy
    from edgeinfer.tensors import random_feed

    if seconds == 0:
        return None
    feed = random_feed(runner.input_specs, cfg.batch, cfg.seed, shapes=dict(cfg.shapes))
    return runner_energy(runner, feed, seconds=seconds)


def _engine(args: argparse.Namespace) -> Any:
    """The engine to bench; an ONNX file with a fixed batch other than ``--batch`` gets its
    batch made dynamic where the graph allows it (said on stderr), else a clear refusal.
    """
    from pathlib import Path

    from rich.console import Console

    from edgeinfer.bench.batching import with_batch
    from edgeinfer.builder import resolve_engine
    from edgeinfer.model import Model

    p = Path(args.target)
    if args.pipeline or p.is_dir() or p.suffix.lower() != ".onnx" or args.shape:
        return open_engine(args.target, args)
    model, note = with_batch(Model.load(p), args.batch)
    if note is None:
        return open_engine(args.target, args)
    Console(stderr=True, highlight=False).print(f"[yellow]note:[/] {note}")
    return resolve_engine(model, build_config_from_args(args))


def _run_pipeline(engine: Any, args: argparse.Namespace) -> int:
    from edgeinfer.bench.pipeline import PipelineConfig, bench_pipeline
    from edgeinfer.builder import load_runner
    from edgeinfer.data.specs import resolve_preprocess
    from edgeinfer.host import current_host
    from edgeinfer.report.tables import pipeline_table

    cfg = PipelineConfig(
        frames=args.iterations or 300,
        warmup=args.warmup,
        data=args.data,
        image_size=parse_size(args.image_size),
        top_k=args.top_k,
    )
    explicit = preprocess_from_args(args)
    spec, _ = resolve_preprocess(None, engine, override=explicit, allow_guess=False)
    if spec is None:
        raise ConfigError(
            f"'{args.target}' has no preprocessing spec; pass --preprocess (e.g. imagenet) "
            "or build from a model that carries one (zoo models do)"
        )
    with load_runner(engine, threads=args.threads) as runner:
        result = bench_pipeline(runner, spec, cfg)
    stdout_console().print(pipeline_table(result, engine))
    if args.json:
        data = {
            **result.to_dict(include_samples=args.samples),
            "command": command_line(args),
            "host": current_host().to_dict(),
            "engine": engine.describe(),
        }
        emit_json(args.json, data)
    return 0
