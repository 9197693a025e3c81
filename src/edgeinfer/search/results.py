"""Typed results of a search: one :class:`CandidateResult` per variant, one
:class:`OptimizeResult` per run. Every class round-trips through JSON (``to_dict/from_dict``).

``OptimizeResult.to_dict`` is ``report.json``; its JSON Schema
(``docs/schemas/report.schema.json``) is generated from these dataclasses. Their readers
stay lenient (unknown keys are ignored) so older edgeinfers read newer reports.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from edgeinfer import serde
from edgeinfer.bench.stats import LatencyStats
from edgeinfer.config import BuildConfig
from edgeinfer.fileio import json_safe

RESULT_VERSION = 1


Interval = tuple[float, float]


def _interval(value: Any) -> Interval | None:
    return None if value is None else (float(value[0]), float(value[1]))


@dataclass(frozen=True)
class OutputQuality:
    """Accuracy or fidelity of one output of a candidate, with 95 % confidence intervals.

    Attributes:
        name: the output's name.
        kind: ``classification`` (class scores), ``dense`` (maps) or ``generic``.
        judged: whether the budget applies to this output (``--outputs`` picks them).
        n: inputs measured.
        nonfinite: inputs whose candidate output held NaN/Inf (they count as wrong).
        top1: top-1 accuracy against the labels (the labelled output only).
        top1_drop_pts: reference top-1 minus this top-1, in points.
        top1_drop_ci: 95 % interval of the drop (paired over the same inputs), in points.
        agreement: top-1 agreement with the reference over all inputs.
        agreement_ci: its 95 % Wilson interval.
        agreement_confident: agreement on inputs where the reference is confident.
        agreement_confident_ci: its 95 % Wilson interval.
        n_confident: how many inputs were confident.
        top5_containment: fraction of inputs whose reference top-1 is in this top-5.
        top5_ci: its 95 % Wilson interval.
        mean_kl: mean KL(reference || candidate) of the class distributions, in nats.
        cosine: mean per-input cosine similarity to the reference.
        cosine_ci: its 95 % interval (normal approximation).
    """

    name: str
    kind: str
    judged: bool = True
    n: int = 0
    nonfinite: int = 0
    top1: float | None = None
    top1_drop_pts: float | None = None
    top1_drop_ci: Interval | None = None
    agreement: float | None = None
    agreement_ci: Interval | None = None
    agreement_confident: float | None = None
    agreement_confident_ci: Interval | None = None
    n_confident: int | None = None
    top5_containment: float | None = None
    top5_ci: Interval | None = None
    mean_kl: float | None = None
    cosine: float | None = None
    cosine_ci: Interval | None = None

    def score(self) -> float:
        """Higher is better: top-1, else confident agreement, else agreement, else cosine
        (0 when nothing was measured; never NaN).
        """
        for value in (self.top1, self.agreement_confident, self.agreement, self.cosine):
            if value is not None and math.isfinite(value):
                return float(value)
        return 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON data of every field (intervals as two-element lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputQuality:
        """Parse :meth:`to_dict` data (keys of newer reports are ignored)."""
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in known}
        for key in ("top1_drop_ci", "agreement_ci", "agreement_confident_ci", "top5_ci", "cosine_ci"):
            if key in kw:
                kw[key] = _interval(kw[key])
        return cls(**kw)


@dataclass(frozen=True)
class Quality:
    """Accuracy (with labels) and fidelity to the FP32 reference (always) of one candidate.

    The top-level numbers are those of the primary output (the labelled one, else the first
    judged class-score output, else the first judged output); ``outputs`` holds every output
    with its intervals, and the budget applies to each judged one.

    Attributes:
        mode: ``labels`` (top-1 against labels decides) or ``fidelity`` (agreement decides).
        n: inputs measured.
        top1: top-1 accuracy as a fraction (labels only).
        top1_drop_pts: reference top-1 minus this top-1, in percentage points (labels only).
        agreement: top-1 agreement with the reference over all inputs.
        agreement_confident: agreement on inputs whose reference top-1 probability is at
            least the confidence threshold.
        n_confident: how many inputs were confident.
        top5_containment: fraction of inputs whose reference top-1 is in this top-5.
        mean_kl: mean KL(reference || candidate) of the softmax outputs, in nats.
        cosine: mean cosine similarity of the raw outputs.
        subset: measured on the quick subset only.
        outputs: every output's numbers (empty in reports of older edgeinfers).
        split: which data it was measured on: ``tune`` (quick probes, mixed precision) or
            ``holdout`` (the verdict).
    """

    mode: str
    n: int
    top1: float | None = None
    top1_drop_pts: float | None = None
    agreement: float | None = None
    agreement_confident: float | None = None
    n_confident: int | None = None
    top5_containment: float | None = None
    mean_kl: float | None = None
    cosine: float | None = None
    subset: bool = False
    outputs: tuple[OutputQuality, ...] = ()
    split: str = ""

    def score(self) -> float:
        """The accuracy axis of the Pareto front: top-1 with labels, else confident agreement,
        else agreement, else cosine; never NaN (0 when nothing was measured).
        """
        if self.mode == "labels" and self.top1 is not None and math.isfinite(self.top1):
            return self.top1
        for value in (self.agreement_confident, self.agreement, self.cosine):
            if value is not None and math.isfinite(value):
                return float(value)
        return 0.0

    @property
    def judged(self) -> tuple[OutputQuality, ...]:
        """The outputs the budget applies to."""
        return tuple(o for o in self.outputs if o.judged)

    def to_dict(self) -> dict[str, Any]:
        """JSON data of every field (``outputs`` as a list of objects)."""
        data = asdict(self)
        data["outputs"] = [o.to_dict() for o in self.outputs]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Quality:
        """Parse :meth:`to_dict` data (keys of newer reports are ignored)."""
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in known}
        kw["outputs"] = tuple(OutputQuality.from_dict(o) for o in data.get("outputs") or ())
        return cls(**kw)


@dataclass
class CandidateResult:
    """Everything measured about one candidate, and what was decided about it.

    Attributes:
        name: the candidate's name (``onnxruntime/int8(minmax)``).
        config: its build config (None for the PyTorch eager baseline).
        kind: ``engine`` or ``torch-eager`` (the user's PyTorch starting point).
        role: ``baseline``, ``reference``, ``mixed`` or empty.
        status: ``pending`` (enumerated, nothing done yet), ``probed`` (built, quick latency
            and subset accuracy measured), ``pruned`` (dropped after the cheap checks;
            reasons say why), ``measured`` (finalist: full accuracy and interleaved latency),
            ``error`` (build or run failed; error says why) or ``skipped`` (not tried: time
            budget or Ctrl-C), in the order a candidate moves through them.
        executed_precision: what the engine really runs in.
        latency: latency statistics (ms).
        latency_source: ``probe`` or ``interleaved``.
        ratio_vs_baseline: median of the per-round p50 ratios to the baseline (interleaved).
        paired_p50_ms: interleaved finalists: the baseline's median per-round p50 times this
            candidate's median per-round ratio to it; what ``p50`` selection ranks by (a
            paired comparison, robust to load changing between rounds).
        throughput: inferences per second.
        quality: accuracy and fidelity to the FP32 reference (finalists: on the held-out
            split; the others: on the tuning subset).
        tune_quality: a finalist's quality on the tuning subset, before the held-out verdict.
        size_bytes: engine payload size.
        build_s: build time in seconds.
        engine_path: the engine directory (in the cache).
        error: why it failed, when it did.
        reasons: why it was kept, pruned or chosen.
        notes: the build's notes.
        samples_ms: per-iteration latencies (ms).
        excluded: layers kept in FP32 (mixed precision).
        pruning: for a pruned variant: method, ratio, MACs and parameters before/after,
            fine-tuning epochs and seconds (None: the searched model itself).
    """

    name: str
    config: BuildConfig | None
    kind: str = "engine"  # "engine", or "baseline" (the user's PyTorch starting point)
    role: str = ""  # "baseline", "reference", "mixed" or ""
    status: str = "pending"
    executed_precision: str | None = None
    latency: LatencyStats | None = None
    latency_source: str | None = None
    ratio_vs_baseline: float | None = None
    paired_p50_ms: float | None = None
    throughput: float | None = None
    quality: Quality | None = None
    tune_quality: Quality | None = None
    size_bytes: int | None = None
    build_s: float | None = None
    engine_path: str | None = None
    error: str | None = None
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    samples_ms: list[float] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    pruning: dict[str, Any] | None = None

    @property
    def usable(self) -> bool:
        """Has both a latency and a quality measurement and no error."""
        return self.error is None and self.latency is not None and self.quality is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON data: the fields, with config, latency and quality as objects (or null)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["config"] = self.config.to_dict() if self.config else None
        data["latency"] = self.latency.to_dict() if self.latency else None
        data["quality"] = self.quality.to_dict() if self.quality else None
        data["tune_quality"] = self.tune_quality.to_dict() if self.tune_quality else None
        for key in ("reasons", "notes", "samples_ms", "excluded"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CandidateResult:
        """Parse :meth:`to_dict` data (keys of newer reports are ignored)."""
        known = {f.name for f in fields(cls)} - {"source_model"}
        kw = {k: v for k, v in data.items() if k in known}
        kw["config"] = BuildConfig.from_dict(data["config"]) if data.get("config") else None
        kw["latency"] = LatencyStats.from_dict(data["latency"]) if data.get("latency") else None
        kw["quality"] = Quality.from_dict(data["quality"]) if data.get("quality") else None
        tune = data.get("tune_quality")
        kw["tune_quality"] = Quality.from_dict(tune) if tune else None
        return cls(**kw)


@dataclass(frozen=True)
class MixedReport:
    """What accuracy-aware mixed precision did for one INT8 candidate.

    Attributes:
        base: the INT8 candidate that missed the budget.
        result: the mixed candidate's name (None: not found in time).
        excluded: layers kept in FP32.
        sensitivity: (layer or group, score gain) pairs, most sensitive first.
        steps: (layers excluded, score, meets budget) for each step tried.
        meets_budget: whether the result meets the accuracy budget.
        latency_cost: mixed p50 / pure INT8 p50 (interleaved).
        note: what happened, for people.
    """

    base: str
    result: str | None
    excluded: tuple[str, ...]
    sensitivity: tuple[tuple[str, float], ...]
    steps: tuple[tuple[int, float, bool], ...]
    meets_budget: bool
    latency_cost: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON data: the fields, with tuples as lists."""
        data = asdict(self)
        data["excluded"] = list(self.excluded)
        data["sensitivity"] = [list(s) for s in self.sensitivity]
        data["steps"] = [list(s) for s in self.steps]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MixedReport:
        """Parse :meth:`to_dict` data."""
        return cls(
            base=data["base"],
            result=data.get("result"),
            excluded=tuple(data.get("excluded", ())),
            sensitivity=tuple(
                (str(a), float(b) if b is not None else float("nan"))
                for a, b in data.get("sensitivity", ())
            ),
            steps=tuple((int(a), float(b), bool(c)) for a, b, c in data.get("steps", ())),
            meets_budget=bool(data["meets_budget"]),
            latency_cost=data.get("latency_cost"),
            note=str(data.get("note", "")),
        )


