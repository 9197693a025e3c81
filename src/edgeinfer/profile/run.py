"""Profile an engine: per-layer times from the backend's profiler, checked against the
end-to-end latency measured in the same run.

The persistent runner's end-to-end latency (:meth:`Runner.timed_infer`) and the backend's
per-layer profile (:meth:`Runner.profile`, a separate profiling session) are measured in
alternating blocks: ``rounds`` times (end-to-end block, profile block), then a last
end-to-end block, with a short pause before each so that the last runtime's spinning threads
do not steal the cores. The coverage says how much of the end-to-end latency the layers
explain, paired by round (each profile block against the end-to-end blocks around it, then
the median over rounds) so a load spike in one round does not skew it; the rest is framework
overhead between layers (and the profiler's own cost). The machine's usage during the run
gives the stability verdict.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from edgeinfer import serde
from edgeinfer.backends.base import LayerProfile
from edgeinfer.bench.latency import engine_info
from edgeinfer.bench.stability import Stability, assess
from edgeinfer.bench.stats import LatencyStats, latency_stats
from edgeinfer.bench.usage import UsageSampler
from edgeinfer.errors import ConfigError
from edgeinfer.host import current_host
from edgeinfer.model import Model
from edgeinfer.profile.mapping import map_to_source
from edgeinfer.profile.summary import by_group, layer_rows, merge_profiles
from edgeinfer.progress import Progress
from edgeinfer.tensors import random_feed

if TYPE_CHECKING:
    import onnx

    from edgeinfer.backends.base import Runner
    from edgeinfer.engine import Engine

__all__ = ["ProfileConfig", "ProfileResult", "profile_runner", "source_graph"]

PROFILE_CONFIG_VERSION = 1
MAX_ITERATIONS = 100_000
# Between blocks: the runtime that ran last (the runner's or the profiler's thread pool)
# spins for a while after its last call and would steal the cores from the next block.
SETTLE_S = 0.05


@dataclass(frozen=True)
class ProfileConfig:
    """How to profile.

    Attributes:
        iterations: profiled inferences in total (split over the rounds).
        rounds: alternations of an end-to-end block and a profile block.
        warmup: unmeasured inferences first.
        batch: batch size of the random feed.
        seed: seed of the random feed.
        shapes: whole input shapes by input name (dynamic dims other than the batch).
        version: format version of this config.
    """

    WHAT: ClassVar[str] = "profile config"

    iterations: int = 60
    rounds: int = 4
    warmup: int = 10
    batch: int = 1
    seed: int = 0
    shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    version: int = PROFILE_CONFIG_VERSION

    def __post_init__(self) -> None:
        if not 1 <= self.iterations <= MAX_ITERATIONS:
            raise ConfigError(f"--iterations must be in 1..{MAX_ITERATIONS}, got {self.iterations}")
        if not 1 <= self.rounds <= self.iterations:
            raise ConfigError(
                f"--rounds must be in 1..--iterations ({self.iterations}), got {self.rounds}"
            )
        if self.warmup < 0:
            raise ConfigError(f"--warmup must be >= 0, got {self.warmup}")
        if self.batch < 1:
            raise ConfigError(f"--batch must be >= 1, got {self.batch}")
        serde.check_version(self.WHAT, self.version, PROFILE_CONFIG_VERSION)

    def to_dict(self) -> dict[str, Any]:
        """JSON data (see :mod:`edgeinfer.serde`)."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProfileConfig:
        """Parse :meth:`to_dict` data.

        Raises:
            ConfigError: unknown keys, wrong types, invalid values or a newer version.
        """
        return serde.from_dict(cls, data)


