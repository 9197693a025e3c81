"""Corruptions: deterministic per seed and index, monotone in severity, shape/dtype kept."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edgeinfer.data import open_dataset
from edgeinfer.errors import ConfigError, DataError
from edgeinfer.evaluate.corruptions import (
    CORRUPTIONS,
    corrupt,
    corrupt_image,
    parse_corruptions,
    parse_severities,
)


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    return [open_dataset("photos:2")[1].image, open_dataset("fashion-mnist")[0].image]


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a.astype(np.float64) - b) ** 2).mean())


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_shape_dtype_determinism_and_monotone_severity(name: str, images: list[np.ndarray]) -> None:
    for img in images:
        outs = [corrupt_image(img, name, s, seed=0, index=4) for s in range(1, 6)]
        for o in outs:
            assert o.shape == img.shape and o.dtype == np.uint8
        assert np.array_equal(outs[2], corrupt_image(img, name, 3, seed=0, index=4))
        errors = [_mse(o, img) for o in outs]
        assert errors[0] > 0, name
        assert all(a < b for a, b in itertools.pairwise(errors)), (name, errors)


@pytest.mark.parametrize("name", ["noise", "motion"])
def test_random_corruptions_depend_on_seed_and_index(name: str, images: list[np.ndarray]) -> None:
    img = images[0]
    a = corrupt_image(img, name, 3, seed=0, index=0)
    assert not np.array_equal(a, corrupt_image(img, name, 3, seed=1, index=0))
    assert not np.array_equal(a, corrupt_image(img, name, 3, seed=0, index=1))
    batch = corrupt([img, img], name, 3, seed=0, start=0)
    assert np.array_equal(batch[0], a) and np.array_equal(
        batch[1], corrupt_image(img, name, 3, index=1)
    )


def test_noise_strength_matches_imagenet_c(images: list[np.ndarray]) -> None:
    flat = np.full((200, 200), 128, dtype=np.uint8)
    out = corrupt_image(flat, "noise", 1)
    assert (out.astype(np.float64) - 128).std() / 255 == pytest.approx(0.08, rel=0.05)


def test_brightness_keeps_hue_and_contrast_keeps_mean() -> None:
    img = np.zeros((2, 2, 3), dtype=np.uint8)
    img[:] = (100, 50, 0)
    out = corrupt_image(img, "brightness", 1)  # V 100/255 + 0.1 -> RGB scaled by V'/V
    scale = (100 / 255 + 0.1) / (100 / 255)
    assert out[0, 0].tolist() == [round(100 * scale), round(50 * scale), 0]
    gray = np.array([[0, 200], [100, 100]], dtype=np.uint8)
    low = corrupt_image(gray, "contrast", 5)  # (x - 100) * 0.05 + 100
    assert low.tolist() == [[95, 105], [100, 100]]


def test_channel_last_singleton_is_kept() -> None:
    img = np.full((8, 8, 1), 90, dtype=np.uint8)
    assert corrupt_image(img, "jpeg", 5).shape == (8, 8, 1)


def test_errors_and_parsing() -> None:
    with pytest.raises(
        ConfigError, match="unknown corruption 'fog'; choose from noise, blur, motion"
    ):
        corrupt_image(np.zeros((4, 4), np.uint8), "fog", 1)
    with pytest.raises(ConfigError, match="corruption severity must be 1-5, got 6"):
        corrupt_image(np.zeros((4, 4), np.uint8), "noise", 6)
    with pytest.raises(
        DataError, match=r"corruptions need uint8 HxW or HxWx3 images, got float32\[4, 4\]"
    ):
        corrupt_image(np.zeros((4, 4), np.float32), "noise", 1)
    assert parse_corruptions("noise, blur,noise") == ("noise", "blur")
    assert parse_corruptions("default") == ("noise", "blur", "brightness", "contrast", "jpeg")
    assert parse_corruptions("all") == tuple(CORRUPTIONS)
    assert parse_corruptions(None) == ()
    assert parse_severities("1-3") == (1, 2, 3)
    assert parse_severities("5,1") == (1, 5)
    assert parse_severities(None) == (3,)
    with pytest.raises(ConfigError, match="--severity must be N, A-B or a list like 1,3,5"):
        parse_severities("high")
    with pytest.raises(ConfigError, match="corruption severity must be 1-5, got 0"):
        parse_severities("0-2")
