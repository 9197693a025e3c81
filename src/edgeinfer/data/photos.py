"""Real photos for calibration and fidelity: images bundled in scikit-image and scikit-learn.

Only files shipped inside the wheels are used (no downloads). Seeded random crops (area
10-100 %, aspect 3:4-4:3), horizontal flips and a resize to a fixed size turn ~20 photos into
hundreds of distinct, deterministic real inputs. Needs the ``data`` extra.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from edgeinfer.data.base import Dataset
from edgeinfer.data.folders import load_image
from edgeinfer.errors import DataError, require

__all__ = ["PHOTO_FILES", "Photos", "photo_paths"]

# Natural photos shipped in skimage/data (the package downloads others via pooch: not used).
PHOTO_FILES = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "hubble_deep_field.jpg",
    "ihc.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "retina.jpg",
    "camera.png",
    "moon.png",
    "coins.png",
    "brick.png",
    "grass.png",
    "gravel.png",
    "clock_motion.png",
    "text.png",
    "page.png",
)
SKLEARN_FILES = ("china.jpg", "flower.jpg")
DEFAULT_SIZE = 256


def photo_paths() -> list[Path]:
    """The bundled photo files present in this installation.

    Raises:
        MissingExtraError: scikit-image or scikit-learn is not installed.
        DataError: neither package ships any of the expected photos.
    """
    sk_dir = _package_dir("skimage") / "data"
    sl_dir = _package_dir("sklearn") / "datasets" / "images"
    paths = [sk_dir / f for f in PHOTO_FILES] + [sl_dir / f for f in SKLEARN_FILES]
    found = [p for p in paths if p.exists()]
    if not found:
        raise DataError(
            "no bundled photos found in scikit-image/scikit-learn; reinstall them: "
            "pip install --force-reinstall 'edgeinfer[data]'"
        )
    return found


def _package_dir(name: str) -> Path:
    """A package's directory without importing it (importing sklearn takes a second)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        require(name, "data", purpose="the 'photos' dataset")  # raises MissingExtraError
        raise DataError(f"cannot locate the '{name}' package")
    return Path(spec.origin).parent


class Photos(Dataset):
    """``count`` seeded random crops of the bundled real photos, ``size``x``size`` RGB uint8.

    Crop ``i`` comes from photo ``i % len(photos)`` with a generator seeded by
    ``(seed, i)``, so a sample does not depend on the count or on what else was drawn.
    Unlabelled; no default preprocessing (the model's spec resizes them).
    """

    is_tensor = False

    def __init__(self, count: int = 500, *, seed: int = 0, size: int = DEFAULT_SIZE) -> None:
        if count < 1:
            raise DataError(f"photos count must be >= 1, got {count}")
        if size < 8:
            raise DataError(f"photos size must be >= 8 pixels, got {size}")
        self.count = count
        self.seed = seed
        self.size = size
        self.name = f"photos:{count}"
        self.preprocess = None
        self.labels = None
        self.paths = photo_paths()
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.count

    def _photo(self, k: int) -> np.ndarray:
        if k not in self._cache:
            self._cache[k] = load_image(self.paths[k])
        return self._cache[k]

    def image(self, i: int) -> np.ndarray:
        """Crop ``i``: a seeded random crop of one bundled photo, ``size`` x ``size`` RGB uint8.

        Raises:
            IndexError: ``i`` is outside ``0 .. count - 1``.
        """
        if not 0 <= i < self.count:
            raise IndexError(f"photo crop {i} out of range ({self.count})")
        photo = self._photo(i % len(self.paths))
        rng = np.random.default_rng([self.seed, i])
        return random_crop(photo, rng, self.size)


def random_crop(photo: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """A random-area, random-aspect crop, maybe flipped, resized to ``size``x``size``."""
    from PIL import Image

    h, w = photo.shape[:2]
    area = h * w * rng.uniform(0.1, 1.0)
    aspect = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
    ch = int(min(h, max(8, round(np.sqrt(area / aspect)))))
    cw = int(min(w, max(8, round(np.sqrt(area * aspect)))))
    top = int(rng.integers(0, h - ch + 1))
    left = int(rng.integers(0, w - cw + 1))
    crop = photo[top : top + ch, left : left + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    resized = Image.fromarray(np.ascontiguousarray(crop)).resize(
        (size, size), Image.Resampling.BILINEAR
    )
    return np.asarray(resized)
