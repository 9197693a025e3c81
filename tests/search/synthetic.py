"""Synthetic measurements for the selection tests."""

from __future__ import annotations

from edgeinfer.bench.stats import LatencyStats
from edgeinfer.config import BuildConfig
from edgeinfer.search.results import CandidateResult, Quality


def stats(p50: float, p99: float | None = None) -> LatencyStats:
    p99 = p99 if p99 is not None else p50 * 1.2
    return LatencyStats(
        n=100,
        mean=p50,
        std=0.01,
        min=p50 * 0.9,
        p50=p50,
        p90=p50 * 1.1,
        p99=p99,
        p999=p99,
        max=p99,
    )


def labelled(
    name: str,
    p50: float,
    drop: float,
    *,
    size: int = 1000,
    p99: float | None = None,
    kind: str = "engine",
    status: str = "measured",
) -> CandidateResult:
    q = Quality("labels", 1000, top1=0.9 - drop / 100, top1_drop_pts=drop, agreement=0.99)
    return CandidateResult(
        name,
        BuildConfig(),
        kind=kind,
        status=status,
        latency=stats(p50, p99),
        quality=q,
        size_bytes=size,
        throughput=1000.0 / p50,
    )


def fidelity(
    name: str,
    p50: float,
    agree: float,
    top5: float = 1.0,
    size: int = 1000,
) -> CandidateResult:
    q = Quality(
        "fidelity",
        500,
        agreement=agree - 0.1,
        agreement_confident=agree,
        n_confident=250,
        top5_containment=top5,
        mean_kl=0.01,
    )
    return CandidateResult(
        name,
        BuildConfig(),
        status="measured",
        latency=stats(p50),
        quality=q,
        size_bytes=size,
        throughput=1000.0 / p50,
    )
