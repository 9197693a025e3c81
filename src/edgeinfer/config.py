"""Build configuration: frozen, validated, JSON-round-tripping descriptions of one build.

:class:`BuildConfig` says what a build produces; its ``calibration`` is a typed
:class:`CalibrationConfig` (INT8 only). Both are versioned and (de)serialized by
:mod:`edgeinfer.serde`, which refuses unknown keys, wrong types and newer versions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from edgeinfer import serde
from edgeinfer.errors import ConfigError

__all__ = ["METHODS", "PRECISIONS", "BuildConfig", "CalibrationConfig", "OptionValue"]

CONFIG_VERSION = 1
CALIBRATION_VERSION = 1
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
METHODS = ("minmax", "entropy", "percentile")

OptionValue = str | int | float | bool

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
            calibrator idea) or ``percentile`` (clip to the ``percentile``-th value; the
            default: on MobileNetV2 it halved entropy's confident flips and top-5 misses, and
            entropy capped PP-OCR's detector output). ONNX Runtime's ``distribution``
            calibrator is refused: it is made for float8, and the int8 engines it gave were
            useless (top-1 9.97% on fashion-cnn).
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
        version: format version of this config.
    """

    WHAT: ClassVar[str] = "calibration"

    method: str = "percentile"
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
        self._check_values()
        serde.check_version(self.WHAT, self.version, CALIBRATION_VERSION)

    def _check_values(self) -> None:
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

    # -- serialization ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON data (every field; see :mod:`edgeinfer.serde`)."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalibrationConfig:
        """Parse :meth:`to_dict` data; missing keys take their defaults.

        Raises:
            ConfigError: unknown keys, wrong types, invalid values or a newer version.
        """
        return serde.from_dict(cls, data)

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


def _freeze_options(
    options: Mapping[str, OptionValue] | tuple[tuple[str, OptionValue], ...],
) -> tuple[tuple[str, OptionValue], ...]:
    items = options.items() if isinstance(options, Mapping) else options
    out = []
    for key, value in items:
        if not isinstance(key, str) or not isinstance(value, str | int | float | bool):
            raise ConfigError(
                f"build option {key!r}={value!r} must map a name to a str/int/float/bool; "
                "pass options as NAME=VALUE"
            )
        out.append((key, value))
    return tuple(sorted(out))


def _calibration(value: Any) -> CalibrationConfig | None:
    if value is None or isinstance(value, CalibrationConfig):
        return value
    if isinstance(value, Mapping):
        return CalibrationConfig.from_dict(value)
    raise ConfigError(
        f"build config calibration must be a CalibrationConfig, got {type(value).__name__}; "
        "e.g. BuildConfig(precision='int8', calibration=CalibrationConfig(data='photos'))"
    )


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides what a build produces.

    Attributes:
        backend: registered backend name (see :func:`edgeinfer.backends.list_backends`).
        precision: requested compute precision: fp32, fp16, bf16 or int8.
        threads: intra-op threads for runners of this engine (None: the backend default).
        options: backend options as sorted ``(NAME, VALUE)`` pairs, e.g.
            ``{"optimization_level": "all"}`` for ONNX Runtime or
            ``{"performance_hint": "LATENCY"}`` for OpenVINO (a mapping is accepted); a JSON
            object in files. Each backend parses them once into its typed options
            (:meth:`edgeinfer.backends.base.Backend.options`).
        exclude: node names or op types kept in FP32 when lowering precision.
        calibration: calibration settings for int8 (a mapping is parsed), None otherwise.
        passes: registered graph passes run, in order, before precision lowering
            (``edgeinfer.passes.list_passes()``; e.g. ``simplify``).
        version: format version of this config.
    """

    WHAT: ClassVar[str] = "build config"

    backend: str = "onnxruntime"
    precision: str = "fp32"
    threads: int | None = None
    options: tuple[tuple[str, OptionValue], ...] = field(default=(), metadata=serde.AS_MAPPING)
    exclude: tuple[str, ...] = ()
    calibration: CalibrationConfig | None = None
    passes: tuple[str, ...] = ()
    version: int = CONFIG_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.backend, str) or not self.backend:
            raise ConfigError("backend must be a non-empty name, e.g. 'onnxruntime'")
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"unknown precision '{self.precision}'; choose one of {', '.join(PRECISIONS)}"
            )
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ConfigError(f"threads must be a positive integer, got {self.threads!r}")
        object.__setattr__(self, "options", _freeze_options(self.options))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        if isinstance(self.passes, str) or not all(isinstance(p, str) and p for p in self.passes):
            raise ConfigError(f"passes must be a list of pass names, got {self.passes!r}")
        object.__setattr__(self, "passes", tuple(self.passes))
        object.__setattr__(self, "calibration", _calibration(self.calibration))
        serde.check_version(self.WHAT, self.version, CONFIG_VERSION)

    def option(self, key: str, default: OptionValue | None = None) -> OptionValue | None:
        """The raw value of option ``key`` as written (backends use their typed options)."""
        return dict(self.options).get(key, default)

    def calibration_config(self) -> CalibrationConfig:
        """The calibration settings of an int8 build: :attr:`calibration` or the defaults."""
        return self.calibration or CalibrationConfig()

    def replace(self, **changes: Any) -> BuildConfig:
        """This config with fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON data: ``options`` as an object, ``calibration`` as an object or null."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BuildConfig:
        """Parse :meth:`to_dict` data; missing keys take their defaults.

        Raises:
            ConfigError: unknown keys (here or in ``calibration``), wrong types, invalid
                values or a newer version.
        """
        return serde.from_dict(cls, data)

    def key(self) -> str:
        """Stable hash of the config (part of the engine cache key).

        The hashed form is :meth:`to_dict` with calibration fields that are None left out, as
        edgeinfer 0.1 wrote them: keys stay those of engines already in the cache, and a
        calibration field does not change the key by being written as null or omitted.
        """
        data = self.to_dict()
        if not data["passes"]:  # added after 0.1: keys of pass-less configs stay the same
            del data["passes"]
        if data["calibration"] is not None:
            data["calibration"] = {k: v for k, v in data["calibration"].items() if v is not None}
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def label(self) -> str:
        """Short human label: ``onnxruntime/int8(entropy)``."""
        extra = f"({self.calibration.method})" if self.calibration else ""
        if self.passes:
            extra += "[" + ",".join(self.passes) + "]"
        if self.exclude:
            extra += f"+{len(self.exclude)}fp32"
        return f"{self.backend}/{self.precision}{extra}"
