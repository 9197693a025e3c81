"""Closed-loop and fixed-rate latency benchmarks of a Runner.

Warm-up is separate from measurement; every iteration is timed with ``time.perf_counter_ns``.
Closed loop: the next inference starts when the previous one ends (best-case latency,
throughput). Fixed rate: requests arrive every ``1/rate`` s as a camera would deliver them;
latency counts from the scheduled arrival, so queueing behind a slow frame shows, and frames
finishing after ``deadline_ms`` are counted as misses.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from edgeinfer import serde
from edgeinfer.backends.base import Runner
from edgeinfer.bench.batching import check_batch
from edgeinfer.bench.stats import LatencyStats, latency_stats
from edgeinfer.errors import ConfigError
from edgeinfer.host import current_host
from edgeinfer.progress import Progress
from edgeinfer.tensors import check_nbytes, random_feed

_MAX_SAMPLES = 10_000_000
BENCH_CONFIG_VERSION = 1


@dataclass(frozen=True)
class BenchConfig:
    """How to benchmark: batch, warm-up, measured iterations or duration, optional rate.

    Attributes:
        batch: batch size of the random feed (symbolic leading dims).
        iterations: measured iterations (None with no duration: 200).
        duration_s: measure for this many seconds instead of a number of iterations.
        warmup: unmeasured iterations first.
        seed: seed of the random feed.
        rate_hz: fixed request rate (None: closed loop).
        deadline_ms: count results later than this after their scheduled arrival as misses.
        shapes: whole input shapes by input name (dynamic dims other than the batch).
        version: format version of this config.
    """

    WHAT: ClassVar[str] = "bench config"

    batch: int = 1
    iterations: int | None = None
    duration_s: float | None = None
    warmup: int = 20
    seed: int = 0
    rate_hz: float | None = None
    deadline_ms: float | None = None
    shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    version: int = BENCH_CONFIG_VERSION

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise ConfigError(f"--batch must be >= 1, got {self.batch}")
        if self.iterations is not None and self.duration_s is not None:
            raise ConfigError("give either --iterations or --duration, not both")
        if self.iterations is not None and self.iterations < 1:
            raise ConfigError(f"--iterations must be >= 1, got {self.iterations}")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ConfigError(f"--duration must be > 0 seconds, got {self.duration_s}")
        if self.warmup < 0:
            raise ConfigError(f"--warmup must be >= 0, got {self.warmup}")
        if self.rate_hz is not None and self.rate_hz <= 0:
            raise ConfigError(f"--rate must be > 0 Hz, got {self.rate_hz}")
        if self.deadline_ms is not None and self.deadline_ms <= 0:
            raise ConfigError(f"--deadline-ms must be > 0, got {self.deadline_ms}")
        serde.check_version(self.WHAT, self.version, BENCH_CONFIG_VERSION)

    @property
    def measured_iterations(self) -> int | None:
        """Iterations to measure: ``iterations`` (200 by default); None when timed by duration."""
        if self.iterations is None and self.duration_s is None:
            return 200
        return self.iterations

    def to_dict(self) -> dict[str, Any]:
        """JSON data (``shapes`` as ``[name, [dims]]`` pairs)."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchConfig:
        """Parse :meth:`to_dict` data.

        Raises:
            ConfigError: unknown keys, wrong types, invalid values or a newer version.
        """
        return serde.from_dict(cls, data)


@dataclass
class BenchResult:
    """Per-iteration latencies and their summary, plus everything needed to reproduce them."""

    config: BenchConfig
    latencies_ns: np.ndarray
    stats: LatencyStats
    throughput: float  # items (batch elements) per second
    wall_s: float
    deadline_misses: int | None = None
    engine: dict[str, Any] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)
    command: str | None = None

    def to_dict(self, *, include_samples: bool = False) -> dict[str, Any]:
        """JSON data: config, latency statistics (ms), throughput and context.

        Args:
            include_samples: also write every per-iteration latency (``latencies_ns``).
        """
        data: dict[str, Any] = {
            "config": self.config.to_dict(),
            "latency_ms": self.stats.to_dict(),
            "throughput_per_s": self.throughput,
            "wall_s": self.wall_s,
            "deadline_misses": self.deadline_misses,
            "engine": self.engine,
            "host": self.host,
            "command": self.command,
        }
        if include_samples:
            data["latencies_ns"] = self.latencies_ns.tolist()
        return data


def _engine_info(runner: Runner) -> dict[str, Any]:
    eng = runner.engine
    return {
        "path": str(eng.path),
        "name": eng.name,
        "backend": eng.backend,
        "backend_version": eng.manifest.backend_version,
        "precision_requested": eng.manifest.precision,
        "precision_executed": eng.precision,
        "threads": runner.threads,
        "build_config": eng.config.to_dict(),
    }


