"""The command line owns the console; the library never touches it.

Libraries edgeinfer calls write to the console on their own: ONNX Runtime's quantizer logs
advice through the root logger and its histogram calibrators ``print`` to stdout, NNCF logs
every ignored node at INFO and draws progress bars on stdout. A library user gets them as
those libraries intend. For one CLI command, :func:`command_console`

* keeps third-party writes to ``sys.stdout`` off the command's output: they are dropped, or
  go to stderr with ``--debug``; the command's own output (tables, ``--json`` documents)
  goes to :func:`stdout`, the real standard output;
* quiets third-party logging unless ``--debug``: the root logger to ERROR, the ``nncf``
  logger to WARNING, ``onnxruntime`` to CRITICAL; edgeinfer's own warnings still show.

Everything is restored when the command ends.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

__all__ = ["command_console", "document_stdout", "echo", "stdout", "stdout_console"]

QUIET_LOGGERS = {"": logging.ERROR, "nncf": logging.WARNING, "onnxruntime": logging.CRITICAL}
"""Third-party loggers raised for a command ("" is the root logger). ONNX Runtime's
quantization tools log whole tracebacks at ERROR for failures edgeinfer handles (and reports
in one line)."""
_PLAIN_LOGGERS = {"onnxruntime"}  # standard loggers: safe to create before the library does

_STDOUT: ContextVar[TextIO | None] = ContextVar("edgeinfer_cli_stdout", default=None)
_DOCUMENT: ContextVar[TextIO | None] = ContextVar("edgeinfer_cli_document", default=None)


def stdout() -> TextIO:
    """The standard output of the running command (``sys.stdout`` outside a command)."""
    return _STDOUT.get() or sys.stdout


def document_stdout() -> TextIO:
    """Where ``--json -`` writes its document: the real standard output."""
    return _DOCUMENT.get() or sys.stdout


def stdout_console(**kwargs: Any) -> Any:
    """A rich ``Console`` writing to the command's standard output; a ``width`` asked for
    piped output yields to ``$COLUMNS`` when that is set.
    """
    import os

    from rich.console import Console

    columns = os.environ.get("COLUMNS", "")
    if "width" in kwargs and columns.isdigit() and int(columns) > 0:
        kwargs["width"] = int(columns)
    return Console(file=stdout(), **kwargs)


def echo(text: str) -> None:
    """Print one line to the command's standard output."""
    print(text, file=stdout())


@contextmanager
def command_console(*, debug: bool = False, json_stdout: bool = False) -> Iterator[None]:
    """Own the console for one command (see the module docstring); restores it on exit.

    Args:
        debug: let third-party logging and stdout writes through (to stderr).
        json_stdout: standard output carries the ``--json -`` document only; the command's
            tables and messages go to stderr.
    """
    original = sys.stdout
    sink = _ThirdPartyStdout(debug)
    token = _STDOUT.set(sys.stderr if json_stdout else original)
    doc_token = _DOCUMENT.set(original)
    with ExitStack() as stack:
        if not debug:
            _quiet_logging(stack)
        sys.stdout = sink
        try:
            yield
        finally:
            sys.stdout = original
            sink.active = False
            _STDOUT.reset(token)
            _DOCUMENT.reset(doc_token)


def _quiet_logging(stack: ExitStack) -> None:
    """Raise the third-party loggers of :data:`QUIET_LOGGERS` for the command; edgeinfer's own
    logger keeps WARNING (it would otherwise inherit the root logger's ERROR).

    A logger that does not exist yet is left alone: creating it would pre-empt the logger
    class a library registers (NNCF does). NNCF's logger, made when nncf is imported during
    the command, writes to the command's ``sys.stdout``, which drops it.
    """
    for name, level in QUIET_LOGGERS.items():
        known = isinstance(logging.Logger.manager.loggerDict.get(name), logging.Logger)
        if name and not known and name not in _PLAIN_LOGGERS:
            continue
        logger = logging.getLogger(name or None)
        stack.enter_context(_logger_level(logger, max(logger.level, level)))
    own = logging.getLogger("edgeinfer")
    if own.level == logging.NOTSET:
        stack.enter_context(_logger_level(own, logging.WARNING))


@contextmanager
def _logger_level(logger: logging.Logger, level: int) -> Iterator[None]:
    old = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(old)


class _ThirdPartyStdout(io.TextIOBase):
    """``sys.stdout`` while a command runs: writes go to stderr with ``--debug``, else nowhere.

    Libraries that keep a reference (a logging handler made during the command) write to
    whatever ``sys.stdout`` is once the command has ended.
    """

    def __init__(self, debug: bool) -> None:
        super().__init__()
        self.debug = debug
        self.active = True

    def _target(self) -> TextIO | None:
        if self.active:
            return sys.stderr if self.debug else None
        return sys.stdout if sys.stdout is not self else sys.__stdout__

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        target = self._target()
        if target is not None:
            target.write(text)
        return len(text)

    def flush(self) -> None:
        target = self._target()
        if target is not None:
            target.flush()

    def isatty(self) -> bool:
        target = self._target()
        return bool(target is not None and target.isatty())
