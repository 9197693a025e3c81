"""Helpers shared by CLI verbs: resolving a model-or-engine argument, output, parsing."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from edgeinfer.cli.console import document_stdout
from edgeinfer.errors import ConfigError
from edgeinfer.fileio import atomic_write_json, json_safe


class NameList(argparse.Action):
    """A list flag that never takes the positional MODEL: one value per use, names separated
    by commas, repeatable (``--backends onnxruntime,openvino`` = ``--backends onnxruntime
    --backends openvino``).
    """

    def __call__(
        self, parser: Any, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        """Add the comma-separated names of ``values`` to the list."""
        have = list(getattr(namespace, self.dest, None) or [])
        have += [v.strip() for v in str(values).split(",") if v.strip()]
        setattr(namespace, self.dest, have)


def add_build_options(p: argparse.ArgumentParser) -> None:
    """Flags shared by every verb that may build an engine on the fly."""
    p.add_argument("--backend", default="onnxruntime", help="backend name (default: onnxruntime)")
    p.add_argument(
        "--threads", type=int, default=None, help="intra-op threads (default: backend's)"
    )
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="backend option, e.g. optimization_level=extended (repeatable)",
    )
    p.add_argument(
        "--device",
        default=None,
        help="device of backends that have one: cpu | cuda (torch; = --option device=...)",
    )
    p.add_argument(
        "--autotune",
        action="store_true",
        help="kernel auto-tuning at build time (torch; = --option autotune=true)",
    )
    p.add_argument(
        "--pass",
        dest="passes",
        action="append",
        default=[],
        metavar="NAME",
        help="graph pass to run before precision lowering, e.g. simplify (repeatable)",
    )


PREPROCESS_HELP = (
    "how images become the input tensor: imagenet[:SIZE], a JSON file, inline JSON or "
    "KEY=VALUE,... (e.g. size=224x224,resize=shorter,mean=0.5/0.5/0.5,std=0.5/0.5/0.5); "
    "default: the spec stored in the model (edgeinfer meta stores one)"
)


def add_preprocess_option(p: Any, *, help: str = PREPROCESS_HELP) -> None:
    """The one ``--preprocess SPEC`` flag of every verb that feeds images (same syntax
    everywhere: :func:`edgeinfer.data.specs.parse_preprocess`).
    """
    p.add_argument("--preprocess", default=None, metavar="SPEC", help=help)


def preprocess_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~edgeinfer.preprocess.PreprocessSpec` of ``--preprocess`` (None when not
    given).

    Raises:
        ConfigError: the text is not a valid spec.
    """
    from edgeinfer.data.specs import parse_preprocess

    text = getattr(args, "preprocess", None)
    return parse_preprocess(text) if text else None


def with_preprocess(model: Any, spec: Any) -> Any:
    """``model`` with ``spec`` stored in its metadata (None: ``model`` unchanged), after
    checking that the spec fits the model's input.

    Raises:
        ConfigError: the spec does not fit (the message says how).
    """
    if spec is None:
        return model
    from edgeinfer.data.specs import spec_problems

    problems = spec_problems(spec, model)
    if problems:
        raise ConfigError(
            f"--preprocess {'; '.join(problems)}; fix the spec's size, color or layout"
        )
    return model.with_meta(preprocess=spec.to_dict())


def parse_options(items: list[str]) -> dict[str, str | int | float | bool]:
    """``["KEY=VALUE", ...]`` -> ``{key: value}`` with values read as bool, int, float or text.

    Raises:
        ConfigError: an item without ``=`` or without a key.
    """
    out: dict[str, str | int | float | bool] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option '{item}' must be KEY=VALUE, e.g. optimization_level=all")
        out[key] = _coerce(raw)
    return out


