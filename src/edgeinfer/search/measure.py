"""Measurements for the search: data arrays, outputs, quick probes and interleaved latency.

Latency uses the ``bench`` protocol (:func:`edgeinfer.bench.bench_runner`: warm-up apart,
closed loop, ``perf_counter_ns`` per call). Finalists are timed in interleaved rounds (A B C,
B C A, …) so slow drifts of a shared machine hit every candidate alike; each candidate's
ratio to the baseline is the median of its per-round p50 ratios.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from edgeinfer.bench.latency import BenchConfig, bench_runner
from edgeinfer.bench.stats import LatencyStats, latency_stats
from edgeinfer.data.datasets import image_input, iter_engine_batches, open_dataset
from edgeinfer.errors import DataError

if TYPE_CHECKING:
    from edgeinfer.backends.base import Runner
    from edgeinfer.engine import Engine

MAX_CDF_SAMPLES = 2000


@dataclass
class EvalData:
    """Preprocessed inputs (and labels) held in memory for every candidate."""

    x: np.ndarray
    labels: np.ndarray | None
    source: str
    input_name: str

    def head(self, n: int) -> EvalData:
        """The first ``n`` samples (and labels), e.g. the quick-probe subset."""
        return EvalData(
            self.x[:n],
            None if self.labels is None else self.labels[:n],
            self.source,
            self.input_name,
        )

    @property
    def n(self) -> int:
        """Number of samples held."""
        return len(self.x)


def load_data(spec: str, engine: Engine, *, limit: int | None, seed: int = 0) -> EvalData:
    """Open dataset ``spec`` and preprocess it for ``engine``'s input.

    Raises:
        DataError: unknown or unusable data (message from the dataset layer).
    """
    ds = open_dataset(spec, limit=limit, seed=seed)
    xs, ys = [], []
    for x, y in iter_engine_batches(engine, ds, 256):
        xs.append(x)
        if y is not None:
            ys.append(y)
    if not xs:
        raise DataError(f"dataset '{spec}' is empty; give data with at least one sample")
    # Shuffle once (seeded) so any prefix is a fair quick subset.
    x = np.concatenate(xs)
    order = np.random.default_rng(seed).permutation(len(x))
    labels = np.concatenate(ys)[order] if ys else None
    return EvalData(np.ascontiguousarray(x[order]), labels, ds.describe(), image_input(engine).name)


def _batch_size(runner: Any, data: EvalData) -> int:
    spec = next(s for s in runner.input_specs if s.name == data.input_name)
    return 1 if isinstance(spec.shape[0], int) else 64


def collect_outputs(runner: Any, data: EvalData) -> np.ndarray:
    """The first output of ``runner`` over every input of ``data``, stacked."""
    bs = _batch_size(runner, data)
    outs = []
    for start in range(0, data.n, bs):
        out = runner.infer({data.input_name: data.x[start : start + bs]})
        outs.append(np.array(next(iter(out.values())), copy=True))
    return np.concatenate(outs)


def latency_feed(data: EvalData) -> dict[str, np.ndarray]:
    """One real input at batch 1 (INT8 kernels may behave differently on random noise)."""
    return {data.input_name: np.ascontiguousarray(data.x[:1])}


def probe_latency(
    runner: Any, feed: Mapping[str, np.ndarray], *, seconds: float = 0.4
) -> tuple[LatencyStats, np.ndarray]:
    """A quick closed-loop measurement lasting about ``seconds`` (at least 10 calls)."""
    t0 = time.perf_counter()
    for _ in range(3):
        runner.infer(feed)
    per_call = max((time.perf_counter() - t0) / 3, 1e-6)
    iters = int(min(max(seconds / per_call, 10), 2000))
    res = bench_runner(
        cast("Runner", runner), BenchConfig(iterations=iters, warmup=5), feed, quiet=True
    )
    return res.stats, res.latencies_ns


@dataclass
class Timing:
    """One finalist's interleaved latency."""

    stats: LatencyStats
    samples_ns: np.ndarray
    ratio_vs_baseline: float | None
    throughput: float
    round_p50s: list[float] = field(default_factory=list)
    round_ratios: list[float] = field(default_factory=list)

    def cdf_samples_ms(self) -> list[float]:
        """The sorted latencies in ms, thinned to at most ``MAX_CDF_SAMPLES`` evenly spaced ones."""
        ms = np.sort(self.samples_ns.astype(np.float64) / 1e6)
        if ms.size > MAX_CDF_SAMPLES:
            ms = ms[np.linspace(0, ms.size - 1, MAX_CDF_SAMPLES).astype(int)]
        return [round(float(v), 5) for v in ms]


def interleaved_latency(
    runners: Mapping[str, Any],
    feed: Mapping[str, np.ndarray],
    *,
    rounds: int = 5,
    round_s: float = 0.3,
    estimates_ms: Mapping[str, float] | None = None,
    baseline: str | None = None,
    on_round: Callable[[int], None] | None = None,
    settle_s: float = 0.05,
) -> dict[str, Timing]:
    """Time every runner in ``rounds`` interleaved rounds of about ``round_s`` seconds each.

    Between runners it sleeps ``settle_s``: thread pools of the runtime that ran before
    (OpenMP in PyTorch, TBB in OpenVINO, ONNX Runtime's) spin for a while after their last
    call and would otherwise steal the cores from the next one on a small machine.
    """
    names = list(runners)
    est = dict(estimates_ms or {})
    iters = {n: int(min(max(round_s * 1000 / max(est.get(n, 1.0), 1e-3), 10), 5000)) for n in names}
    samples: dict[str, list[np.ndarray]] = {n: [] for n in names}
    p50s: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for n in order:
            time.sleep(settle_s)  # let the previous runtime's spinning threads park
            cfg = BenchConfig(iterations=iters[n], warmup=5)
            res = bench_runner(cast("Runner", runners[n]), cfg, feed, quiet=True)
            samples[n].append(res.latencies_ns)
            p50s[n].append(res.stats.p50)
        if on_round:
            on_round(r)
    return _timings({n: np.concatenate(samples[n]) for n in names}, p50s, baseline)


def _timings(
    samples: Mapping[str, np.ndarray], p50s: Mapping[str, list[float]], baseline: str | None
) -> dict[str, Timing]:
    out = {}
    base = list(p50s.get(baseline, [])) if baseline is not None else []
    for n, lat in samples.items():
        ratios = [a / b for a, b in zip(p50s[n], base, strict=True) if b > 0] if base else []
        ratio = float(np.median(ratios)) if ratios else None
        out[n] = Timing(
            latency_stats(lat), lat, ratio, lat.size / (lat.sum() / 1e9), list(p50s[n]), ratios
        )
    return out


def combine_timings(
    first: Mapping[str, Timing], more: Mapping[str, Timing], baseline: str | None
) -> dict[str, Timing]:
    """The timings of two sets of interleaved rounds of the same runners, as one set."""
    samples = {n: np.concatenate([first[n].samples_ns, more[n].samples_ns]) for n in first}
    p50s = {n: first[n].round_p50s + more[n].round_p50s for n in first}
    return _timings(samples, p50s, baseline)
