from __future__ import annotations

import pytest

from edgeinfer.report.speedup import speedup_spread, speedup_text, winner_speedup
from edgeinfer.search.results import OptimizeResult
from tests.search.synthetic import labelled


def test_spread_is_the_range_of_per_round_speedups() -> None:
    assert speedup_spread([0.5, 0.25, 0.1]) == pytest.approx((2.0, 10.0))
    assert speedup_spread([0.5]) is None
    assert speedup_spread([0.5, 0.0]) is None  # a broken round does not count


def test_text_never_gives_a_bare_number() -> None:
    assert speedup_text(4.0, [0.5, 0.25, 0.2]) == "4.00x faster (2.00–5.00x over 3 interleaved rounds)"
    assert speedup_text(4.0, [0.25], unstable=True) == (
        "4.00x faster (one round: no spread measured, on an unstable machine)"
    )


def test_the_winners_speedup_comes_with_its_rounds_and_the_machines_verdict() -> None:
    win = labelled("w", 1.0, 0.1)
    win.round_ratios = [0.5, 0.2]
    result = OptimizeResult({}, {}, "labels", "", candidates=[win], winner="w")
    assert winner_speedup(result) is None  # no starting point measured
    result.speedup_vs_baseline = 3.0
    assert winner_speedup(result) == "3.00x faster (2.00–5.00x over 2 interleaved rounds)"
    result.unstable = True
    assert winner_speedup(result) == (
        "3.00x faster (2.00–5.00x over 2 interleaved rounds, on an unstable machine)"
    )
