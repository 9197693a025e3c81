"""Accuracy under seeded common corruptions, next to the clean accuracy.

``evaluate_robustness`` shows whether an INT8 or pruned engine is more fragile than FP32 in
bad light, motion blur or a compressed video link: the same evaluation under each corruption
and severity, and its drop from the clean top-1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.builder import load_runner, resolve_engine
from edgeinfer.data.datasets import Dataset
from edgeinfer.evaluate.accuracy import AccuracyResult, evaluate_accuracy
from edgeinfer.evaluate.corruptions import DEFAULT_CORRUPTIONS

if TYPE_CHECKING:
    from edgeinfer.engine import Engine
    from edgeinfer.model import Model
    from edgeinfer.preprocess import PreprocessSpec

__all__ = ["CorruptionAccuracy", "RobustnessResult", "evaluate_robustness"]


@dataclass
class CorruptionAccuracy:
    """Accuracy under one corruption at one severity, and its drop from clean."""

    corruption: str
    severity: int
    result: AccuracyResult
    clean_top1: float

    @property
    def drop(self) -> float:
        """Clean minus corrupted top-1 (a fraction; x100 for percentage points)."""
        return self.clean_top1 - self.result.top1

    def to_dict(self) -> dict[str, Any]:
        """JSON data: corruption, severity, accuracies, drop and the full result."""
        return {
            "corruption": self.corruption,
            "severity": self.severity,
            "top1": self.result.top1,
            "top5": self.result.top5,
            "ci95": list(self.result.ci95),
            "drop": self.drop,
            "n": self.result.n,
            "result": self.result.to_dict(),
        }


@dataclass
class RobustnessResult:
    """Clean accuracy plus per-corruption accuracy and drop."""

    clean: AccuracyResult
    entries: list[CorruptionAccuracy]
    seed: int = 0

    def mean_by_corruption(self) -> dict[str, float]:
        """Mean top-1 over severities for each corruption."""
        out: dict[str, list[float]] = {}
        for e in self.entries:
            out.setdefault(e.corruption, []).append(e.result.top1)
        return {k: float(np.mean(v)) for k, v in out.items()}

    @property
    def mean_corrupted_top1(self) -> float:
        """Mean top-1 over every corruption and severity (NaN with none)."""
        return (
            float(np.mean([e.result.top1 for e in self.entries])) if self.entries else float("nan")
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON data: clean result, one entry per corruption x severity, and means."""
        return {
            "clean": self.clean.to_dict(),
            "corruptions": [e.to_dict() for e in self.entries],
            "mean_by_corruption": self.mean_by_corruption(),
            "mean_corrupted_top1": self.mean_corrupted_top1 if self.entries else None,
            "seed": self.seed,
        }


def evaluate_robustness(
    engine: Engine | Model | str | Path,
    dataset: Dataset,
    *,
    corruptions: Sequence[str] = DEFAULT_CORRUPTIONS,
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    batch_size: int = 64,
    preprocess: PreprocessSpec | None = None,
    seed: int = 0,
    quiet: bool | None = None,
) -> RobustnessResult:
    """Clean accuracy and accuracy under each corruption x severity (one runner for all)."""
    eng = resolve_engine(engine)
    kw: dict[str, Any] = {
        "batch_size": batch_size,
        "preprocess": preprocess,
        "seed": seed,
        "quiet": quiet,
    }
    with load_runner(eng) as runner:
        clean = evaluate_accuracy(eng, dataset, runner=runner, **kw)
        entries = [
            CorruptionAccuracy(
                c,
                s,
                evaluate_accuracy(eng, dataset, corruption=c, severity=s, runner=runner, **kw),
                clean.top1,
            )
            for c in corruptions
            for s in severities
        ]
    return RobustnessResult(clean, entries, seed)
