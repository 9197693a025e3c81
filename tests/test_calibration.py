from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from edgeinfer.calibration import (
    CalibrationConfig,
    CalibrationTable,
    calibrate,
    calibration_data,
    default_cache_path,
)
from edgeinfer.config import BuildConfig
from edgeinfer.errors import ConfigError, DataError
from edgeinfer.model import Model
from edgeinfer.preprocess import PreprocessSpec

from .conftest import make_conv_relu
from .passes.helpers import write_calib


def _model(batch: int | str = "batch", seed: int = 0) -> Model:
    return Model.from_proto(make_conv_relu(batch=batch, seed=seed))


def _cfg(data: str, **kw: object) -> CalibrationConfig:
    return CalibrationConfig(**{"method": "minmax", "samples": 32, "data": data, **kw})  # type: ignore[arg-type]


# -- config ----------------------------------------------------------------------------------
def test_config_round_trips_through_build_config() -> None:
    cfg = CalibrationConfig(method="percentile", percentile=99.9, data="photos", samples=64)
    build = BuildConfig(precision="int8", calibration=cfg)
    again = BuildConfig.from_dict(json.loads(json.dumps(build.to_dict())))
    assert again.calibration == cfg and again == build and again.key() == build.key()
    assert BuildConfig(precision="int8").calibration_config() == CalibrationConfig()
    assert BuildConfig(calibration=cfg.to_dict()).calibration == cfg  # a mapping is parsed
    assert build.label() == "onnxruntime/int8(percentile)"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"method": "kl"}, "unknown calibrator 'kl'; choose one of minmax, entropy, percentile"),
        ({"samples": 8}, r"calibration samples \(8\) is below the minimum \(16\)"),
        ({"percentile": 30.0}, r"calibration percentile must be in \(50, 100\]"),
        ({"batch_size": 0}, "calibration batch_size must be a positive integer"),
    ],
)
def test_config_is_validated(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CalibrationConfig(**kw)  # type: ignore[arg-type]


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"unknown calibration keys \['calibrator'\]"):
        CalibrationConfig.from_dict({"calibrator": "entropy"})
    with pytest.raises(ConfigError, match=r"unknown calibration keys \['calibrator'\]"):
        BuildConfig.from_dict({"precision": "int8", "calibration": {"calibrator": "entropy"}})
    with pytest.raises(ConfigError, match="build config calibration must be a CalibrationConfig"):
        BuildConfig(precision="int8", calibration=(("method", "minmax"),))  # type: ignore[arg-type]


# -- data ------------------------------------------------------------------------------------
def test_batches_and_fingerprint(tmp_path: Path) -> None:
    data = calibration_data(_model(), _cfg(write_calib(tmp_path / "a.npz", n=40), batch_size=16))
    assert [f["x"].shape[0] for f in data.feeds] == [16, 16]
    assert data.samples == 32 and data.preprocess is None and data.preprocess_source == "none"
    again = calibration_data(_model(), _cfg(write_calib(tmp_path / "b.npz", n=40)))
    assert again.fingerprint == data.fingerprint  # same arrays, same fingerprint
    other = calibration_data(_model(), _cfg(write_calib(tmp_path / "c.npz", n=40, seed=1)))
    assert other.fingerprint != data.fingerprint


def test_fixed_batch_model_gets_batches_of_its_size(tmp_path: Path) -> None:
    data = calibration_data(_model(batch=1), _cfg(write_calib(tmp_path / "a.npz")))
    assert len(data.feeds) == 32 and data.feeds[0]["x"].shape == (1, 3, 16, 16)


def test_image_data_goes_through_the_models_stored_preprocessing(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "img.npz", x=rng.integers(0, 256, (24, 20, 20, 3), dtype=np.uint8))
    cfg = _cfg(f"npz:{tmp_path / 'img.npz'}")
    with pytest.raises(DataError) as exc:  # images and no spec: refused, never guessed
        calibration_data(_model(), cfg)
    assert str(exc.value) == (
        f"dataset 'npz:{tmp_path / 'img.npz'}' holds images but there is no preprocessing spec "
        "and model 'conv_relu' stores none; edgeinfer does not guess one (resize and "
        "normalization change every result); pass --preprocess "
        "size=16x16,mean=M1/M2/M3,std=S1/S2/S3 (the resize, mean and std the model was "
        "trained with; or imagenet) or store it once: edgeinfer meta MODEL.onnx --preprocess "
        "SPEC -o MODEL-WITH-SPEC.onnx"
    )
    spec = PreprocessSpec(size=(16, 16), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    stored = calibration_data(_model().with_meta(preprocess=spec.to_dict()), cfg)
    assert stored.preprocess_source == "model" and stored.preprocess == spec.to_dict()
    plain = PreprocessSpec(size=(16, 16))
    other = calibration_data(_model().with_meta(preprocess=plain.to_dict()), cfg)
    assert stored.fingerprint != other.fingerprint  # the normalization reaches the arrays


def test_no_data_names_the_flag() -> None:
    with pytest.raises(DataError, match="int8 needs calibration data; pass --calib DATA"):
        calibration_data(_model(), CalibrationConfig())


def test_too_few_samples_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="has 8 samples, fewer than the minimum 16; add more"):
        calibration_data(_model(), _cfg(write_calib(tmp_path / "a.npz", n=8)))
    with pytest.raises(DataError, match="has 0 samples"):
        calibration_data(_model(), _cfg(write_calib(tmp_path / "e.npz", n=0)))


