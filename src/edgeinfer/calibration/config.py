"""Calibration settings: which calibrator, on which data, how many samples."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from edgeinfer.config import reject_unknown_keys
from edgeinfer.errors import ConfigError

CALIBRATION_VERSION = 1
METHODS = ("minmax", "entropy", "percentile")

ItemValue = str | int | float | bool

# Fields that change the computed activation ranges (and so the calibration cache key).
# ``batch_size`` is one: histogram calibrators merge per batch. ``per_channel`` is a weight
# quantization choice and ``min_samples``/``cache`` do not change ranges, so one calibration
# serves all of them.
RANGE_FIELDS = (
    "method",
    "samples",
    "percentile",
    "data",
    "seed",
    "batch_size",
    "symmetric_activations",
)


@dataclass(frozen=True)
class CalibrationConfig:
    """How INT8 activation ranges are calibrated.

    Attributes:
        method: ``minmax`` (observed extremes), ``entropy`` (KL divergence, TensorRT's entropy
            calibrator idea) or ``percentile`` (clip to the ``percentile``-th value). ONNX
            Runtime's ``distribution`` calibrator is refused: it is made for float8, and the
            int8 engines it gave were useless (top-1 9.97% on fashion-cnn).
        samples: number of calibration samples drawn from ``data``.
        percentile: percentile for ``method == "percentile"``, in (50, 100].
        data: dataset spec for :func:`edgeinfer.data.datasets.open_dataset`, e.g.
            ``"fashion-mnist:train"``, ``"photos"``, ``"images:DIR"``, ``"npz:FILE"``.
        seed: seed for drawing samples (and random crops).
        batch_size: samples per calibration batch (1 when the model's batch dim is fixed).
        symmetric_activations: symmetric activation ranges (zero point 0) instead of
            asymmetric ones.
        per_channel: per-output-channel weight scales (per-tensor when False).
        min_samples: fewer usable samples than this is an error.
        cache: calibration cache file (None: one per key under the edgeinfer cache dir).
        data_fingerprint: SHA-256 of the calibration arrays, set by
            :func:`edgeinfer.calibration.pin_data` so that the engine cache key changes when
            the data behind ``data`` changes (the calibration cache checks it regardless).
    """

    method: str = "entropy"
    samples: int = 256
    percentile: float = 99.99
    data: str | None = None
    seed: int = 0
    batch_size: int = 16
    symmetric_activations: bool = False
    per_channel: bool = True
    min_samples: int = 16
    cache: str | None = None
    data_fingerprint: str | None = None
    version: int = CALIBRATION_VERSION

    def __post_init__(self) -> None:
        if self.method == "distribution":
            raise ConfigError(
                "calibrator 'distribution' is ONNX Runtime's float8 calibrator: its ranges ruin "
                "int8 (measured on fashion-cnn: top-1 9.97% instead of 91.85%, see "
                "docs/PERFORMANCE.md); use minmax, entropy or percentile"
            )
        if self.method not in METHODS:
            raise ConfigError(
                f"unknown calibrator '{self.method}'; choose one of {', '.join(METHODS)}"
            )
        for name in ("samples", "batch_size", "min_samples"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"calibration {name} must be a positive integer, got {value!r}")
        if self.samples < self.min_samples:
            raise ConfigError(
                f"calibration samples ({self.samples}) is below the minimum ({self.min_samples}); "
                f"use --calib-samples {self.min_samples} or more"
            )
        if not 50.0 < float(self.percentile) <= 100.0:
            raise ConfigError(
                f"calibration percentile must be in (50, 100], got {self.percentile}; e.g. 99.99"
            )
        object.__setattr__(self, "percentile", float(self.percentile))
        if self.data is not None and (not isinstance(self.data, str) or not self.data):
            raise ConfigError(
                "calibration data must be a dataset spec such as 'images:DIR' or 'npz:FILE'"
            )
        if self.cache is not None and (not isinstance(self.cache, str) or not self.cache):
            raise ConfigError("calibration cache must be a file path")
        if self.version > CALIBRATION_VERSION:
            raise ConfigError(
                f"calibration config version {self.version} is newer than this edgeinfer "
                f"supports ({CALIBRATION_VERSION}); upgrade edgeinfer"
            )

    # -- serialization ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalibrationConfig:
        reject_unknown_keys(cls, data, "calibration")
        return cls(**dict(data))

    def to_items(self) -> tuple[tuple[str, ItemValue], ...]:
        """Key/value items for :attr:`edgeinfer.config.BuildConfig.calibration` (None dropped)."""
        return tuple(sorted((k, v) for k, v in self.to_dict().items() if v is not None))

    @classmethod
    def from_items(
        cls, items: Iterable[tuple[str, ItemValue]] | Mapping[str, ItemValue] | None
    ) -> CalibrationConfig:
        """Inverse of :meth:`to_items`; None gives the defaults."""
        if items is None:
            return cls()
        return cls.from_dict(dict(items))

    def range_params(self) -> dict[str, Any]:
        """The settings that decide the computed ranges (part of the cache key)."""
        params = {k: getattr(self, k) for k in RANGE_FIELDS}
        if self.method != "percentile":
            params.pop("percentile")
        return params

    def describe(self) -> str:
        """``entropy, 256 samples of images:photos``."""
        method = f"percentile {self.percentile:g}" if self.method == "percentile" else self.method
        return f"{method}, {self.samples} samples of {self.data or '(no data)'}"
