"""Calibration tables: per-tensor activation ranges, their cache key, and the JSON cache file.

A cache file is human-readable JSON::

    {"format": "edgeinfer-calibration", "version": 1,
     "key": {"model_hash": ..., "method": ..., "params": {...}, "data_fingerprint": ...,
             "preprocess": {...}},
     "digest": "...", "method": "entropy", "samples": 256, "created": ..., "seconds": ...,
     "ranges": {"tensor_name": [min, max], ...}, "integrity": "..."}

It is written atomically; a build reuses it only when every key part matches. ``integrity``
is the SHA-256 of everything else in the file (ranges included): an edited or corrupted
cache is refused (an explicit ``--calib-cache``) or recomputed (edgeinfer's own cache).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgeinfer.errors import DataError, EdgeInferError
from edgeinfer.fileio import atomic_write_json, read_bytes

CACHE_FORMAT = "edgeinfer-calibration"
CACHE_VERSION = 2  # 2: "integrity" covers the whole file, ranges included
INTEGRITY_KEY = "integrity"
CACHE_LIMIT = 64 << 20  # bytes; real caches are a few hundred KiB


def cache_integrity(data: Mapping[str, Any]) -> str:
    """SHA-256 of a cache file's canonical JSON (sorted keys), ``integrity`` left out."""
    body = {k: v for k, v in data.items() if k != INTEGRITY_KEY}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _parse_ranges(raw: Any, where: str) -> dict[str, tuple[float, float]]:
    """``{name: [lo, hi]}`` with finite ``lo <= hi`` (anything else is refused)."""
    if not isinstance(raw, dict) or not raw:
        raise DataError(f"{where} has no ranges; delete it and build again to recalibrate")
    ranges: dict[str, tuple[float, float]] = {}
    for name, pair in raw.items():
        lo, hi = (float(v) for v in pair)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise DataError(
                f"{where} has an invalid range {[lo, hi]} for '{name}'; delete it and build "
                "again to recalibrate"
            )
        ranges[str(name)] = (lo, hi)
    return ranges


