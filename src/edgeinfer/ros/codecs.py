"""Decode ``sensor_msgs/Image`` and ``sensor_msgs/CompressedImage`` payloads to numpy arrays.

Pure functions of the message fields (no ROS import), so they are unit-tested without a
transport. Colour images come out as ``HxWx3`` RGB uint8 (views of the message buffer where
the layout allows), single-channel ones as ``HxW`` (uint8 for mono8, float32 for 16-bit and
float encodings, raw values). Anything malformed raises :class:`MalformedImage` with a
``kind`` the node counts per kind.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeinfer.errors import DataError

# encoding -> (numpy dtype, channels)
ENCODINGS: dict[str, tuple[str, int]] = {
    "rgb8": ("u1", 3),
    "bgr8": ("u1", 3),
    "rgba8": ("u1", 4),
    "bgra8": ("u1", 4),
    "mono8": ("u1", 1),
    "8UC1": ("u1", 1),
    "mono16": ("u2", 1),
    "16UC1": ("u2", 1),
    "32FC1": ("f4", 1),
}
# "nonfinite": NaN/Inf in a float image; "nonfinite_output": the engine produced NaN/Inf
# (never published); "error": an unexpected failure while processing a frame
MALFORMED_KINDS = ("encoding", "empty", "size", "too_large", "compressed", "preprocess",
                   "nonfinite", "nonfinite_output", "error")  # fmt: skip
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class MalformedImage(DataError):
    """A message that cannot be decoded; ``kind`` is one of :data:`MALFORMED_KINDS`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class RawImage:
    """The fields of a ``sensor_msgs/Image`` that decoding needs."""

    encoding: str
    height: int
    width: int
    step: int
    is_bigendian: bool
    data: Any  # bytes-like: bytes, bytearray, memoryview, array.array('B')


def _view(raw: RawImage, max_bytes: int) -> tuple[np.ndarray, np.dtype, int]:
    enc = ENCODINGS.get(raw.encoding)
    if enc is None:
        raise MalformedImage(
            "encoding",
            f"unsupported image encoding '{raw.encoding}'; supported: {', '.join(ENCODINGS)}",
        )
    code, channels = enc
    dtype = np.dtype(code).newbyteorder(">" if raw.is_bigendian else "<")
    if raw.height <= 0 or raw.width <= 0:
        raise MalformedImage("empty", f"image is {raw.width}x{raw.height}: nothing to decode")
    buf = np.frombuffer(raw.data, dtype=np.uint8)
    if buf.size == 0:
        raise MalformedImage("empty", "image has no data")
    if buf.size > max_bytes or raw.height * raw.step > max_bytes:
        raise MalformedImage(
            "too_large",
            f"image of {max(buf.size, raw.height * raw.step)} bytes exceeds the limit of "
            f"{max_bytes} bytes; raise the max_image_bytes parameter if this is intended",
        )
    row = raw.width * channels * dtype.itemsize
    if raw.step < row:
        raise MalformedImage(
            "size", f"step {raw.step} is smaller than width*channels*bytes = {row}"
        )
    if buf.size != raw.height * raw.step:
        raise MalformedImage(
            "size",
            f"data has {buf.size} bytes but height*step = {raw.height}*{raw.step} = "
            f"{raw.height * raw.step}",
        )
    return buf, dtype, channels


def decode_image(raw: RawImage, *, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Decode an uncompressed image, honouring ``step`` (row padding) and ``is_bigendian``.

    Returns:
        ``HxWx3`` RGB uint8 for colour encodings (alpha dropped), ``HxW`` uint8 for
        mono8/8UC1, ``HxW`` float32 (raw values) for mono16/16UC1/32FC1.

    Raises:
        MalformedImage: unknown encoding, zero size, data length not ``height*step``, or
            more than ``max_bytes``.
    """
    buf, dtype, channels = _view(raw, max_bytes)
    rows = buf.reshape(raw.height, raw.step)[:, : raw.width * channels * dtype.itemsize]
    if dtype.itemsize == 1:
        img = rows.reshape(raw.height, raw.width, channels)
    else:
        pix = np.ascontiguousarray(rows).view(dtype).reshape(raw.height, raw.width)
        return pix.astype(np.float32)
    if channels == 1:
        return img[:, :, 0]
    if raw.encoding.startswith("bgr"):
        img = img[:, :, 2::-1]
    elif channels == 4:
        img = img[:, :, :3]
    return img


def decode_compressed(fmt: str, data: Any, *, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG, PNG, anything Pillow reads) to RGB.

    Grayscale images stay ``HxW`` uint8; 16-bit PNGs become ``HxW`` float32.

    Raises:
        MalformedImage: empty, over ``max_bytes``, or not decodable.
    """
    from PIL import Image, UnidentifiedImageError

    blob = memoryview(data).cast("B")
    if blob.nbytes == 0:
        raise MalformedImage("empty", f"compressed image ('{fmt}') has no data")
    if blob.nbytes > max_bytes:
        raise MalformedImage(
            "too_large",
            f"compressed image of {blob.nbytes} bytes exceeds the limit of {max_bytes} bytes",
        )
    try:
        with Image.open(io.BytesIO(blob)) as im:
            if im.width * im.height * 3 > max_bytes:
                raise MalformedImage(
                    "too_large",
                    f"compressed image decodes to {im.width}x{im.height}, over the limit of "
                    f"{max_bytes} bytes",
                )
            if im.mode in ("L", "1"):
                return np.asarray(im.convert("L"))
            if im.mode.startswith("I"):
                return np.asarray(im, dtype=np.float32)
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise MalformedImage(
            "compressed", f"cannot decode compressed image (format '{fmt}'): {exc}"
        ) from exc


def encode_image(image: np.ndarray, encoding: str = "rgb8") -> tuple[int, int, int, bytes]:
    """Inverse of :func:`decode_image` for tests and publishers: ``(height, width, step, data)``.

    ``image`` is ``HxWx3`` RGB (for rgb8/bgr8/rgba8/bgra8) or ``HxW`` for single-channel
    encodings; data is little-endian and rows are unpadded.
    """
    if encoding not in ENCODINGS:
        raise DataError(f"cannot encode '{encoding}'; supported: {', '.join(ENCODINGS)}")
    code, channels = ENCODINGS[encoding]
    arr = np.asarray(image)
    if channels >= 3:
        arr = arr[:, :, ::-1] if encoding.startswith("bgr") else arr
        if channels == 4:
            alpha = np.full((*arr.shape[:2], 1), 255, dtype=arr.dtype)
            arr = np.concatenate([arr, alpha], axis=2)
    out = np.ascontiguousarray(arr, dtype=np.dtype(code).newbyteorder("<"))
    h, w = out.shape[:2]
    return h, w, w * channels * out.dtype.itemsize, out.tobytes()
