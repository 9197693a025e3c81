"""The pruning record: what was pruned, by how much, what it cost and what it bought.

It is written to ``pruning.json`` next to the pruned model and stored as the ``pruning``
edgeinfer metadata of the exported ONNX, so ``edgeinfer build`` copies it into every engine's
manifest (``manifest.metadata["pruning"]``). No torch is imported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from edgeinfer import serde

__all__ = ["EpochRecord", "LayerRecord", "PruneRecord", "QualityRecord"]

RECORD_VERSION = 1


@dataclass(frozen=True)
class LayerRecord:
    """One conv/linear layer before and after pruning.

    Attributes:
        name: the module's name (``features.3.0``).
        kind: ``conv``, ``depthwise`` or ``linear``.
        before: output channels (features) before pruning.
        after: output channels (features) after pruning.
        weights: weight elements after pruning.
        zeros: weight elements that are exactly zero after pruning.
    """

    name: str
    kind: str
    before: int
    after: int
    weights: int
    zeros: int = 0

    @property
    def sparsity(self) -> float:
        """Fraction of zero weights."""
        return self.zeros / self.weights if self.weights else 0.0


@dataclass(frozen=True)
class EpochRecord:
    """One fine-tuning epoch: mean training loss, the quality after it and the time it took."""

    step: int
    epoch: int
    loss: float
    quality: float | None
    seconds: float


@dataclass(frozen=True)
class QualityRecord:
    """How good the model is, measured in torch on ``data``.

    Attributes:
        metric: ``top1`` (labelled data) or ``agreement`` (top-1 agreement with the unpruned
            model on unlabelled data).
        data: the dataset spec (and sample count).
        dense: the unpruned model (``top1``; 1.0 for ``agreement``).
        pruned: right after pruning, before any fine-tuning.
        final: after fine-tuning (== ``pruned`` without fine-tuning).
        confident_agreement: agreement on inputs where the unpruned model is confident
            (top-1 probability >= 0.5), for ``agreement``.
        top5_contains: fraction of inputs whose unpruned top-1 class is in the pruned
            model's top 5, for ``agreement``.
    """

    metric: str
    data: str
    dense: float
    pruned: float
    final: float
    confident_agreement: float | None = None
    top5_contains: float | None = None

    @property
    def drop_points(self) -> float:
        """The final drop from the unpruned model, in percentage points."""
        return round(100.0 * (self.dense - self.final), 4)


@dataclass(frozen=True)
class PruneRecord:
    """Everything about one pruning run (``pruning.json``; ``manifest.metadata["pruning"]``).

    Attributes:
        method: ``channel`` or ``l1-unstructured``.
        ratio: the requested ratio.
        config: the full :class:`~edgeinfer.prune.config.PruneConfig` as JSON data.
        source: the PyTorch source that was pruned (``package.module:factory(...)``).
        input_shape: the example input shape (batch first).
        layers: every conv/linear layer before and after.
        macs_before: multiply-accumulates per input before pruning (Torch-Pruning's counter).
        macs_after: the same after pruning (dense count: zeros still cost a MAC).
        params_before: parameters before pruning.
        params_after: parameters after pruning.
        nonzero_params_after: parameters that are not exactly zero after pruning.
        quality: accuracy or agreement before/after, when evaluation data was given.
        history: fine-tuning epochs.
        finetune_seconds: wall time of fine-tuning.
        export_max_abs_diff: max |torch - ONNX Runtime| of the exported model on a test batch.
        versions: torch and torch-pruning versions.
        notes: what a user should know (e.g. "not fine-tuned").
        version: format version of this record.
    """

    WHAT: ClassVar[str] = "pruning record"
    IGNORE_UNKNOWN_KEYS: ClassVar[bool] = True

    method: str
    ratio: float
    config: dict[str, Any]
    source: str
    input_shape: tuple[int, ...]
    layers: tuple[LayerRecord, ...]
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    nonzero_params_after: int
    quality: QualityRecord | None = None
    history: tuple[EpochRecord, ...] = ()
    finetune_seconds: float = 0.0
    export_max_abs_diff: float | None = None
    versions: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    version: int = RECORD_VERSION

    @property
    def mac_ratio(self) -> float:
        """MACs after / before."""
        return self.macs_after / self.macs_before if self.macs_before else 1.0

    @property
    def param_ratio(self) -> float:
        """Parameters after / before."""
        return self.params_after / self.params_before if self.params_before else 1.0

    def widths(self) -> dict[str, tuple[int, int]]:
        """``{layer: (before, after)}`` output widths."""
        return {layer.name: (layer.before, layer.after) for layer in self.layers}

    def summary(self) -> str:
        """One line: method, ratio, MACs and parameters before -> after."""
        return (
            f"{self.method} {self.ratio:g}: MACs {self.macs_before / 1e6:.2f}M -> "
            f"{self.macs_after / 1e6:.2f}M ({self.mac_ratio:.2f}x), params "
            f"{self.params_before:,} -> {self.params_after:,} ({self.param_ratio:.2f}x)"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON data."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PruneRecord:
        """Parse :meth:`to_dict` data (unknown keys of a newer edgeinfer are ignored).

        Raises:
            ConfigError: missing keys, wrong types or a newer version.
        """
        return serde.from_dict(cls, data)
