"""Batch × concurrency sweeps: latency and throughput at each point (``bench --batch 1,2,4,8
--concurrency 1,2``).

A point (batch ``b``, concurrency ``c``) runs ``c`` runners of the same engine in ``c``
threads (a runner is not thread-safe: one per thread), each in a closed loop on its own
seeded inputs of batch ``b``; latency is per request, throughput counts batch items of all
threads over the wall time. Without ``threads`` each runner gets ``cpus // c`` intra-op
threads so the point does not oversubscribe the CPU. Points are measured in interleaved
rounds (every point once per round, the order rotating), so a drift of a shared machine hits
every point alike, and each point's per-round p50s give its spread.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.bench.stability import Stability, assess
from edgeinfer.bench.stats import LatencyStats, latency_stats
from edgeinfer.bench.stress import CpuStress
from edgeinfer.bench.usage import UsageSampler
from edgeinfer.builder import load_runner
from edgeinfer.errors import ConfigError
from edgeinfer.progress import Progress
from edgeinfer.tensors import random_feed

if TYPE_CHECKING:
    from edgeinfer.backends.base import Runner
    from edgeinfer.engine import Engine

__all__ = ["SweepPoint", "SweepResult", "check_batches", "sweep"]

MAX_POINT_VALUE = 4096


@dataclass(frozen=True)
class SweepPoint:
    """One (batch, concurrency) point.

    Attributes:
        batch: items per request.
        concurrency: runners running at once, one per thread.
        threads: intra-op threads of each runner (None: the backend's default).
        stats: per-request latency (ms) over every round.
        throughput: items per second, all threads together.
        stability: the point's spread over rounds (and the machine's usage, run-wide).
    """

    batch: int
    concurrency: int
    threads: int | None
    stats: LatencyStats
    throughput: float
    stability: Stability

    def to_dict(self) -> dict[str, Any]:
        """JSON data."""
        return {
            "batch": self.batch,
            "concurrency": self.concurrency,
            "threads": self.threads,
            "latency_ms": self.stats.to_dict(),
            "throughput_per_s": self.throughput,
            "unstable": not self.stability.stable,
            "stability": self.stability.to_dict(),
        }


@dataclass(frozen=True)
class SweepResult:
    """Every point of a sweep and the run-wide stability verdict."""

    points: tuple[SweepPoint, ...]
    stability: Stability
    rounds: int
    seconds_per_point: float
    stress_cores: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON data."""
        return {
            "points": [p.to_dict() for p in self.points],
            "rounds": self.rounds,
            "seconds_per_point": self.seconds_per_point,
            "stress_cores": self.stress_cores,
            "unstable": not self.stability.stable,
            "stability": self.stability.to_dict(),
        }


def check_batches(engine: Engine, batches: tuple[int, ...]) -> None:
    """Refuse batches a fixed-batch engine cannot run.

    Raises:
        ConfigError: a batch other than the engine's fixed one.
    """
    fixed = {s.shape[0] for s in engine.inputs if s.shape and isinstance(s.shape[0], int)}
    wrong = [b for b in batches if fixed and b not in fixed]
    if wrong:
        raise ConfigError(
            f"engine '{engine.name}' has a fixed batch of {', '.join(map(str, sorted(fixed)))}; "
            f"--batch {','.join(map(str, wrong))} needs an engine built from a model with a "
            "symbolic batch dimension"
        )


def _threads_for(engine: Engine, concurrency: int, threads: int | None) -> int | None:
    if threads is not None:
        return threads
    if concurrency == 1:
        return engine.config.threads
    total = engine.config.threads or os.cpu_count() or 1
    return max(1, total // concurrency)


def _run_point(
    runners: list[Runner], feeds: list[dict[str, np.ndarray]], seconds: float
) -> tuple[list[int], int, float]:
    """Run every runner in its own thread for ``seconds``: (latencies ns, requests, wall s)."""
    samples: list[list[int]] = [[] for _ in runners]
    start = threading.Barrier(len(runners) + 1)
    errors: list[BaseException] = []

    def loop(i: int) -> None:
        try:
            start.wait()
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                samples[i].append(runners[i].timed_infer(feeds[i]))
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(len(runners))]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    flat = [v for s in samples for v in s]
    return flat, len(flat), wall


