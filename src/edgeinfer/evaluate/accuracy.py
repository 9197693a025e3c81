"""Task accuracy of a classifier engine on labelled data, clean and under corruptions.

``evaluate_accuracy`` runs the engine over a dataset in batches (through ``load_runner``),
and reports top-1/top-5 with N, a 95 % Wilson confidence interval, per-class accuracy and the
confusion matrix (optionally with every image corrupted first; see
:mod:`edgeinfer.evaluate.robustness` for the clean-vs-corrupted sweep).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.builder import load_runner, resolve_engine
from edgeinfer.data.datasets import Dataset, image_input, iter_batches, resolve_preprocess
from edgeinfer.errors import DataError
from edgeinfer.evaluate.corruptions import image_transform
from edgeinfer.evaluate.metrics import top_k, wilson_interval
from edgeinfer.evaluate.running import (
    batch_size_for,
    fixed_batch,
    pick_scores_output,
    run_padded,
    scores_matrix,
)
from edgeinfer.progress import Progress

if TYPE_CHECKING:
    from edgeinfer.backends.base import Runner
    from edgeinfer.engine import Engine
    from edgeinfer.model import Model
    from edgeinfer.preprocess import PreprocessSpec

__all__ = [
    "AccuracyResult",
    "ClassAccuracy",
    "evaluate_accuracy",
    "wilson_interval",
]



@dataclass(frozen=True)
class ClassAccuracy:
    """Top-1 accuracy of one true class."""

    index: int
    label: str
    n: int
    correct: int

    @property
    def accuracy(self) -> float:
        """Fraction of this class's samples predicted right (NaN when it has none)."""
        return self.correct / self.n if self.n else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON data; ``accuracy`` is null for a class with no samples."""
        acc = self.accuracy
        return {
            "index": self.index,
            "label": self.label,
            "n": self.n,
            "correct": self.correct,
            "accuracy": None if math.isnan(acc) else acc,
        }


@dataclass
class AccuracyResult:
    """Accuracy of one engine on one dataset (optionally under one corruption)."""

    n: int
    correct_top1: int
    correct_topk: int
    k: int
    labels: list[str]
    confusion: np.ndarray  # [true, predicted] counts
    dataset: str
    engine: dict[str, Any] = field(default_factory=dict)
    preprocess: dict[str, Any] | None = None
    preprocess_source: str = "none"
    corruption: str | None = None
    severity: int | None = None
    batch_size: int = 1
    seconds: float = 0.0
    nonfinite: int = 0  # samples whose scores had NaN/Inf

    @property
    def top1(self) -> float:
        """Top-1 accuracy (NaN with no samples)."""
        return self.correct_top1 / self.n if self.n else float("nan")

    @property
    def top5(self) -> float:
        """Top-k accuracy with ``k = min(5, classes)``."""
        return self.correct_topk / self.n if self.n else float("nan")

    @property
    def ci95(self) -> tuple[float, float]:
        """Wilson 95% confidence interval of the top-1 accuracy."""
        return wilson_interval(self.correct_top1, self.n)

    @property
    def per_class(self) -> list[ClassAccuracy]:
        """Accuracy of each class, from the confusion matrix's rows."""
        rows = self.confusion.sum(axis=1)
        diag = np.diag(self.confusion)
        return [
            ClassAccuracy(i, self.labels[i], int(rows[i]), int(diag[i]))
            for i in range(len(self.labels))
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON data: accuracies, interval, per-class rows, confusion matrix and context."""
        return {
            "dataset": self.dataset,
            "engine": self.engine,
            "corruption": self.corruption,
            "severity": self.severity,
            "n": self.n,
            "top1": self.top1,
            "top5": self.top5,
            "top5_k": self.k,
            "correct_top1": self.correct_top1,
            "correct_top5": self.correct_topk,
            "ci95": list(self.ci95),
            "per_class": [c.to_dict() for c in self.per_class],
            "labels": self.labels,
            "confusion": self.confusion.tolist(),
            "nonfinite": self.nonfinite,
            "preprocess": self.preprocess,
            "preprocess_source": self.preprocess_source,
            "batch_size": self.batch_size,
            "seconds": self.seconds,
            "images_per_s": self.n / self.seconds if self.seconds > 0 else None,
        }


def engine_info(engine: Engine) -> dict[str, Any]:
    """Name, path, backend and precision of an engine (for results)."""
    return {
        "name": engine.name,
        "path": str(engine.path),
        "backend": engine.backend,
        "backend_version": engine.manifest.backend_version,
        "precision": engine.manifest.precision,
        "precision_executed": engine.precision,
    }


def _label_names(engine: Engine, ds: Dataset, classes: int) -> list[str]:
    names = engine.metadata.get("labels")
    if isinstance(names, list) and len(names) == classes:
        return [str(n) for n in names]
    if ds.labels and len(ds.labels) == classes:
        return list(ds.labels)
    return [str(i) for i in range(classes)]


def label_map(
    ds_labels: Sequence[str] | None, model_labels: Sequence[str] | None
) -> np.ndarray | None:
    """Map dataset class indices to model class indices by name, when they differ in order.

    Returns None when no remapping is needed: same order, no names on one side, or numeric
    names (class folders named by index).

    Raises:
        DataError: the dataset names classes the model does not know (never mapped by
            position: that would score against the wrong classes).
    """
    if not ds_labels or not model_labels or list(ds_labels) == list(model_labels)[: len(ds_labels)]:
        return None
    index = {str(n): i for i, n in enumerate(model_labels)}
    unknown = [str(n) for n in ds_labels if str(n) not in index]
    if unknown and all(str(n).isdigit() for n in ds_labels):
        return None  # class indices, not names
    if unknown:
        raise DataError(
            f"the dataset names {len(unknown)} class(es) the model does not know (e.g. "
            f"'{unknown[0]}'; the model's classes are '{model_labels[0]}', …); use the "
            "model's class names in labels.csv or the folder names, or class indices"
        )
    return np.array([index[str(n)] for n in ds_labels], dtype=np.int64)


def _true_labels(ds: Dataset, engine: Engine, classes: int) -> np.ndarray:
    labels = ds.labels_array()
    if labels is None:
        raise DataError(
            f"dataset '{ds.name}' has no labels; accuracy needs labelled data (class "
            "sub-folders, labels.csv, or an .npz with 'y')"
        )
    model_labels = engine.metadata.get("labels")
    mapping = label_map(ds.labels, model_labels if isinstance(model_labels, list) else None)
    if mapping is not None:
        labels = mapping[labels]
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        raise DataError(
            f"dataset '{ds.name}' has label {int(labels.max())} (or negative) but the model "
            f"has {classes} classes; check the dataset's labels"
        )
    return labels


def evaluate_accuracy(
    engine: Engine | Model | str | Path,
    dataset: Dataset,
    *,
    batch_size: int = 64,
    corruption: str | None = None,
    severity: int | None = None,
    preprocess: PreprocessSpec | None = None,
    seed: int = 0,
    quiet: bool | None = None,
    runner: Runner | None = None,
) -> AccuracyResult:
    """Top-1/top-5 accuracy of a classifier on a labelled dataset.

    Args:
        engine: engine, engine directory, Model or ONNX file (built with defaults).
        dataset: labelled dataset (see :func:`~edgeinfer.evaluate.open_dataset`).
        batch_size: samples per inference (engines with a fixed batch dim use theirs).
        corruption: apply this corruption (see ``CORRUPTIONS``) to every image first.
        severity: corruption severity 1-5 (default 3).
        preprocess: override the engine's/dataset's preprocessing spec.
        seed: corruption seed.
        quiet: no progress bar (None: show one on a terminal).
        runner: an active runner of ``engine`` to reuse.

    Raises:
        DataError: unlabelled data, data that does not fit the model, a non-classifier.
    """
    eng = resolve_engine(engine)
    if runner is None:
        with load_runner(eng) as r:
            return _evaluate(
                eng, dataset, r, batch_size, corruption, severity, preprocess, seed, quiet
            )
    return _evaluate(
        eng, dataset, runner, batch_size, corruption, severity, preprocess, seed, quiet
    )


def _evaluate(
    eng: Engine,
    ds: Dataset,
    runner: Runner,
    batch_size: int,
    corruption: str | None,
    severity: int | None,
    preprocess: PreprocessSpec | None,
    seed: int,
    quiet: bool | None,
) -> AccuracyResult:
    inp = image_input(eng)
    out_spec = pick_scores_output(eng.outputs)
    spec, source = resolve_preprocess(ds, eng, override=preprocess)
    bs = batch_size_for(eng.inputs, batch_size)
    sev = None if corruption is None else (severity or 3)
    transform = image_transform(corruption, sev or 3, seed=seed) if corruption else None
    state: _Tally | None = None
    labels_all: np.ndarray | None = None
    desc = f"eval {ds.name}" + (f" [{corruption} {sev}]" if corruption else "")
    t0 = time.perf_counter()
    with Progress(quiet) as progress, progress.task(desc, len(ds)) as task:
        start = 0
        for batch, _ in iter_batches(ds, spec, bs, input_shape=inp, transform=transform):
            outs = run_padded(runner, {inp.name: batch}, bs, fixed_batch(inp) is not None)
            scores = scores_matrix(outs[out_spec.name], out_spec.name)
            if state is None:
                state = _Tally(scores.shape[1])
                labels_all = _true_labels(ds, eng, scores.shape[1])
            assert labels_all is not None
            state.add(scores, labels_all[start : start + len(batch)])
            start += len(batch)
            task.advance(len(batch))
    seconds = time.perf_counter() - t0
    if state is None:
        raise DataError(f"dataset '{ds.name}' is empty")
    return AccuracyResult(
        n=state.n,
        correct_top1=state.top1,
        correct_topk=state.topk,
        k=state.k,
        labels=_label_names(eng, ds, state.classes),
        confusion=state.confusion,
        dataset=ds.name,
        engine=engine_info(eng),
        preprocess=spec.to_dict() if spec else None,
        preprocess_source=source,
        corruption=corruption,
        severity=sev,
        batch_size=bs,
        seconds=round(seconds, 4),
        nonfinite=state.nonfinite,
    )


class _Tally:
    """Running top-1/top-k counts and the confusion matrix."""

    def __init__(self, classes: int) -> None:
        self.classes = classes
        self.k = min(5, classes)
        self.n = self.top1 = self.topk = self.nonfinite = 0
        self.confusion = np.zeros((classes, classes), dtype=np.int64)

    def add(self, scores: np.ndarray, labels: np.ndarray) -> None:
        if scores.shape[1] != self.classes:
            raise DataError(f"output changed from {self.classes} to {scores.shape[1]} classes")
        finite = np.isfinite(scores).all(axis=1)
        self.nonfinite += int((~finite).sum())
        order = top_k(scores, self.k)
        pred = scores.argmax(axis=1)
        self.top1 += int((pred == labels).sum())
        self.topk += int((order == labels[:, None]).any(axis=1).sum())
        np.add.at(self.confusion, (labels, pred), 1)
        self.n += len(labels)
