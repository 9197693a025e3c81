"""What else the machine did while we measured: CPU time of other processes, steal, run-queue
waits of our own threads, load average (Linux ``/proc``; elsewhere only the load average).

:class:`UsageSampler` reads the counters when a measurement starts and when it ends:

- ``/proc/stat`` per-CPU busy and steal time, on the CPUs this process may run on: the busy
  time that is not ours is what other processes took from the cores we wanted;
- ``/proc/self/stat`` our own CPU time (every thread);
- ``/proc/self/task/*/schedstat`` how long our threads were runnable but waiting for a CPU;
- ``/proc/[pid]/stat`` of every visible process: who the other CPU time went to, and which
  processes started during the run (a process that ended before the last reading is in the
  total but cannot be named);
- ``os.getloadavg()``: context only (it counts every CPU and lags by a minute).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["MachineUsage", "ProcessUsage", "UsageSampler"]

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PROC = Path("/proc")
TOP_PROCESSES = 5


@dataclass(frozen=True)
class ProcessUsage:
    """Another process's CPU time during the measurement.

    Attributes:
        pid: its process id.
        name: its command name.
        cpu_s: CPU seconds it used during the measurement.
        started_during: it started after the measurement began.
    """

    pid: int
    name: str
    cpu_s: float
    started_during: bool = False


@dataclass(frozen=True)
class MachineUsage:
    """The machine during one measurement.

    Attributes:
        wall_s: the measurement's wall time.
        cpus: CPUs this process may run on.
        own_cpu_s: CPU seconds of this process (all threads).
        other_cpu_s: busy CPU seconds on our CPUs that were not ours (None: not readable).
        steal_s: CPU seconds the hypervisor gave to other guests on our CPUs (None: unknown).
        wait_s: seconds our threads were runnable but waited for a CPU (None: unknown).
        load_before: 1-minute load average when the measurement started.
        load_after: 1-minute load average when it ended.
        top: the other processes that used the most CPU, most first.
        new: processes that started during the measurement and used CPU, most first.
        planned_cpu_s: CPU seconds of processes started on purpose (``--stress-cores``),
            left out of ``other_cpu_s`` and ``top``.
    """

    wall_s: float
    cpus: int
    own_cpu_s: float
    other_cpu_s: float | None = None
    steal_s: float | None = None
    wait_s: float | None = None
    load_before: float | None = None
    load_after: float | None = None
    top: tuple[ProcessUsage, ...] = field(default_factory=tuple)
    new: tuple[ProcessUsage, ...] = field(default_factory=tuple)
    planned_cpu_s: float = 0.0

    def share(self, seconds: float | None) -> float | None:
        """``seconds`` as a fraction of the capacity of our CPUs during the measurement."""
        if seconds is None or self.wall_s <= 0:
            return None
        return seconds / (self.wall_s * max(self.cpus, 1))

    def to_dict(self) -> dict[str, Any]:
        """JSON data (seconds rounded to ms)."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, float):
                data[key] = round(value, 3)
        for key in ("top", "new"):
            data[key] = [{**asdict(p), "cpu_s": round(p.cpu_s, 3)} for p in getattr(self, key)]
        return data


def _cpus() -> set[int]:
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def _cpu_ticks(cpus: set[int]) -> tuple[int, int] | None:
    """(busy, steal) ticks summed over ``cpus`` from ``/proc/stat``."""
    try:
        lines = (_PROC / "stat").read_text().splitlines()
    except OSError:
        return None
    busy = steal = 0
    found = False
    for line in lines:
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        v = [int(x) for x in rest.split()]
        # user nice system idle iowait irq softirq steal (guest time is inside user)
        busy += v[0] + v[1] + v[2] + v[5] + v[6]
        steal += v[7] if len(v) > 7 else 0
        found = True
    return (busy, steal) if found else None


def _stat_fields(path: Path) -> tuple[str, list[str]] | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    head, _, tail = text.rpartition(")")
    return head.partition("(")[2], tail.split()


def _process_table() -> dict[int, tuple[str, int, int]]:
    """Process id -> (name, utime+stime ticks, start time ticks) of every visible process."""
    table = {}
    try:
        entries = [p for p in _PROC.iterdir() if p.name.isdigit()]
    except OSError:
        return {}
    for entry in entries:
        parsed = _stat_fields(entry / "stat")
        if parsed is None or len(parsed[1]) < 20:
            continue
        name, f = parsed  # f[0] is field 3 (state); utime is field 14 -> f[11]
        table[int(entry.name)] = (name, int(f[11]) + int(f[12]), int(f[19]))
    return table


