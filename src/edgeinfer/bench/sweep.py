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
import queue
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


class _Worker:
    """One thread that owns one runner for the whole sweep (a runner's buffers belong to one
    thread): it loads the runner, then runs what :meth:`run` asks until :meth:`close`.
    """

    def __init__(self, engine: Engine, threads: int | None) -> None:
        self._todo: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._done: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._thread = threading.Thread(
            target=self._loop, args=(engine, threads), name="edgeinfer-sweep", daemon=True
        )
        self._thread.start()
        self._result()  # loaded (or its load error, raised here)

    def _loop(self, engine: Engine, threads: int | None) -> None:
        try:
            with load_runner(engine, threads=threads) as runner:
                self._done.put(("ok", None))
                while (job := self._todo.get()) is not None:
                    self._done.put(("ok", self._run(runner, *job)))
        except BaseException as exc:  # handed to the sweeping thread
            self._done.put(("error", exc))

    @staticmethod
    def _run(
        runner: Any, feed: dict[str, np.ndarray], warmup: int, seconds: float, barrier: Any
    ) -> list[int]:
        try:
            for _ in range(warmup):
                runner.infer(feed)
            barrier.wait()
        except BaseException:
            barrier.abort()  # the other threads of the point stop waiting
            raise
        end = time.perf_counter() + seconds
        samples = []
        while time.perf_counter() < end:
            samples.append(runner.timed_infer(feed))
        return samples

    def _result(self) -> Any:
        kind, value = self._done.get()
        if kind == "error":
            raise value
        return value

    def start(self, feed: dict[str, np.ndarray], warmup: int, seconds: float, barrier: Any) -> None:
        """Warm up on ``feed``, wait at ``barrier``, then run closed loop for ``seconds``."""
        self._todo.put((feed, warmup, seconds, barrier))

    def samples(self) -> list[int]:
        """The latencies (ns) of the run :meth:`start` began (waits for it)."""
        return list(self._result())

    def close(self) -> None:
        """Unload the runner and end the thread."""
        self._todo.put(None)
        self._thread.join()


def _run_point(
    workers: list[_Worker], feeds: list[dict[str, np.ndarray]], seconds: float, warmup: int
) -> tuple[list[int], int, float]:
    """Run every worker's runner at once for ``seconds``: (latencies ns, requests, wall s)."""
    barrier = threading.Barrier(len(workers) + 1)
    for worker, feed in zip(workers, feeds, strict=True):
        worker.start(feed, warmup, seconds, barrier)
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        errors = []
        for w in workers:
            try:
                w.samples()
            except BaseException as exc:
                errors.append(exc)
        # the error that broke the barrier, not the other threads' BrokenBarrierErrors
        root = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
        raise (root or errors or [RuntimeError("a sweep thread stopped")])[0] from None
    t0 = time.perf_counter()
    samples = [w.samples() for w in workers]
    wall = time.perf_counter() - t0
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
        pool: dict[int, list[_Worker]] = {}
        for c in concurrencies:
            for _ in range(c):
                pool.setdefault(c, []).append(_Worker(engine, _threads_for(engine, c, threads)))
                stack.callback(pool[c][-1].close)
        feeds = {
            b: [random_feed(engine.inputs, b, seed + i) for i in range(max(concurrencies))]
            for b in batches
        }
        sampler = stack.enter_context(UsageSampler(stress.pids if stress else ()))
        with Progress(quiet) as progress, progress.task("sweep rounds", rounds) as task:
            for k in range(rounds):
                for b, c in points[k % len(points) :] + points[: k % len(points)]:
                    warm = warmup if k == 0 else 0
                    got[(b, c)].add(
                        *_run_point(pool[c], feeds[b][:c], seconds_per_point / rounds, warm)
                    )
                task.advance()
    out = [got[(b, c)].point(b, c, _threads_for(engine, c, threads)) for b, c in points]
    return SweepResult(
        tuple(out), _overall(out, sampler.usage), rounds, seconds_per_point, stress_cores
    )
