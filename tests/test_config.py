from __future__ import annotations

import pytest

from edgeinfer.config import BuildConfig
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
