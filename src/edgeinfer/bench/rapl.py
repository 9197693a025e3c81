"""CPU energy from Linux powercap RAPL counters (``/sys/class/powercap/intel-rapl:*``).

Each top-level zone (``package-0``, ``package-1`` …; AMD CPUs expose theirs under the same
driver) has a cumulative ``energy_uj`` counter that wraps to zero after
``max_energy_range_uj``. Sub-zones (``core``, ``uncore``, ``dram``) are parts of a package
and ``psys`` covers the whole platform, so only the packages are summed (``dram`` is reported
apart where present). Since 2020 the counters are readable by root only. A package counter
includes everything else the CPU ran meanwhile: on a busy machine it is an upper bound of
the model's energy (the stability check says when the machine was busy). Where no counter
is readable the result says why; nothing is estimated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "POWERCAP",
    "CpuEnergy",
    "EnergyReading",
    "EnergyResult",
    "RaplZone",
    "measure_cpu_energy",
    "rapl_energy",
    "rapl_zones",
]

POWERCAP = Path("/sys/class/powercap")
POLL_S = 5.0  # read the counters at least this often so that a wrap is never missed


@dataclass(frozen=True)
class RaplZone:
    """One RAPL energy counter.

    Attributes:
        name: the zone's name (``package-0``, ``dram``).
        path: its sysfs directory.
        max_uj: the counter's range: it wraps to 0 after this many µJ.
    """

    name: str
    path: Path
    max_uj: int

    def read_uj(self) -> int:
        """The counter now (µJ).

        Raises:
            OSError: not readable (permissions).
        """
        return int((self.path / "energy_uj").read_text().strip())


def rapl_zones(root: Path | None = None) -> tuple[list[RaplZone], str]:
    """The readable package (and dram) zones under ``root``, and why there are none ("")."""
    base = root or POWERCAP
    if not base.is_dir():
        return [], f"no RAPL energy counters on this machine ({base} does not exist)"
    zones: list[RaplZone] = []
    denied = ""
    for d in sorted(base.glob("intel-rapl:*")):
        try:
            name = (d / "name").read_text().strip()
            if not (name.startswith("package") or name == "dram"):
                continue
            zone = RaplZone(name, d, int((d / "max_energy_range_uj").read_text().strip()))
            zone.read_uj()
        except PermissionError:
            denied = str(d / "energy_uj")
            continue
        except (OSError, ValueError):
            continue
        zones.append(zone)
    if not any(z.name.startswith("package") for z in zones):
        if denied:
            return [], f"RAPL counters are readable by root only ({denied}); run as root"
        return [], f"no readable RAPL package counter under {base}"
    return zones, ""


def wrapped_delta(before: int, after: int, max_uj: int) -> int:
    """µJ between two readings of a counter that wraps to 0 after ``max_uj``."""
    return after - before if after >= before else after + (max_uj - before) + 1


@dataclass
class EnergyReading:
    """Energy summed over the package zones (and dram) during a block.

    Attributes:
        available: the counters were read (False: ``reason`` says why not).
        reason: why no energy is available.
        seconds: the block's wall time.
        package_j: joules of every package.
        dram_j: joules of the dram zones (None: no dram zone).
        zones: the zones read.
    """

    available: bool
    reason: str = ""
    seconds: float = 0.0
    package_j: float = 0.0
    dram_j: float | None = None
    zones: list[str] = field(default_factory=list)

    @property
    def avg_power_w(self) -> float | None:
        """Average package power (W) over the block."""
        return self.package_j / self.seconds if self.available and self.seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """JSON data."""
        return {
            "available": self.available,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "package_j": round(self.package_j, 4),
            "dram_j": None if self.dram_j is None else round(self.dram_j, 4),
            "avg_power_w": None if self.avg_power_w is None else round(self.avg_power_w, 2),
            "zones": list(self.zones),
        }


class _Accumulator:
    """Sums wrap-aware deltas of every zone; a thread reads every :data:`POLL_S` seconds."""

    def __init__(self, zones: list[RaplZone]) -> None:
        self.zones = zones
        self.last = [z.read_uj() for z in zones]
        self.total = [0] * len(zones)
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def read(self) -> None:
        with self.lock:
            for i, z in enumerate(self.zones):
                now = z.read_uj()
                self.total[i] += wrapped_delta(self.last[i], now, z.max_uj)
                self.last[i] = now

    def poll(self) -> None:
        while not self.stop.wait(POLL_S):
            self.read()


@contextmanager
def rapl_energy(root: Path | None = None) -> Iterator[EnergyReading]:
    """Measure the energy of a ``with`` block.

    The yielded reading is filled when the block ends (``available`` False, with the reason,
    when no counter is readable).
    """
    zones, reason = rapl_zones(root)
    if not zones:
        yield EnergyReading(False, reason)
        return
    reading = EnergyReading(True, zones=[z.name for z in zones])
    acc = _Accumulator(zones)
    poller = threading.Thread(target=acc.poll, name="edgeinfer-rapl", daemon=True)
    t0 = time.perf_counter()
    poller.start()
    try:
        yield reading
    finally:
        acc.stop.set()
        poller.join()
        acc.read()
        reading.seconds = time.perf_counter() - t0
        uj = dict(zip(range(len(zones)), acc.total, strict=True))
        reading.package_j = sum(uj[i] for i, z in enumerate(zones) if z.name != "dram") / 1e6
        dram = [uj[i] for i, z in enumerate(zones) if z.name == "dram"]
        reading.dram_j = sum(dram) / 1e6 if dram else None


@dataclass(frozen=True)
class EnergyResult:
    """Energy of a run of inferences (``available`` False: ``reason`` says why not).

    Attributes:
        available: energy was measured.
        reason: why not, when it was not.
        source: the counters read (``RAPL package counters``).
        device: what they cover (``package-0, dram``).
        seconds: the measured window.
        inferences: inferences (batch items) in the window.
        avg_power_w: average power over the window (W).
        joules_per_inference: energy per inference (J), everything the device drew.
        idle_power_w: average power over an idle window just before (W; None: not measured).
    """

    available: bool
    reason: str = ""
    source: str = ""
    device: str = ""
    seconds: float = 0.0
    inferences: int = 0
    avg_power_w: float | None = None
    joules_per_inference: float | None = None
    idle_power_w: float | None = None

    @property
    def net_joules_per_inference(self) -> float | None:
        """Energy per inference above the idle power (J; None without an idle reading)."""
        if self.avg_power_w is None or self.idle_power_w is None or not self.inferences:
            return None
        return max(self.avg_power_w - self.idle_power_w, 0.0) * self.seconds / self.inferences

    def describe(self) -> str:
        """One line for people."""
        if not self.available:
            return f"energy: not available ({self.reason})"
        mj = (self.joules_per_inference or 0.0) * 1000
        idle = "" if self.idle_power_w is None else f", idle {self.idle_power_w:.1f} W"
        return (
            f"energy: {mj:.3f} mJ/inference, average {self.avg_power_w:.1f} W{idle} over "
            f"{self.seconds:.1f} s ({self.inferences} inferences; {self.source}, {self.device})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON data, with ``net_joules_per_inference``."""
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["net_joules_per_inference"] = self.net_joules_per_inference
        return data


