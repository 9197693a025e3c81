"""PyTorch model sources: how to make the ``torch.nn.Module`` behind a model.

Pruning and the PyTorch backend need the module, not the ONNX graph. A :class:`TorchSource`
names an importable factory (``"package.module:callable"``) and its keyword arguments; the
factory returns the module with its weights. Zoo models with a PyTorch definition carry one,
and a user's own model is given as ``module:factory`` (with ``--input-shape``)::

    src = TorchSource("my_robot.models:detector", input_shape=(1, 3, 320, 320))
    module = src.load()          # torch.nn.Module in eval mode

:meth:`edgeinfer.model.Model.from_torch` exports a source to ONNX (cached), so every backend
builds from the same weights. Nothing here imports torch until :meth:`TorchSource.load`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from dataclasses import dataclass
from typing import Any

from edgeinfer.errors import ConfigError, ModelError, first_line, require

__all__ = ["SOURCE_VERSION", "TorchSource", "is_factory_ref"]

SOURCE_VERSION = 1
OptionValue = str | int | float | bool
_FACTORY = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def is_factory_ref(text: str) -> bool:
    """True for ``package.module:callable`` (and not a Windows drive or ``zoo:NAME``)."""
    return bool(_FACTORY.match(text)) and not text.startswith("zoo:")


@dataclass(frozen=True)
class TorchSource:
    """An importable factory that returns the model's ``torch.nn.Module``.

    Attributes:
        factory: ``"package.module:callable"``; the callable returns the module with weights.
        kwargs: keyword arguments for the factory (JSON scalars).
        input_shape: the example input shape for export and compilation (batch first).
        version: format version of this description.
    """

    factory: str
    kwargs: tuple[tuple[str, OptionValue], ...] = ()
    input_shape: tuple[int, ...] | None = None
    version: int = SOURCE_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.factory, str) or not is_factory_ref(self.factory):
            raise ConfigError(
                f"a PyTorch source must be 'package.module:callable', got {self.factory!r}; "
                "e.g. my_robot.models:make_detector"
            )
        kwargs = self.kwargs.items() if isinstance(self.kwargs, dict) else self.kwargs
        object.__setattr__(self, "kwargs", tuple(sorted((str(k), v) for k, v in kwargs)))
        if self.input_shape is not None:
            shape = tuple(self.input_shape)
            if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
                raise ConfigError(
                    f"input shape must be positive integers, batch first, got {self.input_shape!r};"
                    " e.g. --input-shape 1x3x224x224"
                )
            object.__setattr__(self, "input_shape", shape)
        if self.version > SOURCE_VERSION:
            raise ConfigError(
                f"torch source version {self.version} is newer than this edgeinfer supports "
                f"({SOURCE_VERSION}); upgrade edgeinfer"
            )

    def describe(self) -> str:
        """``pkg.mod:fn(width=32)``."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs)
        return f"{self.factory}({args})"

    def key(self) -> str:
        """Stable hash of the description (not of the weights; see :meth:`weights_hash`)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    def callable(self) -> Any:
        """Import the factory.

        Raises:
            ModelError: the module or attribute cannot be imported.
        """
        module_name, _, attr = self.factory.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise ModelError(
                f"cannot import the PyTorch source '{self.factory}' ({first_line(exc)}); check "
                "the module is on PYTHONPATH and the name is 'package.module:callable'"
            ) from exc
        if not callable(obj):
            raise ModelError(f"PyTorch source '{self.factory}' is not callable; name a function")
        return obj

    def load(self) -> Any:
        """Call the factory and return the module in eval mode.

        Raises:
            MissingExtraError: torch is not installed.
            ModelError: the factory fails or does not return a ``torch.nn.Module``.
        """
        torch = require("torch", "torch", purpose="a PyTorch model source")
        factory = self.callable()
        try:
            module = factory(**dict(self.kwargs))
        except Exception as exc:
            raise ModelError(
                f"PyTorch source {self.describe()} failed: {first_line(exc)}; fix the factory "
                "(it is called with the keyword arguments shown)"
            ) from exc
        if not isinstance(module, torch.nn.Module):
            raise ModelError(
                f"PyTorch source {self.describe()} returned {type(module).__name__}, not a "
                "torch.nn.Module; return the model from the factory"
            )
        return module.eval()

    def to_dict(self) -> dict[str, Any]:
        """JSON data (``source.json`` of torch engines)."""
        return {
            "version": self.version,
            "factory": self.factory,
            "kwargs": dict(self.kwargs),
            "input_shape": None if self.input_shape is None else list(self.input_shape),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TorchSource:
        """Parse :meth:`to_dict` data.

        Raises:
            ConfigError: unknown keys or invalid values.
        """
        unknown = set(data) - {"version", "factory", "kwargs", "input_shape"}
        if unknown:
            raise ConfigError(
                f"unknown torch source keys {sorted(unknown)}; valid keys: factory, input_shape, "
                "kwargs, version"
            )
        shape = data.get("input_shape")
        return cls(
            factory=data["factory"],
            kwargs=tuple(dict(data.get("kwargs") or {}).items()),
            input_shape=None if shape is None else tuple(shape),
            version=int(data.get("version", SOURCE_VERSION)),
        )


def weights_hash(module: Any) -> str:
    """SHA-256 of a module's state dict (names, dtypes, shapes and bytes)."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes() if t.dtype.is_floating_point or t.numel() else b"")
    return h.hexdigest()
