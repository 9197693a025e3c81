"""Phase 4 of the search: accuracy-aware mixed precision, tuned on the tuning split.

When the fastest INT8 candidate misses the accuracy budget (and is faster than the best one
that meets it), its layers are ranked by ``debug precision``'s diagnosis
(:func:`edgeinfer.search.ranked.diagnosis_ranking`: one FP32-vs-INT8 comparison, no build per
layer) and the fewest top-ranked layers that meet the budget on the tuning subset are kept out
of INT8 (:func:`edgeinfer.search.ranked.fewest_layers`): in FP32, or in BF16 where the route
asks for it and the CPU has it. Where the model cannot be diagnosed, layers are ranked by a
sensitivity build each (:func:`edgeinfer.search.mixed.mixed_precision_search`). The mixed
candidate then faces the held-out verdict with the other finalists.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from rich.markup import escape

from edgeinfer.builder import build, load_runner
from edgeinfer.errors import EdgeInferError, first_line
from edgeinfer.search.candidates import Candidate, mixed_variant, sensitivity_config
from edgeinfer.search.metrics import describe_quality, sensitivity_score
from edgeinfer.search.mixed import MixedOutcome, mixed_precision_search, quantizable_layers
from edgeinfer.search.ranked import diagnosis_ranking, fewest_layers
from edgeinfer.search.results import CandidateResult, MixedReport, Quality
from edgeinfer.search.timing import OutOfTime, time_limit

if TYPE_CHECKING:
    from edgeinfer.config import BuildConfig
    from edgeinfer.search.phases import Search

__all__ = ["try_mixed"]


def try_mixed(search: Search) -> None:
    """When the fastest INT8 candidate misses the accuracy budget, keep layers in FP32."""
    if not search.cfg.mixed:
        return
    int8 = [
        r
        for r in search.results.values()
        if r.config is not None
        and r.config.precision == "int8"
        and r.quality is not None
        and r.latency is not None
        and not search.meets_accuracy(r.quality)
        and not r.error
        and r.pruning is None  # mixed precision ranks the layers of the searched model
    ]
    if not int8:
        return
    base = min(int8, key=search.objective)
    ok = [r for r in map(search.results.get, search.finalists) if r and search.passes(r)]
    best_ok = min((search.objective(r) for r in ok), default=math.inf)
    if search.objective(base) * 1.03 >= best_ok:
        search.notes.append(
            f"mixed precision not tried: the fastest INT8 candidate that misses the accuracy "
            f"budget ({base.name}) is not faster than the best one that meets it"
        )
        return
    if search.late():
        search.notes.append("mixed precision skipped: time budget reached")
        search.skipped.append(f"mixed precision for {base.name}")
        return
    _run_mixed(search, base)


class _Probes:
    """``evaluate(exclude)`` for the search: an INT8 build with ``exclude`` kept in FP32,
    judged on the tuning subset (memoized; timed, so the search knows what still fits).
    """

    def __init__(
        self, search: Search, config: BuildConfig, variant: Candidate | None = None
    ) -> None:
        """``variant``: build the candidate's own mixed variants (route options included)."""
        self.search, self.config, self.variant = search, config, variant
        self.seen: dict[tuple[str, ...], Quality] = {}
        self.out_of_time = False

    def __call__(self, exclude: tuple[str, ...]) -> Quality | None:
        if exclude in self.seen:
            return self.seen[exclude]
        search, t0 = self.search, time.monotonic()
        config = self.config.replace(exclude=exclude)
        if self.variant is not None:
            config = mixed_variant(self.variant, exclude).config
        try:
            with time_limit(search.clock.work_s(search.finalist_count() + 1)):
                eng = build(search.model, config, quiet=True)
                with load_runner(eng) as r:
                    q = search.measure_quality(r, subset=True)
        except OutOfTime:
            self.out_of_time = True
            search.log(
                f"[yellow]mixed:[/] stopped after {time.monotonic() - t0:.0f} s: time budget"
            )
            return None
        except (EdgeInferError, RuntimeError, ValueError) as exc:
            search.log(
                f"[yellow]mixed:[/] excluding {len(exclude)} layer(s) failed: {escape(str(exc))}"
            )
            return None
        finally:
            search.clock.record("mixed", time.monotonic() - t0)
        search.log(f"  mixed: {len(exclude)} node(s) out of INT8: {describe_quality(q)}")
        self.seen[exclude] = q
        return q


