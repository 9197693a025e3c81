"""The saved pruned module: ``pruned.pt``, loadable with ``torch.load(weights_only=True)``.

The file holds plain data only: the PyTorch source of the UNPRUNED model (its
``package.module:factory``), the pruned shape of every layer whose size changed, and the state
dict. :func:`load_pruned` builds the unpruned module from its source, resizes those layers and
loads the weights strictly, so no pickled code is ever executed and Torch-Pruning is not
needed at load time. ``load_pruned`` is itself a factory, so a pruned model is a
:class:`~edgeinfer.source.TorchSource` like any other (``edgeinfer.prune.saved:load_pruned``
with ``path=...``): the torch backend and further pruning can use it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeinfer.errors import ModelError, first_line
from edgeinfer.fileio import atomic_write_bytes
from edgeinfer.source import TorchSource

__all__ = ["FORMAT", "load_pruned", "pruned_source", "save_pruned"]

FORMAT = 1
_SIZE_ATTRS = {
    nn.modules.conv._ConvNd: ("in_channels", "out_channels", "groups"),
    nn.Linear: ("in_features", "out_features"),
    nn.modules.batchnorm._BatchNorm: ("num_features",),
    nn.GroupNorm: ("num_channels", "num_groups"),
    nn.LayerNorm: ("normalized_shape",),
}


def _size_attrs(module: nn.Module) -> dict[str, Any]:
    for cls, names in _SIZE_ATTRS.items():
        if isinstance(module, cls):
            return {n: list(v) if isinstance(v := getattr(module, n), tuple) else v for n in names}
    return {}


def module_shapes(module: nn.Module, reference: nn.Module) -> dict[str, dict[str, Any]]:
    """``{module name: size attributes}`` of the modules whose tensors differ from ``reference``
    (the unpruned module).
    """
    ref = reference.state_dict()
    out: dict[str, dict[str, Any]] = {}
    for name, m in module.named_modules():
        own = list(m.named_parameters(recurse=False)) + list(m.named_buffers(recurse=False))
        prefix = f"{name}." if name else ""
        changed = any(
            t is not None and tuple(t.shape) != tuple(ref[prefix + k].shape)
            for k, t in own
            if prefix + k in ref
        )
        if changed:
            out[name] = _size_attrs(m)
    return out


def save_pruned(
    path: str | Path, module: nn.Module, source: TorchSource, reference: nn.Module
) -> Path:
    """Write ``module`` (pruned from ``reference``, made by ``source``) to ``path`` atomically."""
    blob = {
        "format": FORMAT,
        "source": source.to_dict(),
        "shapes": module_shapes(module, reference),
        "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
    }
    buf = io.BytesIO()
    torch.save(blob, buf)
    return atomic_write_bytes(path, buf.getvalue())


def _resize(model: nn.Module, shapes: dict[str, dict[str, Any]], state: dict[str, Any]) -> None:
    mods = dict(model.named_modules())
    for name, attrs in shapes.items():
        if name not in mods:
            raise ModelError(f"the pruned model names layer '{name}', which its source lacks")
        m = mods[name]
        for key, value in attrs.items():
            setattr(m, key, tuple(value) if isinstance(value, list) else value)
        prefix = f"{name}." if name else ""
        for pname, p in list(m.named_parameters(recurse=False)):
            if prefix + pname in state:
                setattr(
                    m, pname, nn.Parameter(torch.empty_like(state[prefix + pname]), p.requires_grad)
                )
        for bname, b in list(m.named_buffers(recurse=False)):
            if b is not None and prefix + bname in state:
                m._buffers[bname] = torch.empty_like(state[prefix + bname])


def load_pruned(path: str) -> nn.Module:
    """The pruned module saved at ``path`` (eval mode): a PyTorch-source factory.

    Raises:
        ModelError: not a pruned-model file, a newer format, or weights that do not fit.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"pruned model '{p}' does not exist; write it with: edgeinfer prune")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(
            f"'{p}' is not a pruned model readable with weights_only=True ({first_line(exc)})"
        ) from exc
    if not isinstance(blob, dict) or not {"format", "source", "shapes", "state_dict"} <= set(blob):
        raise ModelError(f"'{p}' is not an edgeinfer pruned model (pruned.pt from edgeinfer prune)")
    if blob["format"] > FORMAT:
        raise ModelError(
            f"'{p}' has format {blob['format']}, newer than this edgeinfer reads; upgrade"
        )
    model = TorchSource.from_dict(blob["source"]).load()
    _resize(model, blob["shapes"], blob["state_dict"])
    try:
        model.load_state_dict(blob["state_dict"], strict=True)
    except RuntimeError as exc:
        raise ModelError(
            f"the weights in '{p}' do not fit the model its source builds ({first_line(exc)}); "
            "the source changed since pruning: prune again"
        ) from exc
    return model.eval()


def pruned_source(path: str | Path, input_shape: tuple[int, ...] | None) -> TorchSource:
    """The :class:`TorchSource` of a saved pruned model."""
    return TorchSource(
        f"{__name__}:load_pruned", (("path", str(Path(path).resolve())),), input_shape=input_shape
    )
