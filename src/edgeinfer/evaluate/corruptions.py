"""Seeded common corruptions a robot's camera meets, at severities 1-5.

In the spirit of Hendrycks & Dietterich's ImageNet-C (ICLR 2019): the parameters at each
severity follow ImageNet-C for 224-pixel images; blur sizes scale with the image and have the
CIFAR-10-C values as a floor, so small images (28x28 Fashion-MNIST) still get a real blur.
Each corruption maps a uint8 ``HxW`` or ``HxWx3`` image to a uint8 image of the same shape;
randomness comes from a generator seeded by ``(seed, corruption, sample index)``, so results
do not depend on the batch size or the order of evaluation, and the severities of one image
share their noise pattern and blur direction (only the strength changes).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Sequence

import numpy as np

from edgeinfer.errors import ConfigError, DataError

__all__ = [
    "CORRUPTIONS",
    "corrupt",
    "corrupt_image",
    "image_transform",
    "parse_corruptions",
    "parse_severities",
]

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]

_NOISE_STD = (0.08, 0.12, 0.18, 0.26, 0.38)  # ImageNet-C gaussian_noise, [0, 1] scale
_BLUR_SIGMA = (1.0, 2.0, 3.0, 4.0, 6.0)  # ImageNet-C gaussian_blur at 224 px
_BLUR_SIGMA_MIN = (0.4, 0.6, 0.7, 0.8, 1.0)  # CIFAR-10-C gaussian_blur (32 px)
_MOTION_SIGMA = (3.0, 5.0, 8.0, 12.0, 15.0)  # ImageNet-C motion_blur sigma at 224 px
_MOTION_SIGMA_MIN = (1.0, 1.5, 2.0, 2.5, 3.0)  # CIFAR-10-C motion_blur sigma
_BRIGHTNESS = (0.1, 0.2, 0.3, 0.4, 0.5)  # ImageNet-C: added to V in HSV
_DARK = (0.6, 0.45, 0.3, 0.2, 0.12)  # low light: V scaled (not in ImageNet-C)
_CONTRAST = (0.4, 0.3, 0.2, 0.1, 0.05)  # ImageNet-C
_JPEG_QUALITY = (25, 18, 15, 10, 7)  # ImageNet-C


def _f32(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255.0


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def gaussian_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian sensor noise (std 0.08-0.38 of full scale)."""
    x = _f32(image)
    return _u8(x + rng.standard_normal(x.shape, dtype=np.float32) * _NOISE_STD[severity - 1])


def _scaled(
    values: Sequence[float], floors: Sequence[float], severity: int, image: np.ndarray
) -> float:
    side = min(image.shape[:2])
    return max(floors[severity - 1], values[severity - 1] * side / 224.0)


def gaussian_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Defocus-like Gaussian blur (sigma scales with image size)."""
    sigma = _scaled(_BLUR_SIGMA, _BLUR_SIGMA_MIN, severity, image)
    radius = max(1, int(np.ceil(3 * sigma)))
    t = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-0.5 * (t / sigma) ** 2)
    return _u8(_separable(_f32(image), kernel / kernel.sum()))


def _separable(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve axes 0 and 1 with a 1-D kernel, reflecting at the borders."""
    r = len(kernel) // 2
    for axis in (0, 1):
        pad = [(0, 0)] * x.ndim
        pad[axis] = (r, r)
        xp = np.pad(x, pad, mode="reflect" if x.shape[axis] > r else "edge")
        n = x.shape[axis]
        out = np.zeros_like(x)
        for k, weight in enumerate(kernel):
            out += weight * np.take(xp, np.arange(k, k + n), axis=axis)
        x = out
    return x


def motion_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Linear motion blur in a random direction (camera shake, a moving robot).

    A line kernel with Gaussian weights (sigma as ImageNet-C/CIFAR-10-C), centred.
    """
    sigma = _scaled(_MOTION_SIGMA, _MOTION_SIGMA_MIN, severity, image)
    angle = rng.uniform(0.0, np.pi)
    x = _f32(image)
    h, w = x.shape[:2]
    radius = int(np.ceil(2 * sigma))
    ts = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (ts / sigma) ** 2)
    dys = np.rint(ts * np.sin(angle)).astype(int)
    dxs = np.rint(ts * np.cos(angle)).astype(int)
    pad = [(radius, radius), (radius, radius)] + [(0, 0)] * (x.ndim - 2)
    xp = np.pad(x, pad, mode="edge")
    out = np.zeros_like(x)
    for dy, dx, wt in zip(dys, dxs, weights, strict=True):
        out += np.float32(wt) * xp[radius + dy : radius + dy + h, radius + dx : radius + dx + w]
    return _u8(out / np.float32(weights.sum()))


def _value_scale(image: np.ndarray, new_v: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Change HSV value V while keeping hue and saturation: RGB scales by V'/V."""
    x = _f32(image)
    if x.ndim == 2:  # gray: V is the pixel
        return _u8(np.clip(new_v(x), 0.0, 1.0))
    v = x.max(axis=2, keepdims=True)
    nv = np.clip(new_v(v), 0.0, 1.0)
    ratio = nv / np.maximum(v, 1e-12)
    # black pixels (V = 0) have no hue: they become gray at V'
    return _u8(np.where(v > 0, x * ratio, nv))


