"""Phase 5 of the search: the finalists judged on the held-out split (data the tuning never
saw), then latency in interleaved rounds, and the mixed-precision latency cost from the
same rounds.

The rounds are judged (:func:`edgeinfer.bench.stability.assess`: each finalist's spread over
its rounds, other processes' CPU time, steal, run-queue waits). On an unstable machine the
search measures as many rounds again before deciding (time budget permitting) and judges them
all together; what stays unstable is marked in the results and warned about with its evidence.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from edgeinfer.bench.stability import Stability, assess
from edgeinfer.bench.usage import UsageSampler
from edgeinfer.builder import load_runner
from edgeinfer.errors import EdgeInferError, first_line
from edgeinfer.search.measure import (
    Timing,
    combine_timings,
    interleaved_latency,
    probe_latency,
)
from edgeinfer.search.results import MixedReport
from edgeinfer.search.select import accuracy_violations
from edgeinfer.search.timing import OutOfTime, time_limit

if TYPE_CHECKING:
    from edgeinfer.bench.usage import MachineUsage
    from edgeinfer.search.phases import Search

RUN = ""  # the key of the run-wide verdict (machine usage) among the finalists' verdicts


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

        def measure(what: str) -> dict[str, Timing]:
            with search.progress.task(what, rounds) as task:
                return interleaved_latency(
                    runners,
                    search.feed,
                    rounds=rounds,
                    round_s=search.cfg.round_s,
                    estimates_ms=est,
                    baseline=base,
                    on_round=lambda _r: task.advance(),
                )

        with UsageSampler() as sampler:
            timings = measure("interleaved latency rounds")
            verdicts = _verdicts(timings, sampler.stop())
            extended = False
            if _unstable(verdicts) and search.clock.left() > full:  # time for as many again
                search.log("[yellow]unstable machine: measuring more interleaved rounds[/]")
                timings = combine_timings(timings, measure("extra latency rounds"), base)
                extended = True
        verdicts = _verdicts(timings, sampler.usage)
    _record(search, timings, verdicts, extended)
    _mixed_cost(search, timings)


def _mixed_cost(search: Search, timings: dict[str, Timing]) -> None:
    """Each mixed candidate's p50 over its pure INT8 base's, from the same rounds."""
    for m in list(search.mixed):
        if m.result and m.result in timings and m.base in timings:
            t_mixed, t_base = timings[m.result].stats.p50, timings[m.base].stats.p50
            i = search.mixed.index(m)
            search.mixed[i] = MixedReport(**{**m.__dict__, "latency_cost": t_mixed / t_base})


def _verdicts(timings: dict[str, Timing], usage: MachineUsage | None) -> dict[str, Stability]:
    """Each finalist's verdict from its per-round p50s, and the run's from the machine usage."""
    out = {
        n: assess(None, t.round_p50s, p50=t.stats.p50, p99=t.stats.p99) for n, t in timings.items()
    }
    out[RUN] = assess(usage)
    return out


def _unstable(verdicts: dict[str, Stability]) -> bool:
    return any(not v.stable for v in verdicts.values())


def _record(
    search: Search, timings: dict[str, Timing], verdicts: dict[str, Stability], extended: bool
) -> None:
    """Store the timings and verdicts in the results; warn with the evidence."""
    run = verdicts[RUN]
    for n, t in timings.items():
        res = search.results[n]
        res.latency, res.latency_source, res.throughput = t.stats, "interleaved", t.throughput
        res.ratio_vs_baseline, res.samples_ms = t.ratio_vs_baseline, t.cdf_samples_ms()
        res.paired_p50_ms = t.paired_p50_ms
        res.round_ratios = [round(r, 5) for r in t.round_ratios]
        res.unstable = not (verdicts[n].stable and run.stable)
        res.stability = verdicts[n].to_dict()
        res.status = "measured"
    reasons = list(run.reasons) + [f"{n}: {r}" for n in timings for r in verdicts[n].reasons]
    rounds = len(next(iter(timings.values())).round_p50s) if timings else 0
    search.stability = {
        "stable": not reasons,
        "reasons": reasons,
        "notes": list(run.notes),
        "rounds": rounds,
        "extended": extended,
        "usage": None if run.usage is None else run.usage.to_dict(),
    }
    if reasons:
        more = f" (even after extending to {rounds} rounds)" if extended else ""
        text = (
            f"unstable machine during the finalists' latency rounds{more}: "
            + "; ".join(reasons[:4])
            + ". Latencies and speed-ups are marked; re-run on a quieter machine to trust them."
        )
        search.warnings.append(text)
        search.log(f"[yellow]⚠ {escape(text)}[/]")
