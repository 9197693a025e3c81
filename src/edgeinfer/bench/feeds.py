"""Seeded random inputs that match a model's input specs (never all zeros)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edgeinfer.errors import FeedError
from edgeinfer.model import TensorSpec


def random_feed(
    specs: Sequence[TensorSpec],
    batch: int = 1,
    seed: int = 0,
    dims: Mapping[str, int] | None = None,
) -> dict[str, np.ndarray]:
    """One random array per input: normal(0, 1) floats, small positive ints, random bools.

    Symbolic leading dims take ``batch``; other symbolic dims come from ``dims``.
    """
    rng = np.random.default_rng(seed)
    feed: dict[str, np.ndarray] = {}
    for spec in specs:
        shape = spec.concrete_shape(batch=batch, dims=dims)
        try:
            dtype = np.dtype(spec.dtype)
        except TypeError as exc:
            raise FeedError(
                f"input '{spec.name}' has dtype {spec.dtype} that numpy cannot create; "
                "provide the inputs yourself"
            ) from exc
        if dtype.kind == "f":
            arr = rng.standard_normal(shape, dtype=np.float32).astype(dtype)
        elif dtype.kind == "b":
            arr = rng.random(shape) < 0.5
        elif dtype.kind == "u":
            arr = rng.integers(1, min(np.iinfo(dtype).max, 255) + 1, size=shape).astype(dtype)
        elif dtype.kind == "i":
            arr = rng.integers(1, 16, size=shape).astype(dtype)
        else:
            raise FeedError(
                f"input '{spec.name}' has dtype {spec.dtype}; random inputs support float, int "
                "and bool only; provide the inputs yourself"
            )
        feed[spec.name] = np.ascontiguousarray(arr)
    return feed
