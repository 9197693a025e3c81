"""The lower-precision guardrail: is this engine actually faster than FP32 on this host?

A short interleaved measurement (one inference of each engine per iteration, same threads,
same inputs) so that drift in machine load hits both equally.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.bench.feeds import random_feed
from edgeinfer.bench.stats import latency_stats

if TYPE_CHECKING:
    from edgeinfer.engine import Engine

# A candidate must beat the baseline's p50 by this factor to count as faster (noise margin).
FASTER_MARGIN = 1.05


@dataclass(frozen=True)
class LatencyComparison:
    """p50/p99 of a candidate engine and its baseline, measured interleaved."""

    candidate: str
    baseline: str
    candidate_p50: float
    baseline_p50: float
    candidate_p99: float
    baseline_p99: float
    iterations: int
    threads: int | None
    backend: str

    @property
    def speedup(self) -> float:
        """Baseline p50 over candidate p50 (> 1: the candidate is faster)."""
        return self.baseline_p50 / self.candidate_p50 if self.candidate_p50 > 0 else float("inf")

    @property
    def faster(self) -> bool:
        return self.speedup >= FASTER_MARGIN

    def message(self) -> str:
        """One plain sentence for the user."""
        nums = f"p50 {self.candidate_p50:.2f} ms vs {self.baseline_p50:.2f} ms"
        if self.faster:
            return (
                f"{self.candidate} is {self.speedup:.2f}x faster than {self.baseline} on this "
                f"host ({nums})"
            )
        other = "onnxruntime" if self.backend == "openvino" else "openvino"
        return (
            f"{self.candidate} is not faster than {self.baseline} on this host ({nums}); keep "
            f"{self.baseline} or try --backend {other}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "speedup": self.speedup,
            "faster": self.faster,
            "message": self.message(),
        }


def compare_latency(
    candidate: Engine,
    baseline: Engine,
    *,
    iterations: int = 30,
    warmup: int = 5,
    threads: int | None = None,
    batch: int = 1,
    seed: int = 0,
) -> LatencyComparison:
    """Measure ``candidate`` against ``baseline`` interleaved, at ``batch`` with ``threads``.

    Both engines get the same random inputs (their input specs must match).
    """
    from edgeinfer.backends import load_runner

    feed = random_feed(baseline.inputs, batch=batch, seed=seed)
    clock = time.perf_counter_ns
    lat = np.empty((2, iterations), dtype=np.int64)
    with (
        load_runner(candidate, threads=threads) as rc,
        load_runner(baseline, threads=threads) as rb,
    ):
        for _ in range(warmup):
            rc.infer(feed)
            rb.infer(feed)
        for i in range(iterations):
            for k, runner in enumerate((rc, rb) if i % 2 == 0 else (rb, rc)):
                t0 = clock()
                runner.infer(feed)
                lat[k if i % 2 == 0 else 1 - k, i] = clock() - t0
        used = rc.threads
    c, b = latency_stats(lat[0]), latency_stats(lat[1])
    return LatencyComparison(
        candidate=candidate.manifest.precision,
        baseline=baseline.manifest.precision,
        candidate_p50=c.p50,
        baseline_p50=b.p50,
        candidate_p99=c.p99,
        baseline_p99=b.p99,
        iterations=iterations,
        threads=used,
        backend=candidate.backend,
    )


def fp32_baseline(engine: Engine) -> Engine | None:
    """The FP32 engine of ``engine``'s source model on the same backend/threads/options
    (built or taken from the cache); None when the source model file is gone or changed."""
    from pathlib import Path

    from edgeinfer.engine import build
    from edgeinfer.model import Model

    src = engine.manifest.source_model.get("path")
    if not src or not Path(src).is_file():
        return None
    model = Model.load(src)
    if model.hash != engine.manifest.source_model.get("hash"):
        return None  # the file changed since the engine was built
    cfg = engine.config.replace(precision="fp32", exclude=(), calibration=None)
    return build(model, cfg)


def guardrail(
    engine: Engine, *, threads: int | None = None, iterations: int = 30
) -> LatencyComparison | None:
    """Compare a lower-precision ``engine`` with its FP32 build; None for FP32 engines or when
    the source model is not available."""
    if engine.manifest.precision == "fp32":
        return None
    base = fp32_baseline(engine)
    if base is None:
        return None
    return compare_latency(engine, base, threads=threads, iterations=iterations)
