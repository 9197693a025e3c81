"""Tensor specs (name, dtype, shape with symbolic dims) and seeded random feeds that match them.

The ground floor of the model/engine types: nothing here imports onnx or a backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from edgeinfer import serde
from edgeinfer.errors import FeedError, ModelError

Dim = int | str
"""A tensor dimension: a positive int, or a symbolic name such as ``"batch"``."""

@dataclass(frozen=True)
class TensorSpec:
    """Name, numpy dtype name and shape (symbolic dims as strings) of one graph input/output.

    A data type, not a config: it is versioned by the document that holds it (the engine
    manifest's ``format_version``).

    Attributes:
        name: the graph input or output name.
        dtype: numpy dtype name (``float32``, ``uint8`` …).
        shape: dims: positive ints, or names (``"batch"``) for symbolic ones.
    """

    WHAT: ClassVar[str] = "tensor spec"
    IGNORE_UNKNOWN_KEYS: ClassVar[bool] = True  # a newer edgeinfer may add fields

    name: str
    dtype: str
    shape: tuple[Dim, ...]

    @property
    def is_dynamic(self) -> bool:
        """Whether any dim is symbolic (a name rather than a size)."""
        return any(not isinstance(d, int) for d in self.shape)

    def concrete_shape(
        self, batch: int = 1, dims: Mapping[str, int] | None = None
    ) -> tuple[int, ...]:
        """Resolve symbolic dims: the first one to ``batch``, named ones from ``dims``.

        Raises:
            ModelError: a symbolic dim other than the leading one has no value.
        """
        dims = dims or {}
        out: list[int] = []
        for i, d in enumerate(self.shape):
            if isinstance(d, int):
                out.append(d)
            elif d in dims:
                out.append(int(dims[d]))
            elif i == 0:
                out.append(batch)
            else:
                raise ModelError(
                    f"input '{self.name}' has symbolic dim '{d}' at axis {i} with no value; "
                    f"give it one, e.g. --shape {self.name}:"
                    + "x".join(str(x) if isinstance(x, int) else "N" for x in self.shape)
                )
        return tuple(out)

    def describe(self) -> str:
        """``float32[batch,3,224,224]``."""
        return f"{self.dtype}[{','.join(str(d) for d in self.shape)}]"

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "dtype", "shape"}`` (shape as a list)."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorSpec:
        """Parse :meth:`to_dict` data.

        Raises:
            ConfigError: missing keys or wrong types (unknown keys are ignored: a newer
                edgeinfer may add fields).
        """
        return serde.from_dict(cls, data)


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
