"""Pareto front over latency (lower is better), accuracy (higher) and size (smaller).

A point dominates another when it is no worse on every axis and strictly better on at
least one. Identical points do not dominate each other, so duplicates stay on the front
together (the selection breaks the tie, not the front).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ParetoPoint:
    """One candidate on the latency/accuracy/size plane."""

    name: str
    latency: float  # lower is better (ms, or -throughput)
    accuracy: float  # higher is better
    size: float | None = None  # lower is better; None: size not compared


def dominates(a: ParetoPoint, b: ParetoPoint) -> bool:
    """True when ``a`` is at least as good as ``b`` everywhere and better somewhere."""
    pairs = [(a.latency, b.latency), (-a.accuracy, -b.accuracy)]
    if a.size is not None and b.size is not None:
        pairs.append((a.size, b.size))
    return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)


def pareto_front(points: Sequence[ParetoPoint]) -> list[str]:
    """Names of the non-dominated points, fastest first (ties: more accurate first).

    Points with a NaN latency or accuracy are left out (they cannot be compared).
    """
    valid = [p for p in points if not (math.isnan(p.latency) or math.isnan(p.accuracy))]
    front = [p for p in valid if not any(dominates(q, p) for q in valid if q is not p)]
    front.sort(key=lambda p: (p.latency, -p.accuracy, p.name))
    return [p.name for p in front]
