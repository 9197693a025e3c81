from __future__ import annotations

import pytest

from edgeinfer.config import BuildConfig, CalibrationConfig
from edgeinfer.errors import ConfigError


def test_round_trip_and_key_stability() -> None:
    cfg = BuildConfig(
        backend="onnxruntime",
        precision="int8",
        threads=2,
        options={"optimization_level": "extended"},
        exclude=("Conv_0",),
        calibration={"method": "entropy", "samples": 64},
    )
    again = BuildConfig.from_dict(cfg.to_dict())
    assert again == cfg
    assert again.key() == cfg.key()
    assert cfg.option("optimization_level") == "extended"
    assert cfg.label() == "onnxruntime/int8(entropy)+1fp32"
    assert cfg.key() != cfg.replace(threads=1).key()


def test_options_are_order_independent() -> None:
    a = BuildConfig(options={"a": 1, "b": "x"})
    b = BuildConfig(options={"b": "x", "a": 1})
    assert a == b and a.key() == b.key()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"precision": "int4"}, "unknown precision 'int4'; choose one of fp32, fp16, bf16, int8"),
        ({"threads": 0}, "threads must be a positive integer, got 0"),
        ({"backend": ""}, "backend must be a non-empty name"),
    ],
)
def test_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BuildConfig(**kwargs)


def test_unknown_keys_rejected() -> None:
    with pytest.raises(ConfigError, match=r"unknown build config keys \['colour'\]"):
        BuildConfig.from_dict({"backend": "onnxruntime", "colour": "red"})


def test_cache_keys_are_those_of_edgeinfer_0_1() -> None:
    """Engines already in the cache keep their keys (computed by the 0.1 item-tuple configs);
    a None calibration field changes nothing whether written as null or left out."""
    cal = CalibrationConfig(method="percentile", data="photos", samples=64, data_fingerprint="abc")
    cases = {
        BuildConfig(): "e80e475e797bf1d14ee2d5e7ce4e18877a76b2fa19626163f059f8990e0e8327",
        BuildConfig("openvino", "bf16", 2, options={"performance_hint": "THROUGHPUT", "streams": 2}): (
            "4ec5d170d0ec9f05f2f7964e797e06cccaee18b86112f7fb11b38a098eaa24fb"
        ),
        BuildConfig("onnxruntime", "int8", exclude=("Conv_0",), calibration=cal): (
            "cc645e6a1383aa56c4d6035ccc302cf3591e40cd2e11aa90d6c1e045b863e0ac"
        ),
        # 0.1's default calibrator (entropy; percentile is the default now: a new config,
        # a new key) written out
        BuildConfig("openvino", "int8", 4, options={"quantizer": "nncf"}, calibration=CalibrationConfig(method="entropy")): (
            "75740b009e92b7135eeb0dd0011aebda6bb9f5175d5f66ca0971b07ec7acd5ab"
        ),
    }
    for config, key in cases.items():
        assert config.key() == key
        data = config.to_dict()
        assert BuildConfig.from_dict(data).key() == key
        if data["calibration"]:
            data["calibration"] = {k: v for k, v in data["calibration"].items() if v is not None}
            assert BuildConfig.from_dict(data).key() == key
