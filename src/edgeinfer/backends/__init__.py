"""Backend registry. Backends register by name; their heavy imports happen on first use."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from edgeinfer.errors import BackendError

if TYPE_CHECKING:
    from edgeinfer.backends.base import Backend

__all__ = ["backend_class", "find_backends", "get_backend", "list_backends", "register_backend"]

# Built-in backends: name -> "module:Class". Imported only when asked for.
_BUILTIN: dict[str, str] = {
    "onnxruntime": "edgeinfer.backends.onnxruntime:OnnxRuntimeBackend",
    "openvino": "edgeinfer.backends.openvino:OpenVinoBackend",
    "torch": "edgeinfer.backends.torch:TorchBackend",
}
_REGISTERED: dict[str, type[Backend]] = {}
_INSTANCES: dict[str, Backend] = {}


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make a :class:`Backend` available by ``cls.name``."""
    _REGISTERED[cls.name] = cls
    _INSTANCES.pop(cls.name, None)
    return cls


def _known() -> list[str]:
    return sorted(set(_BUILTIN) | set(_REGISTERED))


def backend_class(name: str) -> type[Backend]:
    """The class of backend ``name``, without checking that its dependency is installed
    (its capabilities are class attributes).

    Raises:
        BackendError: no such backend.
    """
    if name not in _REGISTERED:
        if name not in _BUILTIN:
            raise BackendError(
                f"unknown backend '{name}'; available backends: {', '.join(_known())}"
            )
        module, _, cls_name = _BUILTIN[name].partition(":")
        _REGISTERED[name] = getattr(importlib.import_module(module), cls_name)
    return _REGISTERED[name]


def get_backend(name: str) -> Backend:
    """The backend called ``name``.

    Raises:
        BackendError: no such backend.
        MissingExtraError: its optional dependency is not installed.
    """
    if name in _INSTANCES:
        return _INSTANCES[name]
    backend = backend_class(name)()
    backend.ensure_available()
    _INSTANCES[name] = backend
    return backend


def list_backends(*, available_only: bool = False) -> list[str]:
    """Names of all registered backends (only the importable ones with ``available_only``)."""
    names = _known()
    if not available_only:
        return names
    out = []
    for n in names:
        try:
            get_backend(n)
        except BackendError:
            continue
        out.append(n)
    return out


def find_backends(*, available_only: bool = True, **capabilities: bool) -> list[str]:
    """Names of the backends whose :class:`~edgeinfer.backends.base.Capabilities` flags match,
    e.g. ``find_backends(reference=True)``; only installed ones with ``available_only``.
    """
    names = list_backends(available_only=available_only)
    return [
        n
        for n in names
        if all(getattr(backend_class(n).capabilities, k) == v for k, v in capabilities.items())
    ]
