"""The lower-precision guardrail: is this engine actually faster than FP32 on this host?

A short interleaved measurement (blocks of a few inferences of each engine in turn, same
threads, same inputs) so that drift in machine load hits both equally.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.backends import find_backends, get_backend
from edgeinfer.bench.stats import latency_stats
from edgeinfer.builder import build, load_runner
from edgeinfer.data.specs import stored_spec
from edgeinfer.model import Model
from edgeinfer.source import TorchSource
from edgeinfer.tensors import random_feed

if TYPE_CHECKING:
    from edgeinfer.backends.base import Runner
    from edgeinfer.engine import Engine

# A candidate must beat the baseline's p50 by this factor to count as faster (noise margin).
FASTER_MARGIN = 1.05


# Runs of one engine before switching to the other: short enough to interleave load drift,
# long enough that a thread pool still spinning from the other engine's last run hits few.
BLOCK = 5


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
        """Whether the candidate is at least 5% faster than the FP32 baseline."""
        return self.speedup >= FASTER_MARGIN

    def message(self) -> str:
        """One plain sentence for the user."""
        nums = f"p50 {self.candidate_p50:.2f} ms vs {self.baseline_p50:.2f} ms"
        if self.faster:
            return (
                f"{self.candidate} is {self.speedup:.2f}x faster than {self.baseline} on this "
                f"host ({nums})"
            )
        switch = find_backends(available_only=False, searched_by_default=True)
        others = [b for b in switch if b != self.backend]
        hint = f" or try --backend {others[0]}" if others else ""
        return (
            f"{self.candidate} is not faster than {self.baseline} on this host ({nums}); keep "
            f"{self.baseline}{hint}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON data: the fields plus ``speedup``, ``faster`` and the ``message``."""
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
    feed = random_feed(baseline.inputs, batch=batch, seed=seed, dims=feed_dims(baseline))
    with (
        load_runner(candidate, threads=threads) as rc,
        load_runner(baseline, threads=threads) as rb,
    ):
        for _ in range(warmup):
            rc.infer(feed)
            rb.infer(feed)
        lat = _interleaved((rc, rb), feed, iterations)
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


def feed_dims(engine: Engine) -> dict[str, int]:
    """Values for symbolic non-batch dims of a single image input, from its stored
    preprocessing size (e.g. ``height``/``width`` of a detector); empty when unknown.
    """
    spec = stored_spec(engine)
    if spec is None or spec.size is None or len(engine.inputs) != 1:
        return {}
    dims = engine.inputs[0].shape
    shape = (1, *spec.tensor_shape())
    if len(shape) != len(dims):
        return {}
    return {str(d): shape[i] for i, d in enumerate(dims) if i and not isinstance(d, int)}


def _interleaved(runners: tuple[Runner, Runner], feed: dict[str, np.ndarray], n: int) -> np.ndarray:
    """``(2, n)`` latencies in ns: blocks of BLOCK runs, the order alternating per block."""
    lat = np.empty((2, n), dtype=np.int64)
    done = 0
    while done < n:
        size = min(BLOCK, n - done)
        order = (0, 1) if (done // BLOCK) % 2 == 0 else (1, 0)
        for k in order:
            timed = runners[k].timed_infer
            for i in range(done, done + size):
                lat[k, i] = timed(feed)
        done += size
    return lat


def fp32_baseline(engine: Engine) -> Engine | None:
    """The FP32 twin of ``engine`` (its backend's :meth:`~edgeinfer.backends.base.Backend.fp32_twin`
    config: same threads and runtime options) built from the same source model, or taken from
    the cache; None when the source model file is gone or changed.
    """
    src = engine.manifest.source_model.get("path")
    if not src or not Path(src).is_file():
        return None
    model = Model.load(src)
    if model.hash != engine.manifest.source_model.get("hash"):
        return None  # the file changed since the engine was built
    backend = get_backend(engine.backend)
    if backend.capabilities.needs_torch_source:  # the exported ONNX file does not carry it
        source = (engine.metadata.get("torch") or {}).get("source")
        if not isinstance(source, dict):
            return None
        model.torch_source = TorchSource.from_dict(source)
    return build(model, backend.fp32_twin(engine.config))


def guardrail(
    engine: Engine, *, threads: int | None = None, iterations: int = 30
) -> LatencyComparison | None:
    """Compare a lower-precision ``engine`` with its FP32 build; None for FP32 engines, when
    the source model is not available, or when an input has a symbolic dim with no known
    value.
    """
    if engine.manifest.precision == "fp32":
        return None
    dims = feed_dims(engine)
    if any(
        not isinstance(d, int) and str(d) not in dims for s in engine.inputs for d in s.shape[1:]
    ):
        return None
    base = fp32_baseline(engine)
    if base is None:
        return None
    return compare_latency(engine, base, threads=threads, iterations=iterations)
