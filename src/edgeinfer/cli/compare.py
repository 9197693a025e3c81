"""``edgeinfer compare CANDIDATE REFERENCE``: numerical fidelity, pass/fail (exit 1 on fail)."""

from __future__ import annotations

import argparse
from typing import Any

from edgeinfer.cli.common import (
    MODEL_HELP,
    NameList,
    add_build_options,
    add_json_option,
    command_line,
    emit_json,
    open_engine,
    preprocess_from_args,
)
from edgeinfer.cli.console import echo, stdout_console
from edgeinfer.cli.eval import add_data_options, dataset_from_args
from edgeinfer.errors import ConfigError

EXIT_FAILED = 1

_THRESHOLDS = (
    (
        "--min-agreement",
        "min_agreement",
        "minimum top-1 agreement of classifier outputs (fraction, e.g. 0.99)",
    ),
    ("--min-cosine", "min_cosine", "minimum cosine similarity of every output"),
    ("--min-snr-db", "min_snr_db", "minimum SNR in dB of every output"),
    ("--min-iou", "min_iou", "minimum IoU of thresholded dense maps (fraction)"),
    (
        "--min-confident-agreement",
        "min_confident_agreement",
        "minimum top-1 agreement where the reference is confident (fraction)",
    ),
    (
        "--min-top5-containment",
        "min_top5_containment",
        "minimum fraction of inputs whose reference top-1 is in the candidate's top-5",
    ),
    ("--max-kl", "max_kl", "maximum mean KL(reference || candidate) of class distributions"),
)


def register(sub: Any) -> None:
    """Add the ``compare`` verb and its flags to the ``edgeinfer`` subcommand parsers."""
    p = sub.add_parser(
        "compare",
        help="numerical fidelity of a candidate engine against a reference (exit 1 on fail)",
        description="Run both on the same inputs (a dataset, or seeded random inputs) and compare "
        "every output. Element-wise check |cand-ref| <= atol + rtol*|ref| (default atol 1e-4, "
        "rtol 1e-3; off when only other thresholds are given). NaN/Inf always fails. "
        "Exit codes: 0 pass, 1 fail, 2 usage error.",
    )
    p.add_argument("candidate", help="candidate: " + MODEL_HELP)
    p.add_argument("reference", help="reference: " + MODEL_HELP)
    add_data_options(p, required=False)
    add_build_options(p)
    p.add_argument(
        "--batch",
        type=int,
        default=16,
        help="batch size (default 16; fixed-batch engines use theirs)",
    )
    p.add_argument(
        "--shape",
        action="append",
        default=[],
        metavar="NAME:DIMS",
        help="shape of random inputs with symbolic dims, e.g. x:1x3x640x640 (repeatable)",
    )
    p.add_argument("--atol", type=float, default=None, help="absolute tolerance (default 1e-4)")
    p.add_argument("--rtol", type=float, default=None, help="relative tolerance (default 1e-3)")
    for flag, _, text in _THRESHOLDS:
        p.add_argument(flag, type=float, default=None, help=text)
    p.add_argument(
        "--confidence",
        type=float,
        default=0.5,
        help="reference top-1 probability that counts as confident (0.5)",
    )
    p.add_argument(
        "--dense-threshold",
        type=float,
        default=0.3,
        help="threshold of dense maps for the IoU (0.3)",
    )
    p.add_argument(
        "--outputs",
        action=NameList,
        default=None,
        metavar="NAME,...",
        help="compare only these outputs, comma-separated (default: every output, each judged "
        "on its own)",
    )
    add_json_option(p)
    p.set_defaults(func=run)


def tolerances_from_args(args: argparse.Namespace) -> Any:
    """Tolerances from flags; the element-wise check defaults on unless only other
    thresholds were given.
    """
    from edgeinfer.evaluate.fidelity import Tolerances

    others = {dest: getattr(args, dest) for _, dest, _ in _THRESHOLDS}
    atol, rtol = args.atol, args.rtol
    if atol is None and rtol is None:
        if not any(v is not None for v in others.values()):
            atol, rtol = Tolerances.atol, Tolerances.rtol
    else:
        atol = Tolerances.atol if atol is None else atol
        rtol = Tolerances.rtol if rtol is None else rtol
    return Tolerances(
        atol=atol,
        rtol=rtol,
        confidence=args.confidence,
        dense_threshold=args.dense_threshold,
        **others,
    )


