"""The search, phase by phase: probe every candidate cheaply, prune, try mixed precision,
then the finalists are measured fully in :mod:`edgeinfer.search.finalists`.

:class:`Search` holds the state so that a Ctrl-C at any point leaves every finished
candidate in ``results`` (and its engine in the cache) for the partial report.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from rich.markup import escape

from edgeinfer.builder import build, load_runner
from edgeinfer.errors import first_line
from edgeinfer.search.candidates import (
    Candidate,
    thread_variant,
)
from edgeinfer.search.measure import (
    EvalData,
    collect_outputs,
    latency_feed,
    probe_latency,
    run_batches,
)
from edgeinfer.search.metrics import (
    QualityAccumulator,
    clearly_misses,
    clearly_passes,
    describe_quality,
    quality_of,
)
from edgeinfer.search.pruned import pruning_summary
from edgeinfer.search.results import CandidateResult, MixedReport, Quality
from edgeinfer.search.select import accuracy_violations, objective_value
from edgeinfer.search.timing import OutOfTime, TimeKeeper, time_limit

if TYPE_CHECKING:
    from edgeinfer.engine import Engine
    from edgeinfer.model import Model
    from edgeinfer.progress import Progress
    from edgeinfer.search.config import OptimizeConfig

DOMINANCE_MARGIN = 1.10  # pruned when another candidate is >= 10% faster and as accurate
SMALL_MODEL_MS = 1.0  # below this p50, one thread may beat several
CLOSE_CALLS = 2  # finalists that miss the budget narrowly on the subset but are faster


class Search:
    """State of one search. Call the phases in order; every phase respects the deadline.

    ``tune`` is what the search is tuned on (quick probes, pruning, mixed precision's layer
    choice); ``holdout`` is a separate split that gives the finalists' verdict, so a
    candidate tuned to pass on one set of inputs must pass again on inputs it never saw.
    """

    def __init__(
        self,
        model: Model,
        cfg: OptimizeConfig,
        tune: EvalData,
        holdout: EvalData,
        mode: str,
        progress: Progress,
        log: Callable[[str], None],
        *,
        start: float | None = None,
        task: str | None = None,
    ) -> None:
        self.model, self.cfg, self.mode, self.task = model, cfg, mode, task
        self.data, self.quick = holdout, tune.head(cfg.quick_n)
        self.budget = cfg.budget
        self.feed = latency_feed(tune)
        self.progress, self.log = progress, log
        self.clock = TimeKeeper(cfg, start)
        self.start, self.deadline = self.clock.start, self.clock.deadline
        self.results: dict[str, CandidateResult] = {}
        self.cands: dict[str, Candidate] = {}
        self.engines: dict[str, Engine] = {}
        self.finalists: list[str] = []
        self.skipped: list[str] = []
        self.notes: list[str] = []
        self.warnings: list[str] = []
        self.mixed: list[MixedReport] = []
        self.ref_full: dict[str, np.ndarray] | None = None
        self.ref_quick: dict[str, np.ndarray] | None = None
        self.baseline_name: str | None = None
        self.outputs: list[tuple[str, str]] = []  # judged (name, kind), set with the reference
        self.calib_samples = cfg.calib_samples  # fewer when the calibration data must be shared

    # -- helpers ------------------------------------------------------------------------
    def late(self) -> bool:
        """Whether no new work fits before the deadline (the finalists' time reserved)."""
        return self.clock.late(self.finalist_count())

    def finalist_count(self) -> int:
        """Finalists the last phase will measure (at least those expected)."""
        return max(len(self.finalists), self.cfg.finalists + 1)

    def _labels(self, subset: bool) -> np.ndarray | None:
        return (self.quick if subset else self.data).labels if self.mode == "labels" else None

    def _judge_kw(self, subset: bool) -> dict[str, object]:
        return {
            "mode": self.mode,
            "confidence": self.budget.confidence,
            "judged": self.cfg.outputs,
            "task": self.task,
            "subset": subset,
            "split": "tune" if subset else "holdout",
        }

    def quality_of(self, out: dict[str, np.ndarray], *, subset: bool) -> Quality:
        """Quality of a candidate's outputs ``out`` against the FP32 reference's on the tuning
        subset (``subset``) or the held-out split.
        """
        ref = self.ref_quick if subset else self.ref_full
        assert ref is not None
        return quality_of(ref, out, self._labels(subset), **self._judge_kw(subset))

    def measure_quality(self, runner: object, *, subset: bool) -> Quality:
        """Run ``runner`` over the tuning subset or the held-out split and judge every output
        batch by batch (no candidate outputs are kept).
        """
        ref = self.ref_quick if subset else self.ref_full
        assert ref is not None
        acc = QualityAccumulator(ref, self._labels(subset), **self._judge_kw(subset))  # type: ignore[arg-type]
        run_batches(runner, self.quick if subset else self.data, acc.update)
        return acc.result()

    def objective(self, r: CandidateResult) -> float:
        """``r``'s value of the budget's objective (lower is better)."""
        return objective_value(r, self.budget.objective)

    def meets_accuracy(self, q: Quality) -> bool:
        """Whether ``q`` meets the accuracy budget on every judged output."""
        return not accuracy_violations(q, self.budget)

    def _bounds(self) -> dict[str, float | bool]:
        b = self.budget
        return {
            "max_drop_pts": b.drop_pts,
            "min_agreement": b.agreement,
            "top5": b.require_top5,
            "min_cosine": b.min_cosine,
        }

    def _safe(self, q: Quality) -> bool:
        return clearly_passes(q, **self._bounds())  # type: ignore[arg-type]

    def passes(self, r: CandidateResult) -> bool:
        """Whether ``r`` has a quality that meets the accuracy budget."""
        return r.quality is not None and self.meets_accuracy(r.quality)

    # -- phase 0: the reference -----------------------------------------------------------
    def set_reference(self, cand: Candidate, engine: Engine) -> CandidateResult:
        """The FP32 reference: its outputs define fidelity; it is always a finalist."""
        t0 = time.monotonic()
        with load_runner(engine) as r:
            self.ref_quick = collect_outputs(r, self.quick)
            self.ref_full = collect_outputs(r, self.data)
        self.clock.per_input_s = (time.monotonic() - t0) / max(self.quick.n + self.data.n, 1)
        self.clock.holdout_n = self.data.n
        res = self.probe(cand, engine=engine)
        self.finalists.append(cand.name)
        return res

    # -- phase 1: build + quick probe -------------------------------------------------------
    def probe(self, cand: Candidate, engine: Engine | None = None) -> CandidateResult:
        """Build ``cand`` (or take ``engine``) and measure it quickly on the tuning subset:
        a short latency run and its quality; failures are recorded, not raised. A build
        that runs into the time budget is stopped and the candidate marked skipped.
        """
        t0 = time.monotonic()
        limit = self.clock.work_s(self.finalist_count()) if engine is None else math.inf
        try:
            with time_limit(limit):
                res = self._probe_once(cand, engine)
        except OutOfTime:
            took = time.monotonic() - t0
            self.results.pop(cand.name, None)
            self._skip(
                cand, f"stopped after {took:.0f} s: its build and probe ran into the time budget"
            )
            self.log(f"[yellow]…[/] {escape(cand.name)}: stopped, time budget")
            return self.results[cand.name]
        kind = cand.config.precision if cand.config is not None else "fp32"
        self.clock.record(kind, time.monotonic() - t0)
        return res

    def _probe_once(self, cand: Candidate, engine: Engine | None) -> CandidateResult:
        res = CandidateResult(cand.name, cand.config, role=cand.role)
        res.pruning = pruning_summary(cand.model)
        self.results[cand.name], self.cands[cand.name] = res, cand
        try:
            eng = engine or build(cand.model or self.model, cand.config, quiet=True)
        except Exception as exc:  # any backend failure: record it, go on with the rest
            res.status, res.error = "error", f"build failed: {first_line(exc)}"
            self.log(f"[red]✗[/] {escape(cand.name)}: {escape(res.error)}")
            return res
        self.engines[cand.name] = eng
        res.executed_precision = eng.precision
        res.size_bytes = eng.size_bytes()
        res.build_s = 0.0 if eng.from_cache else eng.manifest.build_seconds
        res.engine_path = str(eng.path)
        res.notes.extend(n for n in eng.manifest.notes if "precision" in n or "int8" in n)
        try:
            with load_runner(eng) as r:
                res.quality = self.measure_quality(r, subset=True)
                stats, _ = probe_latency(r, self.feed)
        except Exception as exc:
            res.status, res.error = "error", f"run failed: {first_line(exc)}"
            self.log(f"[red]✗[/] {escape(cand.name)}: {escape(res.error)}")
            return res
        res.latency, res.latency_source, res.status = stats, "probe", "probed"
        res.throughput = 1000.0 / stats.mean if stats.mean else None
        self.log(
            f"[green]✓[/] {escape(cand.name)}: p50 {stats.p50:.3f} ms, {describe_quality(res.quality)} (subset)"
        )
        return res

    def probe_all(self, cands: list[Candidate]) -> None:
        """Build each candidate and measure it quickly, skipping the rest once time runs out.

        Raises:
            KeyboardInterrupt: after marking the unfinished candidates as skipped.
        """
        with self.progress.task("build + quick probe", len(cands)) as task:
            for i, cand in enumerate(cands):
                kind = cand.config.precision
                if self.late() or not self.clock.can_afford(kind, self.finalist_count()):
                    took = self.clock.costs.get(kind)
                    why = "time budget reached before it was built"
                    if took and not self.late():
                        why += f" (a {kind} build and probe took {took:.0f} s here)"
                    self._skip(cand, why)
                    continue
                try:
                    self.probe(cand)
                except KeyboardInterrupt:
                    for rest in cands[i:]:
                        if rest.name not in self.results or rest is cand:
                            self._skip(rest, "interrupted (Ctrl-C) before it finished")
                    raise
                task.advance()

    def _skip(self, cand: Candidate, why: str) -> None:
        res = CandidateResult(cand.name, cand.config, role=cand.role, status="skipped")
        res.reasons.append(why)
        self.results[cand.name] = res
        self.skipped.append(cand.name)

    # -- phase 2: prune -----------------------------------------------------------------------
    def prune(self) -> None:
        """Drop clear accuracy misses, clear latency-budget misses and dominated candidates."""
        b = self.budget
        probed = [
            r
            for r in self.results.values()
            if r.status == "probed" and r.role != "reference" and r.kind == "engine"
        ]
        for r in probed:
            assert r.quality is not None and r.latency is not None
            why = clearly_misses(r.quality, **self._bounds())  # type: ignore[arg-type]
            value = r.latency.p99 if b.objective == "p99" else r.latency.p50
            if why is None and b.latency_budget_ms and value > 1.5 * b.latency_budget_ms:
                why = f"quick {b.objective} {value:.3f} ms is over 1.5x the latency budget"
            if why:
                r.status = "pruned"
                r.reasons.append(why)
        alive = [r for r in probed if r.status == "probed"]
        refs = [r for r in self.results.values() if r.role == "reference" and r.latency]
        # Only a candidate that passes with margin may prune others: a subset estimate that
        # passes narrowly can fail on the full data, and what it pruned would be lost.
        passing = refs + [r for r in alive if r.quality and self._safe(r.quality)]
        for r in alive:
            for s in passing:
                if s is not r and self._dominates(s, r):
                    r.status = "pruned"
                    r.reasons.append(
                        f"dominated in the quick probe by {s.name} "
                        f"({self.objective(s):.3f} vs {self.objective(r):.3f}, as accurate)"
                    )
                    break
        self._choose_finalists(
            sorted((r for r in alive if r.status == "probed"), key=self.objective)
        )

    def _choose_finalists(self, alive: list[CandidateResult]) -> None:
        """The ``finalists`` fastest that meet the budget on the subset, plus up to
        ``CLOSE_CALLS`` faster ones that miss it narrowly (the full data decides those).
        """
        room = self.cfg.finalists
        ok = [r for r in alive if self.passes(r)][:room]
        fastest_ok = self.objective(ok[0]) if ok else math.inf
        close = [r for r in alive if not self.passes(r) and self.objective(r) < fastest_ok]
        chosen = ok + close[:CLOSE_CALLS]
        for r in alive:
            if r not in chosen:
                r.status = "pruned"
                r.reasons.append(
                    f"not among the {room} fastest meeting the budget in the quick probe"
                    if self.passes(r)
                    else "misses the budget on the subset and is not faster than one that meets it"
                )
        self.finalists.extend(r.name for r in chosen if r.name not in self.finalists)

    def _dominates(self, s: CandidateResult, r: CandidateResult) -> bool:
        assert s.quality is not None and r.quality is not None
        faster = self.objective(s) * DOMINANCE_MARGIN < self.objective(r)
        return faster and s.quality.score() >= r.quality.score()

    # -- phase 3: threads where they matter ----------------------------------------------------
    def try_thread_variant(self) -> None:
        """Try the fastest finalist on one thread when its p50 is under :data:`SMALL_MODEL_MS`;
        the variant becomes a finalist when its quick probe is 3% better.
        """
        fin = [self.results[n] for n in self.finalists if self.results[n].latency is not None]
        if not self.cfg.thread_variants or not fin or self.late():
            return
        best = min(fin, key=self.objective)
        assert best.latency is not None
        threads = best.config.threads if best.config else None
        if best.latency.p50 >= SMALL_MODEL_MS or threads == 1 or best.config is None:
            return
        var = thread_variant(self.cands[best.name], 1)
        res = self.probe(var)
        if res.status == "probed" and self.objective(res) < self.objective(best) * 0.97:
            self.finalists.append(var.name)
        elif res.status == "probed":
            res.status = "pruned"
            res.reasons.append(f"1 thread is not faster than {best.name} in the quick probe")
