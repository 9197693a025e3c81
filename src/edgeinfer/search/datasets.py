"""The data a search is tuned and judged on, kept apart from the calibration data.

INT8 candidates are calibrated on ``--calib``; the search is tuned (quick probes, mixed
precision's layer choice) and judged (the held-out verdict) on ``--eval`` data, or on
calibration-style data when there is none. Samples that are also calibration samples are
left out by content, so no verdict rests on data a candidate was calibrated on. When both
come from one small dataset (``--calib images:DIR`` and no ``--eval``), calibration takes
half of it and the search the other half, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edgeinfer.calibration import CalibrationConfig
from edgeinfer.calibration.data import open_calibration_dataset
from edgeinfer.errors import DataError, EdgeInferError
from edgeinfer.search.config import DEFAULT_FIDELITY_DATA, OptimizeConfig
from edgeinfer.search.measure import EvalData, load_data, sample_hashes

if TYPE_CHECKING:
    from edgeinfer.engine import Engine

__all__ = ["FIDELITY_LIMIT", "DataPlan", "plan_data"]

FIDELITY_LIMIT = 1000  # inputs drawn from a calibration-style set when there is no eval data
MIN_CALIBRATION = 16


@dataclass
class DataPlan:
    """What the search measures on, how, and with how many calibration samples.

    Attributes:
        data: the preprocessed inputs (tuning + held-out splits come from it).
        mode: ``labels`` or ``fidelity``.
        note: what the accuracy numbers are measured on, for people.
        calib_samples: calibration samples per INT8 build (fewer than asked when the
            calibration data is also the only data to judge on).
        notes: what was left out or shared, for the report.
    """

    data: EvalData
    mode: str
    note: str
    calib_samples: int
    notes: list[str] = field(default_factory=list)


def _calibration_hashes(cfg: OptimizeConfig, samples: int) -> set[str]:
    """Content hashes of the calibration samples, when INT8 candidates will calibrate."""
    if cfg.precisions is not None and "int8" not in cfg.precisions:
        return set()
    spec = cfg.calib or DEFAULT_FIDELITY_DATA
    try:
        cal = CalibrationConfig(data=spec, samples=samples, seed=cfg.seed, min_samples=1)
        return sample_hashes(open_calibration_dataset(cal))
    except EdgeInferError:
        return set()  # the INT8 builds record why the data cannot be used


def _load(cfg: OptimizeConfig, ref: Engine) -> tuple[EvalData, int, int]:
    """The data without calibration samples: (data, samples left out, calibration samples)."""
    spec = cfg.eval or cfg.calib or DEFAULT_FIDELITY_DATA
    limit = cfg.eval_limit if cfg.eval else cfg.eval_limit or FIDELITY_LIMIT
    samples = cfg.calib_samples
    # seed + 1: generated data (photo crops) differs from the calibration draw (seed).
    try:
        data, dropped = load_data(
            spec, ref, limit=limit, seed=cfg.seed + 1, exclude=_calibration_hashes(cfg, samples)
        )
    except DataError:
        data, dropped = None, 0
    if data is not None and data.n >= dropped:
        return data, dropped, samples
    # the calibration data is (most of) the only data: calibrate on half, judge on the rest
    full, _ = load_data(spec, ref, limit=limit, seed=cfg.seed + 1)
    samples = min(samples, full.n // 2)
    if samples < MIN_CALIBRATION or full.n - samples < 2:
        raise DataError(
            f"'{spec}' has {full.n} samples: too few to calibrate on ({MIN_CALIBRATION} at "
            "least) and judge on others; add samples or pass separate --eval data"
        )
    data, dropped = load_data(
        spec, ref, limit=limit, seed=cfg.seed + 1, exclude=_calibration_hashes(cfg, samples)
    )
    return data, dropped, samples


def plan_data(cfg: OptimizeConfig, ref: Engine) -> DataPlan:
    """The measurement data, the mode (labels/fidelity), a sentence saying which, and the
    calibration samples INT8 candidates use.

    Raises:
        DataError: no usable data (the message says what to give).
    """
    data, dropped, samples = _load(cfg, ref)
    notes = []
    if samples < cfg.calib_samples:
        notes.append(
            f"the calibration data is also the data the search is judged on: INT8 candidates "
            f"calibrate on {samples} of its samples and are judged on the other {data.n}"
        )
    elif dropped:
        notes.append(
            f"left out {dropped} eval input(s) that are also calibration samples: candidates "
            "are judged on data they were not calibrated on"
        )
    if cfg.eval:
        if data.labels is not None and cfg.budget.min_agreement is None:
            return DataPlan(data, "labels", f"top-1 accuracy on {data.source}", samples, notes)
        why = "--min-agreement given" if data.labels is not None else "it has no labels"
        note = f"fidelity to the FP32 reference on {data.source}; {why}"
        return DataPlan(data, "fidelity", note, samples, notes)
    note = (
        f"NO EVAL DATA: fidelity to the FP32 reference on calibration-style data "
        f"({data.source}); pass --eval DATASET to measure task accuracy"
    )
    return DataPlan(data, "fidelity", note, samples, notes)
