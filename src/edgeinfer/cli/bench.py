"""``edgeinfer bench MODEL_OR_ENGINE``: latency percentiles and throughput."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgeinfer.cli.build import print_guardrail
from edgeinfer.cli.common import (
    MODEL_HELP,
    NUMERIC_LIMITS,
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
        default="1",
        metavar="B[,B...]",
        help="inputs per call, or a list for a sweep, e.g. 1,2,4,8 (default 1); a fixed-batch "
        "ONNX model gets a dynamic batch where its graph allows (checked), a fixed-batch "
        "engine is refused",
    )
    p.add_argument(
        "--concurrency",
        default="1",
        metavar="C[,C...]",
        help="runners running at once, one per thread, or a list for a sweep (default 1)",
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
        "--stress-cores",
        type=int,
        default=0,
        metavar="N",
        help="keep N cores busy in other processes while measuring (contention)",
    )
    p.add_argument(
        "--energy",
        action="store_true",
        help="read the CPU's energy counters (RAPL; root) over the run: joules per inference",
    )
    p.add_argument(
        "--plot", default=None, metavar="FILE.png", help="sweep: write the latency/throughput plot"
    )
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


def parse_values(flag: str, text: str) -> tuple[int, ...]:
    """``"1,2,4"`` -> ``(1, 2, 4)`` (sorted, unique).

    Raises:
        ConfigError: not a comma-separated list of positive integers.
    """
    try:
        values = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        values = ()
    if not values:
        raise ConfigError(f"{flag} must be positive integers separated by commas, got '{text}'")
    high = NUMERIC_LIMITS.get(flag.lstrip("-"), (1, 4096, False))[1]
    if values[0] < 1:
        raise ConfigError(f"{flag} must be >= 1, got {values[0]}")
    if values[-1] > high:
        raise ConfigError(f"{flag} must be <= {high:g}, got {values[-1]}")
    return values


def run(args: argparse.Namespace) -> int:
    """Measure latency and throughput of an engine (built on the fly from ONNX) and print them.

    With several ``--batch`` or ``--concurrency`` values it sweeps them; with ``--pipeline``
    it times preprocessing, inference and postprocessing on real frames instead;
    lower-precision engines are also timed against their FP32 build (the guardrail). Every
    run says whether the machine disturbed it.

    Returns:
        The exit code: 0.
    """
    from edgeinfer.bench.latency import BenchConfig
    from edgeinfer.bench.memory import MemoryProbe

    batches = parse_values("--batch", args.batch)
    concurrencies = parse_values("--concurrency", args.concurrency)
    cfg = BenchConfig(
        batch=batches[0],
        iterations=args.iterations,
        duration_s=args.duration,
        warmup=args.warmup,
        seed=args.seed,
        rate_hz=args.rate,
        deadline_ms=args.deadline_ms,
        shapes=parse_shapes(args.shape),
        stress_cores=args.stress_cores,
        energy=args.energy,
    )
    sweeping = len(batches) > 1 or len(concurrencies) > 1 or concurrencies[0] > 1
    _check_modes(args, sweeping)
    if args.energy_s != 0:
        from edgeinfer.bench.energy import check_window

        check_window(args.energy_s)
    with MemoryProbe() as build_probe:
        engine = _engine(args, max(batches))
    built = None if engine.from_cache or Path(args.target).is_dir() else build_probe.usage
    if args.pipeline:
        return _run_pipeline(engine, args)
    if sweeping:
        return _run_sweep(engine, args, batches, concurrencies)
    return _run_single(engine, args, cfg, built)


def _check_modes(args: argparse.Namespace, sweeping: bool) -> None:
    """Refuse flags that do not apply to the mode the other flags select."""
    if args.pipeline and (sweeping or args.stress_cores or args.energy):
        raise ConfigError(
            "--pipeline times one runner stage by stage; drop --stress-cores, --energy and "
            "the --batch/--concurrency lists"
        )
    if sweeping and (args.rate is not None or args.iterations is not None or args.energy):
        raise ConfigError(
            "a sweep runs closed loop for --duration seconds per point; drop --rate, "
            "--iterations and --energy, or give one --batch and --concurrency"
        )
    if args.plot and not sweeping:
        raise ConfigError(
            "--plot draws a sweep; give several --batch or --concurrency values, e.g. "
            "--batch 1,2,4,8 --concurrency 1,2"
        )


def _run_single(engine: Any, args: argparse.Namespace, cfg: Any, built: Any) -> int:
    from rich.markup import escape

    from edgeinfer.bench.latency import bench_runner
    from edgeinfer.bench.memory import MemoryProbe, RunMemory, rss_mb
    from edgeinfer.builder import load_runner
    from edgeinfer.report.tables import latency_table

    with MemoryProbe() as probe, load_runner(engine, threads=args.threads) as runner:
        loaded = rss_mb()
        result = bench_runner(runner, cfg, quiet=args.quiet, observe=True)
        gpu_energy = _energy(runner, cfg, args.energy_s)
    assert probe.usage is not None
    memory = RunMemory(engine.size_bytes(), probe.usage, loaded, built)
    result.memory = memory.to_dict()
    result.command = command_line(args)
    con = stdout_console()
    con.print(latency_table(result))
    con.print(escape(memory.describe()))
    if result.energy is not None:
        con.print(escape(result.energy.describe()))
    _print_stability(result.stability)
    data = result.to_dict(include_samples=args.samples)
    if gpu_energy is not None and (gpu_energy.available or result.energy is None):
        con.print(escape(gpu_energy.describe()))  # NVML; the CPU's RAPL reading is --energy's
        data["energy" if result.energy is None else "gpu_energy"] = gpu_energy.to_dict()
    if engine.manifest.precision != "fp32" and not args.no_guardrail:
        comparison = print_guardrail(engine, args)
        data["guardrail"] = None if comparison is None else comparison.to_dict()
    if args.json:
        emit_json(args.json, data)
    return 0


def _print_stability(stability: Any, what: str = "these numbers") -> None:
    from rich.markup import escape

    con = stdout_console()
    if stability is None:
        return
    if not stability.stable:
        con.print(f"[bold yellow]warning:[/] {escape(stability.warning(what))}")
    for note in stability.notes:
        con.print(f"[dim]note: {escape(note)}[/]")


def _run_sweep(
    engine: Any, args: argparse.Namespace, batches: tuple[int, ...], conc: tuple[int, ...]
) -> int:
    import datetime

    from rich.console import Console
    from rich.markup import escape

    from edgeinfer.bench.sweep import sweep
    from edgeinfer.host import current_host
    from edgeinfer.report.bench import sweep_table

    result = sweep(
        engine,
        batches,
        conc,
        seconds_per_point=args.duration or 2.0,
        warmup=args.warmup,
        threads=args.threads,
        stress_cores=args.stress_cores,
        seed=args.seed,
        quiet=args.quiet,
    )
    stdout_console().print(sweep_table(result, engine))
    _print_stability(result.stability, "the sweep's numbers")
    err = Console(stderr=True)
    if args.plot:
        from edgeinfer.fileio import atomic_write_bytes
        from edgeinfer.report.perf_plots import sweep_png

        atomic_write_bytes(args.plot, sweep_png(result))
        err.print(f"wrote {escape(args.plot)}")
    if args.json:
        data = {
            **result.to_dict(),
            "engine": engine.describe(),
            "host": current_host().to_dict(),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "command": command_line(args),
        }
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


def _engine(args: argparse.Namespace, batch: int) -> Any:
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
    model, note = with_batch(Model.load(p), batch)
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
