"""PreprocessSpec against hand-computed references on tiny images."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinfer.errors import ConfigError, DataError
from edgeinfer.preprocess import PreprocessSpec, spec_from_metadata

# 4x4 RGB: R = 10*row + col, G = 100 + row, B = 200 - col
IMG = np.zeros((4, 4, 3), dtype=np.uint8)
for _r in range(4):
    for _c in range(4):
        IMG[_r, _c] = (10 * _r + _c, 100 + _r, 200 - _c)

MEAN = (0.5, 0.4, 0.3)
STD = (0.2, 0.25, 0.5)


def _reference(
    img: np.ndarray, order: tuple[int, ...], mean: tuple[float, ...], std: tuple[float, ...]
) -> np.ndarray:
    """Pixel-by-pixel ``(v / 255 - mean[c]) / std[c]`` in CHW, channels in ``order``."""
    h, w = img.shape[:2]
    out = np.zeros((len(order), h, w), dtype=np.float64)
    for k, ch in enumerate(order):
        for y in range(h):
            for x in range(w):
                out[k, y, x] = (img[y, x, ch] / 255.0 - mean[k]) / std[k]
    return out


def test_rgb_mean_std_nchw() -> None:
    spec = PreprocessSpec(size=(4, 4), resize="none", mean=MEAN, std=STD)
    out = spec.apply(IMG)
    assert out.shape == (3, 4, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out, _reference(IMG, (0, 1, 2), MEAN, STD), rtol=1e-6, atol=1e-6)
    # a hand-computed element: R at (2, 3) = 23 -> (23/255 - 0.5) / 0.2
    assert out[0, 2, 3] == pytest.approx((23 / 255 - 0.5) / 0.2, abs=1e-6)


def test_nhwc_layout() -> None:
    spec = PreprocessSpec(size=(4, 4), resize="none", mean=MEAN, std=STD, layout="NHWC")
    out = spec.apply(IMG)
    assert out.shape == (4, 4, 3)
    np.testing.assert_allclose(
        out, _reference(IMG, (0, 1, 2), MEAN, STD).transpose(1, 2, 0), atol=1e-6
    )


def test_bgr_reverses_channels_before_mean_std() -> None:
    spec = PreprocessSpec(size=(4, 4), resize="none", color="bgr", mean=MEAN, std=STD)
    out = spec.apply(IMG)
    np.testing.assert_allclose(out, _reference(IMG, (2, 1, 0), MEAN, STD), atol=1e-6)
    assert out[0, 0, 1] == pytest.approx((199 / 255 - 0.5) / 0.2, abs=1e-6)  # B first


def test_gray_uses_bt601_luma() -> None:
    spec = PreprocessSpec(size=(4, 4), resize="none", color="gray")
    out = spec.apply(IMG)
    assert out.shape == (1, 4, 4)
    r, g, b = 10 * 1 + 2, 101, 198  # pixel (1, 2)
    assert out[0, 1, 2] == pytest.approx((0.299 * r + 0.587 * g + 0.114 * b) / 255, abs=1e-6)
    gray = np.arange(16, dtype=np.uint8).reshape(4, 4)
    np.testing.assert_allclose(spec.apply(gray)[0], gray / 255.0, atol=1e-7)
    rgb_from_gray = PreprocessSpec(size=(4, 4), resize="none").apply(gray)
    assert rgb_from_gray.shape == (3, 4, 4) and np.array_equal(rgb_from_gray[0], rgb_from_gray[2])


def test_shorter_side_then_centre_crop() -> None:
    # 8x12 image of constant 2x2 blocks: block (i, j) has value 10*i + j
    blocks = np.add.outer(10 * np.arange(4), np.arange(6)).astype(np.uint8)
    img = np.repeat(np.repeat(blocks, 2, axis=0), 2, axis=1)
    img = np.stack([img, img, img], axis=2)
    spec = PreprocessSpec(
        size=(2, 2),
        resize="shorter",
        resize_shorter=4,
        interpolation="nearest",
        scale=1.0,
        dtype="uint8",
    )
    out = spec.apply(
        img
    )  # 8x12 -> 4x6 (one pixel per block) -> centre 2x2 = blocks rows 1-2, cols 2-3
    assert out.dtype == np.uint8 and out.shape == (3, 2, 2)
    assert out[0].tolist() == [[12, 13], [22, 23]]


def test_direct_resize_area_averages_blocks() -> None:
    img = np.array([[0, 4, 8, 8], [4, 8, 8, 16], [20, 20, 1, 3], [20, 20, 5, 7]], dtype=np.uint8)
    spec = PreprocessSpec(
        size=(2, 2), resize="direct", interpolation="area", color="gray", scale=1.0
    )
    assert spec.apply(img)[0].tolist() == [[4.0, 10.0], [20.0, 4.0]]


def test_apply_batch_equals_stacked_apply_and_fills_out() -> None:
    spec = PreprocessSpec(size=(4, 4), resize="none", mean=MEAN, std=STD)
    imgs = [IMG, IMG[::-1].copy(), IMG[:, ::-1].copy()]
    batch = spec.apply_batch(imgs)
    assert batch.shape == (3, 3, 4, 4)
    for i, im in enumerate(imgs):
        np.testing.assert_array_equal(batch[i], spec.apply(im))
    out = np.empty_like(batch)
    assert spec.apply_batch(np.stack(imgs), out=out) is out
    np.testing.assert_array_equal(out, batch)


def test_round_trip_and_validation() -> None:
    spec = PreprocessSpec.imagenet()
    assert PreprocessSpec.from_dict(spec.to_dict()) == spec
    assert spec_from_metadata({"preprocess": spec.to_dict()}) == spec
    assert spec_from_metadata({}) is None
    with pytest.raises(ConfigError, match="preprocessing color 'hsv' is not supported"):
        PreprocessSpec(size=(2, 2), color="hsv")
    with pytest.raises(ConfigError, match="preprocessing mean needs 1 or 3 values, got 2"):
        PreprocessSpec(size=(2, 2), mean=(0.1, 0.2))
    with pytest.raises(DataError, match="image is 4x4 but the model takes 2x2"):
        PreprocessSpec(size=(2, 2), resize="none").apply(IMG)
