"""Text boxes from a DB (Differentiable Binarization) probability map: PP-OCR's detector.

The PP-OCR text detector outputs, per pixel, the probability that it lies in a text
*kernel* (the shrunk centre of a text line). The post-processing of PaddleOCR and rapidocr
(``DBPostProcess``, reproduced here and checked against rapidocr's own in the tests' notes)
turns it into boxes:

1. binarize at ``threshold`` and dilate by a 2x2 kernel (``use_dilation``);
2. for each connected region: its minimum-area (rotated) rectangle; drop it when its
   shorter side is below ``min_size``;
3. score = mean probability inside that rectangle; drop it below ``box_threshold``;
4. *unclip*: grow the rectangle by ``area * unclip_ratio / perimeter`` (a round-joined
   polygon offset, as pyclipper does in the original) to recover the whole text line, take
   the minimum-area rectangle again and drop it when its shorter side is below
   ``min_size + 2``;
5. map the corners from the map's pixels to the input image's pixels through the
   preprocessing spec (resize and crop undone).

Connected regions come from :func:`scipy.ndimage.label`, rectangles and offsets from shapely
(GEOS), the in-box mean from a Pillow polygon mask: well-kept libraries that install as
wheels (rapidocr's own uses OpenCV, whose package clashes with opencv-headless).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeinfer.errors import ConfigError
from edgeinfer.preprocess import PreprocessSpec

_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class DBConfig:
    """The DB post-processing settings (rapidocr's PP-OCRv4 defaults).

    Attributes:
        threshold: binarization threshold of the probability map.
        box_threshold: minimum mean probability inside a box.
        unclip_ratio: growth of each box: ``area * unclip_ratio / perimeter`` pixels.
        min_size: boxes whose shorter side is below this (map pixels) are dropped.
        max_candidates: regions examined at most (largest first are not preferred: map
            order, as the original).
        dilate: dilate the binary map by 2x2 first.
    """

    threshold: float = 0.3
    box_threshold: float = 0.5
    unclip_ratio: float = 1.6
    min_size: float = 3.0
    max_candidates: int = 1000
    dilate: bool = True


@dataclass(frozen=True)
class TextBox:
    """One detected text region in the input image's pixel coordinates.

    Attributes:
        points: the 4 corners ``[[x, y], ...]``: top-left, top-right, bottom-right,
            bottom-left (x right, y down, pixel units of the input image).
        score: mean text probability inside the box (before unclipping).
        center: (x, y) of the box centre.
        size: (width, height): the box's extent along its own axes.
        theta: rotation of the box's width axis from the image x axis, radians.
    """

    points: tuple[tuple[float, float], ...]
    score: float
    center: tuple[float, float]
    size: tuple[float, float]
    theta: float

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Axis-aligned bounds (xmin, ymin, xmax, ymax) of the corners."""
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return min(xs), min(ys), max(xs), max(ys)


@dataclass(frozen=True)
class MapToImage:
    """The affine map from probability-map pixels to input-image pixels: x * sx + ox."""

    sx: float
    sy: float
    ox: float = 0.0
    oy: float = 0.0
    width: float = 0.0  # the image's size, for clipping
    height: float = 0.0

    def apply(self, pts: np.ndarray) -> np.ndarray:
        """Map ``[N, 2]`` map points to image points, clipped to the image."""
        out = np.empty_like(pts, dtype=np.float64)
        out[:, 0] = np.clip(pts[:, 0] * self.sx + self.ox, 0.0, self.width)
        out[:, 1] = np.clip(pts[:, 1] * self.sy + self.oy, 0.0, self.height)
        return out


def map_to_image(
    spec: PreprocessSpec, image_hw: tuple[int, int], map_hw: tuple[int, int]
) -> MapToImage:
    """Undo ``spec``'s resize/crop: map pixel -> tensor pixel -> image pixel.

    The arithmetic mirrors :meth:`PreprocessSpec._resize` (``direct``: stretch; ``shorter``:
    scale the shorter side, centre-crop; ``none``: same size).
    """
    ih, iw = image_hw
    mh, mw = map_hw
    th, tw = spec.size if spec.size is not None else (ih, iw)
    kx, ky = tw / mw, th / mh  # map -> tensor
    if spec.resize == "none" or spec.size is None:
        return MapToImage(kx, ky, 0.0, 0.0, iw, ih)
    if spec.resize == "direct":
        return MapToImage(kx * iw / tw, ky * ih / th, 0.0, 0.0, iw, ih)
    short = spec.resize_shorter or max(th, tw)
    ratio = short / min(ih, iw)
    nh, nw = max(th, round(ih * ratio)), max(tw, round(iw * ratio))
    top, left = (nh - th) // 2, (nw - tw) // 2
    sx, sy = iw / nw, ih / nh
    return MapToImage(kx * sx, ky * sy, left * sx, top * sy, iw, ih)


def db_boxes(prob: np.ndarray, config: DBConfig, to_image: MapToImage) -> list[TextBox]:
    """Text boxes from one ``[H, W]`` probability map (see the module docstring).

    Raises:
        ConfigError: the map is not 2-D (squeeze ``[1, 1, H, W]`` first).
    """
    from scipy import ndimage

    if prob.ndim != 2:
        raise ConfigError(f"a DB probability map is [H, W], got {list(prob.shape)}")
    bitmap = prob > config.threshold
    if config.dilate:
        bitmap = dilate(bitmap)
    labels, _ = ndimage.label(bitmap, structure=_EIGHT)
    boxes: list[TextBox] = []
    for index, window in enumerate(ndimage.find_objects(labels)[: config.max_candidates]):
        if window is None:
            continue
        box = _region_box(prob, labels, index + 1, window, config)
        if box is not None:
            boxes.append(_to_image(box[0], box[1], to_image))
    return boxes


def dilate(bitmap: np.ndarray) -> np.ndarray:
    """Dilation by a 2x2 kernel anchored at its centre, as ``cv2.dilate`` does: a pixel
    is set when it or its left, upper or upper-left neighbour is.
    """
    out = bitmap.copy()
    out[1:, :] |= bitmap[:-1, :]
    out[:, 1:] |= out[:, :-1].copy()
    return out


def _region_box(
    prob: np.ndarray, labels: np.ndarray, label: int, window: tuple[slice, slice],
    config: DBConfig,
) -> tuple[np.ndarray, float] | None:  # fmt: skip
    points = _outline(labels[window] == label, window)
    quad, short = mini_box(points)
    if quad is None or short < config.min_size:
        return None
    score = box_score(prob, quad)
    if score < config.box_threshold:
        return None
    grown, short = mini_box(unclip(quad, config.unclip_ratio))
    if grown is None or short < config.min_size + 2:
        return None
    return grown, score


def _outline(mask: np.ndarray, window: tuple[slice, slice]) -> np.ndarray:
    """The pixel centres that span a region's convex hull: each row's first and last pixel."""
    rows = np.flatnonzero(mask.any(axis=1))
    sub = mask[rows]
    first = sub.argmax(axis=1)
    last = sub.shape[1] - 1 - sub[:, ::-1].argmax(axis=1)
    y = (rows + window[0].start).astype(np.float64)
    x0 = (first + window[1].start).astype(np.float64)
    x1 = (last + window[1].start).astype(np.float64)
    return np.concatenate([np.stack([x0, y], 1), np.stack([x1, y], 1)])


def mini_box(points: np.ndarray) -> tuple[np.ndarray | None, float]:
    """The minimum-area rectangle around ``points`` as 4 ordered corners (top-left,
    top-right, bottom-right, bottom-left, as DB's ``get_mini_boxes``) and its shorter side;
    (None, 0) when the points are collinear.
    """
    import shapely

    rect = shapely.oriented_envelope(shapely.multipoints(points))
    if rect.geom_type != "Polygon":
        return None, 0.0
    corners = np.asarray(rect.exterior.coords)[:4]
    sides = np.hypot(*(corners - corners[[1, 2, 3, 0]]).T)
    pts = corners[np.argsort(corners[:, 0], kind="stable")]
    left = pts[:2][np.argsort(pts[:2, 1], kind="stable")]
    right = pts[2:][np.argsort(pts[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]]), float(sides.min())


def box_score(prob: np.ndarray, quad: np.ndarray) -> float:
    """Mean of ``prob`` inside the polygon ``quad`` (DB's ``box_score_fast``)."""
    from PIL import Image, ImageDraw

    h, w = prob.shape
    xmin = int(np.clip(np.floor(quad[:, 0].min()), 0, w - 1))
    xmax = int(np.clip(np.ceil(quad[:, 0].max()), 0, w - 1))
    ymin = int(np.clip(np.floor(quad[:, 1].min()), 0, h - 1))
    ymax = int(np.clip(np.ceil(quad[:, 1].max()), 0, h - 1))
    canvas = Image.new("L", (xmax - xmin + 1, ymax - ymin + 1), 0)
    local = (quad - [xmin, ymin]).astype(np.int32)
    ImageDraw.Draw(canvas).polygon([(int(x), int(y)) for x, y in local], fill=1, outline=1)
    mask = np.asarray(canvas, dtype=bool)
    region = prob[ymin : ymax + 1, xmin : xmax + 1]
    return float(region[mask].mean()) if mask.any() else 0.0


def unclip(quad: np.ndarray, ratio: float) -> np.ndarray:
    """Grow ``quad`` by ``area * ratio / perimeter`` with round joins; the new outline."""
    import shapely

    poly = shapely.Polygon(quad)
    if poly.length == 0:
        return quad
    grown = poly.buffer(poly.area * ratio / poly.length, join_style="round", quad_segs=8)
    return np.asarray(grown.exterior.coords)[:-1]


def _to_image(quad: np.ndarray, score: float, to_image: MapToImage) -> TextBox:
    pts = to_image.apply(quad)
    width = float(np.linalg.norm(pts[1] - pts[0]))
    height = float(np.linalg.norm(pts[3] - pts[0]))
    dx, dy = pts[1] - pts[0]
    theta = float(np.arctan2(dy, dx)) if width > 0 else 0.0
    cx, cy = pts.mean(axis=0)
    return TextBox(
        points=tuple((float(x), float(y)) for x, y in pts),
        score=score,
        center=(float(cx), float(cy)),
        size=(width, height),
        theta=theta,
    )
