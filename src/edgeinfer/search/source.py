"""What the user gave: an ONNX file, a :class:`Model` or a zoo name, and its PyTorch source.

The user's starting point is PyTorch eager FP32 when a torch source exists (zoo models
built from ``edgeinfer.zoo.archs``), otherwise ONNX Runtime FP32 with its defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeinfer.errors import EdgeInferError, ModelError
from edgeinfer.model import Model


@dataclass
class Source:
    """The model to optimize and where it came from."""

    model: Model
    name: str
    kind: str  # "onnx", "zoo" or "model"
    zoo_name: str | None = None


def resolve_model(ref: Model | str | Path, *, quiet: bool = True) -> Source:
    """An ONNX path, a Model, ``zoo:NAME`` or a plain zoo name (when no such file exists).

    Raises:
        ModelError: neither an existing ONNX file nor a zoo model.
    """
    if isinstance(ref, Model):
        return Source(ref, ref.name, "model")
    text = str(ref)
    path = Path(text)
    if not text.startswith("zoo:") and (path.exists() or path.suffix.lower() == ".onnx"):
        model = Model.load(path)
        return Source(model, model.name, "onnx")
    name = text[4:] if text.startswith("zoo:") else text
    from edgeinfer import zoo

    if name not in zoo.list_models():
        raise ModelError(
            f"'{text}' is neither an ONNX file nor a zoo model; pass a .onnx path or one of: "
            f"{', '.join(zoo.list_models())} (see: edgeinfer zoo list)"
        )
    try:
        model = zoo.get_model(name, quiet=quiet)
    except EdgeInferError:
        raise
    return Source(model, name, "zoo", name)


def torch_source(source: Source) -> Any | None:
    """The PyTorch eager module of a zoo model (None: no torch source, or torch missing)."""
    if not source.zoo_name:
        return None
    from edgeinfer import zoo

    hook = getattr(zoo, "torch_module", None)
    return None if hook is None else hook(source.zoo_name)