class CpuEnergy:
    """The CPU's energy over a block, and an idle reading just before it."""

    def __init__(self, reading: EnergyReading, idle: EnergyReading | None) -> None:
        self.reading = reading
        self.idle = idle

    def result(self, inferences: int) -> EnergyResult:
        """The energy per inference of ``inferences`` inferences run in the block."""
        r = self.reading
        if not r.available:
            return EnergyResult(False, r.reason)
        return EnergyResult(
            True,
            source="RAPL package counters (everything the CPU ran)",
            device=", ".join(r.zones),
            seconds=round(r.seconds, 3),
            inferences=inferences,
            avg_power_w=None if r.avg_power_w is None else round(r.avg_power_w, 2),
            joules_per_inference=r.package_j / inferences if inferences else None,
            idle_power_w=None if self.idle is None else self.idle.avg_power_w,
        )


@contextmanager
def measure_cpu_energy(idle_s: float = 1.0, root: Path | None = None) -> Iterator[CpuEnergy]:
    """Read the CPU's energy over a ``with`` block, after ``idle_s`` seconds of idle reading.

    Yields a :class:`CpuEnergy` whose ``result(n)`` gives joules per inference once the block
    has ended.
    """
    idle = None
    if idle_s > 0 and rapl_zones(root)[0]:
        with rapl_energy(root) as idle:
            time.sleep(idle_s)
    with rapl_energy(root) as reading:
        energy = CpuEnergy(reading, idle)
        yield energy