def _wait_ns() -> int | None:
    """Nanoseconds this process's threads spent runnable but waiting for a CPU."""
    total = 0
    try:
        for task in (_PROC / "self" / "task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    except OSError:
        return None
    return total


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


@dataclass
class _Snapshot:
    t: float
    own_s: float
    cpu: tuple[int, int] | None
    procs: dict[int, tuple[str, int, int]]
    wait_ns: int | None
    load: float | None
    boot_ticks: float


def _snapshot(cpus: set[int]) -> _Snapshot:
    own = os.times()
    return _Snapshot(
        t=time.perf_counter(),
        own_s=own.user + own.system,
        cpu=_cpu_ticks(cpus),
        procs=_process_table(),
        wait_ns=_wait_ns(),
        load=_load(),
        boot_ticks=time.clock_gettime(time.CLOCK_BOOTTIME) * _TICK
        if hasattr(time, "CLOCK_BOOTTIME")
        else 0.0,
    )


def _per_process(a: _Snapshot, b: _Snapshot) -> list[ProcessUsage]:
    """CPU time of every other visible process between two snapshots, most first."""
    me = os.getpid()
    used = []
    for pid, (name, ticks, start) in b.procs.items():
        if pid == me:
            continue
        before = a.procs.get(pid)
        new = before is None or before[2] != start
        delta = ticks - (0 if new else before[1])  # type: ignore[index]
        if delta > 0:
            used.append(ProcessUsage(pid, name, delta / _TICK, new and start >= a.boot_ticks))
    used.sort(key=lambda p: p.cpu_s, reverse=True)
    return used


def _top(used: list[ProcessUsage]) -> tuple[ProcessUsage, ...]:
    return tuple(
        ProcessUsage(p.pid, _command(p.pid, p.name), p.cpu_s, p.started_during)
        for p in used[:TOP_PROCESSES]
    )


def _command(pid: int, name: str, width: int = 48) -> str:
    """A short command line of ``pid`` (``python -m pytest``), else its name."""
    try:
        args = (_PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return name
    words = [
        Path(a.decode(errors="replace")).name if i == 0 else a.decode(errors="replace")
        for i, a in enumerate(args[:4])
        if a
    ]
    text = " ".join(" ".join(words).split()) or name
    return text if len(text) <= width else text[: width - 1] + "…"


class UsageSampler:
    """Measure what the machine did around a block.

    Example::

        with UsageSampler() as sampler:
            run_the_benchmark()
        usage = sampler.usage

    Args:
        planned: process ids of load started on purpose (``--stress-cores``): their CPU
            time is counted apart, not as a disturbance.
    """

    def __init__(self, planned: tuple[int, ...] = ()) -> None:
        self.planned = set(planned)
        self.cpus = _cpus()
        self._start: _Snapshot | None = None
        self.usage: MachineUsage | None = None

    def __enter__(self) -> UsageSampler:
        self._start = _snapshot(self.cpus)
        return self

    def __exit__(self, *exc: object) -> None:
        self.usage = self.stop()

    def stop(self) -> MachineUsage:
        """The usage from ``__enter__`` until now."""
        a = self._start
        if a is None:
            raise RuntimeError("UsageSampler.stop() before start")
        b = _snapshot(self.cpus)
        wall = b.t - a.t
        own = b.own_s - a.own_s
        other = steal = None
        if a.cpu is not None and b.cpu is not None:  # tick rounding: clamp to the capacity
            other = min(max((b.cpu[0] - a.cpu[0]) / _TICK - own, 0.0), wall * len(self.cpus))
            steal = (b.cpu[1] - a.cpu[1]) / _TICK
        wait = None if a.wait_ns is None or b.wait_ns is None else (b.wait_ns - a.wait_ns) / 1e9
        used = _per_process(a, b)
        planned = sum(p.cpu_s for p in used if p.pid in self.planned)
        if other is not None:
            other = max(other - planned, 0.0)
        return MachineUsage(
            wall_s=wall,
            cpus=len(self.cpus),
            own_cpu_s=own,
            other_cpu_s=other,
            steal_s=steal,
            wait_s=wait,
            load_before=a.load,
            load_after=b.load,
            top=_top([p for p in used if p.pid not in self.planned]),
            new=_top([p for p in used if p.started_during and p.pid not in self.planned]),
            planned_cpu_s=planned,
        )