def bench_runner(
    runner: Runner,
    config: BenchConfig | None = None,
    feed: Mapping[str, np.ndarray] | None = None,
    *,
    quiet: bool | None = None,
) -> BenchResult:
    """Benchmark an active runner. ``feed`` defaults to seeded random inputs."""
    cfg = config or BenchConfig()
    if feed is None:
        shaped = {name for name, _ in cfg.shapes}
        free = [s for s in runner.input_specs if s.name not in shaped]
        check_batch(free, cfg.batch, f"engine '{runner.engine.path}'")
    data = (
        dict(feed)
        if feed is not None
        else random_feed(runner.input_specs, cfg.batch, cfg.seed, shapes=dict(cfg.shapes))
    )
    items = _items_per_call(data, cfg)
    for _ in range(cfg.warmup):
        runner.infer(data)
    with Progress(quiet) as progress:
        if cfg.rate_hz is not None:
            lat, wall = _fixed_rate(runner, data, cfg, progress)
        else:
            lat, wall = _closed_loop(runner, data, cfg, progress)
    stats = latency_stats(lat)
    misses = None
    if cfg.deadline_ms is not None:
        misses = int(np.count_nonzero(lat > cfg.deadline_ms * 1e6))
    return BenchResult(
        config=cfg,
        latencies_ns=lat,
        stats=stats,
        throughput=items * lat.size / (lat.sum() / 1e9)
        if cfg.rate_hz is None
        else items * lat.size / wall,
        wall_s=wall,
        deadline_misses=misses,
        engine=_engine_info(runner),
        host=current_host().to_dict(),
    )


def _items_per_call(data: Mapping[str, np.ndarray], cfg: BenchConfig) -> int:
    """Inputs per call: the leading dim the feed really has (what throughput counts).

    Raises:
        ConfigError: a ``--shape`` whose leading dim contradicts ``--batch``.
    """
    leads = {int(a.shape[0]) for a in data.values() if np.ndim(a)}
    if len(leads) != 1:
        return cfg.batch
    lead = leads.pop()
    shaped = dict(cfg.shapes)
    if lead != cfg.batch and shaped:
        raise ConfigError(
            f"--batch {cfg.batch} but --shape gives a batch of {lead} "
            f"({', '.join(f'{k}:' + 'x'.join(map(str, v)) for k, v in shaped.items())}); make "
            "them agree"
        )
    return lead


def _closed_loop(
    runner: Runner, data: dict[str, np.ndarray], cfg: BenchConfig, progress: Progress
) -> tuple[np.ndarray, float]:
    n = cfg.measured_iterations
    clock = time.perf_counter_ns
    timed = runner.timed_infer  # the runner's timing hook (device-synchronized on GPUs)
    start = clock()
    if n is not None:
        check_nbytes(n * 8, f"the latency record of {n} iterations")
        lat = np.empty(n, dtype=np.int64)
        with progress.task("benchmark", n) as task:
            for i in range(n):
                lat[i] = timed(data)
                task.advance()
        return lat, (clock() - start) / 1e9
    assert cfg.duration_s is not None
    end = start + int(cfg.duration_s * 1e9)
    samples: list[int] = []
    with progress.task("benchmark (s)", cfg.duration_s) as task:
        last = start
        while True:
            samples.append(timed(data))
            t1 = clock()
            task.advance((t1 - last) / 1e9)
            last = t1
            if t1 >= end or len(samples) >= _MAX_SAMPLES:
                break
    return np.asarray(samples, dtype=np.int64), (clock() - start) / 1e9


def _fixed_rate(
    runner: Runner, data: dict[str, np.ndarray], cfg: BenchConfig, progress: Progress
) -> tuple[np.ndarray, float]:
    assert cfg.rate_hz is not None
    period = int(1e9 / cfg.rate_hz)
    n = cfg.measured_iterations
    if n is None:
        assert cfg.duration_s is not None
        n = max(1, int(cfg.duration_s * cfg.rate_hz))
    clock = time.perf_counter_ns
    check_nbytes(n * 8, f"the schedule of {n} requests at {cfg.rate_hz:g} Hz")
    lat = np.empty(n, dtype=np.int64)
    start = clock() + period
    with progress.task(f"benchmark @ {cfg.rate_hz:g} Hz", n) as task:
        for i in range(n):
            due = start + i * period
            now = clock()
            if due - now > 200_000:  # sleep most of the gap, spin the last 0.2 ms
                time.sleep((due - now - 200_000) / 1e9)
            while clock() < due:
                pass
            runner.infer(data)
            runner.synchronize()
            lat[i] = clock() - due  # includes any queueing behind a late frame
            task.advance()
    return lat, (clock() - start) / 1e9
