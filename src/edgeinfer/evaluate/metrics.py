"""The one metrics module: what an output holds, probabilities and the fidelity metrics.

Pure numpy, no state. ``compare`` and the fidelity accumulator, ``eval``, the optimizer's
quality measurement, the pipeline benchmark's post-processing and the ROS node all use these
functions, so they cannot disagree on what a classifier output is, on when scores already are
probabilities, or on how agreement, KL divergence and top-k are computed.

Scores are handled as rows: ``[N, C]`` (one row per input; higher dims are flattened).
Top-k order is stable: among equal scores the lower class index comes first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "KINDS",
    "PROB_EPS",
    "Z95",
    "agreement",
    "as_rows",
    "confident",
    "cosine_rows",
    "declared_task",
    "inputs_needed",
    "is_class_scores",
    "kl_divergence",
    "log_probabilities",
    "looks_like_probabilities",
    "mean_interval",
    "output_kind",
    "output_kinds",
    "paired_drop_interval",
    "probabilities",
    "top_k",
    "top_k_contains",
    "wilson_interval",
]

KINDS = ("classification", "dense", "generic")
PROB_EPS = 1e-12  # probabilities are clipped to this before taking logs
_PROB_ATOL = 1e-3  # rows summing to 1 within this are probabilities already

Shape = Sequence[int | str | None]


def output_kind(shape: Shape, task: str | None = None) -> str:
    """What an output of this shape holds: ``classification``, ``dense`` or ``generic``.

    Classification: class scores, ``[N, C]`` or ``[N, C, 1, ...]`` with ``C > 1`` (a symbolic
    ``C`` counts as more than one). Dense: a 4-D map, or any 3-D+ output when the model's
    ``task`` is ``dense``. Anything else is generic.

    Args:
        shape: the output's shape; ints, or names/None for symbolic dims.
        task: the model's declared task (its metadata), used as a hint for 3-D maps.
    """
    if len(shape) >= 2 and _more_than_one(shape[1]) and all(d == 1 for d in shape[2:]):
        return "classification"
    if len(shape) == 4 or (task == "dense" and len(shape) >= 3):
        return "dense"
    return "generic"


def output_kinds(shapes: Mapping[str, Shape], task: str | None = None) -> dict[str, str]:
    """What each output of one model holds (:func:`output_kind`), deciding class scores
    among several ``[N, C]`` outputs: shape alone cannot tell class scores from an
    embedding or per-box scores, so only the first such output counts as class scores
    unless the model declares the task ``classification`` (then all of them do); a model
    declared ``generic`` has none. The others are ``generic`` (judged by cosine).
    """
    kinds: dict[str, str] = {}
    seen_classes = False
    for name, shape in shapes.items():
        kind = output_kind(shape, task)
        if kind == "classification":
            if task == "generic" or (seen_classes and task != "classification"):
                kind = "generic"
            seen_classes = True
        kinds[name] = kind
    return kinds


def _more_than_one(dim: int | str | None) -> bool:
    return not isinstance(dim, int) or dim > 1


def is_class_scores(shape: Shape) -> bool:
    """Whether an output of this shape holds per-input class scores (see :func:`output_kind`)."""
    return output_kind(shape) == "classification"


def declared_task(metadata: Mapping[str, Any]) -> str | None:
    """The task a model or engine declares in its metadata, when it is one of :data:`KINDS`."""
    task = metadata.get("task")
    return str(task) if task in KINDS else None


def as_rows(x: np.ndarray) -> np.ndarray:
    """``x`` as float64 rows ``[N, -1]`` (a 1-D array is one row)."""
    arr = np.asarray(x, dtype=np.float64)
    return arr.reshape(1, -1) if arr.ndim < 2 else arr.reshape(len(arr), -1)


def looks_like_probabilities(scores: np.ndarray) -> bool:
    """Whether every row already is a probability vector (in [0, 1], summing to 1)."""
    x = as_rows(scores)
    return bool(
        x.size
        and x.min() >= 0.0
        and x.max() <= 1.0
        and np.allclose(x.sum(axis=1), 1.0, atol=_PROB_ATOL)
    )


def probabilities(scores: np.ndarray, *, already: bool | None = None) -> np.ndarray:
    """Rows of ``scores`` as probabilities: kept as they are when they already are, else a
    softmax.

    Args:
        scores: ``[N, C]`` logits or probabilities, or one ``[C]`` vector (returned as one).
        already: whether they are probabilities (None: :func:`looks_like_probabilities`).
    """
    x = as_rows(scores)
    if not (looks_like_probabilities(x) if already is None else already):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        x = e / e.sum(axis=1, keepdims=True)
    return np.asarray(x[0] if np.ndim(scores) == 1 else x)


def log_probabilities(scores: np.ndarray, *, already: bool | None = None) -> np.ndarray:
    """Row-wise log-probabilities: a log-softmax of logits, or the log of probabilities
    (clipped to :data:`PROB_EPS` and renormalized).

    Args:
        scores: ``[N, C]`` logits or probabilities.
        already: whether they are probabilities (None: :func:`looks_like_probabilities`).
    """
    x = as_rows(scores)
    if looks_like_probabilities(x) if already is None else already:
        p = np.clip(x, PROB_EPS, None)
        return np.asarray(np.log(p / p.sum(axis=1, keepdims=True)))
    z = x - x.max(axis=1, keepdims=True)
    return np.asarray(z - np.log(np.exp(z).sum(axis=1, keepdims=True)))


def kl_divergence(ref_log: np.ndarray, cand_log: np.ndarray) -> np.ndarray:
    """Per-row KL(reference || candidate) in nats, from :func:`log_probabilities` rows."""
    return np.asarray((np.exp(ref_log) * (ref_log - cand_log)).sum(axis=1))


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row cosine similarity of two outputs (1 where both rows are zero, 0 where only
    one is).
    """
    x, y = as_rows(a), as_rows(b)
    nx, ny = np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1)
    norms = nx * ny
    cos = (x * y).sum(axis=1) / np.where(norms > 0, norms, 1.0)
    return np.asarray(np.where((nx == 0) & (ny == 0), 1.0, cos))


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first (``[N, k]`` for rows, ``[k]`` for a
    vector); among equal scores the lower index comes first.
    """
    x = -np.asarray(scores, dtype=np.float64)
    k = min(k, x.shape[-1])
    if x.ndim == 1 and 0 < k < x.size:  # one vector (per-frame post-processing): partition
        kth = np.partition(x, k - 1)[k - 1]
        picked = np.flatnonzero(x <= kth)
        if len(picked) >= k:
            return np.asarray(picked[np.argsort(x[picked], kind="stable")][:k])
    return np.asarray(np.argsort(x, axis=-1, kind="stable")[..., :k])


def agreement(ref: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Per row: whether the candidate's top-1 class is the reference's."""
    return np.asarray(as_rows(ref).argmax(axis=1) == as_rows(cand).argmax(axis=1))


