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
from edgeinfer.cli.common import check_json_target, check_numbers
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
    )
    parser.add_argument("--version", action="version", version=f"edgeinfer {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show tracebacks for errors, and third-party libraries' logs and output (stderr)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"edgeinfer.cli.{name}").register(sub)
    return parser


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
        with command_console(debug=args.debug):
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("edgeinfer: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        message, code = error_line(exc)
        print(f"edgeinfer: error: {message}", file=sys.stderr)
        return code


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
