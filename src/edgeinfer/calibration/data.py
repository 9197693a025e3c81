"""Calibration data: real samples through the model's preprocessing spec, in batches."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.data.datasets import Dataset, iter_batches, open_dataset
from edgeinfer.data.specs import image_input, resolve_preprocess
from edgeinfer.errors import DataError
from edgeinfer.progress import Progress

if TYPE_CHECKING:
    from edgeinfer.config import CalibrationConfig
    from edgeinfer.model import Model
    from edgeinfer.tensors import TensorSpec

Feed = dict[str, np.ndarray]


@dataclass(frozen=True)
class CalibrationData:
    """Calibration batches plus what identifies them.

    Attributes:
        feeds: one ``{input name: array}`` dict per batch.
        fingerprint: SHA-256 of the arrays (names, dtypes, shapes and bytes).
        preprocess: the preprocessing spec used (None for tensor data).
        preprocess_source: where the spec came from: model, dataset or none (see
            :func:`~edgeinfer.data.specs.resolve_preprocess`).
        samples: number of samples in all batches.
    """

    feeds: list[Feed]
    fingerprint: str
    preprocess: dict[str, Any] | None
    preprocess_source: str
    samples: int


def fingerprint_feeds(feeds: list[Feed]) -> str:
    """SHA-256 of the calibration arrays (not of their batching): changes when any value does."""
    h = hashlib.sha256()
    for name in sorted(feeds[0]) if feeds else ():
        first = feeds[0][name]
        h.update(f"{name}|{first.dtype.str}|{first.shape[1:]}".encode())
        for feed in feeds:  # independent of how the samples are batched
            h.update(np.ascontiguousarray(feed[name]).tobytes())
    return h.hexdigest()


def _batch_size(spec: TensorSpec, requested: int) -> int:
    lead = spec.shape[0] if spec.shape else None
    return int(lead) if isinstance(lead, int) else requested


def open_calibration_dataset(config: CalibrationConfig) -> Dataset:
    """The dataset named by ``config.data``, limited to ``config.samples`` (seeded).

    Raises:
        DataError: no data given, or fewer usable samples than ``config.min_samples``.
    """
    if config.data is None:
        raise DataError(
            "int8 needs calibration data; pass --calib DATA (e.g. --calib images:DIR, "
            "--calib npz:FILE, --calib photos or --calib fashion-mnist:train)"
        )
    ds = open_dataset(config.data, limit=config.samples, seed=config.seed)
    if len(ds) < config.min_samples:
        raise DataError(
            f"calibration data '{config.data}' has {len(ds)} samples, fewer than the minimum "
            f"{config.min_samples}; add more samples (at least {config.min_samples}, "
            "a few hundred is typical) or lower the minimum (CalibrationConfig.min_samples)"
        )
    return ds


def calibration_data(
    model: Model, config: CalibrationConfig, *, quiet: bool | None = None
) -> CalibrationData:
    """Load, preprocess and batch ``config.samples`` samples of ``config.data`` for ``model``.

    Raises:
        DataError: missing/too little data, or samples that do not fit the model input (the
            message names the expected input spec and the preprocessing to set).
    """
    spec_in = image_input(
        model, consumer="calibration datasets feed", fix="export a single-input model"
    )
    ds = open_calibration_dataset(config)
    spec, source = resolve_preprocess(ds, model)  # images without a spec: refused, never guessed
    batch = _batch_size(spec_in, config.batch_size)
    feeds: list[Feed] = []
    total = 0
    batches = iter_batches(ds, spec, batch, input_shape=spec_in)
    with Progress(quiet) as progress:
        steps = (len(ds) + batch - 1) // batch
        for arr, _ in progress.track(batches, "calibration data", total=steps):
            if arr.shape[0] != batch and isinstance(spec_in.shape[0], int):
                break  # a fixed-batch model cannot take the last, smaller batch
            feeds.append({spec_in.name: arr})
            total += int(arr.shape[0])
    if total < config.min_samples:
        raise DataError(
            f"calibration data '{config.data}' gave {total} usable samples for input "
            f"'{spec_in.name}' ({spec_in.describe()}), fewer than the minimum "
            f"{config.min_samples}; add more samples"
        )
    return CalibrationData(
        feeds=feeds,
        fingerprint=fingerprint_feeds(feeds),
        preprocess=spec.to_dict() if spec is not None else None,
        preprocess_source=source,
        samples=total,
    )


def calibration_feeds(
    model: Model, config: CalibrationConfig, *, quiet: bool | None = None
) -> list[Feed]:
    """Calibration batches for ``model`` as ``{input name: array}`` dicts (see
    :func:`calibration_data` for the checks).
    """
    return calibration_data(model, config, quiet=quiet).feeds


def pin_data(
    model: Model, config: CalibrationConfig, *, quiet: bool | None = None
) -> CalibrationConfig:
    """``config`` with ``data_fingerprint`` set from the data it names today.

    The engine cache key contains the calibration settings; pinning the fingerprint makes a
    build with changed calibration files (same ``images:DIR`` spec) a different engine.
    """
    from dataclasses import replace

    data = calibration_data(model, config, quiet=quiet)
    return replace(config, data_fingerprint=data.fingerprint)
