"""Latency statistics: percentiles, not just means."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    """Latency summary in milliseconds over ``n`` measured iterations.

    Attributes:
        n: measured iterations.
        mean, std, min, max: mean, standard deviation, minimum and maximum (ms).
        p50, p90, p99, p999: percentiles (ms).
    """

    n: int
    mean: float
    std: float
    min: float
    p50: float
    p90: float
    p99: float
    p999: float
    max: float

    def to_dict(self) -> dict[str, Any]:
        """JSON data: every field (ms, ``n`` a count)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencyStats:
        """Parse :meth:`to_dict` data (extra keys are ignored)."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def latency_stats(latencies_ns: np.ndarray) -> LatencyStats:
    """Summarize per-iteration latencies given in nanoseconds."""
    ms = np.asarray(latencies_ns, dtype=np.float64) / 1e6
    if ms.size == 0:
        raise ValueError("no latencies to summarize")
    p50, p90, p99, p999 = np.percentile(ms, [50, 90, 99, 99.9])
    return LatencyStats(
        n=int(ms.size),
        mean=float(ms.mean()),
        std=float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
        min=float(ms.min()),
        p50=float(p50),
        p90=float(p90),
        p99=float(p99),
        p999=float(p999),
        max=float(ms.max()),
    )
