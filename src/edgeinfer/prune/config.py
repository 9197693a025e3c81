"""``PruneConfig`` and ``FinetuneConfig``: what to prune, how much, and how to recover.

Both are frozen, validated at construction and (de)serialized by :mod:`edgeinfer.serde`
(unknown keys, wrong types and newer versions are refused). No torch is imported here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from edgeinfer import serde
from edgeinfer.errors import ConfigError

__all__ = ["AUGMENTS", "DEVICES", "METHODS", "FinetuneConfig", "PruneConfig", "check_ratio"]

PRUNE_VERSION = 1
FINETUNE_VERSION = 1
METHODS = ("channel", "l1-unstructured")
AUGMENTS = ("shift-flip", "shift", "none")
DEVICES = ("cpu", "cuda")
MAX_EPOCHS = 1000


def check_ratio(what: str, value: float) -> None:
    """A pruning ratio: a finite number strictly between 0 and 1."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0.0 < value < 1.0
    ):
        raise ConfigError(
            f"{what} must be a fraction strictly between 0 and 1 (0.5 removes half), got {value!r}"
        )


@dataclass(frozen=True)
class FinetuneConfig:
    """How a pruned model is fine-tuned (the recovery that channel pruning needs).

    Attributes:
        epochs: passes over the training data (after each pruning step).
        train: training dataset spec (``open_dataset``), e.g. ``fashion-mnist:train`` or
            ``photos:600``; unlabelled data needs ``distill``.
        distill: add knowledge distillation from the unpruned model (KL divergence of
            softened outputs); the only loss on unlabelled data.
        alpha: weight of the distillation loss when labels are there (1 - alpha: labels).
        temperature: softening temperature of the distillation loss.
        lr: peak learning rate of the one-cycle schedule (AdamW).
        weight_decay: AdamW weight decay.
        batch_size: training batch size.
        label_smoothing: label smoothing of the cross-entropy loss.
        augment: ``shift-flip`` (random shifts of up to 1/14 of the size and horizontal
            flips), ``shift`` or ``none``.
        limit: use at most this many training samples (a seeded subset; None: all).
        seed: seed of the data order, the subset and the augmentation.
        threads: torch intra-op threads while fine-tuning (None: torch's default).
        device: ``cpu`` or ``cuda``.
        version: format version of this config.
    """

    WHAT: ClassVar[str] = "fine-tune config"

    epochs: int = 0
    train: str | None = None
    distill: bool = False
    alpha: float = 0.5
    temperature: float = 4.0
    lr: float = 3e-3
    weight_decay: float = 5e-4
    batch_size: int = 256
    label_smoothing: float = 0.05
    augment: str = "shift-flip"
    limit: int | None = None
    seed: int = 0
    threads: int | None = None
    device: str = "cpu"
    version: int = FINETUNE_VERSION

    def __post_init__(self) -> None:
        self._check_counts()
        self._check_rates()
        if self.augment not in AUGMENTS:
            raise ConfigError(f"unknown augmentation '{self.augment}'; use {', '.join(AUGMENTS)}")
        if self.device not in DEVICES:
            raise ConfigError(f"unknown device '{self.device}'; use {' or '.join(DEVICES)}")
        if self.epochs > 0 and not self.train:
            raise ConfigError(
                f"fine-tuning for {self.epochs} epochs needs training data; pass --train "
                "DATASET (e.g. fashion-mnist:train, or photos:600 with --distill)"
            )
        serde.check_version(self.WHAT, self.version, FINETUNE_VERSION)

    def _check_counts(self) -> None:
        if not 0 <= self.epochs <= MAX_EPOCHS:
            raise ConfigError(f"--finetune-epochs must be 0..{MAX_EPOCHS}, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--train-limit must be >= 1, got {self.limit}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {self.threads}")

    def _check_rates(self) -> None:
        checks = {
            "--lr": (self.lr, 0.0, 10.0, False),
            "weight_decay": (self.weight_decay, 0.0, 1.0, True),
            "--temperature": (self.temperature, 0.0, 100.0, False),
            "--alpha": (self.alpha, 0.0, 1.0, True),
            "label_smoothing": (self.label_smoothing, 0.0, 1.0, True),
        }
        for name, (value, low, high, low_ok) in checks.items():
            ok = math.isfinite(value) and (value >= low if low_ok else value > low)
            if not ok or value > high:
                bound = "[" if low_ok else "("
                raise ConfigError(f"{name} must be in {bound}{low:g}, {high:g}], got {value!r}")

    @property
    def enabled(self) -> bool:
        """Whether any fine-tuning happens."""
        return self.epochs > 0


