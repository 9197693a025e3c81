"""The data a search is judged on never holds the data its candidates were calibrated on."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from edgeinfer.builder import build
from edgeinfer.errors import DataError
from edgeinfer.model import Model
from edgeinfer.preprocess import PreprocessSpec
from edgeinfer.search import OptimizeConfig
from edgeinfer.search.datasets import plan_data
from edgeinfer.search.measure import sample_hashes

from .issue_models import two_output_detector, write_images


def _engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "det.onnx"
    onnx.save(two_output_detector(batch="N", opset=17), str(path))
    spec = PreprocessSpec(size=(16, 16), mean=(0.5,), std=(0.25,))
    return build(Model.load(path).with_meta(preprocess=spec.to_dict()))


def test_one_small_dataset_is_split_between_calibration_and_judging(tmp_path: Path) -> None:
    from edgeinfer.data.datasets import open_dataset

    images = write_images(tmp_path / "imgs", n=40)
    cfg = OptimizeConfig(calib=f"images:{images}", calib_samples=128)
    plan = plan_data(cfg, _engine(tmp_path))
    assert plan.calib_samples == 20 and plan.data.n == 20 and plan.mode == "fidelity"
    assert plan.notes == [
        "the calibration data is also the data the search is judged on: INT8 candidates "
        "calibrate on 20 of its samples and are judged on the other 20"
    ]
    calib = open_dataset(f"images:{images}", limit=20, seed=0)
    judged = open_dataset(f"images:{images}")
    assert len(sample_hashes(calib)) == 20 and len(sample_hashes(judged)) == 40


def test_too_little_data_to_calibrate_and_judge_says_so(tmp_path: Path) -> None:
    images = write_images(tmp_path / "imgs", n=20)
    with pytest.raises(DataError) as exc:
        plan_data(OptimizeConfig(calib=f"images:{images}"), _engine(tmp_path))
    assert str(exc.value) == (
        f"'images:{images}' has 20 samples: too few to calibrate on (16 at least) and judge "
        "on others; add samples or pass separate --eval data"
    )
    # without INT8 there is nothing to keep apart
    plan = plan_data(OptimizeConfig(calib=f"images:{images}", precisions=("fp32",)), _engine(tmp_path))
    assert plan.data.n == 20 and plan.notes == []
