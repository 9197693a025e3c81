"""Measurements on data: datasets, task accuracy (with corruptions) and numerical fidelity.

- :func:`open_dataset` / :func:`iter_batches`: Fashion-MNIST, image folders, NumPy arrays and
  bundled real photos, preprocessed into model inputs.
- :func:`evaluate_accuracy` / :func:`evaluate_robustness`: top-1/top-5 with confidence
  intervals, per class, clean and under corruptions.
- :func:`compare_engines` / :class:`FidelityAccumulator`: numerical fidelity of a candidate
  engine against a reference.
"""

from __future__ import annotations

from edgeinfer.evaluate.accuracy import AccuracyResult, evaluate_accuracy
from edgeinfer.evaluate.compare import compare_engines
from edgeinfer.evaluate.corruptions import CORRUPTIONS, corrupt, corrupt_image
from edgeinfer.evaluate.datasets import (
    Dataset,
    Sample,
    iter_batches,
    iter_engine_batches,
    open_dataset,
)
from edgeinfer.evaluate.fidelity import (
    FidelityAccumulator,
    FidelityResult,
    OutputFidelity,
    Tolerances,
)
from edgeinfer.evaluate.robustness import RobustnessResult, evaluate_robustness
from edgeinfer.evaluate.specs import image_input, parse_preprocess, resolve_preprocess

__all__ = [
    "CORRUPTIONS",
    "AccuracyResult",
    "Dataset",
    "FidelityAccumulator",
    "FidelityResult",
    "OutputFidelity",
    "RobustnessResult",
    "Sample",
    "Tolerances",
    "compare_engines",
    "corrupt",
    "corrupt_image",
    "evaluate_accuracy",
    "evaluate_robustness",
    "image_input",
    "iter_batches",
    "iter_engine_batches",
    "open_dataset",
    "parse_preprocess",
    "resolve_preprocess",
]
