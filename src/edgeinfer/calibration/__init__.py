"""Calibration for INT8: real data through the model's preprocessing, ONNX Runtime's
calibrators (minmax, entropy, percentile), and a human-readable cache.

    cfg = CalibrationConfig(method="entropy", samples=256, data="photos")
    table = calibrate(model, cfg)          # tensor name -> (min, max), cached
"""

from edgeinfer.calibration.compute import calibrate, calibration_key, default_cache_path
from edgeinfer.calibration.data import (
    CalibrationData,
    calibration_data,
    calibration_feeds,
    fingerprint_feeds,
    pin_data,
)
from edgeinfer.calibration.table import CalibrationKey, CalibrationTable
from edgeinfer.config import METHODS, CalibrationConfig

__all__ = [
    "METHODS",
    "CalibrationConfig",
    "CalibrationData",
    "CalibrationKey",
    "CalibrationTable",
    "calibrate",
    "calibration_data",
    "calibration_feeds",
    "calibration_key",
    "default_cache_path",
    "fingerprint_feeds",
    "pin_data",
]
