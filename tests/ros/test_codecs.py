"""Image codecs without a ROS transport: every encoding decodes to the right array."""

from __future__ import annotations

import io

import numpy as np
import pytest

from edgeinfer.ros.codecs import (
    ENCODINGS,
    MalformedImage,
    RawImage,
    decode_compressed,
    decode_image,
    encode_image,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)
GRAY = RNG.integers(0, 256, (5, 7), dtype=np.uint8)


def raw(image: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False) -> RawImage:
    h, w, step, data = encode_image(image, encoding)
    if bigendian:
        code, _ = ENCODINGS[encoding]
        data = (
            np.frombuffer(data, np.dtype(code).newbyteorder("<"))
            .astype(np.dtype(code).newbyteorder(">"))
            .tobytes()
        )
    if pad:
        rows = np.frombuffer(data, np.uint8).reshape(h, step)
        data = np.concatenate([rows, np.full((h, pad), 0xAB, np.uint8)], axis=1).tobytes()
    return RawImage(encoding, h, w, step + pad, bigendian, data)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
@pytest.mark.parametrize("pad", [0, 3])
def test_colour_encodings_decode_to_rgb(encoding: str, pad: int) -> None:
    out = decode_image(raw(RGB, encoding, pad))
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, RGB)


def test_bgr8_bytes_are_swapped() -> None:
    data = bytes([10, 20, 30])  # one pixel: B=10, G=20, R=30
    out = decode_image(RawImage("bgr8", 1, 1, 3, False, data))
    assert out[0, 0].tolist() == [30, 20, 10]


@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
def test_mono8(encoding: str) -> None:
    out = decode_image(raw(GRAY, encoding, pad=1))
    assert out.shape == (5, 7) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, GRAY)


@pytest.mark.parametrize("encoding", ["16UC1", "mono16"])
@pytest.mark.parametrize("bigendian", [False, True])
def test_16bit_honours_endianness(encoding: str, bigendian: bool) -> None:
    depth = RNG.integers(0, 65535, (4, 6)).astype(np.uint16)
    out = decode_image(raw(depth, encoding, pad=2, bigendian=bigendian))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, depth.astype(np.float32))


def test_16uc1_big_endian_bytes() -> None:
    out = decode_image(RawImage("16UC1", 1, 1, 2, True, bytes([0x01, 0x02])))
    assert out[0, 0] == 0x0102


@pytest.mark.parametrize("bigendian", [False, True])
def test_32fc1(bigendian: bool) -> None:
    depth = RNG.standard_normal((3, 4)).astype(np.float32)
    out = decode_image(raw(depth, "32FC1", pad=4, bigendian=bigendian))
    np.testing.assert_array_equal(out, depth)


@pytest.mark.parametrize(
    ("image", "kind", "message"),
    [
        (
            RawImage("yuv422", 2, 2, 4, False, b"\0" * 8),
            "encoding",
            "unsupported image encoding 'yuv422'",
        ),
        (RawImage("rgb8", 0, 2, 6, False, b""), "empty", "image is 2x0"),
        (RawImage("rgb8", 2, 2, 6, False, b""), "empty", "image has no data"),
        (RawImage("rgb8", 2, 2, 6, False, b"\0" * 11), "size", "data has 11 bytes but height*step"),
        (RawImage("rgb8", 2, 2, 5, False, b"\0" * 10), "size", "step 5 is smaller"),
        (RawImage("rgb8", 10**6, 2, 6, False, b"\0" * 12), "too_large", "exceeds the limit"),
    ],
)
def test_malformed(image: RawImage, kind: str, message: str) -> None:
    with pytest.raises(MalformedImage, match=message.replace("*", r"\*")) as info:
        decode_image(image, max_bytes=1_000_000)
    assert info.value.kind == kind


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_compressed(fmt: str) -> None:
    from PIL import Image

    img = np.repeat(np.repeat(RGB, 8, axis=0), 8, axis=1)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt)
    out = decode_compressed(fmt.lower(), buf.getvalue())
    assert out.shape == img.shape and out.dtype == np.uint8
    if fmt == "PNG":
        np.testing.assert_array_equal(out, img)
    else:
        assert np.abs(out.astype(int) - img).mean() < 20


def test_compressed_gray_and_16bit_png() -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(GRAY).save(buf, format="PNG")
    np.testing.assert_array_equal(decode_compressed("png", buf.getvalue()), GRAY)
    depth = (GRAY.astype(np.uint16) * 200).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(depth).save(buf, format="PNG")
    out = decode_compressed("png", buf.getvalue())
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, depth.astype(np.float32))


def test_compressed_malformed() -> None:
    with pytest.raises(MalformedImage, match="cannot decode compressed image") as info:
        decode_compressed("jpeg", b"definitely not a jpeg")
    assert info.value.kind == "compressed"
    with pytest.raises(MalformedImage, match="has no data"):
        decode_compressed("png", b"")
    with pytest.raises(MalformedImage, match="exceeds the limit") as info:
        decode_compressed("png", b"\0" * 100, max_bytes=10)
    assert info.value.kind == "too_large"