@dataclass
class ProfileResult:
    """A per-layer profile with the end-to-end latency it explains.

    Attributes:
        profile: every profiled inference, layers mapped to ONNX node names where possible.
        e2e: the persistent runner's end-to-end latency (ms) in the same run.
        stability: whether the machine disturbed the run, with the evidence.
        config: how it was profiled.
        engine: the engine's description.
        mapped: layers were mapped to the source model's ONNX node names.
        host: the machine.
        command: the command line that ran, if any.
        round_coverage: per round, the profile block's median summed layer time over the
            p50 of the end-to-end blocks around it.
    """

    profile: LayerProfile
    e2e: LatencyStats
    stability: Stability
    config: ProfileConfig
    engine: dict[str, Any]
    mapped: bool = False
    host: dict[str, Any] = field(default_factory=dict)
    command: str | None = None
    round_coverage: tuple[float, ...] = ()

    @property
    def layer_sum_p50(self) -> float:
        """The median over profiled inferences of the summed layer times (ms)."""
        p = self.profile
        return float(np.median(p.iteration_ms)) if p.iteration_ms else p.total_ms

    @property
    def coverage(self) -> float:
        """How much of the end-to-end latency the layers explain: the median over rounds of
        (the round's median summed layer time / the p50 of the end-to-end blocks just before
        and after it). Paired by round, like the search's speed-ups, so a load spike in one
        round does not skew it; without rounds, the overall medians.
        """
        if self.round_coverage:
            return float(np.median(self.round_coverage))
        return self.layer_sum_p50 / self.e2e.p50 if self.e2e.p50 > 0 else float("nan")

    def to_dict(self, *, top: int | None = None) -> dict[str, Any]:
        """JSON data: the layer table (``top`` slowest; all with None), the op-type and
        precision tables, end-to-end latency, coverage, stability and context.
        """
        p = self.profile
        rows = layer_rows(p)
        return {
            "engine": self.engine,
            "config": self.config.to_dict(),
            "source": p.source,
            "iterations": p.iterations,
            "layers_total": len(p.layers),
            "layer_sum_ms": p.total_ms,
            "layer_sum_p50_ms": self.layer_sum_p50,
            "profiled_run_ms": float(np.mean(p.run_ms)) if p.run_ms else None,
            "e2e_latency_ms": self.e2e.to_dict(),
            "coverage": self.coverage,
            "round_coverage": [round(c, 4) for c in self.round_coverage],
            "workspace_bytes": p.workspace_bytes,
            "mapped_to_onnx": self.mapped,
            "layers": [r.to_dict() for r in (rows if top is None else rows[:top])],
            "by_op_type": [g.to_dict() for g in by_group(p, "op_type")],
            "by_precision": [g.to_dict() for g in by_group(p, "precision")],
            "notes": list(p.notes),
            "unstable": not self.stability.stable,
            "stability": self.stability.to_dict(),
            "host": self.host,
            "command": self.command,
        }


def source_graph(engine: Engine, model: Model | None = None) -> onnx.GraphProto | None:
    """The graph the engine was built from: ``model``'s, else the manifest's source file when
    it still exists with the recorded hash; None when neither is available.
    """
    if model is not None:
        return model.proto.graph
    src = engine.manifest.source_model
    path = src.get("path")
    if not path or not Path(path).is_file():
        return None
    try:
        found = Model.load(path)
    except Exception:  # a changed or unreadable file: profile without names
        return None
    return found.proto.graph if found.hash == src.get("hash") else None


def _blocks(cfg: ProfileConfig) -> list[int]:
    base, extra = divmod(cfg.iterations, cfg.rounds)
    return [base + (1 if i < extra else 0) for i in range(cfg.rounds)]


def profile_runner(
    runner: Runner,
    config: ProfileConfig | None = None,
    feed: Mapping[str, np.ndarray] | None = None,
    *,
    source: onnx.GraphProto | None = None,
    quiet: bool | None = None,
) -> ProfileResult:
    """Profile an active runner (see the module docstring).

    Raises:
        BackendError: the backend has no per-layer profiler, or it failed.
    """
    cfg = config or ProfileConfig()
    data = (
        dict(feed)
        if feed is not None
        else random_feed(runner.input_specs, cfg.batch, cfg.seed, shapes=dict(cfg.shapes))
    )
    for _ in range(cfg.warmup):
        runner.infer(data)
    e2e: list[int] = []
    p50s: list[float] = []
    profiles: list[LayerProfile] = []
    blocks = _blocks(cfg)
    with (
        UsageSampler() as sampler,
        Progress(quiet) as progress,
        progress.task("profile rounds", len(blocks)) as task,
    ):
        for n in [*blocks, blocks[-1]]:
            time.sleep(SETTLE_S)
            block = [runner.timed_infer(data) for _ in range(max(n, 5))]
            e2e += block
            p50s.append(float(np.median(block)) / 1e6)
            if len(profiles) < len(blocks):
                time.sleep(SETTLE_S)
                profiles.append(runner.profile(data, iterations=n))
                task.advance()
    rounds = tuple(
        float(np.median(p.iteration_ms)) / ((p50s[i] + p50s[i + 1]) / 2)
        for i, p in enumerate(profiles)
        if p.iteration_ms and p50s[i] + p50s[i + 1] > 0
    )
    merged = merge_profiles(profiles)
    if source is not None:
        merged = replace(merged, layers=map_to_source(merged.layers, source))
    stats = latency_stats(np.asarray(e2e, dtype=np.int64))
    return ProfileResult(
        profile=merged,
        e2e=stats,
        stability=assess(sampler.usage, p50s, p50=stats.p50, p99=stats.p99),
        config=cfg,
        engine=engine_info(runner),
        mapped=source is not None,
        host=current_host().to_dict(),
        round_coverage=rounds,
    )
