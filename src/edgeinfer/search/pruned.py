"""Pruned variants as ``optimize`` candidates: ratio x backend x precision (INT8 on top).

For each ratio in ``OptimizeConfig.prune_ratios`` the searched model's PyTorch source is
channel-pruned and fine-tuned (``OptimizeConfig.prune_finetune``) by :mod:`edgeinfer.prune`;
every backend/precision of the search is then a candidate built from the pruned model, named
``channel50%/onnxruntime/int8(percentile)``, and measured with the same protocol and budget
as the unpruned ones (quick probe, pruning of the candidate list, interleaved finalists). The
report shows each candidate's MACs and parameters next to its measured latency, so fewer MACs
that did not mean less time are visible. Models without a PyTorch source get a note instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from edgeinfer.errors import EdgeInferError
from edgeinfer.model import Model
from edgeinfer.passes.opset import per_channel_possible
from edgeinfer.prune import PruneConfig, prune
from edgeinfer.search.candidates import Candidate, enumerate_candidates
from edgeinfer.search.config import OptimizeConfig
from edgeinfer.search.results import CandidateResult

__all__ = ["macs_vs_time", "pruned_candidates", "pruning_summary"]

# The prune verb's flags, as optimize spells them (pruning errors name the fix).
_FLAGS = (
    ("--finetune-epochs", "--prune-epochs"),
    ("--train ", "--prune-train "),
    ("--distill", "--prune-distill"),
)


def pruning_summary(model: Model | None) -> dict[str, Any] | None:
    """MACs, parameters and fine-tuning of a pruned model (its ``pruning`` metadata), for the
    report; None for a model that was not pruned.
    """
    record = model.meta("pruning") if model is not None else None
    if not isinstance(record, dict):
        return None
    keys = ("method", "ratio", "macs_before", "macs_after", "params_before", "params_after")
    out = {k: record.get(k) for k in keys}
    out["epochs"] = len(record.get("history") or ())
    out["finetune_s"] = record.get("finetune_seconds")
    return out


def _tag(ratio: float) -> str:
    return f"channel{round(ratio * 100):d}%"


def pruned_candidates(
    model: Model,
    cfg: OptimizeConfig,
    *,
    calib_data: str,
    calib_samples: int,
    calib_fingerprint: str | None,
    log: Callable[[str], None],
    late: Callable[[], bool],
    notes: list[str],
) -> list[Candidate]:
    """The candidates of every pruned variant of ``model`` (none without ``prune_ratios``).

    Args:
        model: the searched model (its ``torch_source`` is pruned).
        cfg: the search settings (ratios, fine-tuning, backends, precisions, threads).
        calib_data: calibration data of the INT8 candidates (as for the unpruned ones).
        calib_samples: calibration samples (as for the unpruned ones).
        calib_fingerprint: its content hash.
        log: progress lines.
        late: whether the time budget is spent (no further ratio is pruned then).
        notes: receives why a ratio was left out.
    """
    if not cfg.prune_ratios:
        return []
    if model.torch_source is None:
        notes.append(
            "pruned candidates left out: the model has no PyTorch source (pruning changes the "
            "module; use a zoo model with a PyTorch definition or package.module:factory)"
        )
        return []
    out: list[Candidate] = []
    for ratio in cfg.prune_ratios:
        if late():
            notes.append(f"{_tag(ratio)} left out: time budget reached before pruning it")
            continue
        pruned = _prune(model, cfg, ratio, log, notes)
        if pruned is not None:
            calib = (calib_data, calib_samples, calib_fingerprint)
            out += _variants(pruned, cfg, ratio, calib, notes)
    return out


def _prune(
    model: Model,
    cfg: OptimizeConfig,
    ratio: float,
    log: Callable[[str], None],
    notes: list[str],
) -> Model | None:
    log(f"pruning {model.name}: {_tag(ratio)} ({cfg.prune_finetune.epochs} fine-tuning epochs)")
    try:
        result = prune(
            model, PruneConfig(ratio=ratio, finetune=cfg.prune_finetune), quiet=cfg.quiet, log=log
        )
    except EdgeInferError as exc:
        why = str(exc)
        for verb_flag, flag in _FLAGS:
            why = why.replace(verb_flag, flag)
        notes.append(f"{_tag(ratio)} left out: {why}")
        log(f"[red]✗[/] {_tag(ratio)}: {why}")
        return None
    rec = result.record
    log(f"{_tag(ratio)}: {rec.summary()}")
    notes.extend(f"{_tag(ratio)}: {n}" for n in rec.notes)
    return result.model


def _variants(
    pruned: Model,
    cfg: OptimizeConfig,
    ratio: float,
    calib: tuple[str, int, str | None],
    notes: list[str],
) -> list[Candidate]:
    """Every backend/precision of the search on the pruned model (INT8 with the first
    calibrator only: pruning multiplies the candidates already); ``calib`` is the data,
    sample count and fingerprint of the unpruned INT8 candidates.
    """
    calibrators = (cfg.calibrators or ("percentile",))[:1]
    int8 = cfg.precisions is None or "int8" in cfg.precisions
    per_channel, why = per_channel_possible(pruned) if int8 else (True, None)
    if why:
        notes.append(f"{_tag(ratio)}: INT8 candidates use per-tensor weights: {why}")
    cands, left_out = enumerate_candidates(
        cfg.backends, cfg.precisions, calibrators, threads=cfg.threads, calib_data=calib[0],
        calib_samples=calib[1], seed=cfg.seed, calib_fingerprint=calib[2],
        per_channel=per_channel, torch_source=pruned.torch_source is not None,
    )  # fmt: skip
    notes.extend(f"left out {_tag(ratio)}/{what}: {why}" for what, why in left_out)
    return [replace(c, name=f"{_tag(ratio)}/{c.name}", role="", model=pruned) for c in cands]


def macs_vs_time(results: Mapping[str, CandidateResult]) -> list[str]:
    """One sentence per measured pruned candidate: its MACs and its p50 against the same
    backend/precision on the unpruned model, so fewer MACs that did not mean less time show.
    """
    out = []
    for name, r in results.items():
        p, prefix = r.pruning, name.partition("/")[0] + "/"
        base = results.get(name.removeprefix(prefix)) if p else None
        if p is None or base is None or r.latency is None or base.latency is None:
            continue
        if not p.get("macs_before") or not p.get("macs_after"):
            continue
        macs = p["macs_after"] / p["macs_before"]
        speed = base.latency.p50 / r.latency.p50 if r.latency.p50 > 0 else math.inf
        both = r.latency_source == base.latency_source == "interleaved"
        how = "interleaved" if both else "quick probes only, not interleaved: rough on a busy host"
        verdict = "faster" if speed >= 1.05 else "NOT faster" if speed < 0.95 else "about as fast"
        out.append(
            f"{name}: {macs:.2f}x the MACs of {base.name}, {speed:.2f}x its speed "
            f"({verdict}; p50 {r.latency.p50:.3f} vs {base.latency.p50:.3f} ms, {how})"
        )
    return out
