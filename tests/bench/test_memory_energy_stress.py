"""Memory probes, RAPL energy counters (a sysfs tree in a temp directory: this machine has
none) and the bounded CPU load of --stress-cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgeinfer.bench.memory import MemoryProbe, MemoryUsage, RunMemory, rss_mb
from edgeinfer.bench.rapl import (
    POWERCAP,
    measure_cpu_energy,
    rapl_energy,
    rapl_zones,
    wrapped_delta,
)
from edgeinfer.bench.stress import CpuStress, check_stress_cores
from edgeinfer.errors import ConfigError

LINUX = sys.platform.startswith("linux")


@pytest.mark.skipif(not LINUX, reason="VmHWM and clear_refs are Linux")
def test_memory_probe_sees_the_peak_of_its_block() -> None:
    with MemoryProbe() as probe:
        block = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
        del block
    u = probe.usage
    assert u is not None and u.peak_of_block
    assert u.growth_mb > 150
    assert u.after_mb < u.peak_mb  # freed again
    with MemoryProbe() as quiet:
        pass
    assert quiet.usage is not None and quiet.usage.growth_mb < 50  # the peak was reset


def test_run_memory_describes_itself() -> None:
    mem = RunMemory(3 * 2**20, MemoryUsage(100.0, 120.0, 150.0), 110.0, MemoryUsage(90.0, 95.0, 400.0))
    assert mem.describe() == (
        "memory: engine 3.00 MiB on disk, load+run peak RSS 150 MiB (+50 MiB), "
        "build peak RSS 400 MiB (+310)"
    )
    data = mem.to_dict()
    assert data["engine_mb"] == 3.0 and data["run"]["growth_mb"] == 50.0
    assert rss_mb() is None or rss_mb() > 10  # type: ignore[operator]


def _zone(root: Path, name: str, index: str, uj: int, max_uj: int, mode: int = 0o644) -> Path:
    d = root / f"intel-rapl:{index}"
    d.mkdir(parents=True)
    (d / "name").write_text(name + "\n")
    (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    (d / "energy_uj").write_text(f"{uj}\n")
    (d / "energy_uj").chmod(mode)
    return d


def test_wrapped_delta() -> None:
    assert wrapped_delta(100, 250, 1000) == 150
    assert wrapped_delta(900, 50, 999) == 150  # wrapped to 0 after 999


def test_no_rapl_here_is_said_not_estimated(tmp_path: Path) -> None:
    zones, reason = rapl_zones(tmp_path / "missing")
    assert zones == [] and reason.startswith("no RAPL energy counters on this machine")
    with rapl_energy(tmp_path / "missing") as reading:
        pass
    assert not reading.available and reading.avg_power_w is None
    with measure_cpu_energy(idle_s=0, root=tmp_path / "missing") as energy:
        pass
    res = energy.result(100)
    assert not res.available and res.joules_per_inference is None
    assert res.describe().startswith("energy: not available (no RAPL energy counters")
    if not POWERCAP.exists():
        assert rapl_zones()[1] == f"no RAPL energy counters on this machine ({POWERCAP} does not exist)"


def test_rapl_sums_packages_handles_wraps_and_keeps_dram_apart(tmp_path: Path) -> None:
    pkg = _zone(tmp_path, "package-0", "0", 999_000_000, 1_000_000_000)
    _zone(tmp_path, "core", "0:0", 5, 1_000_000_000)  # part of the package: not summed
    dram = _zone(tmp_path, "dram", "0:2", 10, 1_000_000_000)
    _zone(tmp_path, "psys", "1", 10, 1_000_000_000)  # the whole platform: not summed
    zones, reason = rapl_zones(tmp_path)
    assert [z.name for z in zones] == ["package-0", "dram"] and reason == ""
    with measure_cpu_energy(idle_s=0, root=tmp_path) as energy:
        (pkg / "energy_uj").write_text("1000000\n")  # wrapped: 1 J + 2 J
        (dram / "energy_uj").write_text("500010\n")
    res = energy.result(4)
    assert res.available and energy.reading.package_j == pytest.approx(2.000001, rel=1e-6)
    assert energy.reading.dram_j == pytest.approx(0.5)
    assert res.joules_per_inference == pytest.approx(0.5, rel=1e-5)
    assert res.device == "package-0, dram"


def test_rapl_polls_so_several_wraps_are_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import edgeinfer.bench.rapl as rapl

    monkeypatch.setattr(rapl, "POLL_S", 0.02)
    pkg = _zone(tmp_path, "package-0", "0", 0, 999)
    stop = threading.Event()

    def tick() -> None:  # 300 µJ every 10 ms: wraps every ~33 ms
        v = 0
        while not stop.is_set():
            v = (v + 300) % 1000
            (pkg / "tmp").write_text(f"{v}\n")
            os.replace(pkg / "tmp", pkg / "energy_uj")  # sysfs reads are atomic too
            time.sleep(0.01)

    writer = threading.Thread(target=tick)
    with rapl_energy(tmp_path) as reading:
        writer.start()
        time.sleep(0.3)
        stop.set()
        writer.join()
    assert reading.package_j * 1e6 > 3 * 999  # more than three wraps' worth


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_root_only_counters_say_so(tmp_path: Path) -> None:
    _zone(tmp_path, "package-0", "0", 1, 1000, mode=0o000)
    zones, reason = rapl_zones(tmp_path)
    assert zones == [] and "readable by root only" in reason


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_stress_processes_burn_cpu_and_stop() -> None:
    with CpuStress(2, max_seconds=30) as stress:
        pids = stress.pids
        assert len(pids) == 2
        before = {p: _cpu_ticks(p) for p in pids}
        time.sleep(0.5)
        assert all(_cpu_ticks(p) > before[p] for p in pids)
    time.sleep(0.1)
    assert not any(Path(f"/proc/{p}").exists() and "Z" not in Path(f"/proc/{p}/stat").read_text().split()[2] for p in pids)


@pytest.mark.skipif(not LINUX, reason="reads /proc")
def test_stress_outlives_neither_its_deadline_nor_its_parent(tmp_path: Path) -> None:
    code = (
        "import sys, time; from edgeinfer.bench.stress import CpuStress; "
        "s = CpuStress(1, max_seconds=60).__enter__(); print(s.pids[0], flush=True); time.sleep(60)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()  # no clean-up runs in the parent
    parent.wait()
    deadline = time.monotonic() + 3
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists()
    with CpuStress(1, max_seconds=0.3) as stress:
        pid = stress.pids[0]
        time.sleep(0.8)
        assert stress._procs[0].poll() == 0  # exited by itself at its deadline
    assert pid


def test_stress_cores_are_checked() -> None:
    check_stress_cores(0)
    cpus = os.cpu_count() or 1
    with pytest.raises(ConfigError) as exc:
        check_stress_cores(-1)
    assert str(exc.value) == (
        f"--stress-cores must be between 0 and {4 * cpus} (4x this machine's {cpus} CPUs), got -1"
    )
    with pytest.raises(ConfigError, match="stress duration must be in"):
        CpuStress(1, max_seconds=0)