def parse_shapes(items: list[str]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """``["x:1x3x640x640"]`` -> ``(("x", (1, 3, 640, 640)),)``."""
    out = []
    for item in items:
        name, sep, dims = item.rpartition(":")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            shape = ()
        if not sep or not name or not shape or min(shape) < 1:
            raise ConfigError(f"--shape '{item}' must be NAME:DxDx..., e.g. x:1x3x640x640")
        out.append((name, shape))
    return tuple(out)


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` (width x height) -> ``(480, 640)`` (height, width)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"size '{text}' must be WIDTHxHEIGHT, e.g. 640x480") from None
    if w < 1 or h < 1:
        raise ConfigError(f"size '{text}' must be WIDTHxHEIGHT, e.g. 640x480")
    return (h, w)


def _coerce(raw: str) -> str | int | float | bool:
    low = raw.lower()
    if low in {"true", "false"}:
        return low == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def build_config_from_args(args: argparse.Namespace, **extra: Any) -> Any:
    """The :class:`~edgeinfer.config.BuildConfig` of the build flags in ``args`` and ``extra``."""
    # Library imports here are lazy: every verb imports this module while the parser is built.
    from edgeinfer.config import BuildConfig

    options = parse_options(args.option)
    if getattr(args, "device", None):
        options["device"] = args.device
    if getattr(args, "autotune", False):
        options["autotune"] = True
    return BuildConfig(
        backend=args.backend,
        precision=getattr(args, "precision", "fp32") or "fp32",
        threads=args.threads,
        options=tuple(options.items()),
        passes=tuple(getattr(args, "passes", ())),
        **extra,
    )


MODEL_HELP = "ONNX file, engine directory or zoo model (NAME or zoo:NAME; see edgeinfer zoo list)"


def load_model_arg(target: str | Path) -> Any:
    """The :class:`~edgeinfer.model.Model` of a MODEL argument: an ONNX file or a zoo name
    (``NAME`` or ``zoo:NAME``), through :func:`edgeinfer.builder.resolve_model`.

    Raises:
        ModelError: neither (the message lists the zoo names).
    """
    from edgeinfer.builder import resolve_model

    return resolve_model(str(target)).model


def open_engine(target: str, args: argparse.Namespace) -> Any:
    """An engine from an engine directory, or built on the fly (cached) from an ONNX file or a
    zoo model with the build flags of ``args``.
    """
    from edgeinfer.builder import resolve_engine

    p = Path(target)
    if p.is_dir():
        return resolve_engine(p)
    return resolve_engine(load_model_arg(target), build_config_from_args(args))


JSON_HELP = "write the result as JSON to FILE ('-': standard output)"


def parse_input_shape(text: str | None) -> tuple[int, ...] | None:
    """``--input-shape``: ``"1x3x224x224"`` -> ``(1, 3, 224, 224)``; None stays None.

    Raises:
        ConfigError: not positive integers joined by ``x``.
    """
    if text is None:
        return None
    try:
        shape = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise ConfigError(
            f"--input-shape '{text}' must be positive sizes joined by x, e.g. 1x3x224x224"
        )
    return shape


def add_json_option(p: Any, *, help: str = JSON_HELP) -> None:
    """The one ``--json FILE`` flag of every verb (``-`` is standard output)."""
    p.add_argument("--json", default=None, metavar="FILE", help=help)


def emit_json(target: str, data: Any) -> None:
    """Write ``data`` as JSON to ``target``: standard output for ``-``, else the file,
    atomically (its directory must exist), saying so on stderr.
    """
    if target == "-":
        print(dumps(data), file=document_stdout())
        return
    from rich.console import Console

    write_json(target, data)
    Console(stderr=True, highlight=False).print(f"wrote {target}")


EXIT_CODES = {
    0: "success",
    2: "bad input or a failure with a fix (one line on stderr)",
    70: "a bug in edgeinfer (rerun with --debug and report it)",
    130: "interrupted (Ctrl-C)",
}


def write_json(path: str | Path, data: dict[str, Any]) -> None:
    """Write ``data`` as valid JSON to ``path`` atomically (its directory must exist)."""
    atomic_write_json(path, data, make_parents=False)


def command_line(args: argparse.Namespace) -> str:
    """The command line that ran (``args.argv``), quoted for a shell."""
    return shlex.join(getattr(args, "argv", ["edgeinfer"]))


def dumps(data: Any) -> str:
    """``data`` as indented, valid JSON text (NaN/Inf as null)."""
    return json.dumps(json_safe(data), indent=2, allow_nan=False)


# -- numeric flags: one table, checked once after parsing (cli.main) ---------------------------
_HUGE = 1e9
# dest -> (minimum, maximum, minimum exclusive?): every verb's flag of that name obeys it;
# every other float flag must at least be finite (the verbs check fractions and budgets
# with their own messages). "threads" is bounded by the machine.
NUMERIC_LIMITS: dict[str, tuple[float, float, bool]] = {
    "batch": (1, 65536, False),
    "calib_samples": (1, 1_000_000, False),
    "iterations": (1, 100_000_000, False),
    "warmup": (0, 10_000_000, False),
    "duration": (0, 7 * 86400, True),
    "rate": (0, 100_000, True),
    "deadline_ms": (0, 3_600_000, True),
    "latency_budget_ms": (0, 3_600_000, True),
    "max_memory_mb": (0, 16_777_216, True),
    "seed": (0, 2**32 - 1, False),
    "top_k": (1, 100_000, False),
    "limit": (1, _HUGE, False),
    "eval_limit": (1, _HUGE, False),
    "percentile": (0, 100, True),
    "atol": (0, _HUGE, False),
    "rtol": (0, _HUGE, False),
    "confidence": (0, 1, False),
    "dense_threshold": (0, 1, False),
    "score_threshold": (0, 1, False),
    "finalists": (1, 1000, False),
    "mixed_units": (0, 100_000, False),
    "queue_depth": (1, 100_000, False),
}


# Verbs whose numbers are validated where they are parsed: `ros` checks its flags together
# with the same parameters from ROS params files (edgeinfer.ros.params), with its messages.
SELF_CHECKED_VERBS = frozenset({"ros"})


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def check_numbers(args: argparse.Namespace) -> None:
    """Refuse NaN, Inf, negative or absurd values in the numeric flags of ``args``.

    Raises:
        ConfigError: naming the flag, the value and the allowed range.
    """
    import math

    from edgeinfer.tensors import check_threads

    if getattr(args, "command", None) in SELF_CHECKED_VERBS:
        return
    for dest, value in vars(args).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if dest == "threads":
            check_threads(value, "--threads")
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{_flag(dest)} must be a finite number, got {value}")
        limits = NUMERIC_LIMITS.get(dest)
        if limits is None:
            continue
        low, high, exclusive = limits
        if value < low or (exclusive and value == low):
            lowest = f"> {_num(low)}" if exclusive else f">= {_num(low)}"
            raise ConfigError(f"{_flag(dest)} must be {lowest}, got {_num(value)}")
        if value > high:
            raise ConfigError(f"{_flag(dest)} must be <= {_num(high)}, got {_num(value)}")


def check_json_target(args: argparse.Namespace) -> None:
    """Refuse ``--json FILE`` whose directory does not exist, before any work is done
    (edgeinfer creates no directories the user did not name).

    Raises:
        ConfigError: the directory is missing, or FILE is a directory.
    """
    target = getattr(args, "json", None)
    if not isinstance(target, str) or target == "-":
        return
    path = Path(target)
    if path.is_dir():
        raise ConfigError(
            f"--json '{target}' is a directory; give a file name, e.g. {target}/result.json"
        )
    if not path.parent.is_dir():
        raise ConfigError(
            f"--json '{target}': directory '{path.parent}' does not exist; create it first"
        )
