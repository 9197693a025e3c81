"""``run_search(model, OptimizeConfig(...)) -> OptimizeResult``: the accuracy-constrained search.

The search decides; it writes nothing. :func:`edgeinfer.api.optimize` (``edgeinfer.optimize``)
runs it and writes the winning engine and the reports under ``OptimizeConfig.out_dir``.

Order of work (cheap first): build the FP32 reference and hold the data in memory; build
and quickly probe every candidate (a short latency run and accuracy on a small subset);
prune clear misses and dominated candidates; try one thread where it may matter; try mixed
precision when INT8 misses the accuracy budget; then measure the finalists fully (all the
data, interleaved latency rounds) and select. A Ctrl-C keeps every finished candidate (the
engines stay in the cache) and raises :class:`SearchInterrupted` carrying the partial result.
"""

from __future__ import annotations

import datetime as _dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from edgeinfer.backends import find_backends, get_backend
from edgeinfer.builder import ResolvedModel as Source
from edgeinfer.builder import build, resolve_model
from edgeinfer.calibration import CalibrationConfig, pin_data
from edgeinfer.config import BuildConfig
from edgeinfer.data.specs import spec_problems
from edgeinfer.errors import BudgetError, ConfigError, EdgeInferError
from edgeinfer.evaluate.metrics import declared_task
from edgeinfer.host import current_host
from edgeinfer.passes.opset import per_channel_possible
from edgeinfer.progress import Progress
from edgeinfer.search.candidates import Candidate, enumerate_candidates, reference_candidate
from edgeinfer.search.config import DEFAULT_FIDELITY_DATA, OptimizeConfig
from edgeinfer.search.datasets import plan_data
from edgeinfer.search.finalists import measure_finalists
from edgeinfer.search.phases import Search
from edgeinfer.search.pruned import macs_vs_time, pruned_candidates
from edgeinfer.search.resolution import data_warnings, describe_outputs, verdict_warnings
from edgeinfer.search.results import CandidateResult, OptimizeResult
from edgeinfer.search.select import select
from edgeinfer.search.tuning import try_mixed

if TYPE_CHECKING:
    from edgeinfer.engine import Engine
    from edgeinfer.model import Model

BASELINE_NAME = "pytorch-eager/fp32"


def _check_backends(cfg: OptimizeConfig) -> None:
    """Fail before any work on a backend that is unknown or not installed."""
    for name in cfg.backends or ():
        get_backend(name)


def _baseline(search: Search, source: Source, cfg: OptimizeConfig) -> str | None:
    """Register the user's starting point (PyTorch eager FP32, the backend declared
    ``baseline``) when the model has a PyTorch source; None otherwise.
    """
    if not cfg.torch_baseline or source.model.torch_source is None:
        return None
    backends = find_backends(baseline=True)
    if not backends:
        search.notes.append("no PyTorch starting point: torch is not installed")
        return None
    cand = Candidate(BASELINE_NAME, BuildConfig(backends[0], "fp32", cfg.threads), "baseline")
    try:
        engine = build(source.model, cand.config, quiet=True)
    except EdgeInferError as exc:
        search.notes.append(f"no PyTorch starting point: {exc}")
        return None
    search.baseline_name = BASELINE_NAME
    search.cands[BASELINE_NAME], search.engines[BASELINE_NAME] = cand, engine
    search.results[BASELINE_NAME] = CandidateResult(
        BASELINE_NAME,
        cand.config,
        kind="baseline",
        role="baseline",
        status="probed",
        executed_precision="fp32",
        notes=["the user's starting point: PyTorch eager FP32"],
    )
    return BASELINE_NAME


def _calib_fingerprint(source: Source, data: str, cfg: OptimizeConfig, samples: int) -> str | None:
    """Content hash of the calibration data, computed once for every INT8 candidate (None
    when the data cannot be loaded: the INT8 builds then record the error themselves).
    """
    try:
        cal = CalibrationConfig(data=data, samples=samples, seed=cfg.seed)
        return pin_data(source.model, cal, quiet=cfg.quiet).data_fingerprint
    except EdgeInferError:
        return None


def _per_channel(model: Model, cfg: OptimizeConfig) -> tuple[bool, str | None]:
    """Whether INT8 candidates can use per-channel weights; when not, why (then they are
    per-tensor variants instead).
    """
    if cfg.precisions is not None and "int8" not in cfg.precisions:
        return True, None
    possible, why = per_channel_possible(model)
    if possible:
        return True, None
    return False, f"INT8 candidates use per-tensor weights: {why}"


