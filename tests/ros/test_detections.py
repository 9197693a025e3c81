"""Text detections: DB post-processing on known maps, the geometry back to image pixels, and
PP-OCR over real DDS on a real photo with text printed at known places."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from edgeinfer.errors import ConfigError
from edgeinfer.preprocess import PreprocessSpec
from edgeinfer.ros.testimage import iou, text_photo
from edgeinfer.ros.textboxes import DBConfig, MapToImage, db_boxes, map_to_image, mini_box

pytest.importorskip("shapely")
pytest.importorskip("scipy")


def test_one_rectangle_comes_back_grown_by_unclip() -> None:
    prob = np.zeros((100, 200), np.float32)
    prob[40:50, 30:130] = 0.9  # a text kernel 100 x 10 px
    prob[80:81, 10:12] = 0.95  # too small: dropped (min_size)
    boxes = db_boxes(prob, DBConfig(), MapToImage(1.0, 1.0, width=200, height=100))
    assert len(boxes) == 1
    (b,) = boxes
    # the dilated kernel's box (101 x 11 pixel centres) includes one row and column of zeros
    assert b.score == pytest.approx(0.9 * 100 * 10 / (101 * 11), abs=0.01)
    # the box through those pixel centres is 100 x 10, grown by area*1.6/perimeter = 7.3 px
    d = 100 * 10 * 1.6 / (2 * (100 + 10))
    assert b.size[0] == pytest.approx(100 + 2 * d, abs=0.5)
    assert b.size[1] == pytest.approx(10 + 2 * d, abs=0.5)
    assert b.center == pytest.approx((30 + 50.5, 40 + 5.5), abs=1.0)
    assert b.theta == pytest.approx(0.0, abs=1e-6)


def test_thresholds_and_rotation() -> None:
    prob = np.zeros((120, 120), np.float32)
    yy, xx = np.mgrid[:120, :120]
    u = (xx - 60) * np.cos(0.5) + (yy - 60) * np.sin(0.5)  # a bar rotated by 0.5 rad
    v = -(xx - 60) * np.sin(0.5) + (yy - 60) * np.cos(0.5)
    prob[(np.abs(u) < 40) & (np.abs(v) < 6)] = 0.6
    to = MapToImage(1.0, 1.0, width=120, height=120)
    (b,) = db_boxes(prob, DBConfig(), to)
    assert b.theta == pytest.approx(0.5, abs=0.05)
    assert db_boxes(prob, DBConfig(box_threshold=0.7), to) == []  # mean 0.6 < 0.7
    assert db_boxes(prob, DBConfig(threshold=0.65), to) == []  # nothing binarized
    with pytest.raises(ConfigError, match=r"a DB probability map is \[H, W\], got \[1, 120, 120\]"):
        db_boxes(prob[None], DBConfig(), to)


def test_mini_box_orders_corners_and_refuses_lines() -> None:
    pts = np.array([[5.0, 1.0], [1.0, 1.0], [5.0, 3.0], [1.0, 3.0]])
    quad, short = mini_box(pts)
    assert quad is not None and short == pytest.approx(2.0)
    np.testing.assert_allclose(quad, [[1, 1], [5, 1], [5, 3], [1, 3]])  # TL, TR, BR, BL
    assert mini_box(np.array([[0.0, 0.0], [4.0, 0.0]]))[0] is None


@pytest.mark.parametrize(
    ("spec", "point", "expected"),
    [
        (PreprocessSpec(size=(240, 320), resize="direct"), (160, 120), (320, 240)),
        # shorter side 480 -> 256: 341 x 256, centre crop from x = 58, y = 16
        (PreprocessSpec(size=(224, 224), resize="shorter", resize_shorter=256), (0, 0),
         (58 * 640 / 341, 16 * 480 / 256)),
        (PreprocessSpec(size=(480, 640), resize="none"), (10, 20), (10, 20)),
    ],
)
def test_map_to_image_undoes_the_preprocessing(
    spec: PreprocessSpec, point: tuple[float, float], expected: tuple[float, float]
) -> None:
    th, tw = spec.size or (480, 640)
    m = map_to_image(spec, (480, 640), (th, tw))
    np.testing.assert_allclose(m.apply(np.array([point], float))[0], expected, atol=1.0)


def test_text_photo_regions() -> None:
    image, regions = text_photo(640, 480)
    assert image.shape == (480, 640, 3) and len(regions) == 4
    for r in regions:
        x0, y0, x1, y1 = r.box
        assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 480
        assert image[y0:y1, x0:x1].min() < 60  # dark ink inside


@pytest.fixture(scope="module")
def ppocr_engine(_isolated_cache: Any) -> Any:
    """The zoo's PP-OCRv4 detector, preprocessing set for 640x480 camera frames."""
    from edgeinfer import zoo
    from edgeinfer.builder import build
    from edgeinfer.zoo import ppocr

    if ppocr.find_wheel() is None and not ppocr.cached_path().exists():
        pytest.skip("the rapidocr wheel (PP-OCR detector) is not in the wheelhouse")
    model = zoo.get_model("ppocr-det")
    return build(model.with_meta(preprocess=ppocr.ppocr_preprocess((480, 640)).to_dict()))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["json", "vision_msgs"])
def test_ppocr_boxes_over_dds_match_the_printed_text(
    ros_context: Any, ppocr_engine: Any, fmt: str
) -> None:
    pytest.importorskip("rclpy")
    from edgeinfer.ros.msgs import vision_msgs_available
    from edgeinfer.ros.node import EdgeInferNode
    from edgeinfer.ros.outputs import parse_detections

    from .conftest import Harness, image_msg

    if fmt == "vision_msgs" and not vision_msgs_available():
        pytest.skip("vision_msgs (Detection2DArray) not built")
    if fmt == "vision_msgs":
        from vision_msgs.msg import Detection2DArray as result_type
    else:
        from std_msgs.msg import String as result_type
    from edgeinfer.ros.params import NodeParams

    node = EdgeInferNode(NodeParams(engine=str(ppocr_engine.path), result_format=fmt),
                         context=ros_context, engine=ppocr_engine)  # fmt: skip
    assert node.worker.kind == "detection" and node.result_topics == ["/edgeinfer/detections"]
    h = Harness(ros_context, node, result_type, "/edgeinfer/detections")
    try:
        image, regions = text_photo(640, 480, "astronaut")
        result = h.request(image_msg(image, "bgr8", frame_id="front", stamp=77), timeout=60)
        key, dets = parse_detections(result)
        assert key == (0, 77, "front")
        assert len(dets) == len(regions)
        for region in regions:
            best = max(dets, key=lambda d: iou(region.box, _bounds(d)))
            assert iou(region.box, _bounds(best)) > 0.6, (region, best)
            assert best["class_id"] == "text" and 0.5 <= best["score"] <= 1.0
        if fmt == "json":
            assert json.loads(result.data)["detections"][0]["points"]  # corners included
    finally:
        h.close()


def _bounds(det: dict[str, Any]) -> tuple[float, float, float, float]:
    (cx, cy), (w, h), t = det["center"], det["size"], det["theta"]
    c, s = abs(np.cos(t)), abs(np.sin(t))
    hw, hh = (w * c + h * s) / 2, (w * s + h * c) / 2
    return cx - hw, cy - hh, cx + hw, cy + hh
