"""What can be pruned: the PyTorch module behind a zoo name or a ``package.module:factory``.

Pruning changes the module, not the ONNX graph, so an ONNX file alone is refused with the
way out. The unpruned model is also exported (cached) as a :class:`~edgeinfer.model.Model`:
its input spec and metadata (preprocessing, labels, task) drive the data and follow the
pruned export.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from edgeinfer import zoo
from edgeinfer.builder import resolve_model
from edgeinfer.errors import ModelError
from edgeinfer.model import Model
from edgeinfer.source import TorchSource, is_factory_ref

__all__ = ["Loaded", "attach_dense_model", "load_source", "pruneable_zoo_models"]


@dataclass
class Loaded:
    """A PyTorch source ready to prune.

    Attributes:
        module: the unpruned module (eval mode, float32, CPU).
        source: its :class:`TorchSource` (with the example input shape).
        name: the model's name (zoo name or factory name).
        model: the unpruned model as ONNX, with its edgeinfer metadata (None for a factory
            until :func:`attach_dense_model`).
    """

    module: Any
    source: TorchSource
    name: str
    model: Model | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The example input shape, batch first (batch 1)."""
        assert self.source.input_shape is not None
        return (1, *self.source.input_shape[1:])

    def example(self, batch: int = 1, seed: int = 0) -> Any:
        """A seeded random input batch."""
        gen = torch.Generator().manual_seed(seed)
        return torch.randn((batch, *self.input_shape[1:]), generator=gen)

    def copy_module(self) -> Any:
        """A deep copy of the unpruned module (the one to prune)."""
        return copy.deepcopy(self.module)


def pruneable_zoo_models() -> list[str]:
    """Zoo models with a PyTorch definition (those ``edgeinfer prune`` accepts by name)."""
    return [n for n in zoo.list_models() if zoo.get_entry(n).pytorch]


def load_source(
    ref: Model | str | Path, *, input_shape: tuple[int, ...] | None = None, quiet: bool = True
) -> Loaded:
    """The module to prune: a :class:`Model` carrying a PyTorch source, a zoo name with a
    PyTorch definition, or ``package.module:factory`` (with ``input_shape``).

    Raises:
        ModelError: an ONNX file, a zoo model without a PyTorch definition, a factory without
            an input shape, or a factory that fails.
    """
    text = str(ref) if not isinstance(ref, Model) else ""
    if isinstance(ref, Model):
        model, name = ref, ref.name
    elif is_factory_ref(text):
        source = TorchSource(text, input_shape=input_shape)
        if source.input_shape is None:
            raise ModelError(
                f"pruning {text} needs the example input shape; pass --input-shape, e.g. "
                "--input-shape 1x3x224x224"
            )
        return Loaded(_module(source), source, text.rpartition(":")[2])
    else:
        _refuse_onnx(text)
        resolved = resolve_model(text, input_shape=input_shape, quiet=quiet)
        model, name = resolved.model, resolved.name
    found = model.torch_source
    if found is None:
        raise ModelError(
            f"model '{name}' has no PyTorch definition, and pruning changes the PyTorch module; "
            f"pass one of: {', '.join(pruneable_zoo_models())}, or package.module:factory"
        )
    if input_shape is not None or found.input_shape is None:
        found = replace(found, input_shape=input_shape or _shape_of(model, name))
    return Loaded(_module(found), found, name, model)


def _shape_of(model: Model, name: str) -> tuple[int, ...]:
    """The example input shape from the model's single input (batch 1).

    Raises:
        ModelError: several inputs, or symbolic sizes besides the batch.
    """
    dims = model.inputs[0].shape if len(model.inputs) == 1 else ()
    shape = tuple(d if isinstance(d, int) else 1 if i == 0 else 0 for i, d in enumerate(dims))
    if not shape or min(shape) < 1:
        raise ModelError(
            f"model '{name}' does not tell the example input shape for pruning; pass "
            "--input-shape, e.g. --input-shape 1x3x224x224"
        )
    return (1, *shape[1:])


def _refuse_onnx(text: str) -> None:
    path = Path(text)
    if path.suffix.lower() == ".onnx" or path.is_file():
        raise ModelError(
            f"'{text}' is an ONNX file, but pruning changes the PyTorch module; pass the "
            "PyTorch source as package.module:factory (with --input-shape) or a zoo name with "
            f"a PyTorch definition ({', '.join(pruneable_zoo_models())})"
        )


def _module(source: TorchSource) -> Any:
    module = source.load()
    params = list(module.parameters())
    if not params:
        raise ModelError(f"PyTorch source {source.describe()} has no parameters: nothing to prune")
    bad = sorted({str(p.dtype) for p in params if p.dtype != torch.float32})
    if bad or any(p.device.type != "cpu" for p in params):
        module = module.float().cpu()
    return module.eval()


def attach_dense_model(loaded: Loaded, *, quiet: bool = True) -> Loaded:
    """``loaded`` with its unpruned ONNX export (for a factory source; zoo models have it).

    Call it after the trace check, so an untraceable module is refused in pruning's words.
    """
    if loaded.model is not None:
        return loaded
    model = Model.from_torch(loaded.source, quiet=quiet).with_meta(name=loaded.name)
    return replace(loaded, model=model)
