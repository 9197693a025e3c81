"""Running engines over batches: batch sizing, padding, output picking."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from edgeinfer.errors import DataError
from edgeinfer.evaluate.metrics import is_class_scores

if TYPE_CHECKING:
    from edgeinfer.backends.base import Runner
    from edgeinfer.tensors import TensorSpec

__all__ = ["fixed_batch", "pick_scores_output", "run_padded", "scores_matrix"]


def fixed_batch(spec: TensorSpec) -> int | None:
    """The input's fixed leading (batch) dim, or None when it is symbolic."""
    if not spec.shape:
        return None
    first = spec.shape[0]
    return first if isinstance(first, int) else None


def batch_size_for(specs: tuple[TensorSpec, ...], requested: int) -> int:
    """``requested``, or the engine's fixed batch when its input has one."""
    if requested < 1:
        raise DataError(f"--batch must be >= 1, got {requested}")
    fixed = {b for b in (fixed_batch(s) for s in specs) if b is not None}
    if len(fixed) > 1:
        raise DataError(f"engine inputs have different fixed batch sizes {sorted(fixed)}")
    return fixed.pop() if fixed else requested


def run_padded(
    runner: Runner, feed: Mapping[str, np.ndarray], batch: int, fixed: bool
) -> dict[str, np.ndarray]:
    """Run ``feed`` (``n <= batch`` samples); pad to ``batch`` for fixed-batch engines.

    Returns copies of the first ``n`` rows of every output (safe to keep).
    """
    n = len(next(iter(feed.values())))
    if fixed and n < batch:
        feed = {
            k: np.concatenate([v, np.repeat(v[-1:], batch - n, axis=0)]) for k, v in feed.items()
        }
    m = len(next(iter(feed.values())))
    out = runner.infer(feed)
    result: dict[str, np.ndarray] = {}
    for name, value in out.items():
        arr = np.asarray(value)
        keep = arr[:n] if arr.ndim and arr.shape[0] == m else arr
        result[name] = np.array(keep, copy=True)
    return result


def pick_scores_output(outputs: tuple[TensorSpec, ...]) -> TensorSpec:
    """The classifier scores output: the only output, or the first one holding class scores
    (:func:`~edgeinfer.evaluate.metrics.is_class_scores`).

    Raises:
        DataError: no output looks like ``[N, classes]``.
    """
    if len(outputs) == 1:
        return outputs[0]
    for spec in outputs:
        if is_class_scores(spec.shape):
            return spec
    names = ", ".join(s.describe() for s in outputs)
    raise DataError(
        f"cannot tell which output holds the class scores ({names}); accuracy needs a "
        "classifier with a [N, classes] output"
    )


def scores_matrix(value: np.ndarray, name: str) -> np.ndarray:
    """``[N, C]`` scores from ``[N, C]`` or ``[N, C, 1, ...]``.

    Raises:
        DataError: the output is not a per-sample score vector.
    """
    arr = np.asarray(value)
    if is_class_scores(arr.shape):
        return arr.reshape(arr.shape[0], arr.shape[1])
    raise DataError(
        f"output '{name}' has shape {list(arr.shape)}; accuracy needs class scores shaped "
        "[N, classes] (a classifier)"
    )
