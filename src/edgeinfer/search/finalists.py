"""Phase 5 of the search: the finalists measured fully (all the data, then latency in
interleaved rounds), and the mixed-precision latency cost from the same rounds.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from edgeinfer.builder import load_runner
from edgeinfer.errors import EdgeInferError, first_line
from edgeinfer.search.measure import (
    collect_outputs,
    interleaved_latency,
    probe_latency,
)
from edgeinfer.search.results import MixedReport

if TYPE_CHECKING:
    from edgeinfer.search.phases import Search


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
        res.status = "measured"
    for m in list(search.mixed):
        if m.result and m.result in timings and m.base in timings:
            t_mixed, t_base = timings[m.result].stats.p50, timings[m.base].stats.p50
            i = search.mixed.index(m)
            search.mixed[i] = MixedReport(**{**m.__dict__, "latency_cost": t_mixed / t_base})
