"""edgeinfer.api: what the top-level functions fill in for the user."""

from __future__ import annotations

from pathlib import Path

from edgeinfer.api import _zoo_data
from edgeinfer.search import OptimizeConfig


def test_zoo_model_brings_its_own_datasets() -> None:
    cfg = _zoo_data("fashion-cnn", OptimizeConfig())
    assert (cfg.calib, cfg.eval) == ("fashion-mnist:train", "fashion-mnist:test")
    assert _zoo_data("zoo:fashion-cnn", OptimizeConfig()).eval == "fashion-mnist:test"


def test_user_data_and_other_models_are_left_alone(tmp_path: Path) -> None:
    given = OptimizeConfig(calib="photos:64")
    assert _zoo_data("fashion-cnn", given) is given
    plain = OptimizeConfig()
    assert _zoo_data("mobilenetv2-imagenet", plain) is plain  # photo crops fit it
    local = tmp_path / "fashion-cnn"
    local.write_bytes(b"")  # a file of that name is the user's, not the zoo's
    assert _zoo_data(str(local), plain) is plain
    assert _zoo_data("model.onnx", plain) is plain
