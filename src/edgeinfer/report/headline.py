"""The one-sentence verdict of an ``optimize`` run, worded the same in the terminal and the
HTML report: a winner, the starting point winning, nothing meeting the budgets, or an
interrupted run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeinfer.report.speedup import winner_speedup

if TYPE_CHECKING:
    from edgeinfer.search.results import OptimizeResult

INTERRUPTED_NO_WINNER = (
    "Interrupted (Ctrl-C) before any candidate was measured within the budgets: no winner. "
    "The table shows what was measured so far; run again for a result."
)


def headline(result: OptimizeResult) -> str:
    """The verdict of ``result`` as one plain-text sentence (or two)."""
    if result.winner is None:
        if result.partial:
            return INTERRUPTED_NO_WINNER
        if result.closest:
            return f"No candidate meets the budgets. Closest: {', '.join(result.closest)}."
        return (
            "No candidate meets the budgets, and none was measured completely; the table "
            "says why each one stopped."
        )
    prefix = (
        "Interrupted (Ctrl-C); among the candidates measured so far, the winner is "
        if result.partial
        else "Winner: "
    )
    if result.winner == result.baseline:
        return (
            f"{prefix}{result.winner}, the starting point itself: no other candidate was "
            f"faster within the budgets, so keep what you have ({result.winner_reason})."
        )
    text = f"{prefix}{result.winner} ({result.winner_reason})."
    sp = winner_speedup(result)  # always with its spread, and "unstable" when it was
    if sp and result.baseline:
        text += f" {sp} than the starting point {result.baseline} (interleaved p50)."
    return text