@dataclass(frozen=True)
class PruneConfig:
    """One pruning run.

    Attributes:
        method: ``channel`` (structured: whole channels removed with Torch-Pruning's dependency
            graph, so the model really gets smaller) or ``l1-unstructured`` (the smallest
            weights of every conv/linear layer set to zero: the same dense shapes, so no
            speed-up on dense CPU runtimes).
        ratio: fraction of channels (``channel``) or of weights (``l1-unstructured``) removed
            per layer, in (0, 1).
        round_to: keep channel counts a multiple of this (SIMD widths; ``channel`` only; 1 or
            None: no rounding). A layer narrower than it is not rounded.
        layer_ratios: per-layer ratios overriding ``ratio`` (layer name -> ratio), e.g. a width
            plan that prunes early layers harder.
        ignore: layers left unpruned (their output channels), besides the output layers.
        steps: prune in this many steps (widths interpolated), fine-tuning after each.
        finetune: the fine-tuning after pruning.
        version: format version of this config.
    """

    WHAT: ClassVar[str] = "prune config"

    method: str = "channel"
    ratio: float = 0.5
    round_to: int | None = 8
    layer_ratios: tuple[tuple[str, float], ...] = field(default=(), metadata=serde.AS_MAPPING)
    ignore: tuple[str, ...] = ()
    steps: int = 1
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    version: int = PRUNE_VERSION

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"unknown pruning method '{self.method}'; use {' or '.join(METHODS)}")
        check_ratio("--ratio", self.ratio)
        pairs = (
            self.layer_ratios.items()
            if isinstance(self.layer_ratios, Mapping)
            else self.layer_ratios
        )
        pairs = tuple((str(k), v) for k, v in pairs)
        for name, value in pairs:
            check_ratio(f"--layer-ratio {name}", value)
        object.__setattr__(self, "layer_ratios", pairs)
        object.__setattr__(self, "ignore", tuple(self.ignore))
        if self.round_to is not None and not 1 <= self.round_to <= 1024:
            raise ConfigError(f"--round-to must be 1..1024, got {self.round_to}")
        if not 1 <= self.steps <= 100:
            raise ConfigError(f"--steps must be 1..100, got {self.steps}")
        self._check_method_options()
        serde.check_version(self.WHAT, self.version, PRUNE_VERSION)

    def _check_method_options(self) -> None:
        if self.method == "channel":
            return
        used = [
            flag
            for flag, on in (
                ("--layer-ratio", bool(self.layer_ratios)),
                ("--ignore", bool(self.ignore)),
                ("--steps", self.steps != 1),
            )
            if on
        ]
        if used:
            raise ConfigError(
                f"{', '.join(used)} only apply to --method channel; drop them for {self.method}"
            )

    @property
    def rounding(self) -> int:
        """The channel multiple kept (1: none)."""
        return self.round_to or 1

    def ratio_of(self, layer: str) -> float:
        """The ratio for ``layer`` (its ``layer_ratios`` entry, else ``ratio``)."""
        return dict(self.layer_ratios).get(layer, self.ratio)

    def to_dict(self) -> dict[str, Any]:
        """JSON data (``finetune`` as an object, ``layer_ratios`` as ``{layer: ratio}``)."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PruneConfig:
        """Parse :meth:`to_dict` data; missing keys take their defaults.

        Raises:
            ConfigError: unknown keys, wrong types, invalid values or a newer version.
        """
        return serde.from_dict(cls, data)
