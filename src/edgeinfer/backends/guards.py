"""Runner guards: feed checks, one thread per runner, NaN/Inf checks with counts, and
machine-bounded thread counts.

:class:`~edgeinfer.backends.base.Runner` calls these around every inference, for every backend.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.errors import BackendError, FeedError, NonFiniteError
from edgeinfer.tensors import check_threads, max_threads

if TYPE_CHECKING:
    from edgeinfer.engine import Engine
    from edgeinfer.tensors import TensorSpec

__all__ = [
    "FiniteCounts",
    "ThreadOwner",
    "check_finite",
    "first_nonfinite",
    "runner_threads",
    "shape_matches",
    "validate_feed",
]

log = logging.getLogger(__name__)


@dataclass
class FiniteCounts:
    """What a runner with ``check_finite`` found: inferences whose inputs or outputs held NaN
    or Inf (each refused with :class:`~edgeinfer.errors.NonFiniteError`), out of ``checked``.
    """

    checked: int = 0
    bad_inputs: int = 0
    bad_outputs: int = 0


def first_nonfinite(arrays: Mapping[str, Any]) -> tuple[str, int] | None:
    """(name, count) of the first float array holding NaN/Inf; min/max first (no temporaries)."""
    for name, arr in arrays.items():
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fc" or arr.size == 0:
            continue
        if np.isfinite(arr.min()) and np.isfinite(arr.max()):
            continue
        return name, int(arr.size - np.count_nonzero(np.isfinite(arr)))
    return None


def check_finite(counts: FiniteCounts, where: str, arrays: Mapping[str, Any]) -> None:
    """Count and refuse NaN/Inf in the ``where`` (``input`` or ``output``) ``arrays``.

    Raises:
        NonFiniteError: naming the tensor and how many values were NaN/Inf.
    """
    bad = first_nonfinite(arrays)
    if bad is None:
        return
    if where == "input":
        counts.bad_inputs += 1
    else:
        counts.bad_outputs += 1
    name, count = bad
    fix = "the data" if where == "input" else "the model or its precision"
    raise NonFiniteError(
        f"{where} '{name}' holds {count} NaN/Inf value(s); the result would be meaningless: "
        f"fix {fix}",
        where=where,
        tensor=name,
        count=count,
    )


def runner_threads(engine: Engine, threads: int | None) -> int | None:
    """The runner's thread count: an explicit one must fit this machine; the engine's
    recorded one (maybe from a bigger build host) is capped at :func:`max_threads`.

    Raises:
        ConfigError: an explicit count that is not an integer from 1 to the limit.
    """
    if threads is not None:
        check_threads(threads, "runner threads")
        return threads
    recorded = engine.config.threads
    if recorded is not None and recorded > max_threads():
        log.warning(
            "engine %s asks for %d threads; this machine allows %d: using %d",
            engine.path, recorded, max_threads(), max_threads(),
        )  # fmt: skip
        return max_threads()
    return recorded


class ThreadOwner:
    """The thread an object belongs to: bound by the first :meth:`check`, released by
    :meth:`release`; a check from any other thread raises :class:`BackendError`.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._ident: int | None = None
        self._name = ""

    def check(self) -> None:
        """Bind to the calling thread, or refuse a call from another one.

        Raises:
            BackendError: called from a thread other than the owner.
        """
        me = threading.get_ident()
        if self._ident is None:
            self._ident, self._name = me, threading.current_thread().name
        elif self._ident != me:
            raise BackendError(
                f"{self.what} is used by thread '{self._name}' and was called from thread "
                f"'{threading.current_thread().name}'; a runner's buffers belong to one "
                "thread: create one runner per thread (load_runner in each)"
            )

    def release(self) -> None:
        """Forget the owner (the next :meth:`check` binds again)."""
        self._ident = None


def shape_matches(expected: tuple[int | str, ...], actual: tuple[int, ...]) -> bool:
    """Whether ``actual`` fits ``expected`` (symbolic dims match any size)."""
    if len(expected) != len(actual):
        return False
    return all(not isinstance(e, int) or e == a for e, a in zip(expected, actual, strict=True))


def validate_feed(
    specs: tuple[TensorSpec, ...], dtypes: Mapping[str, np.dtype[Any]], feed: Mapping[str, Any]
) -> None:
    """Refuse a feed whose names, types, dtypes or shapes do not match the engine's inputs.

    Raises:
        FeedError: naming what is missing, unexpected or mismatched, and the fix.
    """
    names, expected = set(feed), {s.name for s in specs}
    if names != expected:
        parts = []
        if missing := sorted(expected - names):
            parts.append(f"missing {', '.join(repr(m) for m in missing)}")
        if extra := sorted(names - expected):
            parts.append(f"unexpected {', '.join(repr(e) for e in extra)}")
        described = ", ".join(f"{s.name}: {s.describe()}" for s in specs)
        raise FeedError(f"feed has {'; '.join(parts)}; the engine's inputs are {described}")
    for spec in specs:
        arr = feed[spec.name]
        if not isinstance(arr, np.ndarray):
            raise FeedError(
                f"input '{spec.name}' must be a numpy array, got {type(arr).__name__}; "
                "convert it with np.asarray"
            )
        if arr.dtype != dtypes[spec.name] or not shape_matches(spec.shape, arr.shape):
            got = f"{arr.dtype}[{','.join(str(d) for d in arr.shape)}]"
            raise FeedError(
                f"input '{spec.name}' expects {spec.describe()}, got {got}; "
                "set a preprocessing spec or convert the array"
            )