def _diagnose(search: Search, cand: Candidate) -> list[tuple[str, float]] | None:
    """``debug precision``'s ranking of ``cand``'s layers (None: not diagnosable or no time)."""
    t0 = time.monotonic()
    try:
        with time_limit(search.clock.work_s(search.finalist_count() + 1)):
            limit = 4 * search.cfg.mixed_units
            return diagnosis_ranking(search.model, cand.config, max_layers=limit)
    except OutOfTime:
        search.log("[yellow]mixed:[/] layer diagnosis stopped: time budget")
    except (EdgeInferError, RuntimeError, ValueError) as exc:
        search.log(f"mixed precision: no layer diagnosis ({escape(first_line(exc))})")
    finally:
        search.clock.record("diagnosis", time.monotonic() - t0)
    return None


def _run_ranked(
    search: Search, base: CandidateResult, cand: Candidate, ranking: list[tuple[str, float]]
) -> MixedOutcome:
    """The fewest top-ranked layers out of INT8 that meet the budget (builds of ``cand``)."""
    evaluate = _Probes(search, cand.config, variant=cand)
    all_int8 = base.quality
    assert all_int8 is not None  # try_mixed picks measured candidates only
    search.log(
        f"mixed precision: {len(ranking)} layers of {escape(base.name)} ranked by their share "
        "of the INT8 output error (debug precision)"
    )
    with search.progress.task("mixed precision", None):
        out = fewest_layers(
            [name for name, _ in ranking],
            evaluate,
            search.meets_accuracy,
            lambda q: sensitivity_score(q, all_int8),
            late=lambda: (
                evaluate.out_of_time
                or not search.clock.can_afford("mixed", search.finalist_count() + 1)
            ),
        )
    return replace(out, sensitivity=ranking)


def _run_mixed(search: Search, base: CandidateResult) -> None:
    cand = search.cands[base.name]
    ranking = _diagnose(search, cand)
    if ranking is not None:
        _report(search, cand, base, _run_ranked(search, base, cand, ranking))
        return
    layers = quantizable_layers(search.model.proto)
    probe_cfg = sensitivity_config(cand.config)
    evaluate = _Probes(search, probe_cfg)
    known = (r.quality for r in search.results.values() if r.config == probe_cfg)
    base_q = next((q for q in known if q is not None), None) or evaluate(())
    if base_q is None:
        search.notes.append(f"mixed precision failed: {probe_cfg.label()} did not build")
        return
    all_int8: Quality = base_q

    def score(q: Quality) -> float:
        # Each judged output's continuous error (mean KL for class scores, 1 - cosine for
        # maps) relative to the all-INT8 engine's: small per-layer effects rank reliably
        # where agreement on a few hundred inputs moves in coarse steps, and a dense output
        # ranks by its cosine instead of an undefined KL (never NaN).
        return sensitivity_score(q, all_int8)

    search.log(
        f"mixed precision: ranking {len(layers)} layers of {escape(base.name)} by sensitivity"
    )
    with search.progress.task("mixed precision", None):
        out = mixed_precision_search(
            layers,
            evaluate,
            search.meets_accuracy,
            score,
            all_int8,
            max_units=search.cfg.mixed_units,
            late=lambda: (
                evaluate.out_of_time
                or not search.clock.can_afford("mixed", search.finalist_count() + 1)
            ),
        )
    _report(search, cand, base, out)


def _report(search: Search, cand: Candidate, base: CandidateResult, out: MixedOutcome) -> None:
    """Promote a mixed variant that meets the budget, and record what mixed precision did."""
    name = _promote(search, cand, base, out.excluded) if out.meets else None
    search.mixed.append(
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


def _promote(
    search: Search, cand: Candidate, base: CandidateResult, excluded: tuple[str, ...]
) -> str | None:
    """Probe the mixed variant on the original backend; make it and its all-INT8 base
    finalists (the base's latency is the cost baseline). None when the probe failed.
    """
    var = mixed_variant(cand, excluded)
    res = search.probe(var)
    if res.status != "probed":
        return None
    res.excluded = list(excluded)
    base.reasons.clear()
    search.finalists.extend(n for n in (base.name, var.name) if n not in search.finalists)
    return var.name
