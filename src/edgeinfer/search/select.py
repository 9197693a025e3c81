"""Selection under constraints: budgets, the objective, ties, winner, runner-up, reasons.

Pure logic over :class:`~edgeinfer.search.results.CandidateResult` measurements, so it is
unit-tested on synthetic numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from edgeinfer import serde
from edgeinfer.errors import ConfigError
from edgeinfer.search.metrics import judged_outputs
from edgeinfer.search.pareto import ParetoPoint, pareto_front
from edgeinfer.search.results import CandidateResult, OutputQuality, Quality

BUDGET_VERSION = 1
OBJECTIVES = ("p50", "p99", "throughput")
DEFAULT_MAX_DROP_PTS = 1.0
DEFAULT_MIN_AGREEMENT = 0.995


@dataclass(frozen=True)
class Budget:
    """The user's constraints.

    Attributes:
        max_accuracy_drop: top-1 drop allowed vs the FP32 reference, in points (labels).
        min_agreement: top-1 agreement with the FP32 reference required on confident
            inputs (fidelity; with labels it replaces the drop budget when given).
        confidence: reference top-1 probability that makes an input confident.
        require_top5: in fidelity mode also require 100% top-1-in-top-5 containment.
        latency_budget_ms: the objective's latency must not exceed this.
        objective: what "fastest" means: p50, p99 or throughput.
        tie_tolerance: objective values within this fraction of the best count as tied;
            ties go to the more accurate, then the smaller engine.
        min_cosine: for outputs that are not class scores (dense maps, boxes), the mean
            per-input cosine similarity to the FP32 reference each must reach.
        version: format version of this budget.
    """

    WHAT: ClassVar[str] = "budget"

    max_accuracy_drop: float | None = None
    min_agreement: float | None = None
    confidence: float = 0.5
    require_top5: bool = True
    latency_budget_ms: float | None = None
    objective: str = "p50"
    tie_tolerance: float = 0.01
    min_cosine: float = 0.999
    version: int = BUDGET_VERSION

    def __post_init__(self) -> None:
        if self.max_accuracy_drop is not None and self.min_agreement is not None:
            raise ConfigError(
                "give either --max-accuracy-drop or --min-agreement, not both; the first "
                "needs labelled eval data, the second compares with the FP32 reference"
            )
        if self.max_accuracy_drop is not None and not 0 <= self.max_accuracy_drop <= 100:
            raise ConfigError(
                f"--max-accuracy-drop is in points (0-100), got {self.max_accuracy_drop}"
            )
        if self.min_agreement is not None and not 0 < self.min_agreement <= 1:
            raise ConfigError(
                f"--min-agreement is a fraction in (0, 1], got {self.min_agreement}; "
                "e.g. 0.995 for 99.5%"
            )
        if not 0 <= self.confidence < 1:
            raise ConfigError(f"--confidence must be in [0, 1), got {self.confidence}")
        if self.latency_budget_ms is not None and self.latency_budget_ms <= 0:
            raise ConfigError(f"--latency-budget-ms must be > 0, got {self.latency_budget_ms}")
        if self.objective not in OBJECTIVES:
            raise ConfigError(
                f"unknown objective '{self.objective}'; choose one of {', '.join(OBJECTIVES)}"
            )
        if not -1.0 <= self.min_cosine <= 1.0 or self.min_cosine != self.min_cosine:
            raise ConfigError(f"--min-cosine must be in [-1, 1], got {self.min_cosine}")
        if not 0 <= self.tie_tolerance < 0.5:
            raise ConfigError(f"tie_tolerance must be in [0, 0.5), got {self.tie_tolerance}")
        serde.check_version(self.WHAT, self.version, BUDGET_VERSION)

    @property
    def drop_pts(self) -> float:
        """The accuracy drop allowed, in points (the default when not given)."""
        return DEFAULT_MAX_DROP_PTS if self.max_accuracy_drop is None else self.max_accuracy_drop

    @property
    def agreement(self) -> float:
        """The top-1 agreement with the FP32 reference required (the default when not given)."""
        return DEFAULT_MIN_AGREEMENT if self.min_agreement is None else self.min_agreement

    def describe(self, mode: str, outputs: Sequence[tuple[str, str]] | None = None) -> str:
        """The accuracy budget in words, as applied in ``mode`` to each judged output.

        Args:
            mode: ``labels`` or ``fidelity``.
            outputs: the judged outputs as ``(name, kind)`` pairs (None: a single class-score
                output).
        """
        outs = list(outputs or [("output", "classification")])
        labelled = next((n for n, k in outs if k == "classification"), None) if mode == "labels" else None
        parts = []
        for name, kind in outs:
            if name == labelled:
                text = f"top-1 drop <= {self.drop_pts:g} pts vs FP32"
            elif kind == "classification":
                text = (
                    f"agreement on confident inputs (ref p >= {self.confidence:g}) >= "
                    f"{self.agreement:g}" + (" and 100% top-1-in-top-5" if self.require_top5 else "")
                )
            else:
                text = f"cosine similarity to FP32 >= {self.min_cosine:g} (mean per input)"
            parts.append(text if len(outs) == 1 else f"output '{name}' ({kind}): {text}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON data (see :mod:`edgeinfer.serde`)."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Budget:
        """Parse :meth:`to_dict` data.

        Raises:
            ConfigError: unknown keys, wrong types, invalid values or a newer version.
        """
        return serde.from_dict(cls, data)


def objective_value(result: CandidateResult, objective: str) -> float:
    """Lower is better: p50 or p99 in ms, or minus the throughput; never NaN.

    For interleaved finalists the p50 objective is the paired estimate
    (:attr:`CandidateResult.paired_p50_ms`): the median of per-round ratios to the common
    baseline, the same comparison the table's "vs start" column shows.
    """
    if result.latency is None:
        return math.inf
    if objective == "p99":
        value = result.latency.p99
    elif objective == "throughput":
        tput = result.throughput or (1000.0 / result.latency.mean if result.latency.mean else 0)
        value = -tput
    elif result.paired_p50_ms is not None:
        value = result.paired_p50_ms
    else:
        value = result.latency.p50
    return value if math.isfinite(value) else math.inf


def accuracy_violations(q: Quality, budget: Budget) -> list[str]:
    """Why ``q`` misses the accuracy budget on any judged output (empty: it meets it)."""
    outs = judged_outputs(q)
    out: list[str] = []
    for o in outs:
        prefix = f"output '{o.name}': " if len(q.outputs) > 1 else ""
        out.extend(prefix + why for why in _output_violations(o, q.mode, budget))
    return out


def _output_violations(o: OutputQuality, mode: str, budget: Budget) -> list[str]:
    out: list[str] = []
    if o.nonfinite:
        out.append(f"NaN/Inf on {o.nonfinite} of {o.n} inputs")
    if mode == "labels" and o.top1_drop_pts is not None:
        if o.top1_drop_pts > budget.drop_pts + 1e-9:
            out.append(f"top-1 drop {o.top1_drop_pts:.2f} pts > budget {budget.drop_pts:g} pts")
        return out
    if o.kind != "classification" or o.agreement is None:
        if o.cosine is None or not o.cosine >= budget.min_cosine:
            cos = "none" if o.cosine is None else f"{o.cosine:.5f}"
            out.append(f"cosine similarity {cos} < {budget.min_cosine:g}")
        return out
    agr = o.agreement_confident if o.agreement_confident is not None else o.agreement
    if agr is not None and agr < budget.agreement - 1e-12:
        out.append(f"agreement on confident inputs {agr:.4f} < {budget.agreement:g}")
    if budget.require_top5 and o.top5_containment is not None and o.top5_containment < 1.0:
        out.append(f"top-1-in-top-5 {o.top5_containment:.4f} < 1")
    return out


def violations(result: CandidateResult, budget: Budget) -> list[str]:
    """Every budget ``result`` misses, in words."""
    if result.error:
        return [f"failed: {result.error}"]
    out = accuracy_violations(result.quality, budget) if result.quality else ["no accuracy"]
    if result.latency is None:
        out.append("no latency")
    elif budget.latency_budget_ms is not None:
        value = result.latency.p99 if budget.objective == "p99" else _p50(result)
        kind = "p99" if budget.objective == "p99" else "p50"
        if value > budget.latency_budget_ms:
            out.append(f"{kind} {value:.3f} ms > budget {budget.latency_budget_ms:g} ms")
    return out


def _p50(result: CandidateResult) -> float:
    assert result.latency is not None
    return result.paired_p50_ms if result.paired_p50_ms is not None else result.latency.p50


def _shortfall(result: CandidateResult, budget: Budget) -> float:
    """How far a candidate is from the budgets (0 = meets them); for ranking the closest."""
    if not result.usable:
        return math.inf
    assert result.quality is not None and result.latency is not None
    q = result.quality
    gap = 0.0
    for o in judged_outputs(q):
        if q.mode == "labels" and o.top1_drop_pts is not None:
            gap += max(0.0, o.top1_drop_pts - budget.drop_pts) / max(budget.drop_pts, 0.1)
        elif o.kind == "classification" and o.agreement is not None:
            agr = o.agreement_confident if o.agreement_confident is not None else o.agreement
            gap += max(0.0, budget.agreement - agr) / max(1 - budget.agreement, 1e-3)
            if budget.require_top5 and o.top5_containment is not None:
                gap += max(0.0, 1.0 - o.top5_containment) / 1e-3
        else:
            cos = o.cosine if o.cosine is not None else -1.0
            gap += max(0.0, budget.min_cosine - cos) / max(1 - budget.min_cosine, 1e-4)
    if budget.latency_budget_ms is not None:
        value = result.latency.p99 if budget.objective == "p99" else result.latency.p50
        gap += max(0.0, value - budget.latency_budget_ms) / budget.latency_budget_ms
    return gap


@dataclass
class Selection:
    """The decision: winner, runner-up, why, and a reason for every other candidate."""

    winner: str | None
    runner_up: str | None
    winner_reason: str
    reasons: dict[str, list[str]] = field(default_factory=dict)
    pareto: list[str] = field(default_factory=list)
    closest: list[str] = field(default_factory=list)

    @property
    def met(self) -> bool:
        """Whether a candidate met the budgets (there is a winner)."""
        return self.winner is not None


def _rank_key(r: CandidateResult, objective: str, best: float, tol: float) -> tuple[Any, ...]:
    value = objective_value(r, objective)
    tied = value <= best + abs(best) * tol if best != math.inf else False
    score = r.quality.score() if r.quality else -math.inf
    size = r.size_bytes if r.size_bytes is not None else math.inf
    # Tied with the best: prefer accuracy, then size; otherwise order by the objective.
    return (0, -score, size, value, r.name) if tied else (1, value, -score, size, r.name)


def _describe(r: CandidateResult, objective: str) -> str:
    v = objective_value(r, objective)
    if objective == "throughput":
        return f"{-v:,.1f}/s throughput"
    paired = " interleaved, paired" if objective == "p50" and r.paired_p50_ms is not None else ""
    return f"{objective} {v:.3f} ms{paired}"


def _not_beaten(ok: list[CandidateResult], objective: str, tol: float) -> None:
    """Selection's promise: no budget-meeting candidate is faster than the winner by more
    than the tie tolerance. The ranking keeps it by construction; this re-checks it on the
    same numbers (and repairs the order) so no future tie rule can break it.
    """
    w = objective_value(ok[0], objective)
    faster = [r for r in ok[1:] if objective_value(r, objective) < w - abs(w) * tol]
    if faster:
        best = min(faster, key=lambda r: objective_value(r, objective))
        ok.remove(best)
        ok.insert(0, best)


def _front(measured: Sequence[CandidateResult], objective: str) -> list[str]:
    return pareto_front(
        [
            ParetoPoint(r.name, objective_value(r, objective), r.quality.score(), r.size_bytes)
            for r in measured
            if r.quality is not None
        ]
    )


def _split(
    measured: Sequence[CandidateResult],
    budget: Budget,
    reasons: dict[str, list[str]],
    eligible_kinds: tuple[str, ...],
) -> list[CandidateResult]:
    """The candidates that meet every budget; the others get their reasons."""
    ok = []
    for r in measured:
        if r.kind not in eligible_kinds:
            reasons[r.name].append("the starting point, not an engine (shown for the speed-up)")
            continue
        miss = violations(r, budget)
        reasons[r.name].extend(miss)
        if not miss:
            ok.append(r)
    return _without_lookalikes(ok, reasons)


def _without_lookalikes(
    ok: list[CandidateResult], reasons: dict[str, list[str]]
) -> list[CandidateResult]:
    """Drop candidates whose requested precision does not execute (ONNX Runtime's CPU runs an
    FP16 graph in FP32) when the engine that honestly runs that precision on the same
    backend also meets the budgets: they compute the same thing, so any speed difference
    between them is noise, and the honest one stands for both.
    """
    honest: dict[tuple[str, str | None], CandidateResult] = {
        (r.config.backend, r.executed_precision): r
        for r in ok
        if r.config is not None and r.executed_precision == r.config.precision
    }
    kept = []
    for r in ok:
        executed = r.executed_precision
        twin = honest.get((r.config.backend, executed)) if r.config is not None else None
        if twin is not None and r.config is not None and executed != r.config.precision:
            reasons[r.name].append(
                f"executes {executed} like {twin.name}: the same computation, so its speed "
                f"difference is noise; {twin.name} stands for both"
            )
            continue
        kept.append(r)
    return kept


def _rank(ok: list[CandidateResult], budget: Budget, reasons: dict[str, list[str]]) -> str:
    """Sort ``ok`` best first (in place), explain every loser; returns the winner's reason."""
    obj, tol = budget.objective, budget.tie_tolerance
    best = min(objective_value(r, obj) for r in ok)
    ok.sort(key=lambda r: _rank_key(r, obj, best, tol))
    _not_beaten(ok, obj, tol)
    why = f"fastest meeting the budgets ({_describe(ok[0], obj)})"
    if len(ok) > 1 and _rank_key(ok[1], obj, best, tol)[0] == 0:
        why += f"; tied within {tol:.0%} with others, chosen for accuracy/size"
    wv = objective_value(ok[0], obj)
    for r in ok[1:]:
        ratio = objective_value(r, obj) / wv if wv else math.nan
        reasons[r.name].append(
            f"meets the budgets but {_describe(r, obj)} ({ratio:.2f}x the winner's)"
        )
    reasons[ok[0].name] = [why]
    return why


