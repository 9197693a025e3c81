"""Phase 5 of the search: the finalists measured fully (all the data, then latency in
interleaved rounds), and the mixed-precision latency cost from the same rounds.

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
    collect_outputs,
    combine_timings,
    interleaved_latency,
    probe_latency,
)
from edgeinfer.search.results import MixedReport

if TYPE_CHECKING:
    from edgeinfer.bench.usage import MachineUsage
    from edgeinfer.search.phases import Search

RUN = ""  # the key of the run-wide verdict (machine usage) among the finalists' verdicts


def measure_finalists(search: Search) -> None:
    """Accuracy on all the data, then interleaved latency rounds, for every finalist."""
    names = [n for n in search.finalists if n in search.engines]
    with search.progress.task("full accuracy", len(names)) as task:
        for n in names:
            res = search.results[n]
            try:
                with load_runner(search.engines[n]) as r:
                    out = collect_outputs(r, search.data)
            except (EdgeInferError, RuntimeError, ValueError) as exc:
                res.status, res.error = "error", f"run failed: {first_line(exc)}"
                continue
            res.quality = search.quality_of(out, subset=False)
            task.advance()
    names = [n for n in names if search.results[n].status != "error"]
    if search.baseline_name is not None:
        with load_runner(search.engines[search.baseline_name]) as r:
            out = collect_outputs(r, search.data)
            stats, _ = probe_latency(r, search.feed)
        res = search.results[search.baseline_name]
        res.quality, res.latency = search.quality_of(out, subset=False), stats
        names.append(search.baseline_name)
    _interleave(search, names)


def _interleave(search: Search, names: list[str]) -> None:
    runners: dict[str, Any] = {}
    with ExitStack() as stack:
        for n in names:
            runners[n] = stack.enter_context(load_runner(search.engines[n]))
        est = {n: search.results[n].latency.p50 for n in runners if search.results[n].latency}  # type: ignore[union-attr]
        rounds = search.cfg.rounds if not search.late() else min(search.cfg.rounds, 2)
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
            if _unstable(verdicts) and not search.late():
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
        search.notes.append(text)
        search.log(f"[yellow]⚠ {escape(text)}[/]")
