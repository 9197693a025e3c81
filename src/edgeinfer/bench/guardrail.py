"""The lower-precision guardrail: is this engine actually faster than FP32 on this host?

Both engines run in interleaved rounds (blocks of a few inferences of each in turn, same
threads, same inputs, the order alternating per round) so that drift in machine load hits
both alike. The speed-up is the median of the per-round p50 ratios, reported with their
spread; "faster" needs a median of at least 1.05x *and* most rounds agreeing, so a claim
never rests on one noisy stretch. An engine whose lower precision does not execute (ONNX
Runtime's CPU provider runs FP16 graphs in FP32) is never called faster: its difference is
noise by construction.
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
# ... and be faster in at least this fraction of the rounds.
AGREEING_ROUNDS = 0.8

# Runs of one engine before switching to the other: short enough to interleave load drift,
# long enough that a thread pool still spinning from the other engine's last run hits few.
BLOCK = 5
ROUNDS = 7


@dataclass(frozen=True)
class LatencyComparison:
    """p50/p99 of a candidate engine and its baseline, measured interleaved in rounds.

    Attributes:
        candidate, baseline: their requested precisions.
        candidate_p50, baseline_p50, candidate_p99, baseline_p99: over every sample (ms).
        iterations: samples of each engine.
        threads: intra-op threads of both.
        backend: the candidate's backend.
        ratios: per round, baseline p50 / candidate p50 (> 1: the candidate was faster).
        executed: the precision the candidate really executes (None: as requested).
    """

    candidate: str
    baseline: str
    candidate_p50: float
    baseline_p50: float
    candidate_p99: float
    baseline_p99: float
    iterations: int
    threads: int | None
    backend: str
    ratios: tuple[float, ...] = ()
    executed: str | None = None

    @property
    def speedup(self) -> float:
        """Median of the per-round ratios (> 1: the candidate is faster); the pooled p50
        ratio when no rounds were recorded.
        """
        if self.ratios:
            return float(np.median(self.ratios))
        return self.baseline_p50 / self.candidate_p50 if self.candidate_p50 > 0 else float("inf")

    @property
    def spread(self) -> tuple[float, float]:
        """Lowest and highest per-round ratio."""
        if not self.ratios:
            return (self.speedup, self.speedup)
        return (min(self.ratios), max(self.ratios))

    @property
    def executes_baseline(self) -> bool:
        """Whether the candidate really runs in the baseline's precision."""
        return self.executed is not None and self.executed == self.baseline

    @property
    def agreeing(self) -> bool:
        """Whether enough rounds saw the candidate faster."""
        if not self.ratios:
            return True
        return sum(r > 1.0 for r in self.ratios) >= AGREEING_ROUNDS * len(self.ratios)

    @property
    def faster(self) -> bool:
        """Faster by at least 5% (median of rounds), in most rounds, and really executing
        a lower precision.
        """
        return not self.executes_baseline and self.speedup >= FASTER_MARGIN and self.agreeing

    def _numbers(self) -> str:
        lo, hi = self.spread
        rounds = f"median of {len(self.ratios)} interleaved rounds, " if self.ratios else ""
        return (
            f"{self.speedup:.2f}x, {rounds}range {lo:.2f}-{hi:.2f}x; p50 "
            f"{self.candidate_p50:.2f} ms vs {self.baseline_p50:.2f} ms"
        )

    def message(self) -> str:
        """One plain sentence for the user."""
        if self.faster:
            return (
                f"{self.candidate} is {self.speedup:.2f}x faster than {self.baseline} on this "
                f"host ({self._numbers()})"
            )
        switch = find_backends(available_only=False, searched_by_default=True)
        others = [b for b in switch if b != self.backend]
        hint = f" or try --backend {others[0]}" if others else ""
        if self.executes_baseline:
            return (
                f"{self.candidate} executes {self.baseline} on this host, so it is not faster "
                f"than {self.baseline} (measured {self._numbers()}: noise); keep "
                f"{self.baseline}{hint}"
            )
        if self.speedup >= FASTER_MARGIN:
            return (
                f"{self.candidate} may be faster than {self.baseline} but the rounds disagree "
                f"({self._numbers()}): the host is too noisy to tell; measure again on a quiet "
                f"machine (edgeinfer bench)"
            )
        return (
            f"{self.candidate} is not faster than {self.baseline} on this host "
            f"({self._numbers()}); keep {self.baseline}{hint}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON data: the fields plus ``speedup``, ``spread``, ``faster`` and the ``message``."""
        return {
            **asdict(self),
            "ratios": list(self.ratios),
            "speedup": self.speedup,
            "spread": list(self.spread),
            "faster": self.faster,
            "message": self.message(),
        }


def compare_latency(
    candidate: Engine,
    baseline: Engine,
    *,
    iterations: int = ROUNDS * BLOCK,
    warmup: int = 5,
    threads: int | None = None,
    batch: int = 1,
    seed: int = 0,
) -> LatencyComparison:
    """Measure ``candidate`` against ``baseline`` interleaved, at ``batch`` with ``threads``.

    ``iterations`` samples of each are taken in rounds of :data:`BLOCK` (at most
    :data:`ROUNDS` rounds, more samples per round beyond). Both engines get the same
    random inputs (their input specs must match).
    """
    feed = random_feed(
        baseline.inputs,
        batch=batch,
        seed=seed,
        dims=feed_dims(baseline),
        shapes=_shapes(baseline, batch),
    )
    with (
        load_runner(candidate, threads=threads) as rc,
        load_runner(baseline, threads=threads) as rb,
    ):
        for _ in range(warmup):
            rc.infer(feed)
            rb.infer(feed)
        lat, ratios = _interleaved((rc, rb), feed, iterations)
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
        ratios=ratios,
        executed=candidate.precision,
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


def _shapes(engine: Engine, batch: int) -> dict[str, tuple[int, ...]]:
    """The whole input shape from the stored preprocessing size when the input has symbolic
    non-batch dims (exporters may give H and W the same name, e.g. ``?``).
    """
    spec = stored_spec(engine)
    if spec is None or spec.size is None or len(engine.inputs) != 1:
        return {}
    inp = engine.inputs[0]
    shape = (batch, *spec.tensor_shape())
    if len(shape) != len(inp.shape) or not any(not isinstance(d, int) for d in inp.shape[1:]):
        return {}
    if any(isinstance(d, int) and d != v for d, v in zip(inp.shape[1:], shape[1:], strict=True)):
        return {}
    return {inp.name: shape}


def _interleaved(
    runners: tuple[Runner, Runner], feed: dict[str, np.ndarray], n: int
) -> tuple[np.ndarray, tuple[float, ...]]:
    """``(2, n)`` latencies in ns and the per-round ratios (baseline p50 / candidate p50):
    rounds of blocks, the order alternating per round.
    """
    rounds = max(1, min(ROUNDS, n // BLOCK))
    bounds = np.linspace(0, n, rounds + 1).astype(int)
    lat = np.empty((2, n), dtype=np.int64)
    ratios = []
    for r in range(rounds):
        lo, hi = int(bounds[r]), int(bounds[r + 1])
        for k in (0, 1) if r % 2 == 0 else (1, 0):
            timed = runners[k].timed_infer
            for i in range(lo, hi):
                lat[k, i] = timed(feed)
        if hi > lo:
            c, b = np.median(lat[0, lo:hi]), np.median(lat[1, lo:hi])
            ratios.append(float(b / c) if c > 0 else float("inf"))
    return lat, tuple(ratios)


def fp32_baseline(engine: Engine) -> Engine | None:
    """The FP32 twin of ``engine`` (its backend's :meth:`~edgeinfer.backends.base.Backend.fp32_twin`
    config: same threads and runtime options) built from the same source model, or taken from
    the cache; None when the source model file is gone or changed.
    """
    src = engine.manifest.source_model.get("path")
    if not src or not Path(src).is_file():
        return None
    model = Model.load(src)
    want = engine.manifest.source_model.get("hash")
    if model.hash != want:
        # built with --preprocess: the spec was stored in the model in memory
        spec = engine.metadata.get("preprocess")
        model = model.with_meta(preprocess=spec) if spec else model
        if model.hash != want:
            return None  # the file changed since the engine was built
    backend = get_backend(engine.backend)
    if backend.capabilities.needs_torch_source:  # the exported ONNX file does not carry it
        source = (engine.metadata.get("torch") or {}).get("source")
        if not isinstance(source, dict):
            return None
        model.torch_source = TorchSource.from_dict(source)
    return build(model, backend.fp32_twin(engine.config))


def guardrail(
    engine: Engine, *, threads: int | None = None, iterations: int = ROUNDS * BLOCK
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
