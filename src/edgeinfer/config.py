"""Build configuration: a frozen, validated, JSON-round-tripping description of one build."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from edgeinfer.errors import ConfigError

CONFIG_VERSION = 1
PRECISIONS = ("fp32", "fp16", "bf16", "int8")

OptionValue = str | int | float | bool


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


def reject_unknown_keys(cls: type, data: Mapping[str, Any], what: str) -> None:
    """Raise :class:`ConfigError` when ``data`` has keys that are not fields of dataclass ``cls``."""
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown {what} keys {sorted(unknown)}; valid keys: {sorted(known)}")


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides what a build produces.

    Attributes:
        backend: registered backend name (see :func:`edgeinfer.backends.list_backends`).
        precision: requested compute precision: fp32, fp16, bf16 or int8.
        threads: intra-op threads for runners of this engine (None: the backend default).
        options: backend-specific options, e.g. ``{"optimization_level": "all"}`` for
            ONNX Runtime or ``{"performance_hint": "LATENCY"}`` for OpenVINO.
        exclude: node names or op types kept in FP32 when lowering precision.
        calibration: calibration settings for int8 (a dict produced by
            :class:`edgeinfer.calibration.CalibrationConfig`), None otherwise.
    """

    backend: str = "onnxruntime"
    precision: str = "fp32"
    threads: int | None = None
    options: tuple[tuple[str, OptionValue], ...] = ()
    exclude: tuple[str, ...] = ()
    calibration: tuple[tuple[str, OptionValue], ...] | None = None
    version: int = field(default=CONFIG_VERSION)

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
        if self.calibration is not None:
            object.__setattr__(self, "calibration", _freeze_options(self.calibration))
        if self.version > CONFIG_VERSION:
            raise ConfigError(
                f"build config version {self.version} is newer than this edgeinfer supports "
                f"({CONFIG_VERSION}); upgrade edgeinfer"
            )

    def option(self, key: str, default: OptionValue | None = None) -> OptionValue | None:
        return dict(self.options).get(key, default)

    def calibration_dict(self) -> dict[str, OptionValue]:
        return dict(self.calibration or ())

    def with_options(self, **options: OptionValue) -> BuildConfig:
        merged = dict(self.options)
        merged.update(options)
        return replace(self, options=tuple(merged.items()))

    def replace(self, **changes: Any) -> BuildConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "backend": self.backend,
            "precision": self.precision,
            "threads": self.threads,
            "options": dict(self.options),
            "exclude": list(self.exclude),
            "calibration": None if self.calibration is None else dict(self.calibration),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BuildConfig:
        reject_unknown_keys(cls, data, "build config")
        kw = dict(data)
        if "options" in kw and kw["options"] is not None:
            kw["options"] = tuple(dict(kw["options"]).items())
        if kw.get("calibration") is not None:
            kw["calibration"] = tuple(dict(kw["calibration"]).items())
        if "exclude" in kw:
            kw["exclude"] = tuple(kw["exclude"])
        return cls(**kw)

    def key(self) -> str:
        """Stable hash of the config (part of the engine cache key)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def label(self) -> str:
        """Short human label: ``onnxruntime/int8(entropy)``."""
        extra = ""
        if self.calibration:
            extra = f"({self.calibration_dict().get('method', 'calib')})"
        if self.exclude:
            extra += f"+{len(self.exclude)}fp32"
        return f"{self.backend}/{self.precision}{extra}"