def select(
    results: Sequence[CandidateResult],
    budget: Budget,
    *,
    eligible_kinds: tuple[str, ...] = ("engine",),
) -> Selection:
    """Choose the winner among measured candidates under ``budget``.

    Only ``status == "measured"`` candidates of an eligible kind can win (the PyTorch eager
    starting point is a row, not an engine). Candidates pruned earlier keep their reasons.
    Nothing meets the budgets: no winner, and the three closest candidates.
    """
    measured = [r for r in results if r.status == "measured" and r.usable]
    front = _front(measured, budget.objective)
    reasons: dict[str, list[str]] = {r.name: list(r.reasons) for r in results}
    ok = _split(measured, budget, reasons, eligible_kinds)
    for r in results:
        if r.status != "measured" and not reasons[r.name]:
            reasons[r.name].append(r.error or f"not a finalist ({r.status})")
    if not ok:
        engines = [r for r in measured if r.kind in eligible_kinds]
        closest = sorted(engines, key=lambda r: _shortfall(r, budget))[:3]
        why = "no candidate meets the budgets"
        return Selection(None, None, why, reasons, front, [r.name for r in closest])
    why = _rank(ok, budget, reasons)
    runner = ok[1].name if len(ok) > 1 else None
    return Selection(ok[0].name, runner, why, reasons, front, [])
