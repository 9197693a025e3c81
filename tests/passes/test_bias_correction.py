"""Sequential bias correction (NNCF's algorithm) for the QDQ INT8 route."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from edgeinfer.calibration import CalibrationConfig
from edgeinfer.model import Model
from edgeinfer.passes import Int8Config, Int8Pass
from edgeinfer.passes.bias_correction import bias_correct

from .helpers import make_two_convs, run, write_calib
from .test_equalize import make_mobile_block

pytest.importorskip("nncf")


def _cal(tmp_path: Path, samples: int = 48) -> CalibrationConfig:
    data = write_calib(tmp_path / "c.npz", n=64, shape=(3, 8, 8))
    return CalibrationConfig(method="minmax", samples=samples, data=data, min_samples=8)


def test_biases_are_corrected_and_the_function_barely_moves(tmp_path: Path) -> None:
    model = Model.from_proto(make_mobile_block())
    corrected, note = bias_correct(model, _cal(tmp_path), quiet=True)
    assert re.fullmatch(
        r"int8: bias correction \(NNCF [\d.]+, sequential, 48 samples\): 2 of 2 biases "
        r"corrected in \d+ s",
        note,
    ), note
    x = {"x": np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)}
    before, after = run(model.proto, x), run(corrected.proto, x)
    assert not np.array_equal(before, after)
    assert np.abs(after - before).mean() < 0.2 * np.abs(before).mean()


def test_int8_pass_option(tmp_path: Path) -> None:
    cal = _cal(tmp_path)
    result = Int8Pass(Int8Config(calibration=cal, bias_correction=True), quiet=True)(
        Model.from_proto(make_mobile_block())
    )
    assert any(n.startswith("int8: bias correction (NNCF") for n in result.notes)


@pytest.mark.parametrize(
    ("proto", "samples", "note"),
    [
        (
            make_mobile_block(),
            16,
            "int8: bias correction skipped: it needs at least 32 calibration samples, got 16 "
            "(--calib-samples)",
        ),
        (
            make_two_convs(),
            48,
            "int8: bias correction skipped: no Conv/Gemm with a bias initializer",
        ),
    ],
)
def test_skipped_with_the_reason(tmp_path: Path, proto: object, samples: int, note: str) -> None:
    model = Model.from_proto(proto)  # type: ignore[arg-type]
    same, got = bias_correct(model, _cal(tmp_path, samples), quiet=True)
    assert same is model and got == note