def brightness(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Over-exposure: add 0.1-0.5 to HSV value (ImageNet-C)."""
    c = _BRIGHTNESS[severity - 1]
    return _value_scale(image, lambda v: v + c)


def dark(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Low light: scale HSV value to 60 %-12 %."""
    c = _DARK[severity - 1]
    return _value_scale(image, lambda v: v * c)


def contrast(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Reduced contrast towards the image mean (haze, glare): ImageNet-C."""
    c = _CONTRAST[severity - 1]
    x = _f32(image)
    mean = x.mean()
    return _u8((x - mean) * c + mean)


def jpeg(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """JPEG re-encoding at quality 25-7 (a compressed video link)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(
        buf, format="JPEG", quality=_JPEG_QUALITY[severity - 1]
    )
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im).copy()


CORRUPTIONS: dict[str, Corruption] = {
    "noise": gaussian_noise,
    "blur": gaussian_blur,
    "motion": motion_blur,
    "brightness": brightness,
    "dark": dark,
    "contrast": contrast,
    "jpeg": jpeg,
}
DEFAULT_CORRUPTIONS = ("noise", "blur", "brightness", "contrast", "jpeg")


def _check(name: str, severity: int) -> Corruption:
    if name not in CORRUPTIONS:
        raise ConfigError(f"unknown corruption '{name}'; choose from {', '.join(CORRUPTIONS)}")
    if not 1 <= int(severity) <= 5:
        raise ConfigError(f"corruption severity must be 1-5, got {severity}")
    return CORRUPTIONS[name]


def corrupt_image(
    image: np.ndarray, name: str, severity: int, *, seed: int = 0, index: int = 0
) -> np.ndarray:
    """Corrupt one uint8 image (``HxW`` or ``HxWx3``); same shape and dtype out.

    Raises:
        ConfigError: unknown corruption or severity outside 1-5.
        DataError: the image is not uint8 HxW / HxWx3.
    """
    fn = _check(name, severity)
    img = np.asarray(image)
    if (
        img.dtype != np.uint8
        or img.ndim not in (2, 3)
        or (img.ndim == 3 and img.shape[2] not in (1, 3))
    ):
        raise DataError(
            f"corruptions need uint8 HxW or HxWx3 images, got {img.dtype}{list(img.shape)}"
        )
    squeeze = img.ndim == 3 and img.shape[2] == 1
    work = img[:, :, 0] if squeeze else img
    rng = np.random.default_rng([seed, zlib.crc32(name.encode()), int(index)])
    out = fn(work, int(severity), rng)
    return out[:, :, None] if squeeze else out


def corrupt(
    images: np.ndarray | Sequence[np.ndarray],
    name: str,
    severity: int,
    *,
    seed: int = 0,
    start: int = 0,
) -> list[np.ndarray]:
    """Corrupt a batch; image ``k`` is seeded as sample ``start + k``."""
    return [
        corrupt_image(im, name, severity, seed=seed, index=start + k) for k, im in enumerate(images)
    ]


def image_transform(
    name: str, severity: int, *, seed: int = 0
) -> Callable[[np.ndarray, int], np.ndarray]:
    """``f(image, sample_index)`` for :func:`~edgeinfer.data.datasets.iter_batches`."""
    _check(name, severity)

    def apply(image: np.ndarray, index: int) -> np.ndarray:
        return corrupt_image(image, name, severity, seed=seed, index=index)

    return apply


def parse_corruptions(text: str | None) -> tuple[str, ...]:
    """``noise,blur`` -> ("noise", "blur"); ``all`` -> every corruption; ``default``."""
    if not text:
        return ()
    if text.strip() == "all":
        return tuple(CORRUPTIONS)
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    out: list[str] = []
    for n in names:
        if n == "default":
            out += DEFAULT_CORRUPTIONS
            continue
        _check(n, 1)
        out.append(n)
    return tuple(dict.fromkeys(out))


def parse_severities(text: str | int | None) -> tuple[int, ...]:
    """``3`` -> (3,); ``1-5`` -> (1..5); ``1,3,5`` -> (1, 3, 5)."""
    if text is None or text == "":
        return (3,)
    out: list[int] = []
    try:
        for part in str(text).split(","):
            lo, sep, hi = part.strip().partition("-")
            out += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
    except ValueError:
        raise ConfigError(
            f"--severity must be N, A-B or a list like 1,3,5 (1-5), got '{text}'"
        ) from None
    for s in out:
        if not 1 <= s <= 5:
            raise ConfigError(f"corruption severity must be 1-5, got {s}")
    if not out:
        raise ConfigError("--severity is empty; give e.g. 3 or 1-5")
    return tuple(sorted(set(out)))
