"""The stability verdict: the decision on given evidence, and real runs on this machine, one
deliberately disturbed by busy-loop processes started during the measurement.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from edgeinfer.bench.stability import Stability, StabilityLimits, assess, block_p50s, spread
from edgeinfer.bench.stress import CpuStress
from edgeinfer.bench.usage import MachineUsage, ProcessUsage, UsageSampler
from edgeinfer.errors import ConfigError


def _usage(**kw: object) -> MachineUsage:
    base: dict[str, object] = dict(
        wall_s=2.0, cpus=2, own_cpu_s=2.0, other_cpu_s=0.1, steal_s=0.0, wait_s=0.05,
        load_before=0.5, load_after=0.7,
    )
    base.update(kw)
    return MachineUsage(**base)  # type: ignore[arg-type]


def test_a_quiet_measurement_is_stable() -> None:
    st = assess(_usage(), [10.0, 10.2, 9.9, 10.1], p50=10.0, p99=11.0)
    assert st.stable and st.reasons == () and st.warning() == ""
    assert st.notes == ("load average 0.5 → 0.7 on 2 CPU(s)",)
    assert st.spread == pytest.approx(0.3 / 10.05)


def test_each_kind_of_evidence_makes_it_unstable() -> None:
    busy = ProcessUsage(4242, "python busy.py", 1.9, started_during=True)
    cases = {
        "its rounds' p50s spread by 50% (8–13 ms over 3 rounds)": assess(None, [8.0, 10.0, 13.0]),
        "other processes used 48% of the 2 CPU(s) this run used (1.90 CPU-s in 2.00 s): "
        "python busy.py (pid 4242, started during the run) 1.90 s": assess(
            _usage(other_cpu_s=1.9, top=(busy,))
        ),
        "the hypervisor took 10% of the CPU time (steal)": assess(_usage(steal_s=0.4)),
        "the benchmark's threads waited 1.20 s for a CPU during 2.00 s": assess(_usage(wait_s=1.2)),
    }
    for reason, st in cases.items():
        assert not st.stable
        assert st.reasons == (reason,)
        assert st.warning().startswith(f"unstable machine: these numbers may be off — {reason}.")


def test_heavy_tail_is_a_note_not_instability() -> None:
    st = assess(_usage(), [10.0, 10.0], p50=950.0, p99=3700.0)
    assert st.stable and st.heavy_tail
    assert "heavy tail: p99 is 3.9x p50" in st.notes


def test_block_p50s_and_spread() -> None:
    ns = np.concatenate([np.full(10, 1e6), np.full(10, 2e6)]).astype(np.int64)
    assert block_p50s(ns, 2) == (1.0, 2.0)
    assert block_p50s(ns[:7], 2) == ()  # fewer than 4 samples a block
    assert spread([1.0, 2.0, 3.0]) == pytest.approx(1.0)
    assert spread([1.0]) is None


def test_limits_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"stability limit spread must be in \(0, 10\), got 0"):
        StabilityLimits(spread=0)
    with pytest.raises(ConfigError, match=r"stability limit tail must be in \(1, 1000\), got 1"):
        StabilityLimits(tail=1)


def test_to_dict_keeps_the_evidence() -> None:
    data = assess(_usage(other_cpu_s=1.9), [10.0, 12.0]).to_dict()
    assert data["stable"] is False and data["round_p50_ms"] == [10.0, 12.0]
    assert data["usage"]["other_cpu_s"] == 1.9 and data["usage"]["cpus"] == 2


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1


def _measure(disturb_after: float | None, rounds: int = 14, round_s: float = 0.12) -> tuple[Stability, set[int]]:
    """Rounds of a fixed single-threaded workload, optionally disturbed part-way by busy-loop
    processes (two per CPU, started mid-run and not declared to the sampler; they stop after
    the sampler's last reading, as a disturbance that outlives the measurement would).
    """
    work = np.random.default_rng(0).standard_normal((96, 96))
    p50s = []
    stress = CpuStress(2 * (os.cpu_count() or 1), max_seconds=30)
    started = False
    try:
        with UsageSampler() as sampler:
            start = time.perf_counter()
            for _ in range(rounds):
                if disturb_after is not None and not started and time.perf_counter() - start > disturb_after:
                    stress.__enter__()
                    started = True
                lat = []
                end = time.perf_counter() + round_s
                while time.perf_counter() < end:
                    t0 = time.perf_counter_ns()
                    for _ in range(20):
                        work = np.tanh(work @ work * 1e-3)
                    lat.append(time.perf_counter_ns() - t0)
                p50s.append(float(np.median(lat)) / 1e6)
        pids = set(stress.pids)
    finally:
        stress.stop()
    return assess(sampler.usage, p50s), pids


def test_a_disturbed_run_is_flagged_with_the_busy_processes() -> None:
    st, busy = _measure(disturb_after=0.4)
    assert busy and not st.stable
    assert st.usage is not None
    named = {p.pid for p in st.usage.new}
    assert named & busy, st.usage.new  # the evidence names the processes that started
    assert any("started during the run" in r for r in st.reasons), st.reasons


def test_a_quiet_run_is_not_flagged_for_what_disturbed_the_other() -> None:
    """On this shared machine a globally quiet run cannot be promised, so the quiet run is
    compared with a disturbed one measured in the same process right after it.
    """
    quiet, _ = _measure(disturb_after=None)
    disturbed, busy = _measure(disturb_after=0.4)
    assert quiet.usage is not None and disturbed.usage is not None
    assert not any(p.pid in busy for p in quiet.usage.new)  # nothing of ours disturbed it
    assert any(p.pid in busy for p in disturbed.usage.new)
    # the disturbance moved the disturbed run's rounds more than anything moved the quiet one
    assert quiet.spread is not None and disturbed.spread is not None
    assert disturbed.spread > quiet.spread
    assert not disturbed.stable
    # on a machine that was quiet apart from us, the quiet run passes outright
    other = quiet.usage.share(quiet.usage.other_cpu_s)
    wait = (quiet.usage.wait_s or 0.0) / quiet.usage.wall_s
    if other is not None and other < StabilityLimits().other_share / 2 and wait < 0.05:
        assert quiet.stable, quiet.reasons
