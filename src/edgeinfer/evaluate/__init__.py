"""Measurements on data: task accuracy (with corruptions) and numerical fidelity.

Datasets live in :mod:`edgeinfer.data`.

- :func:`evaluate_accuracy` / :func:`evaluate_robustness`: top-1/top-5 with confidence
  intervals, per class, clean and under corruptions.
- :func:`compare_engines` / :class:`FidelityAccumulator`: numerical fidelity of a candidate
  engine against a reference.
"""

from __future__ import annotations

from edgeinfer.evaluate.accuracy import AccuracyResult, evaluate_accuracy
from edgeinfer.evaluate.compare import compare_engines
from edgeinfer.evaluate.corruptions import CORRUPTIONS, corrupt, corrupt_image
from edgeinfer.evaluate.fidelity import (
    FidelityAccumulator,
    FidelityResult,
    OutputFidelity,
    Tolerances,
)
from edgeinfer.evaluate.robustness import RobustnessResult, evaluate_robustness

__all__ = [
    "CORRUPTIONS",
    "AccuracyResult",
    "FidelityAccumulator",
    "FidelityResult",
    "OutputFidelity",
    "RobustnessResult",
    "Tolerances",
    "compare_engines",
    "corrupt",
    "corrupt_image",
    "evaluate_accuracy",
    "evaluate_robustness",
]