def test_wrong_shape_names_the_expected_input(tmp_path: Path) -> None:
    spec = write_calib(tmp_path / "a.npz", shape=(3, 8, 8))
    with pytest.raises(DataError, match=r"input 'x' expects float32\[batch,3,16,16\]"):
        calibration_data(_model(), _cfg(spec))


def test_wrong_dtype_names_the_preprocessing_to_set(tmp_path: Path) -> None:
    np.savez(tmp_path / "i.npz", x=np.ones((32, 3, 16, 16), dtype=np.int32))
    with pytest.raises(DataError, match="set the preprocessing dtype to float32"):
        calibration_data(_model(), _cfg(f"npz:{tmp_path / 'i.npz'}"))


# -- cache -----------------------------------------------------------------------------------
def test_second_calibration_reuses_the_cache(tmp_path: Path) -> None:
    cfg = _cfg(write_calib(tmp_path / "a.npz"))
    first = calibrate(_model(), cfg)
    assert not first.from_cache and first.path is not None and first.path.is_file()
    assert set(first.ranges) == {"x", "c", "y"}
    stamp = first.path.stat().st_mtime_ns
    second = calibrate(_model(), cfg)
    assert second.from_cache and second.ranges == first.ranges
    assert first.path.stat().st_mtime_ns == stamp
    # per_channel (weights) and min_samples do not change activation ranges: same entry
    same = CalibrationConfig(**{**cfg.to_dict(), "per_channel": False, "min_samples": 20})
    assert calibrate(_model(), same).from_cache


# Changes of the calibration config itself (the other changes touch the data or the model).
_CONFIG_CHANGES: dict[str, dict[str, Any]] = {
    "method": {"method": "entropy"},
    "percentile": {"percentile": 99.0},
    "samples": {"samples": 40},
    "seed": {"seed": 1, "samples": 20},
    "batch": {"batch_size": 8},
    "symmetric": {"symmetric_activations": True},
}


@pytest.mark.parametrize(
    "change",
    [
        "method",
        "percentile",
        "samples",
        "data",
        "seed",
        "batch",
        "symmetric",
        "model",
        "preprocess",
    ],
)
def test_any_key_change_invalidates(tmp_path: Path, change: str) -> None:
    write_calib(tmp_path / "a.npz", n=48)
    base = _cfg(f"npz:{tmp_path / 'a.npz'}", method="percentile")
    model = _model()
    if change == "preprocess":  # image data: the spec decides the arrays
        np.savez(
            tmp_path / "a.npz",
            x=np.random.default_rng(0).integers(0, 255, (32, 20, 20, 3), dtype=np.uint8),
        )
        model = model.with_meta(preprocess=PreprocessSpec(size=(16, 16)).to_dict())
    first = calibrate(model, base)
    cfg, m = base, model
    if change in _CONFIG_CHANGES:
        cfg = CalibrationConfig(**{**base.to_dict(), **_CONFIG_CHANGES[change]})
    elif change == "data":  # same spec string, different arrays
        write_calib(tmp_path / "a.npz", n=48, seed=5)
    elif change == "model":
        m = _model(seed=3)
    elif change == "preprocess":
        m = model.with_meta(
            preprocess=PreprocessSpec(size=(16, 16), mean=(0.5,), std=(0.5,)).to_dict()
        )
    second = calibrate(m, cfg)
    assert not second.from_cache
    assert second.key.digest() != first.key.digest()
    assert second.key.differences(first.key)


def test_explicit_cache_file_is_written_reused_and_rewritten_when_stale(tmp_path: Path) -> None:
    cache = tmp_path / "calib.json"
    cfg = _cfg(write_calib(tmp_path / "a.npz"))
    calibrate(_model(), cfg, cache=cache)
    assert json.loads(cache.read_text())["format"] == "edgeinfer-calibration"
    assert calibrate(_model(), cfg, cache=cache).from_cache
    other = CalibrationConfig(**{**cfg.to_dict(), "method": "entropy"})
    redone = calibrate(_model(), other, cache=cache)
    assert not redone.from_cache and CalibrationTable.load(cache).method == "entropy"


def test_explicit_cache_from_another_model_is_refused(tmp_path: Path) -> None:
    cache = tmp_path / "calib.json"
    cfg = _cfg(write_calib(tmp_path / "a.npz"))
    calibrate(_model(), cfg, cache=cache)
    with pytest.raises(DataError, match=f"calibration cache '{cache}' was made for another model"):
        calibrate(_model(seed=9), cfg, cache=cache)


