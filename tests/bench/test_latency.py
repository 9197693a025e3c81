from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeinfer.bench import BenchConfig, bench_runner, latency_stats, random_feed
from edgeinfer.builder import build, load_runner
from edgeinfer.errors import ConfigError, FeedError
from edgeinfer.tensors import TensorSpec


def test_latency_stats_match_numpy() -> None:
    ns = np.arange(1, 1001, dtype=np.int64) * 1_000_000  # 1..1000 ms
    s = latency_stats(ns)
    assert s.n == 1000
    assert s.min == 1.0 and s.max == 1000.0
    assert s.p50 == pytest.approx(np.percentile(np.arange(1, 1001), 50))
    assert s.p99 == pytest.approx(np.percentile(np.arange(1, 1001), 99))
    assert s.p999 == pytest.approx(np.percentile(np.arange(1, 1001), 99.9))
    assert s.mean == pytest.approx(500.5)


def test_closed_loop_counts_iterations_and_throughput(conv_relu_path: Path) -> None:
    with load_runner(build(conv_relu_path)) as r:
        res = bench_runner(r, BenchConfig(batch=3, iterations=50, warmup=5), quiet=True)
    assert res.latencies_ns.shape == (50,)
    assert (res.latencies_ns > 0).all()
    expected = 3 * 50 / (res.latencies_ns.sum() / 1e9)
    assert res.throughput == pytest.approx(expected)
    assert res.engine["backend"] == "onnxruntime"
    assert res.to_dict()["latency_ms"]["n"] == 50


def test_duration_mode_runs_for_the_duration(conv_relu_path: Path) -> None:
    with load_runner(build(conv_relu_path)) as r:
        res = bench_runner(r, BenchConfig(duration_s=0.2, warmup=2), quiet=True)
    assert 0.2 <= res.wall_s < 1.0
    assert res.stats.n > 10


def test_fixed_rate_paces_requests_and_counts_deadline_misses(conv_relu_path: Path) -> None:
    with load_runner(build(conv_relu_path)) as r:
        res = bench_runner(
            r, BenchConfig(iterations=20, rate_hz=100, deadline_ms=1e-6, warmup=2), quiet=True
        )
    assert res.wall_s == pytest.approx(20 / 100, rel=0.3)
    assert res.deadline_misses == 20  # a 1 ns deadline is always missed


def test_bench_config_validation() -> None:
    with pytest.raises(ConfigError, match="give either --iterations or --duration, not both"):
        BenchConfig(iterations=10, duration_s=1.0)
    with pytest.raises(ConfigError, match="--rate must be > 0 Hz"):
        BenchConfig(rate_hz=0)


def test_random_feed_dtypes() -> None:
    specs = [
        TensorSpec("f", "float16", ("n", 2)),
        TensorSpec("i", "int64", (3,)),
        TensorSpec("b", "bool", (4,)),
        TensorSpec("u", "uint8", (5,)),
    ]
    feed = random_feed(specs, batch=2, seed=1)
    assert feed["f"].shape == (2, 2) and feed["f"].dtype == np.float16
    assert (feed["i"] >= 1).all() and feed["i"].dtype == np.int64
    assert feed["b"].dtype == np.bool_
    assert (feed["u"] >= 1).all()
    with pytest.raises(FeedError, match="random inputs support float, int and bool only"):
        random_feed([TensorSpec("s", "str", (1,))])
