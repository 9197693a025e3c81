"""Preprocessing spec: how an image becomes the model's input tensor.

One frozen spec is shared by calibration, evaluation, the pipeline benchmark and the ROS
node, and is stored in model metadata and engine manifests, so they can never disagree.
Images given to :meth:`PreprocessSpec.apply` are ``HxWx3`` RGB or ``HxW`` single-channel
arrays (uint8, or float for depth-like data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from edgeinfer import serde
from edgeinfer.errors import ConfigError, DataError

PREPROCESS_VERSION = 1
RESIZE_MODES = ("none", "direct", "shorter")
COLORS = ("rgb", "bgr", "gray")
LAYOUTS = ("NCHW", "NHWC")
DTYPES = ("float32", "float16", "uint8")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area")
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class PreprocessSpec:
    """Resize, colour order, scale, mean/std, layout and dtype of a model's image input.

    Attributes:
        size: target (height, width) of the tensor; required unless ``resize == "none"``.
        resize: ``none`` (image already has ``size``), ``direct`` (stretch to ``size``) or
            ``shorter`` (scale the shorter side to ``resize_shorter``, then centre-crop ``size``).
        resize_shorter: shorter-side length for ``shorter`` (default: ``max(size)``).
        interpolation: resampling filter.
        color: channel order the model expects: rgb, bgr or gray (1 channel).
        scale: multiply pixel values by this first (1/255 maps uint8 to [0, 1]).
        mean, std: per-channel normalization after scaling: ``(x * scale - mean) / std``.
        layout: NCHW or NHWC.
        dtype: tensor dtype.
        version: format version of this spec.
    """

    WHAT: ClassVar[str] = "preprocessing"

    size: tuple[int, int] | None = None
    resize: str = "direct"
    resize_shorter: int | None = None
    interpolation: str = "bilinear"
    color: str = "rgb"
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    layout: str = "NCHW"
    dtype: str = "float32"
    version: int = PREPROCESS_VERSION

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("resize", self.resize, RESIZE_MODES),
            ("color", self.color, COLORS),
            ("layout", self.layout, LAYOUTS),
            ("dtype", self.dtype, DTYPES),
            ("interpolation", self.interpolation, INTERPOLATIONS),
        ):
            if value not in allowed:
                raise ConfigError(
                    f"preprocessing {name} '{value}' is not supported; choose one of "
                    + ", ".join(allowed)
                )
        if self.size is not None:
            size = tuple(int(s) for s in self.size)
            if len(size) != 2 or min(size) < 1:
                raise ConfigError(
                    f"preprocessing size must be (height, width) > 0, got {self.size}"
                )
            object.__setattr__(self, "size", size)
        elif self.resize != "none":
            raise ConfigError(f"preprocessing resize '{self.resize}' needs a size (height, width)")
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        n = self.channels
        for name, vals in (("mean", self.mean), ("std", self.std)):
            if len(vals) not in (1, n):
                raise ConfigError(f"preprocessing {name} needs 1 or {n} values, got {len(vals)}")
        if any(s == 0 for s in self.std):
            raise ConfigError("preprocessing std must not contain 0")
        if self.resize_shorter is not None and self.resize_shorter < 1:
            raise ConfigError("preprocessing resize_shorter must be >= 1")
        serde.check_version(self.WHAT, self.version, PREPROCESS_VERSION)

    # -- derived -------------------------------------------------------------------------
    @property
    def channels(self) -> int:
        """Image channels the spec produces: 1 for gray, else 3."""
        return 1 if self.color == "gray" else 3

    def tensor_shape(
        self, height: int | None = None, width: int | None = None
    ) -> tuple[int, int, int]:
        """Shape of one preprocessed image (no batch dim)."""
        h, w = self.size if self.size is not None else (height, width)
        if h is None or w is None:
            raise ConfigError("preprocessing with resize 'none' and no size needs the image size")
        c = self.channels
        return (c, h, w) if self.layout == "NCHW" else (h, w, c)

    # -- serialization -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON data (tuples as lists), as stored in model metadata and manifests."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreprocessSpec:
        """Parse :meth:`to_dict` data; missing keys take their defaults.

        Raises:
            ConfigError: unknown keys, wrong types, invalid values or a newer version.
        """
        return serde.from_dict(cls, data)

    @classmethod
    def imagenet(cls, size: int = 224, resize_shorter: int = 256) -> PreprocessSpec:
        """The ImageNet evaluation transform of torchvision."""
        return cls(
            size=(size, size),
            resize="shorter",
            resize_shorter=resize_shorter,
            mean=(0.485, 0.456, 0.406),
            std=(0.229, 0.224, 0.225),
        )

    # -- application ---------------------------------------------------------------------
    def apply(self, image: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Preprocess one image into a tensor (no batch dim), optionally into ``out``."""
        img = self._check_image(image)
        img = self._resize(img)
        img = self._color(img)
        return self._normalize(img, out)

    def apply_batch(
        self, images: Sequence[np.ndarray], out: np.ndarray | None = None
    ) -> np.ndarray:
        """Preprocess images into one ``(N, ...)`` batch (into ``out`` when given)."""
        if not len(images):
            raise DataError("no images to preprocess")
        first = self.apply(images[0])
        if out is None:
            out = np.empty((len(images), *first.shape), dtype=first.dtype)
        out[0] = first
        for i in range(1, len(images)):
            self.apply(images[i], out[i])
        return out

    def _check_image(self, image: np.ndarray) -> np.ndarray:
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
            got = getattr(image, "shape", type(image).__name__)
            raise DataError(f"expected an HxW or HxWxC image array, got {got}")
        if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
            raise DataError(f"expected 1, 3 or 4 channels (HxWxC), got shape {image.shape}")
        if image.ndim == 3 and image.shape[2] == 4:
            image = image[:, :, :3]
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        return image

    def _resize(self, img: np.ndarray) -> np.ndarray:
        if self.resize == "none" or self.size is None:
            if self.size is not None and img.shape[:2] != self.size:
                raise DataError(
                    f"image is {img.shape[1]}x{img.shape[0]} but the model takes "
                    f"{self.size[1]}x{self.size[0]} and the preprocessing does not resize; "
                    "set resize to 'direct' or 'shorter'"
                )
            return img
        h, w = self.size
        if self.resize == "direct":
            return _pil_resize(img, (h, w), self.interpolation)
        short = self.resize_shorter or max(h, w)
        ih, iw = img.shape[:2]
        ratio = short / min(ih, iw)
        nh, nw = max(h, round(ih * ratio)), max(w, round(iw * ratio))
        img = _pil_resize(img, (nh, nw), self.interpolation)
        top, left = (nh - h) // 2, (nw - w) // 2
        return img[top : top + h, left : left + w]

    def _color(self, img: np.ndarray) -> np.ndarray:
        if self.color == "gray":
            if img.ndim == 3:
                return img.astype(np.float32) @ _LUMA
            return img
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        return img[:, :, ::-1] if self.color == "bgr" else img

    def _normalize(self, img: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        a = np.asarray(self.scale, np.float32) / np.asarray(self.std, np.float32)
        b = -np.asarray(self.mean, np.float32) / np.asarray(self.std, np.float32)
        if self.dtype == "uint8":
            x = np.clip(img, 0, 255).astype(np.uint8)
        else:
            x = img.astype(np.float32, copy=False) * a + b
        if self.layout == "NCHW":
            x = x[None] if x.ndim == 2 else x.transpose(2, 0, 1)
        elif x.ndim == 2:
            x = x[:, :, None]
        if out is not None:
            if out.shape != x.shape:
                raise DataError(
                    f"output buffer has shape {out.shape}, preprocessing gives {x.shape}"
                )
            np.copyto(out, x, casting="unsafe")
            return out
        return np.ascontiguousarray(x, dtype=np.dtype(self.dtype))


def _pil_resize(img: np.ndarray, size: tuple[int, int], interpolation: str) -> np.ndarray:
    from PIL import Image

    h, w = size
    if img.shape[:2] == (h, w):
        return img
    filters = {
        "nearest": Image.Resampling.NEAREST,
        "bilinear": Image.Resampling.BILINEAR,
        "bicubic": Image.Resampling.BICUBIC,
        "area": Image.Resampling.BOX,
    }
    if img.dtype == np.uint8:
        return np.asarray(Image.fromarray(img).resize((w, h), filters[interpolation]))
    # float data (depth, 16-bit): resize each channel in mode "F"
    chans = [img] if img.ndim == 2 else [img[:, :, c] for c in range(img.shape[2])]
    res = [
        np.asarray(
            Image.fromarray(c.astype(np.float32), mode="F").resize((w, h), filters[interpolation])
        )
        for c in chans
    ]
    return res[0] if img.ndim == 2 else np.stack(res, axis=2)


def spec_from_metadata(metadata: Mapping[str, Any]) -> PreprocessSpec | None:
    """The spec stored in a model's or engine's edgeinfer metadata, if any."""
    data = metadata.get("preprocess")
    return PreprocessSpec.from_dict(data) if data else None
