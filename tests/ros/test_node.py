"""EdgeInferNode over real DDS pub/sub (rclpy + Fast DDS from the PyPI wheels)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from edgeinfer.builder import load_runner

pytest.importorskip("rclpy")

from edgeinfer.errors import ConfigError, EngineError
from edgeinfer.ros.msgs import vision_msgs_available
from edgeinfer.ros.outputs import parse_classification
from edgeinfer.ros.params import NodeParams

from .conftest import (
    LABELS,
    SPEC,
    Harness,
    engine_for,
    image_msg,
    make_classifier,
    make_dense,
    make_gray_classifier,
)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x.astype(np.float64) - x.max())
    return e / e.sum()


def direct_topk(engine: Any, image: np.ndarray, k: int) -> list[tuple[str, float]]:
    """The reference: a plain Runner.infer on the same preprocessed image."""
    with load_runner(engine) as r:
        logits = r.infer({"image": SPEC.apply(image)[None]}, copy=True)["logits"][0]
    p = softmax(logits)
    order = np.argsort(-p)[:k]
    return [(LABELS[i], float(p[i])) for i in order]


def make_harness(context: Any, engine: Any, **params: Any) -> Harness:
    from edgeinfer.ros.node import EdgeInferNode

    params.setdefault("engine", str(engine.path))
    node = EdgeInferNode(NodeParams(**params), context=context, engine=engine)
    task = node.pipeline.task
    if task == "classification":
        if node.worker.format == "vision_msgs":
            from vision_msgs.msg import Classification as result_type
        else:
            from std_msgs.msg import String as result_type
    elif task == "dense":
        from sensor_msgs.msg import Image as result_type
    else:
        from std_msgs.msg import Float32MultiArray as result_type
    return Harness(context, node, result_type, node.result_topics[0])


@pytest.fixture
def harness(ros_context: Any, classifier_engine: Any) -> Iterator[Harness]:
    h = make_harness(ros_context, classifier_engine, top_k=3, result_format="json")
    yield h
    h.close()


def check_topk(result: Any, expected: list[tuple[str, float]]) -> None:
    _, got = parse_classification(result)
    assert [r.class_id for r in got] == [e[0] for e in expected]
    np.testing.assert_allclose([r.score for r in got], [e[1] for e in expected], rtol=1e-4)


def test_topk_equals_direct_inference_and_header_is_kept(
    harness: Harness, classifier_engine: Any, photo: np.ndarray
) -> None:
    stamp = 1_700_000_123_456_789_000
    result = harness.request(image_msg(photo, "rgb8", frame_id="front_cam", stamp=stamp))
    key, _ = parse_classification(result)
    assert key == (1_700_000_123, 456_789_000, "front_cam")
    check_topk(result, direct_topk(classifier_engine, photo, 3))


@pytest.mark.parametrize("encoding", ["bgr8", "rgba8", "bgra8"])
def test_colour_encodings_give_the_same_result(
    harness: Harness, classifier_engine: Any, photo: np.ndarray, encoding: str
) -> None:
    result = harness.request(image_msg(photo, encoding, stamp=7))
    check_topk(result, direct_topk(classifier_engine, photo, 3))


def test_row_padding_is_honoured(
    harness: Harness, classifier_engine: Any, photo: np.ndarray
) -> None:
    msg = image_msg(photo, "rgb8", stamp=11)
    h, w = photo.shape[:2]
    padded = np.zeros((h, w * 3 + 13), np.uint8)
    padded[:, : w * 3] = photo.reshape(h, -1)
    msg.step, msg.data = w * 3 + 13, padded.tobytes()
    check_topk(harness.request(msg), direct_topk(classifier_engine, photo, 3))


def test_mono8_image(harness: Harness, classifier_engine: Any, photo: np.ndarray) -> None:
    gray = photo.mean(axis=2).astype(np.uint8)
    result = harness.request(image_msg(gray, "mono8", stamp=13))
    check_topk(result, direct_topk(classifier_engine, gray, 3))


def _tile(msg: Any, n: int) -> None:
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
    big = np.tile(rows, (n, n))
    msg.height, msg.width, msg.step = big.shape[0], msg.width * n, big.shape[1]
    msg.data = big.tobytes()


@pytest.mark.parametrize(
    ("kind", "corrupt"),
    [
        ("encoding", lambda m: setattr(m, "encoding", "yuv422_yuy2")),
        ("size", lambda m: setattr(m, "data", bytes(m.data)[:-5])),
        ("size", lambda m: setattr(m, "step", m.width)),
        ("empty", lambda m: (setattr(m, "height", 0), setattr(m, "data", b""))),
        ("too_large", lambda m: setattr(m, "height", 10**6)),  # claims 1.3 GB
        ("too_large", lambda m: _tile(m, 2)),  # really sends 1.6 MB (limit 1 MB)
    ],
)
def test_malformed_messages_are_counted_and_survived(
    ros_context: Any, classifier_engine: Any, photo: np.ndarray, kind: str, corrupt: Any
) -> None:
    h = make_harness(
        ros_context,
        classifier_engine,
        result_format="json",
        max_image_bytes=1_000_000,
    )
    try:
        h.request(image_msg(photo, stamp=1))  # discovery complete, node healthy
        bad = image_msg(photo, stamp=2)
        corrupt(bad)
        before = h.node.stats.malformed[kind]
        h.pub.publish(bad)
        h.spin_until(lambda: h.node.stats.malformed[kind] > before, what=f"malformed.{kind}")
        assert h.node.stats.malformed[kind] == before + 1
        result = h.request(image_msg(photo, stamp=3))  # the next good frame is processed
        assert parse_classification(result)[0][:2] == (0, 3)
        assert h.node.stats.processed == 2
    finally:
        h.close()


def test_preprocess_refusal_is_counted(ros_context: Any, photo: np.ndarray) -> None:
    spec = SPEC.to_dict() | {"resize": "none"}  # refuses images that are not 32x32
    engine = engine_for(make_classifier(seed=1), preprocess=spec, labels=LABELS)
    h = make_harness(ros_context, engine, result_format="json")
    try:
        h.pub.publish(image_msg(photo, stamp=5))
        h.spin_until(lambda: h.node.stats.malformed["preprocess"] == 1, what="preprocess")
        small = np.ascontiguousarray(photo[:32, :32])
        assert parse_classification(h.request(image_msg(small, stamp=6)))[0][1] == 6
    finally:
        h.close()


def test_compressed_jpeg_and_png(
    ros_context: Any, classifier_engine: Any, photo: np.ndarray
) -> None:
    from PIL import Image as PILImage
    from sensor_msgs.msg import CompressedImage

    h = make_harness(ros_context, classifier_engine, compressed=True, top_k=2)
    try:
        for stamp, fmt in ((21, "png"), (22, "jpeg")):
            buf = io.BytesIO()
            PILImage.fromarray(photo).save(buf, format=fmt.upper())
            msg = CompressedImage(format=fmt, data=buf.getvalue())
            msg.header.stamp.nanosec = stamp
            decoded = np.asarray(PILImage.open(io.BytesIO(buf.getvalue())).convert("RGB"))
            check_topk(h.request(msg), direct_topk(classifier_engine, decoded, 2))
        bad = CompressedImage(format="jpeg", data=b"not an image")
        h.pub.publish(bad)
        h.spin_until(lambda: h.node.stats.malformed["compressed"] == 1, what="compressed")
    finally:
        h.close()


@pytest.mark.skipif(not vision_msgs_available(), reason="vision_msgs not installed")
def test_vision_msgs_classification(
    ros_context: Any, classifier_engine: Any, photo: np.ndarray
) -> None:
    h = make_harness(ros_context, classifier_engine, top_k=4, result_format="vision_msgs")
    try:
        result = h.request(image_msg(photo, frame_id="cam", stamp=31))
        assert type(result).__name__ == "Classification"
        assert result.header.frame_id == "cam" and result.header.stamp.nanosec == 31
        check_topk(result, direct_topk(classifier_engine, photo, 4))
    finally:
        h.close()


@pytest.mark.parametrize("channels", [1, 3])
def test_dense_output_is_an_image(ros_context: Any, photo: np.ndarray, channels: int) -> None:
    engine = engine_for(make_dense(channels), task="dense")
    h = make_harness(ros_context, engine)
    try:
        result = h.request(image_msg(photo, frame_id="cam", stamp=41))
        with load_runner(engine) as r:
            ref = r.infer({"image": SPEC.apply(photo)[None]}, copy=True)["map"][0]
        assert (result.height, result.width, result.header.frame_id) == (32, 32, "cam")
        if channels == 1:
            assert result.encoding == "32FC1"
            got = np.frombuffer(bytes(result.data), "<f4").reshape(32, 32)
            np.testing.assert_allclose(got, ref[0], rtol=1e-5, atol=1e-5)
        else:
            assert result.encoding == "16UC1"
            got = np.frombuffer(bytes(result.data), "<u2").reshape(32, 32)
            np.testing.assert_array_equal(got, ref.argmax(axis=0))
    finally:
        h.close()


def test_generic_output_is_a_multiarray(ros_context: Any, photo: np.ndarray) -> None:
    engine = engine_for(make_dense(2), task="generic")
    h = make_harness(ros_context, engine)
    try:
        h.pub.publish(image_msg(photo))
        h.spin_until(lambda: len(h.results) > 0, what="generic result")
        msg = h.results[0]
        assert [d.size for d in msg.layout.dim] == [1, 2, 32, 32]
        assert [d.stride for d in msg.layout.dim] == [2048, 2048, 1024, 32]
        assert len(msg.data) == 2048
    finally:
        h.close()


def test_diagnostics_are_published_with_plausible_numbers(
    harness: Harness, photo: np.ndarray
) -> None:
    for i in range(5):
        harness.request(image_msg(photo, stamp=100 + i))
    harness.diagnostics.clear()
    harness.spin_until(lambda: len(harness.diagnostics) > 0, timeout=5, what="diagnostics")
    status = harness.diagnostics[-1].status[0]
    values = {kv.key: kv.value for kv in status.values}
    assert status.name == "edgeinfer: /edgeinfer"
    assert int(values["received"]) == int(values["processed"]) == 5
    assert int(values["dropped"]) == 0
    assert 0 < float(values["inference_p50_ms"]) <= float(values["latency_p99_ms"]) < 1000
    assert float(values["latency_p50_ms"]) <= float(values["latency_p99_ms"])
    assert values["precision"] == "fp32" and values["task"] == "classification"
    assert values["backend"].startswith("onnxruntime")
    assert values["malformed.encoding"] == "0"


def test_engine_errors_are_clear(ros_context: Any, tmp_path: Any) -> None:
    from edgeinfer.ros.node import EdgeInferNode

    with pytest.raises(EngineError, match="is not an engine directory"):
        EdgeInferNode(NodeParams(engine=str(tmp_path)), context=ros_context)
    with pytest.raises(ConfigError, match="parameter 'engine' is empty"):
        EdgeInferNode(NodeParams(), context=ros_context)
    bare = engine_for(make_classifier(seed=2), preprocess=None)
    with pytest.raises(ConfigError, match="has no preprocessing spec"):
        EdgeInferNode(NodeParams(engine=str(bare.path)), context=ros_context, engine=bare)


def test_params_file_and_ros_overrides(ros_context: Any, classifier_engine: Any) -> None:
    import rclpy
    from rclpy.parameter import Parameter

    from edgeinfer.ros.node import EdgeInferNode

    node = EdgeInferNode(
        NodeParams(engine=str(classifier_engine.path), top_k=2),
        context=ros_context,
        parameter_overrides=[Parameter("top_k", value=7), Parameter("deadline_ms", value=33)],
    )
    try:
        assert node.params.top_k == 7 and node.params.deadline_ms == 33.0
        assert node.get_parameter("input_topic").value == ""
        assert node.input_topic == "/camera/image_raw"
        assert isinstance(rclpy.ok(context=ros_context), bool)
    finally:
        node.destroy_node()


def test_events_executor_delivers_message_info(
    ros_context: Any, classifier_engine: Any, photo: np.ndarray
) -> None:
    """rclpy's EventsExecutor passes (msg, info) as one tuple; the node still gets the DDS
    sequence numbers and receive times (dropped-frame count, wait time)."""
    from rclpy.experimental import EventsExecutor
    from std_msgs.msg import String

    from edgeinfer.ros.node import EdgeInferNode

    node = EdgeInferNode(
        NodeParams(engine=str(classifier_engine.path), result_format="json"),
        context=ros_context,
        engine=classifier_engine,
    )
    h = Harness(ros_context, node, String, node.result_topics[0])
    h.executor.shutdown()
    h.executor = EventsExecutor(context=ros_context)
    h.executor.add_node(node)
    h.executor.add_node(h.helper)
    try:
        for i in range(3):
            check_topk(h.request(image_msg(photo, stamp=51 + i)), direct_topk(classifier_engine, photo, 5))
        assert node.stats.dropped == 0 and node.stats.gaps == 0
        assert all(w > 0 for w in node.stats.wait_ns)  # receive time came with the message
        assert node.stats.malformed["error"] == 0
    finally:
        h.close()


def test_nan_image_is_counted_and_not_published(ros_context: Any, photo: np.ndarray) -> None:
    """A 32FC1 frame holding NaN/Inf is refused (counted), never published as NaN scores."""
    spec = SPEC.to_dict() | {"color": "gray", "mean": [0.0], "std": [1.0], "scale": 1.0}
    engine = engine_for(make_gray_classifier(), preprocess=spec, labels=LABELS)
    h = make_harness(ros_context, engine, result_format="json")
    try:
        depth = photo.mean(axis=2).astype(np.float32) / 255.0
        ok = h.request(image_msg(depth, "32FC1", stamp=61))
        assert all(np.isfinite(r.score) for r in parse_classification(ok)[1])
        for value in (np.nan, np.inf):
            bad = depth.copy()
            bad[10, 10] = value
            before = h.node.stats.malformed["nonfinite"]
            h.pub.publish(image_msg(bad, "32FC1", stamp=62))
            h.spin_until(lambda b=before: h.node.stats.malformed["nonfinite"] > b, what="nonfinite")
        assert h.node.stats.processed == 1
        assert all(parse_classification(r)[0][1] != 62 for r in h.results)
    finally:
        h.close()
