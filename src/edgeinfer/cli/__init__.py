"""The ``edgeinfer`` command line: a thin layer over the library API.

Each verb lives in its own module with ``register(subparsers)``; ``main(argv) -> int`` runs
one. User errors print one line (no traceback unless ``--debug``) and exit non-zero. The CLI
owns the console (:mod:`edgeinfer.cli.console`): verbs write their output to
``console.stdout()``; third-party chatter stays off it.

Imports are lazy on purpose, so that ``edgeinfer --help`` and ``import edgeinfer.cli`` stay
fast: this module loads no verb; :func:`build_parser` loads the verb modules, which import
only the CLI's own helpers (``cli.common``, ``cli.console``, other verbs) and
``edgeinfer.errors`` at top level; each verb imports the library (numpy, onnx, backends,
rich tables) inside ``run()``. ``tests/test_layers.py`` holds every other module to
top-level imports.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys
from collections.abc import Sequence

from edgeinfer import __version__
from edgeinfer.cli.common import EXIT_CODES, check_json_target, check_numbers
from edgeinfer.errors import EdgeInferError, first_line

# Verb modules, in the order `edgeinfer --help` lists them.
COMMANDS: tuple[str, ...] = (
    "build",
    "bench",
    "eval",
    "compare",
    "profile",
    "optimize",
    "prune",
    "info",
    "meta",
    "calib",
    "debug",
    "ros",
    "zoo",
    "doctor",
)


def build_parser() -> argparse.ArgumentParser:
    """The ``edgeinfer`` argument parser, with every verb of :data:`COMMANDS` registered."""
    parser = argparse.ArgumentParser(
        prog="edgeinfer",
        description="Make trained neural networks fast enough for robots.",
        epilog=exit_codes_text(),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"edgeinfer {__version__}")
    add_global_flags(parser, default=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"edgeinfer.cli.{name}").register(sub)
    for name, verb in sub.choices.items():
        _one_grammar(verb, name)
    return parser


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions and epilogs as written and shows every option's default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or f"({default})" in text
            or default in (None, False, [], argparse.SUPPRESS)
            or action.option_strings == []
        ):
            return text
        return f"{text} (default: %(default)s)"


def add_global_flags(p: argparse.ArgumentParser, *, default: object) -> None:
    """``--debug`` and ``-q/--quiet``: before the verb (``default=False``) or after it
    (``default=SUPPRESS``, so a verb's parser never undoes what was given before it).
    """
    p.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="show tracebacks for errors, and third-party libraries' logs and output (stderr)",
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="no progress output"
    )


def exit_codes_text(extra: dict[int, str] | None = None) -> str:
    """The ``exit codes:`` paragraph of a help text."""
    codes = {**EXIT_CODES, **(extra or {})}
    return "exit codes:\n" + "\n".join(f"  {c:>3}  {codes[c]}" for c in sorted(codes))


# Exit codes only some verbs use, besides cli.common.EXIT_CODES.
VERB_EXIT_CODES: dict[str, dict[int, str]] = {
    "compare": {1: "the candidate failed a tolerance"},
    "optimize": {3: "no candidate meets the budgets (the closest ones are reported)"},
}


def _one_grammar(p: argparse.ArgumentParser, verb: str) -> None:
    """Give a verb's parser (and its actions' parsers) the global flags, the help formatter
    and the exit codes.
    """
    p.formatter_class = HelpFormatter
    p.epilog = ((p.epilog + "\n\n") if p.epilog else "") + exit_codes_text(
        VERB_EXIT_CODES.get(verb)
    )
    add_global_flags(p, default=argparse.SUPPRESS)
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _one_grammar(child, verb)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI in-process and return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    args.argv = ["edgeinfer", *args_list]
    from edgeinfer.cli.console import command_console  # lazy: it imports logging and typing

    try:
        check_numbers(args)
        check_json_target(args)
        with command_console(debug=args.debug, json_stdout=getattr(args, "json", None) == "-"):
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("edgeinfer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): not an error of the command
        _silence_stdout()
        return 0
    except Exception as exc:
        if args.debug:
            raise
        message, code = error_line(exc)
        print(f"edgeinfer: error: {message}", file=sys.stderr)
        return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's exit-time flush of a closed pipe stays quiet."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug in edgeinfer, not in the user's input


def error_line(exc: BaseException) -> tuple[str, int]:
    """The one line and exit code the CLI prints for ``exc``.

    :class:`EdgeInferError`: its message and exit code. Operating-system errors (a full
    disk, a read-only directory, a name too long), running out of memory and the
    runtimes' errors get one line naming the fix, exit 2. Anything else is a bug in
    edgeinfer: one line asking for ``--debug`` and a report, exit 70.
    """
    if isinstance(exc, EdgeInferError):
        return first_line(exc), exc.exit_code
    if isinstance(exc, OSError):
        fixes = {
            errno.ENOSPC: "free disk space (or set EDGEINFER_CACHE_DIR to another disk)",
            errno.EDQUOT: "free disk space (or set EDGEINFER_CACHE_DIR to another disk)",
            errno.EROFS: "choose a writable location (or set EDGEINFER_CACHE_DIR)",
            errno.EACCES: "check the permissions, or choose another location",
            errno.EPERM: "check the permissions, or choose another location",
            errno.ENAMETOOLONG: "use a shorter name",
            errno.ENOENT: "check the path",
            errno.EFBIG: "the file is too large for this file system or limit",
        }
        where = f" '{exc.filename}'" if exc.filename else ""
        fix = fixes.get(exc.errno or 0, "check the path, free space and permissions")
        return f"{exc.strerror or first_line(exc)}:{where}; {fix}", 2
    if isinstance(exc, MemoryError):
        return (
            "out of memory; use a smaller --batch or input size, or lower "
            "EDGEINFER_MEMORY_BUDGET so oversized requests are refused earlier",
            2,
        )
    return (
        f"internal error ({type(exc).__name__}: {first_line(exc)}); this is a bug in "
        "edgeinfer: rerun with --debug and report the traceback",
        INTERNAL_ERROR,
    )


def console_main() -> None:
    """Entry point of the ``edgeinfer`` script: run :func:`main` and exit with its code."""
    sys.exit(main())
