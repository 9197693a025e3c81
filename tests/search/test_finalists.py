"""The finalists' latency rounds: combined over extensions, judged, marked and warned about."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from edgeinfer.search.finalists import _record, _verdicts
from edgeinfer.search.measure import _timings, combine_timings
from edgeinfer.search.results import CandidateResult


def _ns(*ms: float) -> np.ndarray:
    return (np.asarray(ms) * 1e6).astype(np.int64)


def test_round_ratios_and_combined_rounds() -> None:
    first = _timings(
        {"base": _ns(10, 10), "fast": _ns(5, 4)}, {"base": [10.0, 10.0], "fast": [5.0, 4.0]}, "base"
    )
    assert first["fast"].round_ratios == pytest.approx((0.5, 0.4))
    assert first["fast"].ratio_vs_baseline == pytest.approx(0.45)
    more = _timings({"base": _ns(20), "fast": _ns(5)}, {"base": [20.0], "fast": [5.0]}, "base")
    both = combine_timings(first, more, "base")
    assert both["fast"].round_p50s == (5.0, 4.0, 5.0)
    assert both["fast"].round_ratios == pytest.approx((0.5, 0.4, 0.25))
    assert both["fast"].ratio_vs_baseline == pytest.approx(0.4)
    assert both["fast"].stats.n == 3


def _search(names: list[str]) -> Any:
    results = {n: CandidateResult(n, None) for n in names}
    logged: list[str] = []
    return SimpleNamespace(results=results, warnings=[], log=logged.append, stability=None)


def test_a_spread_round_marks_the_candidate_and_warns_with_the_evidence() -> None:
    p50s = {"base": [10.0, 10.2, 9.9], "noisy": [5.0, 9.0, 5.1]}
    timings = _timings({n: _ns(*v) for n, v in p50s.items()}, p50s, "base")
    search = _search(list(p50s))
    _record(search, timings, _verdicts(timings, None), extended=True)
    assert not search.results["base"].unstable and search.results["noisy"].unstable
    assert search.stability["stable"] is False and search.stability["extended"] is True
    assert search.stability["reasons"] == [
        "noisy: its rounds' p50s spread by 78% (5–9 ms over 3 rounds)"
    ]
    assert search.warnings[0].startswith(
        "unstable machine during the finalists' latency rounds (even after extending to 3 "
        "rounds): noisy: its rounds' p50s spread by 78%"
    )


def test_steady_rounds_are_not_flagged() -> None:
    p50s = {"base": [10.0, 10.1, 10.0], "fast": [5.0, 5.1, 5.0]}
    timings = _timings({n: _ns(*v) for n, v in p50s.items()}, p50s, "base")
    search = _search(list(p50s))
    _record(search, timings, _verdicts(timings, None), extended=False)
    assert search.stability["stable"] and not search.warnings
    assert not any(r.unstable for r in search.results.values())


def test_disturbed_quick_probes_are_marked_and_prune_only_on_a_clear_margin() -> None:
    from edgeinfer.bench.usage import MachineUsage
    from edgeinfer.search.phases import DOMINANCE_MARGIN, NOISY_DOMINANCE_MARGIN, Search

    probed, skipped = CandidateResult("a", None), CandidateResult("b", None)
    probed.latency_source = "probe"
    search = SimpleNamespace(
        results={"a": probed, "b": skipped}, warnings=[], dominance=DOMINANCE_MARGIN
    )
    busy = MachineUsage(wall_s=2.0, cpus=2, own_cpu_s=2.0, other_cpu_s=1.9, steal_s=0.0,
                        wait_s=0.05, load_before=0.5, load_after=0.7)  # fmt: skip
    Search._judge_probes(search, busy)  # type: ignore[arg-type]
    assert search.dominance == NOISY_DOMINANCE_MARGIN
    assert probed.unstable and probed.stability is not None and not probed.stability["stable"]
    assert not skipped.unstable
    assert search.warnings == [
        "unstable machine during the quick probes (other processes used 48% of the 2 CPU(s) "
        "this run used (1.90 CPU-s in 2.00 s)): candidates were pruned as dominated only when "
        "1.5x slower (not 1.1x)"
    ]
    quiet = MachineUsage(wall_s=2.0, cpus=2, own_cpu_s=2.0, other_cpu_s=0.1, steal_s=0.0,
                         wait_s=0.05, load_before=0.5, load_after=0.7)  # fmt: skip
    search = SimpleNamespace(results={}, warnings=[], dominance=DOMINANCE_MARGIN)
    Search._judge_probes(search, quiet)  # type: ignore[arg-type]
    assert search.dominance == DOMINANCE_MARGIN and search.warnings == []