def _run_phases(search: Search, cfg: OptimizeConfig, source: Source, ref: Engine) -> None:
    ref_cand = reference_candidate(cfg.threads)
    search.set_reference(ref_cand, ref)
    assert search.ref_full is not None
    ref_q = search.quality_of(search.ref_full, subset=False)
    search.outputs = describe_outputs(ref_q)
    for text in data_warnings(ref_q, cfg.budget, search.mode):
        search.warnings.append(text)
        search.log(f"[yellow]warning:[/] {escape(text)}")
    calib_data = cfg.calib or DEFAULT_FIDELITY_DATA
    per_channel, why = _per_channel(source.model, cfg)
    if why:
        search.notes.append(why)
    fingerprint = _calib_fingerprint(source, calib_data, cfg, search.calib_samples)
    cands, left_out = enumerate_candidates(
        cfg.backends,
        cfg.precisions,
        cfg.calibrators,
        threads=cfg.threads,
        calib_data=calib_data,
        calib_samples=search.calib_samples,
        seed=cfg.seed,
        calib_fingerprint=fingerprint,
        per_channel=per_channel,
        torch_source=source.model.torch_source is not None,
    )
    for what, why in left_out:
        search.notes.append(f"left out {what}: {why}")
    cands += pruned_candidates(
        source.model, cfg, calib_data=calib_data, calib_samples=search.calib_samples,
        calib_fingerprint=fingerprint, log=search.log, late=search.late, notes=search.notes,
    )  # fmt: skip
    _baseline(search, source, cfg)
    search.probe_all([c for c in cands if c.name != ref_cand.name])
    search.prune()
    search.try_thread_variant()
    try_mixed(search)
    measure_finalists(search)


class SearchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a search: ``result`` holds every candidate finished so far."""

    def __init__(self, result: OptimizeResult) -> None:
        super().__init__("search interrupted")
        self.result = result


def run_search(
    model: Model | str | Path, config: OptimizeConfig | None = None, *, command: str | None = None
) -> OptimizeResult:
    """Find the fastest engine on this host that keeps accuracy within the budget.

    Args:
        model: an ONNX path, a :class:`~edgeinfer.model.Model`, ``zoo:NAME`` or a zoo name.
        config: what to search and the budgets (None: defaults, fidelity on photo crops).
        command: the command line, recorded in the report.

    Returns:
        The result (``budget_met`` False when nothing meets the budgets;
        :func:`check_budget` turns that into a :class:`BudgetError`).

    Raises:
        SearchInterrupted: Ctrl-C; the exception carries the partial result.
    """
    from rich.console import Console

    cfg = config or OptimizeConfig()
    t0 = time.monotonic()
    _check_backends(cfg)
    console = Console(stderr=True, quiet=cfg.quiet, highlight=False)
    source = _with_spec(resolve_model(model, quiet=cfg.quiet), cfg)
    ref = build(source.model, reference_candidate(cfg.threads).config, quiet=True)
    _check_outputs(cfg, ref)
    plan = plan_data(cfg, ref)
    data, mode, note = plan.data, plan.mode, plan.note
    tune, holdout = data.split(min(cfg.quick_n, data.n // 2))
    note += f"; tuned on {tune.n}, judged on {holdout.n} held-out inputs"
    interrupted = False
    with Progress(cfg.quiet) as progress:
        log = (progress.console or console).print  # above the bars while they are shown
        search = Search(
            source.model, cfg, tune, holdout, mode, progress, log,
            start=t0, task=declared_task(ref.metadata),
        )  # fmt: skip
        search.notes.extend(plan.notes)
        search.calib_samples = plan.calib_samples
        if tune is holdout:
            search.warnings.append(
                f"only {data.n} input: nothing could be held out; the verdict is not confirmed "
                "on separate data"
            )
        log(f"[bold]optimize[/] {source.name}: {note}")
        try:
            _run_phases(search, cfg, source, ref)
        except KeyboardInterrupt:
            interrupted = True
    search.notes += macs_vs_time(search.results)
    result = _finish(search, cfg, source, mode, note, t0, command, partial=interrupted)
    result.source_model = source.model
    result.candidate_models = {n: c.model for n, c in search.cands.items() if c.model is not None}
    if interrupted:
        raise SearchInterrupted(result)
    return result


def _with_spec(source: Source, cfg: OptimizeConfig) -> Source:
    """The model with ``cfg.preprocess`` stored in it (what every candidate and the winning
    engine then carry), after checking that it fits the input.
    """
    if cfg.preprocess is None:
        return source
    problems = spec_problems(cfg.preprocess, source.model)
    if problems:
        raise ConfigError(
            f"--preprocess {'; '.join(problems)}; fix the spec's size, color or layout"
        )
    model = source.model.with_meta(preprocess=cfg.preprocess.to_dict())
    return Source(model, source.name, source.kind)


def _check_outputs(cfg: OptimizeConfig, ref: Engine) -> None:
    """Refuse ``--outputs`` names the model does not have."""
    names = [o.name for o in ref.outputs]
    unknown = [n for n in cfg.outputs or () if n not in names]
    if unknown:
        raise ConfigError(
            f"--outputs names {', '.join(unknown)} but the model's outputs are "
            f"{', '.join(names)}; judge some of those"
        )


def _notes(search: Search, cfg: OptimizeConfig, mode: str, partial: bool) -> list[str]:
    notes = [f"accuracy budget: {cfg.budget.describe(mode, search.outputs)}", *search.notes]
    if search.baseline_name is None:
        notes.append("starting point: ONNX Runtime FP32 with defaults (no PyTorch source)")
    if cfg.budget.max_accuracy_drop is not None and mode == "fidelity":
        notes.append("--max-accuracy-drop needs labels; the fidelity budget applied instead")
    if partial:
        notes.append("INTERRUPTED: partial results; unfinished candidates are marked skipped")
    return notes


def _finish(
    search: Search,
    cfg: OptimizeConfig,
    source: Source,
    mode: str,
    note: str,
    t0: float,
    command: str | None,
    *,
    partial: bool,
) -> OptimizeResult:
    results = list(search.results.values())
    sel = select(results, cfg.budget)
    for r in results:
        r.reasons = sel.reasons.get(r.name, r.reasons)
    ref_name = next((r.name for r in results if r.role == "reference"), None)
    model: dict[str, Any] = {"name": source.name, "kind": source.kind, "hash": source.model.hash}
    model["path"] = str(source.model.path) if source.model.path else None
    result = OptimizeResult(
        model=model, config=cfg.to_dict(), mode=mode, data_note=note, candidates=results,
        pareto=sel.pareto, winner=sel.winner, runner_up=sel.runner_up,
        winner_reason=sel.winner_reason, baseline=search.baseline_name or ref_name,
        reference=ref_name, budget_met=sel.met, closest=sel.closest,
        skipped=list(search.skipped), mixed=list(search.mixed),
        notes=_notes(search, cfg, mode, partial), partial=partial,
        host=current_host().to_dict(),
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        wall_s=round(time.monotonic() - t0, 2), command=command,
    )  # fmt: skip
    ratio = result.candidate(sel.winner).ratio_vs_baseline if sel.winner else None
    result.speedup_vs_baseline = round(1 / ratio, 3) if ratio else None
    result.warnings = _warnings(search, cfg, result)
    return result


def _warnings(search: Search, cfg: OptimizeConfig, result: OptimizeResult) -> list[str]:
    """The data's warnings, the winner's verdicts within noise, an overrun time budget."""
    out = list(search.warnings)
    if result.winner:
        q = result.candidate(result.winner).quality
        if q is not None:
            out += verdict_warnings(q, cfg.budget, result.mode, result.winner)
    budget_s = cfg.time_budget_min * 60 if cfg.time_budget_min is not None else None
    if budget_s is not None and result.wall_s > budget_s * 1.05:
        out.append(
            f"the search took {result.wall_s / 60:.1f} min, over the {cfg.time_budget_min:g}-min "
            "time budget (one build or measurement outlasted its estimate)"
        )
    return out


def check_budget(result: OptimizeResult) -> None:
    """Raise :class:`BudgetError` (exit code 3) when no candidate met the budgets."""
    if result.budget_met:
        return
    closest = (
        ", ".join(f"{n} ({'; '.join(result.candidate(n).reasons)})" for n in result.closest)
        or "none measured"
    )
    where = f"; see {result.out_dir}/report.html" if result.out_dir else ""
    raise BudgetError(
        f"no candidate meets the budgets ({result.notes[0].removeprefix('accuracy budget: ')}"
        f"{_latency_text(result)}); closest: {closest}; relax --max-accuracy-drop/"
        f"--min-agreement/--latency-budget-ms or add backends/precisions{where}"
    )


def _latency_text(result: OptimizeResult) -> str:
    ms = result.config.get("budget", {}).get("latency_budget_ms")
    return f", latency <= {ms:g} ms" if ms else ""