def test_corrupted_cache_files(tmp_path: Path) -> None:
    cfg = _cfg(write_calib(tmp_path / "a.npz"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match=f"calibration cache '{bad}' is corrupted"):
        calibrate(_model(), cfg, cache=bad)
    table = calibrate(_model(), cfg)
    assert table.path is not None
    table.path.write_text("garbage")  # our own cache entry: silently recomputed
    assert not calibrate(_model(), cfg).from_cache
    bad.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(DataError, match="is not an edgeinfer calibration cache"):
        CalibrationTable.load(bad)


def test_failed_calibration_writes_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "calib.json"
    with pytest.raises(DataError):
        calibrate(_model(), _cfg(write_calib(tmp_path / "a.npz", n=4)), cache=cache)
    assert list(tmp_path.iterdir()) == [tmp_path / "a.npz"]


def test_default_cache_path_is_under_the_cache_dir(tmp_path: Path) -> None:
    table = calibrate(_model(), _cfg(write_calib(tmp_path / "a.npz")))
    assert table.path == default_cache_path(table.key)
    assert table.path.parent.name == "calibration"


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_every_method_gives_ordered_ranges(tmp_path: Path, method: str) -> None:
    table = calibrate(_model(), _cfg(write_calib(tmp_path / "a.npz"), method=method))
    assert table.method == method
    for lo, hi in table.ranges.values():
        assert lo <= hi
    lo, _ = table.ranges["y"]  # after Relu
    assert lo >= 0.0


def test_float8_distribution_calibrator_is_refused() -> None:
    with pytest.raises(ConfigError, match="calibrator 'distribution' is ONNX Runtime's float8 "
                       "calibrator: its ranges ruin int8"):
        CalibrationConfig(method="distribution")


def test_onnx_model_is_not_mutated_by_calibration(tmp_path: Path) -> None:
    m = _model()
    before = m.proto.SerializeToString()
    calibrate(m, _cfg(write_calib(tmp_path / "a.npz")))
    assert m.proto.SerializeToString() == before
    assert onnx.checker.check_model(m.proto) is None


def test_large_batches_are_split_to_bound_calibration_memory() -> None:
    from edgeinfer.calibration.compute import _chunks

    small = {"x": np.zeros((16, 3, 32, 32), np.float32)}
    assert len(_chunks(small)) == 1
    big = {"x": np.zeros((16, 3, 640, 640), np.float32)}  # ~1.5 GiB of activations per image
    chunks = _chunks(big)
    assert sum(c["x"].shape[0] for c in chunks) == 16
    assert max(c["x"].shape[0] for c in chunks) == 1


# -- integrity (issue 12) ------------------------------------------------------------------------
def _edit_cache(path: Path, reseal: bool, **ranges: list[float]) -> None:
    from edgeinfer.calibration.table import cache_integrity

    data = json.loads(path.read_text())
    data["ranges"].update(ranges)
    if reseal:
        data["integrity"] = cache_integrity(data)
    path.write_text(json.dumps(data))


def test_edited_ranges_are_refused_or_recomputed(tmp_path: Path) -> None:
    cache = tmp_path / "calib.json"
    cfg = _cfg(write_calib(tmp_path / "a.npz"))
    first = calibrate(_model(), cfg, cache=cache)
    name = sorted(first.ranges)[0]
    _edit_cache(cache, reseal=False, **{name: [-1000.0, 1000.0]})
    with pytest.raises(
        DataError,
        match=r"does not match its integrity digest \(edited or corrupted\); delete it and build "
        "again to recalibrate",
    ):
        calibrate(_model(), cfg, cache=cache)
    own = calibrate(_model(), cfg)  # edgeinfer's own cache entry: recomputed, never reused
    assert own.path is not None
    _edit_cache(own.path, reseal=False, **{name: [-1000.0, 1000.0]})
    again = calibrate(_model(), cfg)
    assert not again.from_cache and again.ranges[name] == first.ranges[name]


def test_invalid_ranges_and_old_versions_are_refused(tmp_path: Path) -> None:
    cache = tmp_path / "calib.json"
    cfg = _cfg(write_calib(tmp_path / "a.npz"))
    name = sorted(calibrate(_model(), cfg, cache=cache).ranges)[0]
    _edit_cache(cache, reseal=True, **{name: [5.0, -5.0]})
    with pytest.raises(DataError, match=rf"has an invalid range \[5.0, -5.0\] for '{name}'"):
        CalibrationTable.load(cache)
    data = json.loads(cache.read_text())
    data["version"] = 1
    cache.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"is an old calibration cache \(version 1\) without"):
        CalibrationTable.load(cache)


def test_fifo_as_calibration_cache_is_refused(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "calib.json"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="calibration cache '.*' is a FIFO"):
        CalibrationTable.load(fifo)