@dataclass(frozen=True)
class CalibrationKey:
    """Everything that decides a calibration result.

    Attributes:
        model_hash: hash of the (pre-processed) model that was calibrated.
        method: the calibrator.
        params: the calibrator's parameters and the sampling settings
            (:meth:`CalibrationConfig.range_params`).
        data_fingerprint: hash of the actual calibration arrays.
        preprocess: the preprocessing spec that made them (None for tensor data).
    """

    model_hash: str
    method: str
    params: Mapping[str, Any]
    data_fingerprint: str
    preprocess: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON data of the key (also what :meth:`digest` hashes)."""
        return {
            "model_hash": self.model_hash,
            "method": self.method,
            "params": dict(self.params),
            "data_fingerprint": self.data_fingerprint,
            "preprocess": None if self.preprocess is None else dict(self.preprocess),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalibrationKey:
        """Parse :meth:`to_dict` data."""
        return cls(
            model_hash=str(data["model_hash"]),
            method=str(data["method"]),
            params=dict(data.get("params") or {}),
            data_fingerprint=str(data["data_fingerprint"]),
            preprocess=None if data.get("preprocess") is None else dict(data["preprocess"]),
        )

    def digest(self) -> str:
        """SHA-256 of the key's canonical JSON (names the cache file)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def differences(self, other: CalibrationKey) -> list[str]:
        """Names of the key parts that differ from ``other``."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [
            k
            for k in mine
            if json.dumps(mine[k], sort_keys=True) != json.dumps(theirs[k], sort_keys=True)
        ]


@dataclass(frozen=True)
class CalibrationTable:
    """Activation ranges ``tensor name -> (min, max)`` computed by one calibrator.

    Attributes:
        key: what produced the ranges.
        ranges: per-tensor (min, max) in float.
        samples: number of calibration samples.
        seconds: time the calibrator took.
        created: ISO timestamp.
        model_name: the calibrated model's name (informational).
        path: the cache file it was read from or written to (None if not cached).
        from_cache: True when read from a cache file instead of computed.
    """

    key: CalibrationKey
    ranges: Mapping[str, tuple[float, float]]
    samples: int = 0
    seconds: float = 0.0
    created: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    )
    model_name: str = ""
    path: Path | None = None
    from_cache: bool = False

    @property
    def method(self) -> str:
        """The calibration method that computed the ranges (from :attr:`key`)."""
        return self.key.method

    def __len__(self) -> int:
        return len(self.ranges)

    def with_path(self, path: Path | None, *, from_cache: bool) -> CalibrationTable:
        """This table recorded as read from (``from_cache``) or written to ``path``."""
        return replace(self, path=path, from_cache=from_cache)

    # -- serialization ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The cache file's JSON data: format, version, key, digest, ranges sorted by tensor,
        and ``integrity`` (:func:`cache_integrity` of the rest).
        """
        data = {
            "format": CACHE_FORMAT,
            "version": CACHE_VERSION,
            "key": self.key.to_dict(),
            "digest": self.key.digest(),
            "model_name": self.model_name,
            "method": self.method,
            "samples": self.samples,
            "created": self.created,
            "seconds": round(self.seconds, 4),
            "ranges": {name: [lo, hi] for name, (lo, hi) in sorted(self.ranges.items())},
        }
        data[INTEGRITY_KEY] = cache_integrity(data)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: Path | None = None) -> CalibrationTable:
        """Parse a cache file's JSON data (:meth:`to_dict`); ``path`` names it in errors.

        Raises:
            DataError: not an edgeinfer calibration cache, one of another version, or one
                whose content does not match its ``integrity`` (edited or corrupted).
        """
        where = f"'{path}'" if path else "calibration data"
        if data.get("format") != CACHE_FORMAT:
            raise DataError(
                f"{where} is not an edgeinfer calibration cache (format "
                f"{data.get('format')!r}); pass a file written by edgeinfer build --calib-cache"
            )
        if int(data.get("version", 0)) > CACHE_VERSION:
            raise DataError(
                f"{where} uses calibration cache version {data.get('version')}, newer than this "
                f"edgeinfer ({CACHE_VERSION}); upgrade edgeinfer or delete the file"
            )
        if data.get("version") != CACHE_VERSION:
            raise DataError(
                f"{where} is an old calibration cache (version {data.get('version')!r}) without "
                "an integrity digest; delete it and build again to recalibrate"
            )
        if data.get(INTEGRITY_KEY) != cache_integrity(data):
            raise DataError(
                f"{where} does not match its integrity digest (edited or corrupted); delete it "
                "and build again to recalibrate"
            )
        ranges = _parse_ranges(data["ranges"], where)
        return cls(
            key=CalibrationKey.from_dict(data["key"]),
            ranges=ranges,
            samples=int(data.get("samples", 0)),
            seconds=float(data.get("seconds", 0.0)),
            created=str(data.get("created", "")),
            model_name=str(data.get("model_name", "")),
            path=path,
        )

    def save(self, path: str | Path) -> CalibrationTable:
        """Write the table atomically to ``path``; returns it with ``path`` set."""
        p = Path(path)
        atomic_write_json(p, self.to_dict())
        return self.with_path(p, from_cache=False)

    @classmethod
    def load(cls, path: str | Path) -> CalibrationTable:
        """Read a cache file.

        Raises:
            DataError: missing, unreadable or not an edgeinfer calibration cache.
        """
        p = Path(path)
        if not p.exists():
            raise DataError(
                f"calibration cache '{p}' does not exist; build once with --calib-cache {p} "
                "to create it"
            )
        try:
            data = json.loads(read_bytes(p, "calibration cache", limit=CACHE_LIMIT))
            if not isinstance(data, dict):
                raise TypeError(f"a JSON {type(data).__name__}, not an object")
            return cls.from_dict(data, p).with_path(p, from_cache=True)
        except DataError:
            raise
        except EdgeInferError as exc:
            raise DataError(f"{exc}; pass a calibration cache file") from exc
        except Exception as exc:
            raise DataError(
                f"calibration cache '{p}' is corrupted ({type(exc).__name__}: {exc}); delete it "
                "and build again to recalibrate"
            ) from exc

    def to_tensors_data(self) -> Any:
        """The ranges as ONNX Runtime's ``TensorsData`` (MinMax form) for its quantizer."""
        import numpy as np
        from onnxruntime.quantization.calibrate import CalibrationMethod, TensorsData

        data = {
            name: (np.array(lo, dtype=np.float32), np.array(hi, dtype=np.float32))
            for name, (lo, hi) in self.ranges.items()
        }
        return TensorsData(CalibrationMethod.MinMax, data)
