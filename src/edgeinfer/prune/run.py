"""``prune(source, PruneConfig(...), out)``: load, check, prune, fine-tune, export, record.

Everything that can be refused is refused before the first channel goes: the source must be
a PyTorch module, channel pruning needs a traceable ``forward`` and a structure Torch-Pruning
can keep consistent, the ratio must leave every layer a channel, and the data must fit the
model. The output directory is written atomically (``model.onnx`` with the pruning record in
its edgeinfer metadata, ``pruned.pt``, ``pruning.json``) only after the pruned module ran at
batch 1 and 2 and its ONNX export matched it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeinfer.errors import EdgeInferError
from edgeinfer.fileio import atomic_directory, atomic_write_json
from edgeinfer.model import Model
from edgeinfer.preprocess import PreprocessSpec
from edgeinfer.prune import analysis, channel, unstructured
from edgeinfer.prune.analysis import PruneError
from edgeinfer.prune.config import PruneConfig
from edgeinfer.prune.data import Tensors, load_tensors
from edgeinfer.prune.exporting import carried_metadata, export_checked
from edgeinfer.prune.finetune import Log, finetune, reinflate_batchnorm, threads
from edgeinfer.prune.loading import Loaded, attach_dense_model, load_source
from edgeinfer.prune.quality import Judge
from edgeinfer.prune.record import EpochRecord, PruneRecord, QualityRecord
from edgeinfer.prune.saved import pruned_source, save_pruned
from edgeinfer.source import TorchSource

__all__ = ["MODEL_FILE", "MODULE_FILE", "RECORD_FILE", "PruneResult", "prune"]

MODEL_FILE = "model.onnx"
MODULE_FILE = "pruned.pt"
RECORD_FILE = "pruning.json"
NOT_FINETUNED = (
    "not fine-tuned: channel pruning without fine-tuning loses most of the accuracy "
    "(fashion-cnn at 50%: 91.85% -> 10%); pass --finetune-epochs N --train DATASET"
)
NO_SPEEDUP = (
    "unstructured zeros keep every dense shape: expect no speed-up on ONNX Runtime or "
    "OpenVINO CPU (measured 1.00-1.06x) and no smaller ONNX file; use --method channel for speed"
)


@dataclass
class PruneResult:
    """What :func:`prune` made.

    Attributes:
        record: the pruning record.
        model: the pruned model as ONNX, carrying the unpruned model's metadata and the record.
        module: the pruned PyTorch module (eval mode, CPU).
        out: the output directory (None: nothing written).
        source: the pruned model as a PyTorch source (``out/pruned.pt``; None without ``out``).
    """

    record: PruneRecord
    model: Model
    module: nn.Module
    out: Path | None = None
    source: TorchSource | None = None


@dataclass
class _Job:
    """The state one run carries between its phases."""

    cfg: PruneConfig
    loaded: Loaded
    train: Tensors | None
    judge: Judge | None
    log: Log | None
    quiet: bool | None
    pruned_quality: float | None = None
    history: tuple[EpochRecord, ...] = ()

    def say(self, text: str) -> None:
        if self.log is not None:
            self.log(text)


def prune(
    source: Model | str | Path,
    config: PruneConfig | None = None,
    out: str | Path | None = None,
    *,
    input_shape: tuple[int, ...] | None = None,
    preprocess: PreprocessSpec | None = None,
    eval_data: str | None = None,
    eval_limit: int | None = None,
    overwrite: bool = False,
    quiet: bool | None = None,
    log: Log | None = None,
) -> PruneResult:
    """Prune a PyTorch model, fine-tune it, export it and record what happened.

    Args:
        source: a zoo name with a PyTorch definition, ``package.module:factory``, or a
            :class:`Model` carrying a PyTorch source.
        config: method, ratio, widths and fine-tuning (None: channel 50%, no fine-tuning).
        out: directory to write (``model.onnx``, ``pruned.pt``, ``pruning.json``); None: none.
        input_shape: example input shape for a factory source (batch first).
        preprocess: preprocessing for image datasets (None: the model's stored one).
        eval_data: dataset to score the model on before and after (top-1 with labels, else
            agreement with the unpruned model).
        eval_limit: at most this many evaluation samples.
        overwrite: replace an existing ``out``.
        quiet: no progress bars.
        log: receives progress lines (time estimate, epochs).

    Raises:
        EdgeInferError: what can be refused (see the module docstring); nothing is written.
    """
    cfg = config or PruneConfig()
    out_path = _check_out(out, overwrite)
    ft = cfg.finetune
    if ft.device == "cuda" and not torch.cuda.is_available():
        raise PruneError("--device cuda: no CUDA device is available to torch; use --device cpu")
    with threads(ft.threads):
        job = _prepare(source, cfg, input_shape, preprocess, eval_data, eval_limit, quiet, log)
        module, before = _prune(job)
        return _finish(job, module, before, out_path, overwrite)


def _check_out(out: str | Path | None, overwrite: bool) -> Path | None:
    if out is None:
        return None
    path = Path(out)
    if path.exists() and not overwrite:
        raise EdgeInferError(f"'{path}' already exists; pass --force to replace it")
    if path.exists() and not path.is_dir():
        raise EdgeInferError(f"'{path}' is a file; -o names the directory to write")
    return path


def _prepare(
    source: Model | str | Path,
    cfg: PruneConfig,
    input_shape: tuple[int, ...] | None,
    preprocess: PreprocessSpec | None,
    eval_data: str | None,
    eval_limit: int | None,
    quiet: bool | None,
    log: Log | None,
) -> _Job:
    """Load the source, refuse what cannot be pruned, load the data."""
    loaded = load_source(source, input_shape=input_shape, quiet=bool(quiet))
    if cfg.method == "channel":
        analysis.check_traceable(loaded.module, loaded.example())
    loaded = attach_dense_model(loaded, quiet=bool(quiet))
    assert loaded.model is not None
    shape = analysis.output_shapes(loaded.module, loaded.example())
    classes = shape[0][1] if len(shape[0]) == 2 and shape[0][1] > 1 else None
    ft = cfg.finetune

    def tensors(spec: str, limit: int | None, role: str, seed: int) -> Tensors:
        assert loaded.model is not None
        return load_tensors(
            spec, loaded.model, classes=classes, limit=limit, seed=seed, preprocess=preprocess,
            role=role, quiet=quiet,
        )  # fmt: skip

    train = tensors(ft.train, ft.limit, "training", ft.seed) if ft.enabled and ft.train else None
    if train is not None and train.y is None and not ft.distill:
        raise PruneError(
            f"training dataset '{ft.train}' has no labels; fine-tune with --distill (the "
            "unpruned model teaches), or pass labelled data"
        )
    judge = None
    if eval_data:
        judge = Judge(loaded.module, tensors(eval_data, eval_limit, "evaluation", ft.seed + 1))
    return _Job(cfg, loaded, train, judge, log, quiet)


def _prune(job: _Job) -> tuple[nn.Module, dict[str, int]]:
    """Prune (and fine-tune) a copy of the module; returns it and the widths before."""
    work = job.loaded.copy_module()
    before = analysis.widths(work)
    if job.cfg.method == "channel":
        _prune_channels(job, work)
    else:
        unstructured.mask_weights(work, job.cfg.ratio)
        job.pruned_quality = _score(job, work)
        _finetune(job, work, 1)
        unstructured.make_permanent(work)
    return work.cpu().eval(), before


def _prune_channels(job: _Job, work: nn.Module) -> None:
    cfg, loaded = job.cfg, job.loaded
    example = loaded.example()
    if job.train is not None:
        reinflate_batchnorm(work, job.train.x)
    ignored = sorted({*analysis.output_layers(work, example), *cfg.ignore})
    groups = channel.plan(work, example, cfg, ignored)
    job.say(
        "plan: " + ", ".join(f"{g.root} {g.width}->{g.keep}" for g in groups if g.keep < g.width)
    )
    for step, targets in enumerate(channel.step_targets(groups, cfg.steps, cfg.rounding), 1):
        channel.prune_channels(work.cpu(), example, targets, ignored)
        if step == 1:
            job.pruned_quality = _score(job, work)
        _finetune(job, work, step)


def _finetune(job: _Job, work: nn.Module, step: int) -> None:
    ft = job.cfg.finetune
    if not ft.enabled or job.train is None:
        return
    teacher = job.loaded.module if ft.distill else None
    judge = job.judge
    scorer = judge.score if judge is not None else None
    history = finetune(
        work, teacher, job.train, ft, score=scorer, step=step, log=job.log, quiet=job.quiet
    )
    job.history = (*job.history, *history)
    if teacher is not None:
        teacher.cpu()


def _score(job: _Job, module: nn.Module) -> float | None:
    return job.judge.score(module) if job.judge is not None else None


def _quality(job: _Job, module: nn.Module) -> QualityRecord | None:
    judge = job.judge
    if judge is None:
        return None
    final = judge.score(module)
    confident, top5 = judge.agreement_details(module)
    pruned = job.pruned_quality if job.pruned_quality is not None else final
    return QualityRecord(
        judge.metric, judge.data.source, round(judge.dense, 6), round(pruned, 6),
        round(final, 6), _round(confident), _round(top5),
    )  # fmt: skip


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _versions() -> dict[str, str]:
    out = {"torch": str(torch.__version__)}
    try:
        out["torch-pruning"] = importlib_metadata.version("torch-pruning")
    except importlib_metadata.PackageNotFoundError:
        pass
    return out


def _record(job: _Job, module: nn.Module, before: dict[str, int], diff: float) -> PruneRecord:
    loaded, cfg = job.loaded, job.cfg
    example = loaded.example()
    macs0, params0, _ = analysis.count(loaded.module, example)
    macs1, params1, nonzero = analysis.count(module, example)
    notes = []
    if cfg.method == "channel" and not cfg.finetune.enabled:
        notes.append(NOT_FINETUNED)
    if cfg.method == "l1-unstructured":
        notes.append(NO_SPEEDUP)
    return PruneRecord(
        method=cfg.method, ratio=cfg.ratio, config=cfg.to_dict(),
        source=f"{loaded.name}: {loaded.source.describe()}", input_shape=loaded.input_shape,
        layers=analysis.layer_records(module, before), macs_before=macs0, macs_after=macs1,
        params_before=params0, params_after=params1, nonzero_params_after=nonzero,
        quality=_quality(job, module), history=job.history,
        finetune_seconds=round(sum(e.seconds for e in job.history), 2),
        export_max_abs_diff=diff, versions=_versions(), notes=tuple(notes),
    )  # fmt: skip


def _finish(
    job: _Job, module: nn.Module, before: dict[str, int], out: Path | None, overwrite: bool
) -> PruneResult:
    """Check, export and (with ``out``) write atomically."""
    loaded = job.loaded
    expected = {b: analysis.output_shapes(loaded.module, loaded.example(b)) for b in (1, 2)}
    analysis.check_outputs(module, loaded.input_shape, expected)
    if out is None:
        with tempfile.TemporaryDirectory(prefix="edgeinfer-prune-") as tmp:
            model, record = _write(job, module, before, Path(tmp), None)
        model.path = None
        return PruneResult(record, model, module)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        model, record = _write(job, module, before, tmp, out / MODULE_FILE)
    model.path = out / MODEL_FILE
    source = pruned_source(out / MODULE_FILE, loaded.source.input_shape)
    model.torch_source = source
    return PruneResult(record, model, module, out, source)


def _write(
    job: _Job, module: nn.Module, before: dict[str, int], directory: Path, final_pt: Path | None
) -> tuple[Model, PruneRecord]:
    loaded = job.loaded
    model, diff = export_checked(module, loaded.input_shape, directory / MODEL_FILE, loaded.model)
    record = _record(job, module, before, diff)
    meta: dict[str, Any] = {**carried_metadata(loaded.model), "pruning": record.to_dict()}
    meta["name"] = f"{loaded.name}-{_tag(job.cfg)}"
    model = model.with_meta(**meta)
    model.save(directory / MODEL_FILE)
    if final_pt is not None:
        save_pruned(directory / MODULE_FILE, module, loaded.source, loaded.module)
        atomic_write_json(directory / RECORD_FILE, record.to_dict())
    return Model.load(directory / MODEL_FILE), record


def _tag(cfg: PruneConfig) -> str:
    """``channel50`` / ``l1-unstructured50`` (plus ``-plan`` when layer ratios differ)."""
    tag = f"{cfg.method}{round(cfg.ratio * 100):d}"
    return tag + ("-plan" if cfg.layer_ratios else "")
