"""Tensor specs (name, dtype, shape with symbolic dims), seeded random feeds that match them,
and the resource limits every allocation and thread pool is checked against.

The ground floor of the model/engine types: nothing here imports onnx or a backend.

Limits: :func:`memory_budget` (``$EDGEINFER_MEMORY_BUDGET``, e.g. ``8G``; default the
smaller of 2 GiB and a quarter of the machine's memory) bounds what one request may
allocate (:func:`check_nbytes`): random feeds, input buffers, decompressed arrays, images;
:func:`max_threads` (4 x the machine's CPUs) bounds thread counts (:func:`check_threads`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from edgeinfer import serde
from edgeinfer.errors import ConfigError, FeedError, ModelError

BUDGET_ENV = "EDGEINFER_MEMORY_BUDGET"
DEFAULT_BUDGET_CAP = 2 << 30
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_bytes(text: str) -> int:
    """``"512M"``, ``"8G"``, ``"1048576"`` -> bytes.

    Raises:
        ConfigError: not a positive size.
    """
    raw = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = raw[-1:] if raw[-1:] in _UNITS else ""
    try:
        value = float(raw[: len(raw) - len(unit)])
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"memory size '{text}' must be a positive size such as 512M or 8G")
    return int(value * _UNITS[unit])


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def memory_budget() -> int:
    """Bytes one request may allocate: ``$EDGEINFER_MEMORY_BUDGET`` (``512M``, ``8G``), else
    the smaller of 2 GiB and a quarter of physical memory.

    Raises:
        ConfigError: the variable is set to something that is not a size.
    """
    env = os.environ.get(BUDGET_ENV)
    if env:
        return parse_bytes(env)
    return min(DEFAULT_BUDGET_CAP, _physical_memory() // 4)


def _size(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.1f} MiB"


def check_nbytes(nbytes: int | float, what: str) -> None:
    """Refuse an allocation of ``nbytes`` for ``what`` over :func:`memory_budget`, before it
    is made.

    Raises:
        ConfigError: over the budget (the message names both and how to raise the budget).
    """
    budget = memory_budget()
    if not math.isfinite(nbytes) or nbytes > budget:
        size = _size(int(nbytes)) if math.isfinite(nbytes) else "an unbounded amount"
        raise ConfigError(
            f"{what} needs {size}, over the memory budget of {_size(budget)}; use smaller "
            f"sizes, or raise the budget with {BUDGET_ENV}=8G if this is intended"
        )


def shape_nbytes(shape: Sequence[int], dtype: Any) -> int:
    """Bytes of an array of ``shape`` and ``dtype`` (Python ints: no overflow)."""
    return math.prod(int(d) for d in shape) * np.dtype(dtype).itemsize


def max_threads() -> int:
    """The most threads one runtime may use here: 4 x the machine's CPUs (at least 8)."""
    return max(8, 4 * (os.cpu_count() or 1))


def check_threads(threads: object, what: str = "threads") -> None:
    """Refuse a thread count that is not a positive int up to :func:`max_threads` (None
    means the backend's default and passes).

    Raises:
        ConfigError: naming the limit.
    """
    if threads is None:
        return
    limit = max_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= limit:
        raise ConfigError(
            f"{what} must be an integer from 1 to {limit} on this machine "
            f"({os.cpu_count()} CPUs), got {threads!r}"
        )

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
    resolved = {
        spec.name: tuple(shapes.get(spec.name) or spec.concrete_shape(batch=batch, dims=dims))
        for spec in specs
    }
    for name, shape in resolved.items():
        if any(d < 0 for d in shape):
            raise FeedError(f"input '{name}' has a negative dim in {list(shape)}; fix the model")
    total = sum(shape_nbytes(resolved[s.name], _numpy_dtype(s)) for s in specs)
    described = ", ".join(f"{n}{list(v)}" for n, v in resolved.items())
    check_nbytes(total, f"random inputs ({described})")
    for spec in specs:
        shape = resolved[spec.name]
        if len(shape) != len(spec.shape) or any(
            isinstance(d, int) and d != s for d, s in zip(spec.shape, shape, strict=False)
        ):
            raise FeedError(
                f"--shape {spec.name}:{'x'.join(map(str, shape))} does not fit input "
                f"'{spec.name}' {spec.describe()}; keep the fixed dims"
            )
        dtype = _numpy_dtype(spec)
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


def _numpy_dtype(spec: TensorSpec) -> np.dtype[Any]:
    try:
        return np.dtype(spec.dtype)
    except TypeError as exc:
        raise FeedError(
            f"input '{spec.name}' has dtype {spec.dtype} that numpy cannot create; "
            "provide the inputs yourself"
        ) from exc
