"""A real photo with text printed at known places: ground truth for the text detector.

:func:`text_photo` takes one of scikit-image's bundled photos, resizes it to the camera's
size and prints a few lines of text (Pillow's bundled FreeType font) on light signs at known
positions, returning the image and the text regions' pixel boxes. The tests check the PP-OCR
boxes the node publishes against these regions; the benchmark streams the same image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeinfer.errors import MissingExtraError

LINES = (
    ("SPEED LIMIT 30", 0.06, 0.08, 0.075),
    ("Loading dock B", 0.48, 0.30, 0.06),
    ("EXIT 2026", 0.10, 0.62, 0.09),
    ("edgeinfer", 0.55, 0.80, 0.07),
)


@dataclass(frozen=True)
class TextRegion:
    """One printed line: its text and its ink bounds (xmin, ymin, xmax, ymax) in pixels."""

    text: str
    box: tuple[int, int, int, int]


def text_photo(
    width: int = 640, height: int = 480, photo: str = "coffee"
) -> tuple[np.ndarray, list[TextRegion]]:
    """A ``height x width x 3`` RGB photo with :data:`LINES` printed on it, and their boxes.

    Each line is placed at a fraction of the image size with a font height that is a
    fraction of the image height, dark on a pale sign (as on a real sign or label).

    Raises:
        MissingExtraError: scikit-image (the ``data`` extra) is not installed.
    """
    try:
        from skimage import data
    except ImportError as exc:
        raise MissingExtraError(
            "the text test photo needs scikit-image; pip install 'edgeinfer[data]'"
        ) from exc
    from PIL import Image, ImageDraw, ImageFont

    base = Image.fromarray(getattr(data, photo)()).convert("RGB").resize((width, height))
    draw = ImageDraw.Draw(base)
    regions = []
    for text, fx, fy, fsize in LINES:
        font = ImageFont.load_default(size=max(8, round(fsize * height)))
        x, y = round(fx * width), round(fy * height)
        ink = draw.textbbox((x, y), text, font=font)
        pad = max(3, round(0.25 * (ink[3] - ink[1])))
        draw.rectangle((ink[0] - pad, ink[1] - pad, ink[2] + pad, ink[3] + pad), fill=(236, 232, 220))
        draw.text((x, y), text, font=font, fill=(20, 20, 30))
        regions.append(TextRegion(text, (int(ink[0]), int(ink[1]), int(ink[2]), int(ink[3]))))
    return np.asarray(base), regions


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (xmin, ymin, xmax, ymax) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
