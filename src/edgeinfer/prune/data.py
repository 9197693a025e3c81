"""Training and evaluation data for pruning, preprocessed once into tensors.

Data comes through :mod:`edgeinfer.data` (the same datasets and preprocessing as ``eval``,
``compare`` and calibration), so a dataset that does not fit the model is refused there with
the preprocessing that would fit. The arrays' size is checked before anything is allocated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from edgeinfer.data.datasets import iter_engine_batches, open_dataset
from edgeinfer.errors import DataError
from edgeinfer.model import Model
from edgeinfer.preprocess import PreprocessSpec
from edgeinfer.progress import Progress

__all__ = ["MAX_BYTES", "Tensors", "load_tensors"]

MAX_BYTES = 6 * 2**30  # preprocessed float32 samples held in memory for fine-tuning
BATCH = 256


@dataclass
class Tensors:
    """Preprocessed samples (float32, batch first) and their labels (None: unlabelled)."""

    x: torch.Tensor
    y: torch.Tensor | None
    source: str

    def __len__(self) -> int:
        return len(self.x)


def load_tensors(
    spec: str,
    model: Model,
    *,
    classes: int | None,
    limit: int | None = None,
    seed: int = 0,
    preprocess: PreprocessSpec | None = None,
    role: str = "training",
    quiet: bool | None = True,
) -> Tensors:
    """Open ``spec`` and preprocess it for ``model``'s single input.

    Args:
        spec: dataset spec (``open_dataset``).
        model: the model whose input the samples must fit (its stored preprocessing is used).
        classes: the model's number of classes (its output width), or None when the output
            is not class scores (labels are then refused).
        limit: at most this many samples (seeded subset).
        seed: seed of the subset and of generated data (photo crops).
        preprocess: an explicit preprocessing spec.
        role: ``training`` or ``evaluation`` (for messages).
        quiet: no progress bar.

    Raises:
        DataError: unknown or empty data, samples that do not fit the input, labels the
            model cannot predict, or more data than fits in memory.
    """
    ds = open_dataset(spec, limit=limit, seed=seed)
    if len(ds) == 0:
        raise DataError(f"{role} dataset '{spec}' is empty")
    shape = [d if isinstance(d, int) else 1 for d in model.inputs[0].shape[1:]]
    need = len(ds) * math.prod(shape) * 4
    if need > MAX_BYTES:
        most = MAX_BYTES // max(1, math.prod(shape) * 4)
        raise DataError(
            f"{role} dataset '{spec}' holds {len(ds)} samples ({need / 2**30:.1f} GiB "
            f"preprocessed), more than the {MAX_BYTES / 2**30:.0f} GiB kept in memory; use "
            f"a subset: --{'train' if role == 'training' else 'eval'}-limit {most}"
        )
    xs, ys = [], []
    try:
        with Progress(quiet) as progress:
            batches = iter_engine_batches(model, ds, BATCH, preprocess=preprocess)
            for x, y in progress.track(batches, f"loading {role} data", total=-(-len(ds) // BATCH)):
                xs.append(np.asarray(x, dtype=np.float32))
                if y is not None:
                    ys.append(np.asarray(y, dtype=np.int64))
    except DataError as exc:
        raise DataError(
            f"{role} dataset '{spec}' does not fit model '{model.name}': {exc}"
        ) from exc
    labels = torch.from_numpy(np.concatenate(ys)) if ys else None
    if labels is not None:
        _check_labels(spec, labels, classes, role)
    return Tensors(torch.from_numpy(np.concatenate(xs)), labels, f"{spec} ({len(ds)} samples)")


def _check_labels(spec: str, labels: torch.Tensor, classes: int | None, role: str) -> None:
    if classes is None:
        raise DataError(
            f"{role} dataset '{spec}' is labelled, but the model's output is not class scores "
            "[batch, classes]; use unlabelled data with --distill (the unpruned model teaches)"
        )
    top = int(labels.max())
    if int(labels.min()) < 0 or top >= classes:
        raise DataError(
            f"{role} dataset '{spec}' has labels up to {top}, but the model predicts "
            f"{classes} classes (0..{classes - 1}); use data labelled for this model"
        )
