"""Phase 5 of the search: the finalists judged on the held-out split (data the tuning never
saw), then latency in interleaved rounds, and the mixed-precision latency cost from the
same rounds.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from edgeinfer.builder import load_runner
from edgeinfer.errors import EdgeInferError, first_line
from edgeinfer.search.measure import interleaved_latency, probe_latency
from edgeinfer.search.results import MixedReport
from edgeinfer.search.select import accuracy_violations
from edgeinfer.search.timing import OutOfTime, time_limit

if TYPE_CHECKING:
    from edgeinfer.search.phases import Search


def measure_finalists(search: Search) -> None:
    """The held-out verdict for every finalist, then interleaved latency rounds.

    Finalists were chosen (and mixed precision tuned) on the tuning split; each is now
    judged on the held-out split it never saw, fastest first, while time allows (one that
    is not judged in time cannot win: it is marked skipped).
    """
    names = sorted(
        (n for n in search.finalists if n in search.engines),
        key=lambda n: (search.results[n].role != "reference", search.objective(search.results[n])),
    )
    with search.progress.task("held-out verdict", len(names)) as task:
        for n in names:
            _judge(search, n)
            task.advance()
    _mixed_verdicts(search)
    names = [n for n in names if search.results[n].status not in ("error", "skipped")]
    if search.baseline_name is not None:
        with load_runner(search.engines[search.baseline_name]) as r:
            q = search.measure_quality(r, subset=False)
            stats, _ = probe_latency(r, search.feed)
        res = search.results[search.baseline_name]
        res.tune_quality, res.quality, res.latency = res.quality, q, stats
        names.append(search.baseline_name)
    _interleave(search, names)


def _judge(search: Search, name: str) -> None:
    """``name``'s quality on the held-out split (its tuning-split quality kept apart)."""
    res = search.results[name]
    if res.role == "reference":  # its held-out outputs are the reference itself
        assert search.ref_full is not None
        res.tune_quality, res.quality = (
            res.quality,
            search.quality_of(search.ref_full, subset=False),
        )
        return
    if search.clock.left() < search.clock.final_phase_s(1):
        res.status = "skipped"
        res.reasons.append("not judged on the held-out split: time budget reached")
        search.skipped.append(name)
        return
    try:
        with (
            time_limit(search.clock.left() - search.clock.final_phase_s(0)),
            load_runner(search.engines[name]) as r,
        ):
            q = search.measure_quality(r, subset=False)
    except OutOfTime:
        res.status = "skipped"
        res.reasons.append("not judged on the held-out split: time budget reached")
        search.skipped.append(name)
        return
    except (EdgeInferError, RuntimeError, ValueError) as exc:
        res.status, res.error = "error", f"run failed: {first_line(exc)}"
        return
    res.tune_quality, res.quality = res.quality, q


def _mixed_verdicts(search: Search) -> None:
    """Say when a mixed-precision result tuned to the budget misses it on held-out data."""
    for i, m in enumerate(search.mixed):
        res = search.results.get(m.result) if m.result else None
        if res is None or res.quality is None or res.quality.split != "holdout":
            continue
        missed = accuracy_violations(res.quality, search.budget)
        if missed:
            note = (
                f"met the budget on the tuning split but not on the {res.quality.n} held-out "
                f"inputs ({'; '.join(missed)})"
            )
            search.mixed[i] = MixedReport(**{**m.__dict__, "meets_budget": False, "note": note})


def _interleave(search: Search, names: list[str]) -> None:
    runners: dict[str, Any] = {}
    with ExitStack() as stack:
        for n in names:
            runners[n] = stack.enter_context(load_runner(search.engines[n]))
        est = {n: search.results[n].latency.p50 for n in runners if search.results[n].latency}  # type: ignore[union-attr]
        full = search.clock.final_phase_s(0) * len(runners) / max(len(runners) + 1, 1)
        rounds = search.cfg.rounds if search.clock.left() > full else min(search.cfg.rounds, 2)
        base = search.baseline_name or next(
            (n for n in names if search.results[n].role == "reference"), None
        )
        with search.progress.task("interleaved latency rounds", rounds) as task:
            timings = interleaved_latency(
                runners,
                search.feed,
                rounds=rounds,
                round_s=search.cfg.round_s,
                estimates_ms=est,
                baseline=base,
                on_round=lambda _r: task.advance(),
            )
    for n, t in timings.items():
        res = search.results[n]
        res.latency, res.latency_source, res.throughput = t.stats, "interleaved", t.throughput
        res.ratio_vs_baseline, res.samples_ms = t.ratio_vs_baseline, t.cdf_samples_ms()
        res.paired_p50_ms = t.paired_p50_ms
        res.status = "measured"
    for m in list(search.mixed):
        if m.result and m.result in timings and m.base in timings:
            t_mixed, t_base = timings[m.result].stats.p50, timings[m.base].stats.p50
            i = search.mixed.index(m)
            search.mixed[i] = MixedReport(**{**m.__dict__, "latency_cost": t_mixed / t_base})
