"""L1 unstructured pruning (the original brief's method): in every conv and linear layer the
``ratio`` fraction of weights with the smallest magnitude become zero
(``torch.nn.utils.prune.l1_unstructured``).

The shapes stay the same, so dense CPU runtimes do exactly the same work: measured on
ONNX Runtime and OpenVINO, 50% zeros gave 1.00-1.06x the latency (docs/pruning.md). The
masks stay attached while fine-tuning (pruned weights stay zero) and are made permanent by
:func:`make_permanent`.
"""

from __future__ import annotations

import torch.nn.utils.prune as torch_prune
from torch import nn

from edgeinfer.prune.analysis import prunable_layers

__all__ = ["make_permanent", "mask_weights"]


def mask_weights(module: nn.Module, ratio: float) -> list[str]:
    """Zero the ``ratio`` smallest-magnitude weights of each conv/linear layer (masks kept
    attached until :func:`make_permanent`); returns the layers masked.
    """
    names = []
    for name, layer in prunable_layers(module).items():
        torch_prune.l1_unstructured(layer, "weight", amount=ratio)
        names.append(name)
    return names


def make_permanent(module: nn.Module) -> None:
    """Fold every attached pruning mask into its weight (``weight_orig``/``weight_mask`` go)."""
    for layer in prunable_layers(module).values():
        if torch_prune.is_pruned(layer):
            torch_prune.remove(layer, "weight")
