"""The search's clock: the time budget, the time the last phase needs, and what work still
fits (pure arithmetic on measured durations, unit-tested).

A time budget only holds when the search stops starting work early enough for what must
follow it: the finalists' held-out verdict and the interleaved latency rounds. So the
search keeps that final phase's estimated cost in reserve (from the reference's measured
time per input), and before each unit of work (a candidate's build and probe, a mixed
precision step) it checks that the longest such unit so far still fits.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeinfer.search.config import OptimizeConfig

__all__ = ["FINAL_MARGIN", "OutOfTime", "TimeKeeper", "time_limit"]

FINAL_MARGIN = 1.5  # candidates may be slower per input than the FP32 reference
SETTLE_S = 0.05  # the pause between runtimes in an interleaved round
LOAD_S = 1.0  # loading one finalist's engine


class OutOfTime(BaseException):
    """A unit of work ran past the time left (raised by :func:`time_limit`).

    A ``BaseException``, like ``KeyboardInterrupt``, so that no library's ``except
    Exception`` swallows it half-way through a build.
    """


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Stop the block with :class:`OutOfTime` after ``seconds`` (a ``SIGALRM`` timer).

    One build can outlast every estimate (ONNX Runtime's entropy calibrator took 156 s on a
    64-image dense model whose first batch was blank); this keeps the time budget anyway.
    Works in the main thread of a POSIX process; elsewhere it only watches (no-op), and an
    infinite ``seconds`` sets no timer. Temporary files of an interrupted build are removed
    by their own context managers; engines and calibration tables are written atomically.
    """
    usable = (
        math.isfinite(seconds)
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return
    if seconds <= 0:
        raise OutOfTime

    def expire(signum: int, frame: Any) -> None:
        raise OutOfTime

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class TimeKeeper:
    """Deadline bookkeeping for one search.

    Args:
        cfg: the search settings (``time_budget_min``, ``rounds``, ``round_s``).
        start: when the search started (``time.monotonic()``; None: now).
        now: the clock (tests pass a fake one).
    """

    def __init__(
        self,
        cfg: OptimizeConfig,
        start: float | None = None,
        *,
        now: object = None,
    ) -> None:
        self._now = now if callable(now) else time.monotonic
        self.cfg = cfg
        self.start = self._now() if start is None else start
        budget = cfg.time_budget_min
        self.deadline = None if budget is None else self.start + budget * 60
        self.per_input_s = 0.0  # the reference's measured seconds per input
        self.holdout_n = 0
        self.costs: dict[str, float] = {}

    def left(self) -> float:
        """Seconds until the deadline (inf without a budget)."""
        return math.inf if self.deadline is None else self.deadline - self._now()

    def final_phase_s(self, finalists: int) -> float:
        """Estimated seconds of the last phase for ``finalists`` candidates: each judged on
        the held-out split, then the interleaved latency rounds.
        """
        verdict = finalists * self.holdout_n * self.per_input_s * FINAL_MARGIN
        rounds = self.cfg.rounds * (self.cfg.round_s + SETTLE_S) * (finalists + 1) * 1.3
        return verdict + rounds + LOAD_S * finalists

    def late(self, finalists: int) -> bool:
        """Whether nothing new may start: the final phase's reserve is all that is left."""
        return self.left() <= self.final_phase_s(finalists)

    def can_afford(self, kind: str, finalists: int) -> bool:
        """Whether one more unit of work of ``kind`` (as long as the longest one so far)
        still fits before the final phase's reserve.
        """
        return self.left() - self.final_phase_s(finalists) >= self.costs.get(kind, 0.0)

    def work_s(self, finalists: int) -> float:
        """Seconds one unit of work may take before the final phase's reserve."""
        return self.left() - self.final_phase_s(finalists)

    def record(self, kind: str, seconds: float) -> None:
        """Remember how long one unit of ``kind`` took (the longest counts)."""
        self.costs[kind] = max(self.costs.get(kind, 0.0), seconds)

    def elapsed(self) -> float:
        """Seconds since the start."""
        return self._now() - self.start