def confident(ref_probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """Per row: whether the reference's top-1 probability is at least ``threshold``."""
    return np.asarray(as_rows(ref_probabilities).max(axis=1) >= threshold)


def top_k_contains(cand: np.ndarray, ref: np.ndarray, k: int = 5) -> np.ndarray:
    """Per row: whether the reference's top-1 class is among the candidate's top ``k``."""
    ref_top = as_rows(ref).argmax(axis=1)
    return np.asarray((top_k(as_rows(cand), k) == ref_top[:, None]).any(axis=1))


# -- confidence intervals ------------------------------------------------------------------
Z95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``k/n`` (95 % by default).

    Correct near 0 and 1 and for small ``n`` (unlike the normal approximation); ``(0, 1)``
    when ``n`` is 0.
    """
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return (lo, hi)


def mean_interval(values: np.ndarray, z: float = Z95) -> tuple[float, float]:
    """Normal-approximation interval of the mean of ``values`` (NaN-free: non-finite values
    are left out; ``(nan, nan)`` when none is finite).
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    x = x[np.isfinite(x)]
    if not x.size:
        return (math.nan, math.nan)
    m = float(x.mean())
    half = z * float(x.std(ddof=1)) / math.sqrt(x.size) if x.size > 1 else 0.0
    return (m - half, m + half)


def paired_drop_interval(
    ref_correct: np.ndarray, cand_correct: np.ndarray, z: float = Z95
) -> tuple[float, float]:
    """Interval of the top-1 drop (reference minus candidate accuracy) in points, paired
    over the same inputs: only inputs where exactly one of the two is right move it.

    With ``b`` inputs only the reference gets right and ``c`` only the candidate, the drop
    is ``(b - c) / n`` with variance ``(b + c - (b - c)^2 / n) / n^2`` (McNemar); at least
    one discordant input is assumed, so a tiny set never looks exact.
    """
    r = np.asarray(ref_correct, dtype=bool).reshape(-1)
    c = np.asarray(cand_correct, dtype=bool).reshape(-1)
    n = r.size
    if n == 0:
        return (-100.0, 100.0)
    b, k = int((r & ~c).sum()), int((~r & c).sum())
    drop = (b - k) / n
    var = max(b + k - (b - k) ** 2 / n, 1.0) / (n * n)
    half = z * math.sqrt(var)
    return (100.0 * (drop - half), 100.0 * (drop + half))


def inputs_needed(minimum: float, z: float = Z95) -> int | None:
    """Inputs needed before a perfect result (``n/n``) can show a proportion of at least
    ``minimum`` with 95 % confidence: the smallest ``n`` whose Wilson lower bound of
    ``n/n``, ``n / (n + z^2)``, reaches ``minimum``. None for ``minimum >= 1`` (no finite
    sample proves 100 %).
    """
    if minimum >= 1.0:
        return None
    if minimum <= 0.0:
        return 1
    return max(1, math.ceil(minimum * z * z / (1.0 - minimum) - 1e-9))
