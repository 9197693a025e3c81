"""Looking at a PyTorch module before and after pruning: its layers, MACs and parameters,
which layers feed the outputs, and the checks that catch what pruning cannot handle.

Each check raises a :class:`PruneError` that names the layer and the fix; the messages come
from measured failure modes of Torch-Pruning 1.6 (data-dependent control flow prunes only the
traced branch; a hard-coded ``view`` keeps its literal size; raw parameters used through
``F.conv2d`` are silently left alone; a depthwise conv with a channel multiplier crashes it).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from edgeinfer.errors import EdgeInferError, first_line
from edgeinfer.prune.record import LayerRecord

__all__ = [
    "PruneError",
    "check_channel_structure",
    "check_outputs",
    "check_traceable",
    "count",
    "layer_records",
    "output_layers",
    "output_shapes",
    "prunable_layers",
    "widths",
]

LAYER_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


class PruneError(EdgeInferError):
    """A model, ratio or dataset that pruning cannot handle (the message names the fix)."""


def prunable_layers(module: nn.Module) -> dict[str, Any]:
    """Every conv and linear layer, by module name, in definition order."""
    return {n: m for n, m in module.named_modules() if isinstance(m, LAYER_TYPES)}


def kind(layer: Any) -> str:
    """``conv``, ``depthwise``, ``grouped`` or ``linear``."""
    if isinstance(layer, nn.Linear):
        return "linear"
    groups = int(getattr(layer, "groups", 1))
    if groups == 1:
        return "conv"
    return "depthwise" if groups == layer.in_channels == layer.out_channels else "grouped"


def out_width(layer: Any) -> int:
    """Output channels (conv) or features (linear)."""
    return int(layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels)


def widths(module: nn.Module) -> dict[str, int]:
    """``{layer name: output width}`` of every conv/linear layer."""
    return {name: out_width(layer) for name, layer in prunable_layers(module).items()}


def layer_records(module: nn.Module, before: dict[str, int]) -> tuple[LayerRecord, ...]:
    """One :class:`LayerRecord` per conv/linear layer: width before and after, weights, zeros."""
    out = []
    for name, layer in prunable_layers(module).items():
        weight = layer.weight.detach()
        out.append(
            LayerRecord(
                name=name,
                kind=kind(layer),
                before=before.get(name, out_width(layer)),
                after=out_width(layer),
                weights=int(weight.numel()),
                zeros=int((weight == 0).sum()),
            )
        )
    return tuple(out)


def count(module: nn.Module, example: torch.Tensor) -> tuple[int, int, int]:
    """(MACs, parameters, non-zero parameters) of one forward pass on ``example``.

    MACs are Torch-Pruning's dense count (a zero weight still costs a MAC).
    """
    import torch_pruning as tp

    with torch.no_grad():
        macs, params = tp.utils.count_ops_and_params(module, example)
    nonzero = sum(int((p.detach() != 0).sum()) for p in module.parameters())
    return int(macs), int(params), nonzero


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _tensors(v)


def output_shapes(module: nn.Module, x: torch.Tensor) -> list[tuple[int, ...]]:
    """The shapes of every tensor ``module(x)`` returns."""
    with torch.no_grad():
        return [tuple(t.shape) for t in _tensors(module(x))]


def output_layers(module: nn.Module, example: torch.Tensor) -> list[str]:
    """Layers whose output IS a model output (the same storage: also through a view such as
    ``flatten``); pruning their output channels would change what the model returns.
    """
    produced: dict[int, str] = {}

    def hook(name: str) -> Any:
        def record(_m: nn.Module, _inp: Any, out: Any) -> None:
            for t in _tensors(out):
                produced[t.untyped_storage().data_ptr()] = name

        return record

    layers = prunable_layers(module)
    handles = [layer.register_forward_hook(hook(name)) for name, layer in layers.items()]
    try:
        with torch.no_grad():
            outputs = list(_tensors(module(example)))
    finally:
        for h in handles:
            h.remove()
    names = [produced.get(t.untyped_storage().data_ptr()) for t in outputs]
    return sorted({n for n in names if n is not None})


def check_traceable(module: nn.Module, example: torch.Tensor) -> None:
    """Refuse a module whose graph depends on the data: Torch-Pruning traces ONE forward
    pass, prunes the branch that ran and leaves the others inconsistent.

    A TorchScript trace runs first: its warning about a tensor converted to a Python boolean
    (``if x.mean() > 0``) names the usual cause without ``torch.export``'s partial-graph dump
    on stderr.

    Raises:
        PruneError: the trace branches on data, or ``torch.export`` cannot capture the module.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", torch.jit.TracerWarning)
        try:
            with torch.no_grad():
                torch.jit.trace(module, (example,), check_trace=False)
        except Exception:
            caught = []  # torch.export below gives the reason
    branching = [w for w in caught if "boolean" in str(w.message)]
    if branching:
        raise PruneError(
            "cannot trace the model for channel pruning: its forward() branches on tensor "
            "values (a tensor converted to a Python boolean, e.g. if x.mean() > 0), so only "
            "the branch the example input takes would be pruned; make forward() "
            "data-independent, or use --method l1-unstructured"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.export.export(module, (example,))
    except Exception as exc:
        raise PruneError(
            f"cannot trace the model for channel pruning (torch.export: {first_line(exc)[:200]});"
            " its forward() has data-dependent control flow or untraceable code, so only the "
            "traced branch would be pruned; make forward() traceable, or use --method "
            "l1-unstructured"
        ) from exc


def check_channel_structure(module: nn.Module, unwrapped: dict[str, tuple[int, ...]]) -> None:
    """Refuse layers channel pruning cannot keep consistent.

    Args:
        module: the module to prune.
        unwrapped: parameters used outside a standard layer (Torch-Pruning's dependency
            graph lists them), by name -> shape.

    Raises:
        PruneError: a grouped conv whose output width differs from its input width (a
            depthwise conv with a channel multiplier), or a raw weight parameter used through
            a functional call (``F.conv2d(x, self.w)``).
    """
    for name, layer in prunable_layers(module).items():
        groups = int(getattr(layer, "groups", 1))
        if groups > 1 and layer.out_channels != layer.in_channels:
            raise PruneError(
                f"layer '{name}' is a grouped convolution with a channel multiplier "
                f"({layer.in_channels} -> {layer.out_channels} channels, groups={groups}), "
                "which channel pruning cannot keep consistent; use --method l1-unstructured, "
                "or make it depthwise (in == out channels)"
            )
    weights = {n: s for n, s in unwrapped.items() if len(s) >= 2}
    if weights:
        name, shape = next(iter(sorted(weights.items())))
        raise PruneError(
            f"parameter '{name}' {list(shape)} is used through a functional call (e.g. "
            "F.conv2d(x, self.weight)) that the dependency graph cannot resize, so the layers "
            "around it would not be pruned; wrap it in nn.Conv2d/nn.Linear, or use --method "
            "l1-unstructured"
        )


def check_outputs(
    module: nn.Module, input_shape: tuple[int, ...], expected: dict[int, Any]
) -> None:
    """Run the pruned module at batch 1 and 2 and compare output shapes with the unpruned
    model's (a hard-coded ``x.view(-1, 1568)`` fails here or silently merges samples).

    Args:
        module: the pruned module.
        input_shape: the example input shape (batch first).
        expected: ``{batch: [output shapes]}`` of the unpruned module.

    Raises:
        PruneError: a forward pass fails or returns other shapes.
    """
    module.eval()
    for batch, want in expected.items():
        x = torch.zeros((batch, *input_shape[1:]))
        try:
            got = output_shapes(module, x)
        except Exception as exc:
            raise PruneError(
                f"the pruned model fails at batch {batch}: {first_line(exc)[:200]}; its "
                "forward() probably hard-codes a size (e.g. x.view(-1, 1568)): use "
                "torch.flatten(x, 1) or sizes read from the tensor"
            ) from exc
        if got != want:
            raise PruneError(
                f"the pruned model returns {got} at batch {batch}, not {want} as before; "
                "forward() hard-codes a size (e.g. x.view(-1, 1568)) or an output layer was "
                "pruned: use torch.flatten(x, 1), or --ignore the layer that feeds the output"
            )
