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


def _measure(
    disturb_at: int | None, rounds: int = 10, round_s: float = 0.15
) -> tuple[Stability, set[int], float]:
    """Rounds of a fixed single-threaded workload (~10 ms a sample, so a preemption lands in
    most samples), optionally disturbed from round ``disturb_at`` on by busy-loop processes
    (one per CPU, not declared to the sampler; they stop after the sampler's last reading, as
    a disturbance that outlives the measurement would). Running as root here, they run at a
    higher priority than this process; elsewhere at the normal one, which disturbs a quiet
    CI machine just as well. Returns the verdict, the busy pids and the step: the median
    round p50 from ``disturb_at`` (round 5 when undisturbed) over the median before it.
    """
    work = np.random.default_rng(0).standard_normal((96, 96))
    p50s = []
    stress = CpuStress(os.cpu_count() or 1, max_seconds=30, nice=-5)
    try:
        with UsageSampler() as sampler:
            for r in range(rounds):
                if r == disturb_at:
                    stress.__enter__()
                lat = []
                end = time.perf_counter() + round_s
                while time.perf_counter() < end or len(lat) < 3:
                    t0 = time.perf_counter_ns()
                    for _ in range(150):
                        work = np.tanh(work @ work * 1e-3)
                    lat.append(time.perf_counter_ns() - t0)
                p50s.append(float(np.median(lat)) / 1e6)
        pids = set(stress.pids)
    finally:
        stress.stop()
    k = rounds // 2 if disturb_at is None else disturb_at
    step = float(np.median(p50s[k:]) / np.median(p50s[:k]))
    return assess(sampler.usage, p50s), pids, step


def test_a_disturbed_run_is_flagged_with_the_busy_processes() -> None:
    st, busy, _ = _measure(disturb_at=3)
    assert busy and not st.stable
    assert st.usage is not None
    named = {p.pid for p in st.usage.new}
    assert named & busy, st.usage.new  # the evidence names the processes that started
    assert any("started during the run" in r for r in st.reasons), st.reasons


def test_a_quiet_run_is_not_flagged_for_what_disturbed_the_other() -> None:
    """On this shared machine a globally quiet run cannot be promised, so the quiet run is
    compared with a disturbed one measured in the same process right after it.
    """
    quiet, _, quiet_step = _measure(disturb_at=None)
    disturbed, busy, disturbed_step = _measure(disturb_at=5)
    assert quiet.usage is not None and disturbed.usage is not None
    assert not any(p.pid in busy for p in quiet.usage.new)  # nothing of ours disturbed it
    assert any(p.pid in busy for p in disturbed.usage.new)
    # the disturbance moved the disturbed run's later rounds; nothing moved the quiet one's alike
    assert disturbed_step > quiet_step, (disturbed.rounds, quiet.rounds)
    assert not disturbed.stable
    # on a machine that was quiet apart from us, the quiet run passes outright
    other = quiet.usage.share(quiet.usage.other_cpu_s)
    wait = (quiet.usage.wait_s or 0.0) / quiet.usage.wall_s
    if other is not None and other < StabilityLimits().other_share / 2 and wait < 0.05:
        assert quiet.stable, quiet.reasons
