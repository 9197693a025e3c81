"""Can these numbers be trusted? Decide whether a measurement ran on an unstable machine.

The verdict comes from what happened *during* the run (:class:`~edgeinfer.bench.usage.MachineUsage`)
and from the numbers themselves:

- **spread across rounds**: the per-round p50s of one variant (interleaved rounds in
  ``optimize``, consecutive blocks in ``bench``) differ by more than ``limits.spread`` of their
  median: the machine changed under the measurement;
- **other processes' CPU time** on the CPUs we ran on above ``limits.other_share`` of their
  capacity (the evidence names the processes, and those that started during the run);
- **steal time** (a VM's hypervisor serving other guests) above ``limits.steal_share``;
- **run-queue waits**: our threads waited for a CPU for more than ``limits.wait_share`` of the
  wall time.

The load average is shown as context (it counts every CPU and lags a minute). A heavy tail
(p99 over ``limits.tail`` times p50) is reported as a note, not as instability: it may be the
model's own behaviour. Nothing here changes a number; callers mark, warn and re-measure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeinfer.bench.usage import MachineUsage
from edgeinfer.errors import ConfigError

__all__ = ["Stability", "StabilityLimits", "assess", "block_p50s", "spread"]


@dataclass(frozen=True)
class StabilityLimits:
    """Where a measurement stops being trustworthy (fractions).

    Attributes:
        spread: (max - min) / median of the per-round p50s.
        other_share: other processes' CPU time / capacity of our CPUs.
        steal_share: steal time / capacity of our CPUs.
        wait_share: our threads' run-queue wait / wall time.
        tail: p99 / p50 above which the tail is reported (and a p99 objective offered).
    """

    spread: float = 0.20
    other_share: float = 0.25
    steal_share: float = 0.05
    wait_share: float = 0.25
    tail: float = 2.0

    def __post_init__(self) -> None:
        for name in ("spread", "other_share", "steal_share", "wait_share"):
            value = getattr(self, name)
            if not 0 < value < 10:
                raise ConfigError(f"stability limit {name} must be in (0, 10), got {value}")
        if not 1 < self.tail < 1000:
            raise ConfigError(f"stability limit tail must be in (1, 1000), got {self.tail}")


@dataclass(frozen=True)
class Stability:
    """The verdict on one measurement, with its evidence.

    Attributes:
        stable: no sign that the machine disturbed the measurement.
        reasons: why it is not stable (one line of evidence each; empty when stable).
        notes: context: load average, a heavy tail.
        spread: (max - min) / median of the per-round p50s (None: fewer than 2 rounds).
        rounds: the per-round p50s (ms).
        tail_ratio: p99 / p50 (None: unknown).
        usage: what the machine did during the measurement (None: not sampled).
    """

    stable: bool
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    spread: float | None = None
    rounds: tuple[float, ...] = ()
    tail_ratio: float | None = None
    usage: MachineUsage | None = field(default=None, compare=False)

    @property
    def heavy_tail(self) -> bool:
        """A note says the tail is heavy (p99 far above p50)."""
        return any(n.startswith("heavy tail") for n in self.notes)

    def warning(self, what: str = "these numbers") -> str:
        """One paragraph for people: what is wrong and what to do; "" when stable."""
        if self.stable:
            return ""
        return (
            f"unstable machine: {what} may be off — " + "; ".join(self.reasons) + ". Re-run on "
            "a quieter machine, or compare only variants measured interleaved in one run."
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON data: the verdict, its evidence and the machine usage."""
        return {
            "stable": self.stable,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "spread": None if self.spread is None else round(self.spread, 4),
            "round_p50_ms": [round(v, 4) for v in self.rounds],
            "tail_ratio": None if self.tail_ratio is None else round(self.tail_ratio, 3),
            "usage": None if self.usage is None else self.usage.to_dict(),
        }


def spread(values: Sequence[float]) -> float | None:
    """(max - min) / median of ``values``; None for fewer than 2 values or a zero median."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if v.size < 2:
        return None
    med = float(np.median(v))
    return None if med <= 0 else float((v.max() - v.min()) / med)


def block_p50s(samples_ns: np.ndarray, blocks: int = 5) -> tuple[float, ...]:
    """The p50 (ms) of each of ``blocks`` consecutive, equal parts of a run's samples (a
    closed-loop run's stand-in for interleaved rounds); () with fewer than 4 samples a block.
    """
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    if blocks < 2 or ms.size < 4 * blocks:
        return ()
    return tuple(float(np.median(part)) for part in np.array_split(ms, blocks))


def _usage_reasons(u: MachineUsage, limits: StabilityLimits) -> list[str]:
    reasons = []
    other = u.share(u.other_cpu_s)
    if other is not None and other > limits.other_share:
        shown = list(u.top[:3]) + [p for p in u.new[:3] if p not in u.top[:3]]
        who = ", ".join(
            f"{p.name} (pid {p.pid}{', started during the run' if p.started_during else ''}) "
            f"{p.cpu_s:.2f} s"
            for p in shown
        )
        reasons.append(
            f"other processes used {100 * other:.0f}% of the {u.cpus} CPU(s) this run used "
            f"({u.other_cpu_s:.2f} CPU-s in {u.wall_s:.2f} s)" + (f": {who}" if who else "")
        )
    steal = u.share(u.steal_s)
    if steal is not None and steal > limits.steal_share:
        reasons.append(f"the hypervisor took {100 * steal:.0f}% of the CPU time (steal)")
    if u.wait_s is not None and u.wall_s > 0 and u.wait_s / u.wall_s > limits.wait_share:
        reasons.append(
            f"the benchmark's threads waited {u.wait_s:.2f} s for a CPU during {u.wall_s:.2f} s"
        )
    return reasons


def _notes(u: MachineUsage | None, tail: float | None, limits: StabilityLimits) -> list[str]:
    notes = []
    if u is not None and u.load_before is not None and u.load_after is not None:
        notes.append(f"load average {u.load_before:.1f} → {u.load_after:.1f} on {u.cpus} CPU(s)")
    if tail is not None and tail > limits.tail:
        notes.append(f"heavy tail: p99 is {tail:.1f}x p50")
    return notes


def assess(
    usage: MachineUsage | None,
    rounds: Sequence[float] = (),
    *,
    p50: float | None = None,
    p99: float | None = None,
    limits: StabilityLimits | None = None,
) -> Stability:
    """The verdict on a measurement from the machine's usage during it, its per-round p50s
    (ms) and its p50/p99 (ms).
    """
    lim = limits or StabilityLimits()
    reasons: list[str] = []
    s = spread(rounds)
    if s is not None and s > lim.spread:
        reasons.append(
            f"its rounds' p50s spread by {100 * s:.0f}% ({min(rounds):.3g}–{max(rounds):.3g} ms "
            f"over {len(rounds)} rounds)"
        )
    if usage is not None:
        reasons += _usage_reasons(usage, lim)
    tail = p99 / p50 if p50 and p99 and p50 > 0 else None
    return Stability(
        stable=not reasons,
        reasons=tuple(reasons),
        notes=tuple(_notes(usage, tail, lim)),
        spread=s,
        rounds=tuple(float(r) for r in rounds),
        tail_ratio=tail,
        usage=usage,
    )
