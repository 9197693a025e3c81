"""Measurements for the search: data arrays, outputs, quick probes and interleaved latency.

Latency uses the ``bench`` protocol (:func:`edgeinfer.bench.bench_runner`: warm-up apart,
closed loop, ``perf_counter_ns`` per call). Finalists are timed in interleaved rounds (A B C,
B C A, …) so slow drifts of a shared machine hit every candidate alike; each candidate's
ratio to the baseline is the median of its per-round p50 ratios.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from edgeinfer.bench.latency import BenchConfig, bench_runner
from edgeinfer.bench.stats import LatencyStats, latency_stats
from edgeinfer.data.base import Dataset, Subset
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
        return self.part(0, n)

    def part(self, start: int, stop: int | None = None) -> EvalData:
        """Samples ``start .. stop`` (and their labels)."""
        return EvalData(
            self.x[start:stop],
            None if self.labels is None else self.labels[start:stop],
            self.source,
            self.input_name,
        )

    def split(self, tune_n: int) -> tuple[EvalData, EvalData]:
        """(tune, holdout): the first ``tune_n`` samples tune the search (quick probes,
        mixed precision's layer choice), the rest judge it. With fewer than 2 samples both
        are the same data (nothing can be held out).
        """
        if self.n < 2:
            return self, self
        k = min(max(1, tune_n), self.n - 1)
        return self.head(k), self.part(k)

    @property
    def n(self) -> int:
        """Number of samples held."""
        return len(self.x)


def sample_hashes(ds: Dataset) -> set[str]:
    """SHA-256 of every sample's raw image (or tensor) bytes: what identifies a sample
    across datasets, whatever their order or subset.
    """
    return {_digest(np.asarray(ds.image(i))) for i in range(len(ds))}


def _digest(a: np.ndarray) -> str:
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def load_data(
    spec: str,
    engine: Engine,
    *,
    limit: int | None,
    seed: int = 0,
    exclude: set[str] | None = None,
) -> tuple[EvalData, int]:
    """Open dataset ``spec`` and preprocess it for ``engine``'s input, leaving out samples
    whose content hash is in ``exclude`` (the calibration samples).

    Returns:
        (the data, how many samples were left out).

    Raises:
        DataError: unknown, unusable or empty data (message from the dataset layer).
    """
    ds = open_dataset(spec, limit=limit, seed=seed)
    dropped = 0
    if exclude:
        keep = [i for i in range(len(ds)) if _digest(np.asarray(ds.image(i))) not in exclude]
        dropped = len(ds) - len(keep)
        if dropped:
            ds = Subset(ds, np.asarray(keep, dtype=np.int64))
    xs, ys = [], []
    if len(ds):
        for x, y in iter_engine_batches(engine, ds, 256):
            xs.append(x)
            if y is not None:
                ys.append(y)
    if not xs:
        why = " once the calibration samples are left out" if dropped else ""
        raise DataError(
            f"dataset '{spec}' is empty{why}; give data with at least one sample"
            + (" that is not also calibration data (--calib)" if dropped else "")
        )
    # Shuffle once (seeded) so any prefix is a fair quick subset.
    x = np.concatenate(xs)
    order = np.random.default_rng(seed).permutation(len(x))
    labels = np.concatenate(ys)[order] if ys else None
    data = EvalData(np.ascontiguousarray(x[order]), labels, ds.describe(), image_input(engine).name)
    return data, dropped


def _batch_size(runner: Any, data: EvalData) -> int:
    spec = next(s for s in runner.input_specs if s.name == data.input_name)
    return spec.shape[0] if isinstance(spec.shape[0], int) else 64


def run_batches(
    runner: Any, data: EvalData, on_batch: Callable[[dict[str, np.ndarray], int], None]
) -> None:
    """Run every input of ``data`` through ``runner``; ``on_batch(outputs, start)`` gets each
    batch's outputs (the runner's buffers: read them at once) and the index of its first
    input. A fixed-batch engine gets its own batch size, the last batch padded.
    """
    bs = _batch_size(runner, data)
    fixed = any(isinstance(s.shape[0], int) for s in runner.input_specs if s.shape)
    for start in range(0, data.n, bs):
        chunk = data.x[start : start + bs]
        n = len(chunk)
        if fixed and n < bs:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], bs - n, axis=0)])
        out = runner.infer({data.input_name: chunk})
        on_batch({k: np.asarray(v)[:n] for k, v in out.items()}, start)


def collect_outputs(runner: Any, data: EvalData) -> dict[str, np.ndarray]:
    """Every output of ``runner`` over every input of ``data``, stacked (copies)."""
    parts: dict[str, list[np.ndarray]] = {}

    def keep(out: dict[str, np.ndarray], start: int) -> None:
        for k, v in out.items():
            parts.setdefault(k, []).append(np.array(v, copy=True))

    run_batches(runner, data, keep)
    return {k: np.concatenate(v) for k, v in parts.items()}


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
    """One finalist's interleaved latency.

    Attributes:
        stats: statistics of every sample of every round.
        samples_ns: those samples.
        ratio_vs_baseline: median over rounds of (this p50 / the baseline's p50 that round).
        throughput: calls per second over all samples.
        round_p50s: this candidate's p50 in each round (ms).
        paired_p50_ms: the baseline's median round p50 times ``ratio_vs_baseline``: a p50
            estimate whose order between candidates is the order of their paired ratios.
    """

    stats: LatencyStats
    samples_ns: np.ndarray
    ratio_vs_baseline: float | None
    throughput: float
    round_p50s: tuple[float, ...] = ()
    paired_p50_ms: float | None = None

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
    out = {}
    base_p50 = float(np.median(p50s[baseline])) if baseline in p50s else None
    for n in names:
        lat = np.concatenate(samples[n])
        ratio = paired = None
        if base_p50 is not None and baseline is not None:
            ratio = float(np.median(np.array(p50s[n]) / np.array(p50s[baseline])))
            paired = ratio * base_p50
        out[n] = Timing(
            latency_stats(lat),
            lat,
            ratio,
            lat.size / (lat.sum() / 1e9),
            tuple(p50s[n]),
            paired,
        )
    return out
