"""The search, phase by phase: probe every candidate cheaply, prune, try mixed precision,
then the finalists are measured fully in :mod:`edgeinfer.search.finalists`.

:class:`Search` holds the state so that a Ctrl-C at any point leaves every finished
candidate in ``results`` (and its engine in the cache) for the partial report.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from rich.markup import escape

from edgeinfer.builder import build, load_runner
from edgeinfer.errors import EdgeInferError, first_line
from edgeinfer.search.candidates import (
    Candidate,
    mixed_variant,
    sensitivity_config,
    thread_variant,
)
from edgeinfer.search.measure import (
    EvalData,
    collect_outputs,
    latency_feed,
    probe_latency,
)
from edgeinfer.search.metrics import clearly_misses, clearly_passes, describe_quality, quality
from edgeinfer.search.mixed import MixedOutcome, mixed_precision_search, quantizable_layers
from edgeinfer.search.ranked import diagnosis_ranking, fewest_layers
from edgeinfer.search.results import CandidateResult, MixedReport, Quality
from edgeinfer.search.select import accuracy_violations, objective_value

if TYPE_CHECKING:
    from edgeinfer.config import BuildConfig
    from edgeinfer.engine import Engine
    from edgeinfer.model import Model
    from edgeinfer.progress import Progress
    from edgeinfer.search.config import OptimizeConfig

DOMINANCE_MARGIN = 1.10  # pruned when another candidate is >= 10% faster and as accurate
SMALL_MODEL_MS = 1.0  # below this p50, one thread may beat several
CLOSE_CALLS = 2  # finalists that miss the budget narrowly on the subset but are faster


class Search:
    """State of one search. Call the phases in order; every phase respects the deadline."""

    def __init__(
        self,
        model: Model,
        cfg: OptimizeConfig,
        data: EvalData,
        mode: str,
        progress: Progress,
        log: Callable[[str], None],
    ) -> None:
        self.model, self.cfg, self.data, self.mode = model, cfg, data, mode
        self.budget = cfg.budget
        self.quick = data.head(cfg.quick_n)
        self.feed = latency_feed(data)
        self.progress, self.log = progress, log
        self.start = time.monotonic()
        self.deadline = (
            self.start + cfg.time_budget_min * 60 if cfg.time_budget_min is not None else None
        )
        self.results: dict[str, CandidateResult] = {}
        self.cands: dict[str, Candidate] = {}
        self.engines: dict[str, Engine] = {}
        self.finalists: list[str] = []
        self.skipped: list[str] = []
        self.notes: list[str] = []
        self.mixed: list[MixedReport] = []
        self.ref_full: np.ndarray | None = None
        self.ref_quick: np.ndarray | None = None
        self.baseline_name: str | None = None

    # -- helpers ------------------------------------------------------------------------
    def late(self) -> bool:
        """Whether the time budget (if any) has run out."""
        return self.deadline is not None and time.monotonic() > self.deadline

    def quality_of(self, out: np.ndarray, *, subset: bool) -> Quality:
        """Quality of a candidate's outputs ``out`` against the FP32 reference (subset or all)."""
        ref = self.ref_quick if subset else self.ref_full
        assert ref is not None
        labels = (self.quick if subset else self.data).labels
        return quality(
            ref,
            out,
            labels if self.mode == "labels" else None,
            confidence=self.budget.confidence,
            mode=self.mode,
            subset=subset,
        )

    def _objective(self, r: CandidateResult) -> float:
        return objective_value(r, self.budget.objective)

    def _meets_accuracy(self, q: Quality) -> bool:
        return not accuracy_violations(q, self.budget)

    def _safe(self, q: Quality) -> bool:
        b = self.budget
        return clearly_passes(
            q, max_drop_pts=b.drop_pts, min_agreement=b.agreement, top5=b.require_top5
        )

    def _passes(self, r: CandidateResult) -> bool:
        return r.quality is not None and self._meets_accuracy(r.quality)

    # -- phase 0: the reference -----------------------------------------------------------
    def set_reference(self, cand: Candidate, engine: Engine) -> CandidateResult:
        """The FP32 reference: its outputs define fidelity; it is always a finalist."""
        with load_runner(engine) as r:
            self.ref_full = collect_outputs(r, self.data)
        self.ref_quick = self.ref_full[: self.quick.n]
        res = self._probe(cand, engine=engine)
        self.finalists.append(cand.name)
        return res

    # -- phase 1: build + quick probe -------------------------------------------------------
    def _probe(self, cand: Candidate, engine: Engine | None = None) -> CandidateResult:

        res = CandidateResult(cand.name, cand.config, role=cand.role)
        self.results[cand.name], self.cands[cand.name] = res, cand
        try:
            eng = engine or build(self.model, cand.config, quiet=True)
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
                out = collect_outputs(r, self.quick)
                stats, _ = probe_latency(r, self.feed)
        except Exception as exc:
            res.status, res.error = "error", f"run failed: {first_line(exc)}"
            self.log(f"[red]✗[/] {escape(cand.name)}: {escape(res.error)}")
            return res
        res.quality = self.quality_of(out, subset=True)
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
                if self.late():
                    self._skip(cand, "time budget reached before it was built")
                    continue
                try:
                    self._probe(cand)
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
            why = clearly_misses(
                r.quality, max_drop_pts=b.drop_pts, min_agreement=b.agreement, top5=b.require_top5
            )
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
                        f"({self._objective(s):.3f} vs {self._objective(r):.3f}, as accurate)"
                    )
                    break
        self._choose_finalists(
            sorted((r for r in alive if r.status == "probed"), key=self._objective)
        )

    def _choose_finalists(self, alive: list[CandidateResult]) -> None:
        """The ``finalists`` fastest that meet the budget on the subset, plus up to
        ``CLOSE_CALLS`` faster ones that miss it narrowly (the full data decides those).
        """
        room = self.cfg.finalists
        ok = [r for r in alive if self._passes(r)][:room]
        fastest_ok = self._objective(ok[0]) if ok else math.inf
        close = [r for r in alive if not self._passes(r) and self._objective(r) < fastest_ok]
        chosen = ok + close[:CLOSE_CALLS]
        for r in alive:
            if r not in chosen:
                r.status = "pruned"
                r.reasons.append(
                    f"not among the {room} fastest meeting the budget in the quick probe"
                    if self._passes(r)
                    else "misses the budget on the subset and is not faster than one that meets it"
                )
        self.finalists.extend(r.name for r in chosen if r.name not in self.finalists)

    def _dominates(self, s: CandidateResult, r: CandidateResult) -> bool:
        assert s.quality is not None and r.quality is not None
        faster = self._objective(s) * DOMINANCE_MARGIN < self._objective(r)
        return faster and s.quality.score() >= r.quality.score()

    # -- phase 3: threads where they matter ----------------------------------------------------
    def try_thread_variant(self) -> None:
        """Try the fastest finalist on one thread when its p50 is under :data:`SMALL_MODEL_MS`;
        the variant becomes a finalist when its quick probe is 3% better.
        """
        fin = [self.results[n] for n in self.finalists if self.results[n].latency is not None]
        if not self.cfg.thread_variants or not fin or self.late():
            return
        best = min(fin, key=self._objective)
        assert best.latency is not None
        threads = best.config.threads if best.config else None
        if best.latency.p50 >= SMALL_MODEL_MS or threads == 1 or best.config is None:
            return
        var = thread_variant(self.cands[best.name], 1)
        res = self._probe(var)
        if res.status == "probed" and self._objective(res) < self._objective(best) * 0.97:
            self.finalists.append(var.name)
        elif res.status == "probed":
            res.status = "pruned"
            res.reasons.append(f"1 thread is not faster than {best.name} in the quick probe")

    # -- phase 4: mixed precision ------------------------------------------------------------------
    def try_mixed(self) -> None:
        """When the fastest INT8 candidate misses the accuracy budget, keep layers in FP32."""
        if not self.cfg.mixed:
            return
        int8 = [
            r
            for r in self.results.values()
            if r.config is not None
            and r.config.precision == "int8"
            and r.quality is not None
            and r.latency is not None
            and not self._meets_accuracy(r.quality)
            and not r.error
        ]
        if not int8:
            return
        base = min(int8, key=self._objective)
        ok = [r for r in map(self.results.get, self.finalists) if r and self._passes(r)]
        best_ok = min((self._objective(r) for r in ok), default=math.inf)
        if self._objective(base) * 1.03 >= best_ok:
            self.notes.append(
                f"mixed precision not tried: the fastest INT8 candidate that misses the accuracy "
                f"budget ({base.name}) is not faster than the best one that meets it"
            )
            return
        if self.late():
            self.notes.append("mixed precision skipped: time budget reached")
            self.skipped.append(f"mixed precision for {base.name}")
            return
        self._run_mixed(base)

    def _run_mixed(self, base: CandidateResult) -> None:
        """Mixed precision for ``base``: from ``debug precision``'s layer ranking (one
        diagnosis, then the fewest top-ranked layers out of INT8 that meet the budget), or,
        where the model cannot be diagnosed, from a sensitivity probe per layer.
        """
        cand = self.cands[base.name]
        try:
            limit = 4 * self.cfg.mixed_units
            ranking = diagnosis_ranking(self.model, cand.config, max_layers=limit)
        except (EdgeInferError, RuntimeError, ValueError) as exc:
            self.log(f"mixed precision: no layer diagnosis ({escape(first_line(exc))})")
            self._mixed_by_probes(base, cand)
            return
        self.log(
            f"mixed precision: {len(ranking)} layers of {escape(base.name)} ranked by their "
            "share of the INT8 output error (debug precision)"
        )
        with self.progress.task("mixed precision", None):
            out = fewest_layers(
                [name for name, _ in ranking],
                lambda exclude: self._subset_quality(mixed_variant(cand, exclude).config),
                self._meets_accuracy,
                self._mixed_score,
                late=self.late,
            )
        self._finish_mixed(base, cand, replace(out, sensitivity=ranking))

    def _subset_quality(self, cfg: BuildConfig) -> Quality | None:
        """Quality of ``cfg``'s build on the quick subset (None: it failed to build or run)."""
        try:
            eng = build(self.model, cfg, quiet=True)
            with load_runner(eng) as r:
                q = self.quality_of(collect_outputs(r, self.quick), subset=True)
        except (EdgeInferError, RuntimeError, ValueError) as exc:
            self.log(
                f"[yellow]mixed:[/] excluding {len(cfg.exclude)} layer(s) failed: "
                f"{escape(str(exc))}"
            )
            return None
        self.log(f"  mixed: {len(cfg.exclude)} node(s) out of INT8: {describe_quality(q)}")
        return q

    @staticmethod
    def _mixed_score(q: Quality) -> float:
        # Mean KL to the FP32 reference: continuous, so small per-layer effects rank
        # reliably where agreement on a few hundred inputs moves in coarse steps.
        return -q.mean_kl if q.mean_kl is not None else q.score()

    def _mixed_by_probes(self, base: CandidateResult, cand: Candidate) -> None:
        layers = quantizable_layers(self.model.proto)
        probe_cfg = sensitivity_config(cand.config)
        seen: dict[tuple[str, ...], Quality | None] = {}

        def evaluate(exclude: tuple[str, ...]) -> Quality | None:
            if exclude not in seen:
                seen[exclude] = self._subset_quality(probe_cfg.replace(exclude=exclude))
            return seen[exclude]

        known = (r.quality for r in self.results.values() if r.config == probe_cfg)
        base_q = next((q for q in known if q is not None), None) or evaluate(())
        if base_q is None:
            self.notes.append(f"mixed precision failed: {probe_cfg.label()} did not build")
            return
        self.log(
            f"mixed precision: ranking {len(layers)} layers of {escape(base.name)} by sensitivity"
        )
        with self.progress.task("mixed precision", None):
            out = mixed_precision_search(
                layers,
                evaluate,
                self._meets_accuracy,
                self._mixed_score,
                base_q,
                max_units=self.cfg.mixed_units,
                deadline=self.deadline,
            )
        self._finish_mixed(base, cand, out)

    def _finish_mixed(self, base: CandidateResult, cand: Candidate, out: MixedOutcome) -> None:
        name = None
        if out.meets:
            var = mixed_variant(cand, out.excluded)
            res = self._probe(var)
            if res.status == "probed":
                name = var.name
                res.excluded = list(out.excluded)
                base.reasons.clear()  # measured in full too: its latency is the cost baseline
                self.finalists.extend(n for n in (base.name, var.name) if n not in self.finalists)
        self.mixed.append(
            MixedReport(
                base.name,
                name,
                out.excluded,
                tuple(out.sensitivity),
                tuple(out.steps),
                out.meets,
                note=out.note,
            )
        )
