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
    shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> dict[str, np.ndarray]:
    """One random array per input: normal(0, 1) floats, small positive ints, random bools.

    Symbolic leading dims take ``batch``; other symbolic dims come from ``dims``; ``shapes``
    gives whole shapes per input name (e.g. ``{"x": (1, 3, 640, 640)}`` for dynamic H/W).
    """
    rng = np.random.default_rng(seed)
    feed: dict[str, np.ndarray] = {}
    shapes = shapes or {}
    unknown = set(shapes) - {s.name for s in specs}
    if unknown:
        raise FeedError(
            f"--shape names unknown input(s) {sorted(unknown)}; inputs are "
            + ", ".join(s.describe() + " " + s.name for s in specs)
        )
    for spec in specs:
        shape = shapes.get(spec.name) or spec.concrete_shape(batch=batch, dims=dims)
        if len(shape) != len(spec.shape) or any(
            isinstance(d, int) and d != s for d, s in zip(spec.shape, shape, strict=False)
        ):
            raise FeedError(
                f"--shape {spec.name}:{'x'.join(map(str, shape))} does not fit input "
                f"'{spec.name}' {spec.describe()}; keep the fixed dims"
            )
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
