"""The zoo registry: typed entries, a ``register_model`` decorator and one factory.

Each entry is a :class:`ZooEntry` (static facts: task, input, licence, provenance, whether
its weights are random) plus a builder that returns a :class:`Built` (the ONNX model, its
preprocessing and labels). :func:`get_model` attaches the metadata every other part of
edgeinfer reads (``preprocess``, ``labels``, ``task``, ``provenance``) in one place.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeinfer.errors import ConfigError, EdgeInferError, MissingExtraError
from edgeinfer.fileio import atomic_directory, atomic_write_json, check_replaceable
from edgeinfer.model import Model
from edgeinfer.preprocess import PreprocessSpec
from edgeinfer.source import TorchSource
from edgeinfer.tensors import Dim

TASKS = ("classification", "dense", "generic")
MODEL_FILE = "model.onnx"
INFO_FILE = "zoo.json"
# optional extra -> the modules it provides
_EXTRA_MODULES: dict[str, tuple[str, ...]] = {"torch": ("torch", "onnxscript")}


@dataclass(frozen=True)
class ZooEntry:
    """What a zoo model is and where it comes from.

    Attributes:
        name: registry name (``edgeinfer zoo get NAME``).
        task: classification, dense or generic.
        input_shape: the ONNX input shape, symbolic dims as strings.
        description: one line for people.
        licence: licence of the weights/graph (SPDX id where one exists).
        source: where the weights come from (package and version, or "random").
        how: how the ONNX file is made from the source.
        labels_source: where the class names come from ("" when there are none).
        latency_only: the weights are random; use the model for latency only.
        extra: the edgeinfer extra needed to BUILD it (None: none needed).
        needs: other Python modules (import names) needed to build it.
        install_hint: the command that installs ``needs``.
        first_use: what the first :func:`get_model` does (shown by ``zoo list``).
        pytorch: it has a PyTorch definition (``torch_module``; the torch backend and
            ``edgeinfer prune`` use it; needs torch even when ``extra`` is None).
    """

    name: str
    task: str
    input_shape: tuple[Dim, ...]
    description: str
    licence: str
    source: str
    how: str
    labels_source: str = ""
    latency_only: bool = False
    extra: str | None = None
    needs: tuple[str, ...] = ()
    install_hint: str = ""
    first_use: str = "exported from PyTorch on first get (cached)"
    pytorch: bool = False

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"zoo entry '{self.name}': task must be one of {', '.join(TASKS)}")
        if self.extra is not None and self.extra not in _EXTRA_MODULES:
            raise ConfigError(f"zoo entry '{self.name}': unknown extra '{self.extra}'")

    def missing(self) -> list[str]:
        """Modules needed to build this entry that are not importable (empty: available)."""
        mods = (*_EXTRA_MODULES.get(self.extra or "", ()), *self.needs)
        return [m for m in mods if importlib.util.find_spec(m) is None]

    def provenance(self) -> dict[str, Any]:
        """Where the model comes from (licence, source, how it was made), for its metadata."""
        return {
            "zoo_name": self.name,
            "licence": self.licence,
            "source": self.source,
            "how": self.how,
            "labels_source": self.labels_source or None,
            "latency_only": self.latency_only,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON data describing the entry (``edgeinfer zoo list --json``)."""
        return {
            "name": self.name,
            "task": self.task,
            "input_shape": list(self.input_shape),
            "description": self.description,
            "licence": self.licence,
            "source": self.source,
            "how": self.how,
            "labels_source": self.labels_source or None,
            "latency_only": self.latency_only,
            "extra": self.extra,
            "needs": list(self.needs),
            "pytorch": self.pytorch,
        }


@dataclass(frozen=True)
class Built:
    """What a builder returns: the graph, its preprocessing, labels, build details and the
    PyTorch source of the graph (for the torch backend and pruning).
    """

    model: Model
    preprocess: PreprocessSpec
    labels: tuple[str, ...] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    torch: TorchSource | None = None  # the PyTorch module behind the graph, when known


Builder = Callable[[bool], Built]
"""``builder(quiet) -> Built``; may raise :class:`EdgeInferError`."""
Locator = Callable[[], "Path | None"]
"""``locate() -> path`` of the ready ONNX file (asset or cached export), None if not built."""

_ENTRIES: dict[str, tuple[ZooEntry, Builder, Locator]] = {}


def register_model(entry: ZooEntry, locate: Locator) -> Callable[[Builder], Builder]:
    """Decorator: register ``builder`` under ``entry.name`` (timm's ``register_model``).

    Args:
        entry: the static facts.
        locate: where the ONNX file is once built (for ``zoo list`` without building).
    """

    def deco(builder: Builder) -> Builder:
        if entry.name in _ENTRIES:
            raise ConfigError(f"zoo entry '{entry.name}' is registered twice")
        _ENTRIES[entry.name] = (entry, builder, locate)
        return builder

    return deco


