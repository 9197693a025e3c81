"""Pruning that pays: structured channel pruning with fine-tuning, and L1 unstructured.

``edgeinfer prune`` and :func:`edgeinfer.prune.run.prune` take a PyTorch model (a zoo name
with a PyTorch definition, or ``package.module:factory``), remove channels with
Torch-Pruning's dependency graph (``channel``) or zero the smallest weights
(``l1-unstructured``), fine-tune on labelled data and/or distil from the unpruned model, and
write the pruned module, its ONNX export and a :class:`PruneRecord` that follows every engine
built from it into its manifest. See docs/pruning.md.

Importing this package imports no torch: the configs and the record live here; the work is
in :mod:`edgeinfer.prune.run` (torch, torch-pruning), which :func:`prune` imports on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgeinfer.errors import require
from edgeinfer.prune.config import METHODS, FinetuneConfig, PruneConfig
from edgeinfer.prune.record import EpochRecord, LayerRecord, PruneRecord, QualityRecord

if TYPE_CHECKING:
    from edgeinfer.prune.run import PruneResult


def prune(
    source: Any, config: PruneConfig | None = None, out: Any = None, **kwargs: Any
) -> PruneResult:
    """Prune a PyTorch model (see :func:`edgeinfer.prune.run.prune` for the arguments).

    Raises:
        MissingExtraError: torch or torch-pruning is not installed (the ``torch`` extra).
        EdgeInferError: what pruning refuses; nothing is written then.
    """
    require("torch", "torch", purpose="pruning")
    require("torch_pruning", "torch", purpose="pruning (torch-pruning)")
    from edgeinfer.prune import run  # imports torch and torch-pruning

    return run.prune(source, config, out, **kwargs)


__all__ = [
    "METHODS",
    "EpochRecord",
    "FinetuneConfig",
    "LayerRecord",
    "PruneConfig",
    "PruneRecord",
    "QualityRecord",
    "prune",
]