@dataclass
class OptimizeResult:
    """The outcome of one ``optimize`` run: every candidate, the front, the choice.

    Attributes:
        model: the searched model (name, hash, source).
        config: the :class:`~edgeinfer.search.config.OptimizeConfig` data of the run.
        mode: ``labels`` (top-1 against labels) or ``fidelity`` (agreement with FP32).
        data_note: what the accuracy numbers were measured on.
        candidates: every candidate and what happened to it.
        pareto: names of the candidates on the latency/accuracy Pareto front.
        winner: the chosen candidate's name (None: none meets the budget).
        runner_up: the next best one.
        winner_reason: why the winner won.
        baseline: the candidate speed-ups are measured against.
        reference: the FP32 engine fidelity is measured against.
        speedup_vs_baseline: the winner's speed-up over the baseline.
        budget_met: whether the winner meets every budget.
        closest: the candidates closest to the budget when none meets it.
        skipped: what was not tried, and why.
        mixed: what mixed precision did, per INT8 candidate.
        notes: notes for people (fallbacks, interruptions).
        warnings: what may make the verdict wrong: budgets the data cannot resolve, an eval
            set too small for the budget, a winner that only met the budget within noise.
        partial: the run was interrupted; results are incomplete.
        host: the machine it ran on (:class:`~edgeinfer.host.HostInfo` data).
        created: UTC time of the run, ISO 8601.
        wall_s: how long the run took.
        command: the command line.
        out_dir: where the reports were written.
        engine_dir: where the winning engine was written.
        version: format version of the report.
    """

    model: dict[str, Any]
    config: dict[str, Any]
    mode: str
    data_note: str
    candidates: list[CandidateResult] = field(default_factory=list)
    pareto: list[str] = field(default_factory=list)
    winner: str | None = None
    runner_up: str | None = None
    winner_reason: str = ""
    baseline: str | None = None
    reference: str | None = None
    speedup_vs_baseline: float | None = None
    budget_met: bool = False
    closest: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    mixed: list[MixedReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    partial: bool = False
    host: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    wall_s: float = 0.0
    command: str | None = None
    out_dir: str | None = None
    engine_dir: str | None = None
    version: int = RESULT_VERSION
    # The searched model, to build the winner from (in memory only; not serialized).
    source_model: Any = field(default=None, repr=False, compare=False, metadata=serde.SKIP)
    # The models of candidates built from another model (pruned variants), by name.
    candidate_models: dict[str, Any] = field(
        default_factory=dict, repr=False, compare=False, metadata=serde.SKIP
    )

    def candidate(self, name: str) -> CandidateResult:
        """The result of candidate ``name``.

        Raises:
            KeyError: no candidate of that name.
        """
        for c in self.candidates:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The ``report.json`` data: the fields, every candidate and mixed-precision report;
        strict JSON (:func:`edgeinfer.fileio.json_safe`: NaN and infinities as null).
        """
        skip = ("source_model", "candidate_models")
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        data["candidates"] = [c.to_dict() for c in self.candidates]
        data["mixed"] = [m.to_dict() for m in self.mixed]
        for key in ("pareto", "closest", "skipped", "notes", "warnings"):
            data[key] = list(data[key])
        safe: dict[str, Any] = json_safe(data)
        return safe

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OptimizeResult:
        """Parse ``report.json`` data (:meth:`to_dict`; keys of newer reports are ignored)."""
        known = {f.name for f in fields(cls)} - {"source_model", "candidate_models"}
        kw = {k: v for k, v in data.items() if k in known}
        kw["candidates"] = [CandidateResult.from_dict(c) for c in data.get("candidates", ())]
        kw["mixed"] = [MixedReport.from_dict(m) for m in data.get("mixed", ())]
        return cls(**kw)
