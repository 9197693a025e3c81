"""Batch × concurrency sweeps and the stability/jitter/stress fields of single runs."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from edgeinfer.bench import BenchConfig, bench_runner
from edgeinfer.bench.rapl import rapl_zones
from edgeinfer.bench.sweep import sweep
from edgeinfer.builder import build, load_runner
from edgeinfer.errors import ConfigError
from edgeinfer.model import Model
from tests.conftest import make_conv_relu


def test_sweep_measures_every_point(conv_relu_path: Path) -> None:
    engine = build(conv_relu_path)
    res = sweep(engine, (1, 4), (1, 2), seconds_per_point=0.3, rounds=2, warmup=2, quiet=True)
    assert [(p.batch, p.concurrency) for p in res.points] == [(1, 1), (4, 1), (1, 2), (4, 2)]
    for p in res.points:
        assert p.stats.n > 0 and p.throughput > 0
        assert len(p.stability.rounds) == 2
    two = [p for p in res.points if p.concurrency == 2]
    assert all(p.threads is not None and p.threads >= 1 for p in two)
    data = res.to_dict()
    assert len(data["points"]) == 4 and "usage" in data["stability"]
    assert data["unstable"] == (not res.stability.stable)


def test_sweep_refuses_batches_a_fixed_batch_engine_cannot_run(tmp_path: Path) -> None:
    path = tmp_path / "fixed.onnx"
    onnx.save(make_conv_relu(batch=1), str(path))
    engine = build(path)
    with pytest.raises(ConfigError) as exc:
        sweep(engine, (1, 2), (1,), seconds_per_point=0.1)
    assert str(exc.value) == (
        "engine 'fixed' has a fixed batch of 1; --batch 2 needs an engine built from a model "
        "with a symbolic batch dimension"
    )
    with pytest.raises(ConfigError, match=r"--concurrency values must be in 1..4096, got 0"):
        sweep(engine, (1,), (0,))


def test_single_run_reports_stability_jitter_and_energy(conv_relu_path: Path) -> None:
    with load_runner(build(conv_relu_path)) as r:
        res = bench_runner(
            r, BenchConfig(iterations=40, rate_hz=200, deadline_ms=50, warmup=2, energy=True),
            quiet=True, observe=True,
        )
    assert res.jitter_ms is not None and res.jitter_ms >= 0
    assert res.miss_rate is not None and 0 <= res.miss_rate <= 1
    assert res.stability is not None and res.stability.usage is not None
    assert res.energy is not None and res.energy.available == bool(rapl_zones()[0])
    data = res.to_dict()
    assert data["unstable"] == (not res.stability.stable)
    assert set(data["stability"]) >= {"stable", "reasons", "round_p50_ms", "usage"}


def test_stress_cores_run_during_the_measurement_and_are_not_a_disturbance(
    conv_relu_path: Path,
) -> None:
    with load_runner(build(conv_relu_path)) as r:
        res = bench_runner(
            r, BenchConfig(duration_s=1.0, warmup=2, stress_cores=1), quiet=True, observe=True
        )
    usage = res.stability.usage  # type: ignore[union-attr]
    assert usage is not None and usage.planned_cpu_s > 0  # the load ran, and is counted apart
    assert all("stress" not in p.name for p in usage.top)


def test_bench_config_refuses_absurd_stress() -> None:
    with pytest.raises(ConfigError, match="--stress-cores must be between 0 and"):
        BenchConfig(stress_cores=10_000)


def test_sweep_rounds_and_seconds_are_checked(conv_relu_path: Path) -> None:
    engine = build(Model.load(conv_relu_path))
    with pytest.raises(ConfigError) as exc:
        sweep(engine, (1,), (1,), rounds=0)
    assert str(exc.value) == (
        "a sweep needs rounds >= 1 and seconds per point in (0, 3600], got 0 rounds and 2 s"
    )