def list_models() -> list[str]:
    """Names of all registered zoo models, sorted."""
    return sorted(_ENTRIES)


def get_entry(name: str) -> ZooEntry:
    """The :class:`ZooEntry` called ``name``.

    Raises:
        EdgeInferError: no such entry (the message lists the names).
    """
    if name not in _ENTRIES:
        raise EdgeInferError(
            f"unknown zoo model '{name}'; available: {', '.join(list_models())} "
            "(see: edgeinfer zoo list)"
        )
    return _ENTRIES[name][0]


@dataclass(frozen=True)
class Availability:
    """Whether a zoo model can be had now: ``ready`` (built), ``buildable`` or ``missing``."""

    state: str
    detail: str
    params: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON data: state, detail and parameter count."""
        return {"state": self.state, "detail": self.detail, "params": self.params}


def availability(name: str) -> Availability:
    """Check, without building, whether zoo model ``name`` is ready, buildable or missing."""
    entry = get_entry(name)
    try:
        path = _ENTRIES[name][2]()
    except EdgeInferError:
        path = None
    if path is not None and path.exists():
        return Availability("ready", str(path), count_params(path))
    missing = entry.missing()
    if missing:
        fix = f"pip install 'edgeinfer[{entry.extra}]'" if entry.extra else ""
        if entry.install_hint and any(m in entry.needs for m in missing):
            fix = entry.install_hint
        return Availability("missing", f"needs {', '.join(missing)}: {fix}".rstrip(": "))
    return Availability("buildable", entry.first_use)


def count_params(path: Path) -> int:
    """Weight elements in an ONNX file: float initializers and Constant tensors."""
    import numpy as np
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    tensors = list(proto.graph.initializer)
    tensors += [a.t for n in proto.graph.node if n.op_type == "Constant" for a in n.attribute]
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16}
    return int(sum(np.prod(t.dims, dtype=np.int64) for t in tensors if t.data_type in floats))


def get_model(name: str, *, quiet: bool = True) -> Model:
    """Build (or load from the cache) zoo model ``name`` with its edgeinfer metadata.

    The model carries ``preprocess``, ``labels`` (None when there are none), ``task`` and
    ``provenance`` (licence, source, how it was made, ``latency_only``) metadata.

    Raises:
        EdgeInferError: unknown name.
        MissingExtraError: the extra needed to build it is not installed.
    """
    entry = get_entry(name)
    built = _ENTRIES[name][1](quiet)
    provenance = {**entry.provenance(), **built.details}
    model = built.model.with_meta(
        preprocess=built.preprocess.to_dict(),
        labels=list(built.labels) if built.labels is not None else None,
        task=entry.task,
        provenance=provenance,
        name=entry.name,  # the model's name everywhere (engines, reports), even as model.onnx
    )
    model.proto.graph.name = entry.name
    return Model(model.proto, torch_source=built.torch)


def require_extra(entry: ZooEntry) -> None:
    """Raise :class:`MissingExtraError` when a module needed to build ``entry`` is missing."""
    missing = entry.missing()
    if not missing:
        return
    if entry.extra and any(m in _EXTRA_MODULES[entry.extra] for m in missing):
        raise MissingExtraError(
            f"zoo model '{entry.name}' is exported from PyTorch and needs "
            f"{', '.join(missing)}; install the extra: pip install 'edgeinfer[{entry.extra}]'"
        )
    raise MissingExtraError(
        f"zoo model '{entry.name}' needs the Python package(s) {', '.join(missing)}; "
        f"install: {entry.install_hint or 'pip install ' + ' '.join(missing)}"
    )


def save_model(name: str, out: str | Path, *, force: bool = False, quiet: bool = True) -> Path:
    """Write zoo model ``name`` to ``out/model.onnx`` (metadata embedded) + ``out/zoo.json``.

    The directory is written atomically.

    Raises:
        EdgeInferError: unknown name, or ``out`` exists and ``force`` is False.
    """
    entry = get_entry(name)
    final = Path(out)
    if (final.exists() or final.is_symlink()) and not force:
        raise EdgeInferError(f"'{final}' already exists; pass --force to replace it")
    if final.exists() or final.is_symlink():  # --force replaces only what `zoo get` wrote
        check_replaceable(final, marker=INFO_FILE, allowed=(MODEL_FILE,), what="zoo model directory")
    model = get_model(name, quiet=quiet)
    info = {
        **entry.to_dict(),
        "provenance": model.meta("provenance"),
        "preprocess": model.meta("preprocess"),
        "labels": model.meta("labels"),
        "model": {
            "file": MODEL_FILE,
            "sha256": model.hash,
            "opset": model.opset,
            "producer": model.producer,
            "inputs": [s.to_dict() for s in model.inputs],
            "outputs": [s.to_dict() for s in model.outputs],
        },
    }
    with atomic_directory(final, overwrite=force) as tmp:
        model.save(tmp / MODEL_FILE)
        atomic_write_json(tmp / INFO_FILE, info)
    return final