def _check(
    batches: tuple[int, ...], concurrencies: tuple[int, ...], rounds: int, seconds: float
) -> None:
    for flag, values in (("--batch", batches), ("--concurrency", concurrencies)):
        if not values or min(values) < 1 or max(values) > MAX_POINT_VALUE:
            raise ConfigError(
                f"{flag} values must be in 1..{MAX_POINT_VALUE}, got {','.join(map(str, values))}"
            )
    if rounds < 1 or not 0 < seconds <= 3600:
        raise ConfigError(
            f"a sweep needs rounds >= 1 and seconds per point in (0, 3600], got {rounds} "
            f"rounds and {seconds:g} s"
        )


class _Samples:
    """What one point collected over the rounds."""

    def __init__(self) -> None:
        self.ns: list[int] = []
        self.requests = 0
        self.wall = 0.0
        self.p50s: list[float] = []

    def add(self, ns: list[int], requests: int, wall: float) -> None:
        self.ns += ns
        self.requests += requests
        self.wall += wall
        self.p50s.append(float(np.median(ns)) / 1e6 if ns else float("nan"))

    def point(self, batch: int, concurrency: int, threads: int | None) -> SweepPoint:
        stats = latency_stats(np.asarray(self.ns, dtype=np.int64))
        return SweepPoint(
            batch,
            concurrency,
            threads,
            stats,
            batch * self.requests / self.wall,
            assess(None, self.p50s, p50=stats.p50, p99=stats.p99),
        )


def _overall(points: list[SweepPoint], usage: Any) -> Stability:
    run = assess(usage)
    reasons = run.reasons + tuple(
        f"batch {p.batch} × concurrency {p.concurrency}: {r}"
        for p in points
        for r in p.stability.reasons
    )
    return Stability(not reasons, reasons, run.notes, usage=usage)


def sweep(
    engine: Engine,
    batches: tuple[int, ...],
    concurrencies: tuple[int, ...],
    *,
    seconds_per_point: float = 2.0,
    rounds: int = 3,
    warmup: int = 5,
    threads: int | None = None,
    stress_cores: int = 0,
    seed: int = 0,
    quiet: bool | None = None,
) -> SweepResult:
    """Measure latency and throughput at every (batch, concurrency) point.

    Raises:
        ConfigError: empty, non-positive or huge batches/concurrencies, or batches the
            engine cannot run.
    """
    _check(batches, concurrencies, rounds, seconds_per_point)
    check_batches(engine, batches)
    points = [(b, c) for c in concurrencies for b in batches]
    got = {p: _Samples() for p in points}
    with ExitStack() as stack:
        stress = (
            stack.enter_context(CpuStress(stress_cores, max_seconds=24 * 3600.0))
            if stress_cores
            else None
        )
        pool = {
            c: [
                stack.enter_context(load_runner(engine, threads=_threads_for(engine, c, threads)))
                for _ in range(c)
            ]
            for c in concurrencies
        }
        feeds = {
            b: [random_feed(engine.inputs, b, seed + i) for i in range(max(concurrencies))]
            for b in batches
        }
        for b, c in points:
            for runner, feed in zip(pool[c], feeds[b], strict=False):
                for _ in range(warmup):
                    runner.infer(feed)
        sampler = stack.enter_context(UsageSampler(stress.pids if stress else ()))
        with Progress(quiet) as progress, progress.task("sweep rounds", rounds) as task:
            for k in range(rounds):
                for b, c in points[k % len(points) :] + points[: k % len(points)]:
                    got[(b, c)].add(*_run_point(pool[c], feeds[b][:c], seconds_per_point / rounds))
                task.advance()
    out = [got[(b, c)].point(b, c, _threads_for(engine, c, threads)) for b, c in points]
    return SweepResult(
        tuple(out), _overall(out, sampler.usage), rounds, seconds_per_point, stress_cores
    )
