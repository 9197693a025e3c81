"""``edgeinfer build MODEL.onnx -o ENGINE_DIR [--precision ...] [--calib DATA ...]``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgeinfer.cli.common import (
    NameList,
    add_build_options,
    add_json_option,
    add_preprocess_option,
    build_config_from_args,
    command_line,
    emit_json,
    parse_input_shape,
    preprocess_from_args,
    with_preprocess,
)
from edgeinfer.cli.console import stdout_console
from edgeinfer.errors import ConfigError


def register(sub: Any) -> None:
    """Add the ``build`` verb and its flags to the ``edgeinfer`` subcommand parsers."""
    from edgeinfer.config import METHODS

    p = sub.add_parser("build", help="build an engine directory from an ONNX model")
    p.add_argument(
        "model",
        metavar="MODEL",
        help="ONNX model file, zoo model (NAME or zoo:NAME) or PyTorch source "
        "package.module:factory",
    )
    p.add_argument(
        "--input-shape",
        default=None,
        metavar="DxDxD",
        help="example input shape of a package.module:factory source, e.g. 1x3x224x224",
    )
    p.add_argument("-o", "--output", required=True, help="engine directory to write")
    add_build_options(p)
    p.add_argument("--precision", default="fp32", help="fp32 | fp16 | bf16 | int8 (default: fp32)")
    p.add_argument(
        "--exclude",
        action=NameList,
        default=[],
        metavar="NAME,...",
        help="node names or op types kept in FP32 when lowering precision (comma-separated, "
        "repeatable; default: none)",
    )
    g = p.add_argument_group("int8 calibration")
    g.add_argument(
        "--calib",
        default=None,
        metavar="DATA",
        help="calibration data: images:DIR, npz:FILE, photos[:N], fashion-mnist:train, …",
    )
    g.add_argument(
        "--calibrator",
        default=None,
        choices=METHODS,
        help="calibration method (default percentile)",
    )
    g.add_argument(
        "--calib-samples", type=int, default=None, metavar="N", help="samples (default 256)"
    )
    g.add_argument(
        "--percentile", type=float, default=None, help="percentile calibrator's value (99.99)"
    )
    g.add_argument(
        "--calib-cache", default=None, metavar="FILE", help="calibration cache file to reuse"
    )
    g.add_argument(
        "--symmetric-activations", action="store_true", help="symmetric activation ranges"
    )
    g.add_argument("--per-tensor", action="store_true", help="per-tensor (not per-channel) weights")
    add_preprocess_option(
        p,
        help="how images (calibration data, and later eval/compare/bench --pipeline/ros) become "
        "the input tensor; stored in the engine: imagenet[:SIZE], a JSON file, inline JSON or "
        "KEY=VALUE,... (e.g. size=224x224,resize=shorter,mean=0.5/0.5/0.5,std=0.5/0.5/0.5); "
        "default: the spec stored in the model",
    )
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p.add_argument("--no-cache", action="store_true", help="rebuild even when cached")
    p.add_argument(
        "--no-guardrail",
        action="store_true",
        help="skip measuring a lower-precision engine against FP32",
    )
    add_json_option(p)
    p.set_defaults(func=run)


_CALIB_FLAGS = (
    ("calib", "data"),
    ("calibrator", "method"),
    ("calib_samples", "samples"),
    ("percentile", "percentile"),
    ("calib_cache", "cache"),
)


def calibration_from_args(args: argparse.Namespace) -> Any:
    """The CalibrationConfig the flags ask for (None unless --precision int8).

    Raises:
        ConfigError: calibration flags with a precision that does not calibrate.
    """
    from edgeinfer.calibration import CalibrationConfig

    given = {key: getattr(args, flag) for flag, key in _CALIB_FLAGS if getattr(args, flag)}
    if args.symmetric_activations:
        given["symmetric_activations"] = True
    if args.per_tensor:
        given["per_channel"] = False
    if args.precision != "int8":
        if given:
            raise ConfigError(
                f"calibration flags ({', '.join(sorted(given))}) only apply to --precision int8; "
                "drop them or build int8"
            )
        return None
    return CalibrationConfig(**given)


def run(args: argparse.Namespace) -> int:
    """Build an engine directory from an ONNX model, print it and, below FP32, the guardrail.

    Returns:
        The exit code: 0.
    """
    from edgeinfer.backends import get_backend
    from edgeinfer.builder import build, resolve_model
    from edgeinfer.calibration import pin_data

    model = with_preprocess(
        resolve_model(args.model, input_shape=parse_input_shape(args.input_shape)).model,
        preprocess_from_args(args),
    )
    calib = calibration_from_args(args)
    exclude = tuple(args.exclude)

    def config_for(cal: Any) -> Any:
        return build_config_from_args(args, exclude=exclude, calibration=cal)

    config = config_for(calib)
    get_backend(config.backend).check_config(config)
    if calib is not None and not args.no_cache:  # changed data files: a different engine
        config = config_for(pin_data(model, calib, quiet=args.quiet))
    engine = build(
        model, config, args.output, cache=not args.no_cache, overwrite=args.force, quiet=args.quiet
    )
    if calib is not None and calib.cache and not Path(calib.cache).exists():
        # the engine came from the cache, so calibration did not run: write the asked-for file
        from edgeinfer.calibration import calibrate

        calibrate(model, calib, cache=calib.cache, quiet=args.quiet)
    comparison = None
    _print_engine(engine)
    if config.precision != "fp32" and not args.no_guardrail:
        comparison = print_guardrail(engine, args)
    if args.json:
        emit_json(
            args.json,
            {
                "engine": str(engine.path),
                "from_cache": engine.from_cache,
                "manifest": engine.manifest.to_dict(),
                "guardrail": None if comparison is None else comparison.to_dict(),
                "command": command_line(args),
            },
        )
    return 0


def _print_engine(engine: Any) -> None:
    from rich.markup import escape

    con = stdout_console()
    state = "cache hit" if engine.from_cache else f"built in {engine.manifest.build_seconds:.2f} s"
    con.print(
        f"[bold green]engine[/] {escape(str(engine.path))}  {escape(engine.describe())}  ({state})"
    )
    m = engine.manifest
    if m.precision != m.executed_precision:
        con.print(f"[yellow]precision:[/] requested {m.precision}, executes {m.executed_precision}")
    else:
        con.print(f"precision: {m.executed_precision}")
    spec = m.metadata.get("preprocess")
    if spec:
        from edgeinfer.data.specs import format_preprocess
        from edgeinfer.preprocess import PreprocessSpec

        con.print(f"preprocessing: {escape(format_preprocess(PreprocessSpec.from_dict(spec)))}")
    for note in m.notes:
        style = "bold red" if note.startswith("WARNING") else "yellow"
        con.print(f"[{style}]note:[/] {escape(note)}")


def print_guardrail(engine: Any, args: argparse.Namespace) -> Any:
    """Measure a lower-precision ``engine`` against its FP32 build and print the verdict
    (shared with ``bench``); returns the :class:`LatencyComparison` or None.
    """
    from rich.markup import escape

    from edgeinfer.bench.guardrail import guardrail

    con = stdout_console()
    comparison = guardrail(engine, threads=args.threads)
    if comparison is None:
        con.print(
            "[yellow]note:[/] guardrail skipped: the source ONNX file is not available "
            "(or an input has a symbolic size); compare with: edgeinfer bench"
        )
    elif comparison.faster:
        con.print(f"[green]guardrail:[/] {escape(comparison.message())}")
    else:
        con.print(f"[yellow]note:[/] {escape(comparison.message())}")
    return comparison
