"""``OptimizeConfig``: what to search, on which data, under which budgets and limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from edgeinfer import serde
from edgeinfer.config import PRECISIONS
from edgeinfer.errors import ConfigError
from edgeinfer.preprocess import PreprocessSpec
from edgeinfer.prune.config import FinetuneConfig, check_ratio
from edgeinfer.search.select import Budget

OPTIMIZE_VERSION = 1
DEFAULT_FIDELITY_DATA = "photos:300"


@dataclass(frozen=True)
class OptimizeConfig:
    """Settings of one ``optimize`` run.

    Attributes:
        calib: calibration dataset spec (``open_dataset``), e.g. ``fashion-mnist:train``;
            None: ``photos`` crops.
        eval: evaluation dataset spec; labels make the budget a top-1 drop, no labels (or
            no eval data) make it fidelity to the FP32 reference.
        budget: accuracy/latency budgets and the objective.
        preprocess: how images become the input tensor (stored in the model, so every
            candidate and the winning engine carry it; None: the model's stored spec).
        outputs: the outputs the accuracy budget applies to (None: every output; the others
            are still measured and reported).
        backends: backends to try (None: every available one).
        precisions: precisions to try (None: each backend's own).
        calibrators: INT8 calibrators (None: percentile and minmax).
        threads: intra-op threads for every candidate (None: the backends' defaults).
        time_budget_min: stop starting new work after this many minutes (None: no limit).
        calib_samples: calibration samples per INT8 build.
        eval_limit: use at most this many eval samples (None: all).
        quick_n: inputs in the quick accuracy subset.
        finalists: candidates given full accuracy and interleaved latency measurement.
        rounds: interleaved latency rounds; round_s: seconds per candidate per round.
        mixed: try accuracy-aware mixed precision when INT8 misses the accuracy budget.
        mixed_units: at most this many sensitivity probes (layers are grouped beyond it).
        thread_variants: also try one thread where the model is small enough for it to matter.
        torch_baseline: time the PyTorch eager source as the starting point when one exists.
        prune_ratios: channel-pruning ratios whose pruned models are candidates too (every
            backend/precision on each; needs a PyTorch source; empty: none).
        prune_finetune: how each pruned model is fine-tuned (channel pruning needs it).
        out_dir: where to write the winning engine and the reports (None: nowhere).
        seed: seed for data subsets.
        quiet: no progress bars.
        version: format version of this config.
    """

    WHAT: ClassVar[str] = "optimize config"

    calib: str | None = None
    eval: str | None = None
    budget: Budget = field(default_factory=Budget)
    preprocess: PreprocessSpec | None = None
    outputs: tuple[str, ...] | None = None
    backends: tuple[str, ...] | None = None
    precisions: tuple[str, ...] | None = None
    calibrators: tuple[str, ...] | None = None
    threads: int | None = None
    time_budget_min: float | None = 15.0
    calib_samples: int = 128
    eval_limit: int | None = None
    quick_n: int = 500
    finalists: int = 4
    rounds: int = 5
    round_s: float = 0.25
    mixed: bool = True
    mixed_units: int = 12
    thread_variants: bool = True
    torch_baseline: bool = True
    prune_ratios: tuple[float, ...] = ()
    prune_finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    out_dir: str | None = None
    seed: int = 0
    quiet: bool = False
    version: int = OPTIMIZE_VERSION

    def __post_init__(self) -> None:
        self._check_names()
        self._check_limits()
        serde.check_version(self.WHAT, self.version, OPTIMIZE_VERSION)

    def _check_names(self) -> None:
        """Backends, precisions and calibrators: tuples, not empty; precisions known."""
        for name in ("backends", "precisions", "calibrators", "outputs"):
            value = getattr(self, name)
            if value is not None:
                value = tuple(value)
                if not value:
                    raise ConfigError(f"--{name} needs at least one name")
                object.__setattr__(self, name, value)
        for p in self.precisions or ():
            if p not in PRECISIONS:
                raise ConfigError(f"unknown precision '{p}'; choose from {', '.join(PRECISIONS)}")
        self._check_pruning()

    def _check_pruning(self) -> None:
        """Ratios in (0, 1), distinct to the percent, and fine-tuning to recover with."""
        object.__setattr__(self, "prune_ratios", tuple(self.prune_ratios))
        for r in self.prune_ratios:
            check_ratio("--prune", r)
        tags = [round(r * 100) for r in self.prune_ratios]
        if len(set(tags)) != len(tags):
            raise ConfigError(
                f"--prune ratios must differ by at least 0.01, got {list(self.prune_ratios)}"
            )
        if self.prune_ratios and not self.prune_finetune.enabled:
            raise ConfigError(
                "--prune needs fine-tuning (channel pruning without it loses most of the "
                "accuracy: fashion-cnn 91.85% -> 10% at 0.5); pass --prune-epochs N "
                "--prune-train DATASET"
            )

    def _check_limits(self) -> None:
        """Time budget, threads, sample counts and rounds: positive."""
        if self.time_budget_min is not None and self.time_budget_min <= 0:
            raise ConfigError(f"--time-budget must be > 0 minutes, got {self.time_budget_min}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {self.threads}")
        positive = ("calib_samples", "quick_n", "finalists", "rounds", "mixed_units")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.eval_limit is not None and self.eval_limit < 1:
            raise ConfigError(f"--eval-limit must be >= 1, got {self.eval_limit}")
        if self.round_s <= 0:
            raise ConfigError(f"round_s must be > 0, got {self.round_s}")

    def to_dict(self) -> dict[str, Any]:
        """JSON data (``budget`` as an object, tuples as lists)."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OptimizeConfig:
        """Parse :meth:`to_dict` data; missing keys take their defaults.

        Raises:
            ConfigError: unknown keys (here or in ``budget``), wrong types, invalid values or
                a newer version.
        """
        return serde.from_dict(cls, data)