def parse_shapes(items: list[str], specs: Any) -> tuple[dict[str, int], int | None]:
    """``NAME:AxBxC`` flags -> (values of symbolic dims, batch from a symbolic first dim)."""
    by_name = {s.name: s for s in specs}
    dims: dict[str, int] = {}
    batch: int | None = None
    for item in items:
        name, sep, text = item.rpartition(":")
        if not sep or name not in by_name:
            raise ConfigError(
                f"--shape '{item}' must be NAME:DIMS with NAME one of {', '.join(by_name)}, "
                "e.g. x:1x3x224x224"
            )
        spec = by_name[name]
        try:
            values = [int(v) for v in text.lower().split("x")]
        except ValueError:
            raise ConfigError(f"--shape '{item}': dims must be integers like 1x3x224x224") from None
        if len(values) != len(spec.shape):
            raise ConfigError(
                f"--shape '{item}' has {len(values)} dims; input '{name}' is {spec.describe()}"
            )
        for i, (d, v) in enumerate(zip(spec.shape, values, strict=True)):
            if isinstance(d, int):
                if d != v:
                    raise ConfigError(f"--shape '{item}': dim {i} of '{name}' is fixed to {d}")
            elif i == 0:
                batch = v
            else:
                dims[d] = v
    return dims, batch


def run(args: argparse.Namespace) -> int:
    """Compare a candidate engine's outputs with a reference engine's and print the verdict.

    Returns:
        The exit code: 0 when every check passed, 1 (:data:`EXIT_FAILED`) otherwise.
    """
    from edgeinfer.bench.memory import MemoryProbe
    from edgeinfer.evaluate.compare import compare_engines
    from edgeinfer.evaluate.tables import fidelity_table

    tolerances = tolerances_from_args(args)
    dataset = dataset_from_args(args)
    preprocess = preprocess_from_args(args)
    candidate = open_engine(args.candidate, args)
    reference = open_engine(args.reference, args)
    dims, batch = parse_shapes(args.shape, reference.inputs)
    with MemoryProbe() as probe:
        result = compare_engines(
            candidate,
            reference,
            dataset,
            tolerances=tolerances,
            batch_size=batch or args.batch,
            limit=args.limit,
            seed=args.seed,
            dims=dims or None,
            preprocess=preprocess,
            quiet=args.quiet,
            outputs=tuple(args.outputs) if args.outputs else None,
        )
    result.command = command_line(args)
    stdout_console().print(fidelity_table(result))
    memory = _memory(candidate, reference, probe.usage)
    echo(memory.pop("line"))
    for note in result.notes:
        echo(f"note: {note}")
    if args.json:
        emit_json(args.json, {**result.to_dict(), "memory": memory})
    if result.passed:
        echo(f"PASSED: {result.n} inputs within tolerances")
        return 0
    for failure in result.failures:
        echo(f"FAIL: {failure}")
    echo(f"FAILED: {len(result.failures)} check(s) failed over {result.n} inputs")
    return EXIT_FAILED


def _memory(candidate: Any, reference: Any, usage: Any) -> dict[str, Any]:
    """Engine sizes and the peak resident memory of the comparison (both engines loaded)."""
    mb = 2**20
    sizes = {"candidate": candidate.size_bytes(), "reference": reference.size_bytes()}
    line = (
        f"memory: candidate {sizes['candidate'] / mb:.2f} MiB, reference "
        f"{sizes['reference'] / mb:.2f} MiB on disk; peak RSS {usage.peak_mb:.0f} MiB with both "
        f"loaded (+{usage.growth_mb:.0f} MiB)"
    )
    return {"line": line, **{f"{k}_engine_bytes": v for k, v in sizes.items()}, **usage.to_dict()}
