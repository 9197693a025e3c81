"""Latency measurement: closed-loop and fixed-rate (deadline) benchmarks of a Runner."""

from edgeinfer.bench.latency import BenchConfig, BenchResult, bench_runner
from edgeinfer.bench.stats import LatencyStats, latency_stats
from edgeinfer.tensors import random_feed

__all__ = [
    "BenchConfig",
    "BenchResult",
    "LatencyStats",
    "bench_runner",
    "latency_stats",
    "random_feed",
]
