"""Speed-ups for people: never a bare number, always with its spread over the rounds it was
measured in, and a warning when the machine disturbed those rounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgeinfer.search.results import OptimizeResult

__all__ = ["speedup_spread", "speedup_text", "winner_speedup"]


def speedup_spread(ratios: Sequence[float]) -> tuple[float, float] | None:
    """(lowest, highest) speed-up over the rounds from per-round latency ratios
    (candidate / baseline); None with fewer than two usable rounds.
    """
    ups = sorted(1 / r for r in ratios if r and r > 0)
    return (ups[0], ups[-1]) if len(ups) >= 2 else None


def speedup_text(speedup: float, ratios: Sequence[float], *, unstable: bool = False) -> str:
    """``18.55x faster (9.80–25.10x over 5 interleaved rounds)``; with ``unstable``, ``on an
    unstable machine`` is added; a single round says so instead of a spread.
    """
    spread = speedup_spread(ratios)
    if spread is None:
        detail = "one round: no spread measured"
    else:
        lo, hi = spread
        n = sum(1 for r in ratios if r and r > 0)
        detail = f"{lo:.2f}–{hi:.2f}x over {n} interleaved rounds"
    if unstable:
        detail += ", on an unstable machine"
    return f"{speedup:.2f}x faster ({detail})"


def winner_speedup(result: OptimizeResult) -> str | None:
    """The winner's speed-up over the starting point with its spread (None: none measured)."""
    if not result.winner or not result.speedup_vs_baseline:
        return None
    win = result.candidate(result.winner)
    unstable = result.unstable or win.unstable
    return speedup_text(result.speedup_vs_baseline, win.round_ratios, unstable=unstable)
