from __future__ import annotations

import math

from edgeinfer.search.pareto import ParetoPoint, dominates, pareto_front


def test_dominates_requires_strictly_better_somewhere() -> None:
    a = ParetoPoint("a", 1.0, 0.9)
    assert dominates(a, ParetoPoint("b", 2.0, 0.9))
    assert dominates(a, ParetoPoint("b", 1.0, 0.8))
    assert not dominates(a, ParetoPoint("b", 1.0, 0.9))  # identical
    assert not dominates(a, ParetoPoint("b", 0.5, 0.8))  # trade-off


def test_front_keeps_tradeoffs_drops_dominated_sorted_fastest_first() -> None:
    pts = [
        ParetoPoint("slow-accurate", 3.0, 0.95),
        ParetoPoint("fast-lossy", 1.0, 0.80),
        ParetoPoint("middle", 2.0, 0.90),
        ParetoPoint("dominated", 2.5, 0.85),
    ]
    assert pareto_front(pts) == ["fast-lossy", "middle", "slow-accurate"]


def test_duplicates_and_ties_stay_on_the_front_together() -> None:
    pts = [ParetoPoint("b", 1.0, 0.9), ParetoPoint("a", 1.0, 0.9), ParetoPoint("c", 1.0, 0.8)]
    assert pareto_front(pts) == ["a", "b"]  # c is dominated (same latency, less accurate)


def test_size_is_a_third_axis() -> None:
    pts = [ParetoPoint("big", 1.0, 0.9, size=100), ParetoPoint("small", 1.0, 0.9, size=10)]
    assert pareto_front(pts) == ["small"]
    pts = [ParetoPoint("big", 1.0, 0.9, size=100), ParetoPoint("small", 2.0, 0.9, size=10)]
    assert pareto_front(pts) == ["big", "small"]


def test_nan_points_are_left_out_and_empty_is_empty() -> None:
    assert pareto_front([ParetoPoint("x", math.nan, 0.9), ParetoPoint("y", 1.0, 0.5)]) == ["y"]
    assert pareto_front([]) == []
