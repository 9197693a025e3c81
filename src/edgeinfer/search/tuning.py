"""Phase 4 of the search: accuracy-aware mixed precision, tuned on the tuning split.

When the fastest INT8 candidate misses the accuracy budget (and is faster than the best one
that meets it), layers are ranked by measured sensitivity and kept in FP32 until the budget
holds on the tuning subset (:func:`edgeinfer.search.mixed.mixed_precision_search`); the
mixed candidate then faces the held-out verdict with the other finalists.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from rich.markup import escape

from edgeinfer.builder import build, load_runner
from edgeinfer.errors import EdgeInferError
from edgeinfer.search.candidates import Candidate, mixed_variant, sensitivity_config
from edgeinfer.search.metrics import describe_quality, sensitivity_score
from edgeinfer.search.mixed import mixed_precision_search, quantizable_layers
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

    def __init__(self, search: Search, config: BuildConfig) -> None:
        self.search, self.config = search, config
        self.seen: dict[tuple[str, ...], Quality] = {}
        self.out_of_time = False

    def __call__(self, exclude: tuple[str, ...]) -> Quality | None:
        if exclude in self.seen:
            return self.seen[exclude]
        search, t0 = self.search, time.monotonic()
        try:
            with time_limit(search.clock.work_s(search.finalist_count() + 1)):
                eng = build(search.model, self.config.replace(exclude=exclude), quiet=True)
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
        search.log(f"  mixed: {len(exclude)} node(s) in FP32: {describe_quality(q)}")
        self.seen[exclude] = q
        return q


def _run_mixed(search: Search, base: CandidateResult) -> None:
    cand = search.cands[base.name]
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
