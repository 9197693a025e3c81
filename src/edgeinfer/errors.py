"""The one user-facing exception family.

Every error a user can cause is an :class:`EdgeInferError` whose message says what was wrong
and how to fix it. The CLI prints it on one line without a traceback and exits with
:attr:`EdgeInferError.exit_code`.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class EdgeInferError(Exception):
    """Base class for every error the user can act on."""

    exit_code: int = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ModelError(EdgeInferError):
    """A model file is missing, is not ONNX, or is not a valid graph."""


class EngineError(EdgeInferError):
    """An engine directory is missing, corrupted, or was built for another host/backend."""


class BackendError(EdgeInferError):
    """An unknown backend, or a backend that cannot do what was asked."""


class MissingExtraError(BackendError):
    """An optional dependency is not installed."""


class FeedError(EdgeInferError):
    """An inference input has the wrong name, dtype or shape."""


class NonFiniteError(FeedError):
    """An inference input or output held NaN/Inf (runners with ``check_finite``).

    Attributes:
        where: ``input`` or ``output``.
        tensor: the tensor's name.
        count: how many values were NaN/Inf.
    """

    def __init__(self, message: str, *, where: str, tensor: str, count: int) -> None:
        super().__init__(message)
        self.where = where
        self.tensor = tensor
        self.count = count


class ConfigError(EdgeInferError):
    """A configuration value is invalid."""


class DataError(EdgeInferError):
    """A dataset, image folder or calibration set is missing or unusable."""


class BudgetError(EdgeInferError):
    """No candidate meets the requested accuracy/latency budget."""

    exit_code = 3


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, or its type name when it has none.

    Backend and library exceptions often run to dozens of lines; user-facing errors quote only
    this line (``--debug`` shows the rest).
    """
    for line in str(exc).strip().splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def require(module: str, extra: str, *, purpose: str | None = None) -> ModuleType:
    """Import an optional dependency or raise a :class:`MissingExtraError` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = f"{purpose} needs '{module}'" if purpose else f"'{module}' is not installed"
        raise MissingExtraError(
            f"{what} ({exc}); install the extra: pip install 'edgeinfer[{extra}]'"
        ) from exc
