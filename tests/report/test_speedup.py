from __future__ import annotations

import pytest

from edgeinfer.report.speedup import speedup_spread, speedup_text


def test_spread_is_the_range_of_per_round_speedups() -> None:
    assert speedup_spread([0.5, 0.25, 0.1]) == pytest.approx((2.0, 10.0))
    assert speedup_spread([0.5]) is None
    assert speedup_spread([0.5, 0.0]) is None  # a broken round does not count


def test_text_never_gives_a_bare_number() -> None:
    assert speedup_text(4.0, [0.5, 0.25, 0.2]) == "4.00x faster (2.00–5.00x over 3 interleaved rounds)"
    assert speedup_text(4.0, [0.25], unstable=True) == (
        "4.00x faster (one round: no spread measured, on an unstable machine)"
    )
