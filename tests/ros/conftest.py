"""ROS test fixtures: small engines with preprocessing specs, and a real DDS pub/sub harness.

Every test session uses its own ROS domain (derived from the PID) and localhost-only
discovery, so parallel sessions on one machine never see each other's topics.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeinfer.builder import build
from edgeinfer.engine import Engine
from edgeinfer.model import Model
from edgeinfer.preprocess import PreprocessSpec

LABELS = ["cat", "dog", "bird", "fish", "horse", "sheep", "cow", "bear", "zebra", "lynx"]
SPEC = PreprocessSpec(
    size=(32, 32),
    resize="shorter",
    resize_shorter=36,
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
)


@pytest.fixture(autouse=True, scope="session")
def _ros_isolation() -> Iterator[int]:
    """A ROS domain of our own and localhost-only discovery, set before any rclpy.init."""
    mp = pytest.MonkeyPatch()
    domain = 1 + os.getpid() % 200
    mp.setenv("ROS_DOMAIN_ID", str(domain))
    mp.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    yield domain
    mp.undo()


def _conv_head(outputs: int, seed: int, channels: int = 3) -> tuple[list[Any], list[Any]]:
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(
        rng.standard_normal((8, channels, 3, 3)).astype(np.float32), "W"
    )
    b = numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "B")
    g = numpy_helper.from_array(rng.standard_normal((8, outputs)).astype(np.float32) * 3, "G")
    nodes = [
        helper.make_node("Conv", ["image", "W", "B"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
    ]
    return nodes, [w, b, g]


def make_classifier(seed: int = 0) -> onnx.ModelProto:
    """image[1,3,32,32] -> conv/relu -> global average pool -> linear -> logits[1,10]."""
    nodes, inits = _conv_head(len(LABELS), seed)
    nodes += [
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("MatMul", ["f", "G"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, len(LABELS)])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def make_gray_classifier(seed: int = 3) -> onnx.ModelProto:
    """image[1,1,32,32] (depth-like, one channel) -> ... -> logits[1,10]."""
    nodes, inits = _conv_head(len(LABELS), seed, channels=1)
    nodes += [
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("MatMul", ["f", "G"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_gray_classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, len(LABELS)])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def make_dense(channels: int = 1, seed: int = 0) -> onnx.ModelProto:
    """image[1,3,32,32] -> conv/relu -> 1x1 conv -> map[1,C,32,32]."""
    nodes, inits = _conv_head(channels, seed)
    w2 = np.random.default_rng(seed + 1).standard_normal((channels, 8, 1, 1)).astype(np.float32)
    inits = [*inits[:2], numpy_helper.from_array(w2, "W2")]
    nodes.append(helper.make_node("Conv", ["r", "W2"], ["map"]))
    graph = helper.make_graph(
        nodes,
        "tiny_dense",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("map", TensorProto.FLOAT, [1, channels, 32, 32])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def engine_for(proto: onnx.ModelProto, **meta: Any) -> Engine:
    meta.setdefault("preprocess", SPEC.to_dict())
    return build(Model.from_proto(proto).with_meta(**meta))


@pytest.fixture(scope="session")
def classifier_engine(_isolated_cache: Any) -> Engine:
    return engine_for(make_classifier(), labels=LABELS, task="classification")


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photo (scikit-image's chelsea, 300x451 RGB)."""
    skimage_data = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(skimage_data.chelsea())


def image_msg(
    image: np.ndarray, encoding: str = "rgb8", frame_id: str = "camera", stamp: int = 0
) -> Any:
    from sensor_msgs.msg import Image

    from edgeinfer.ros.codecs import encode_image

    msg = Image()
    msg.height, msg.width, msg.step, data = encode_image(image, encoding)
    msg.data = data
    msg.encoding = encoding
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
    return msg


class Harness:
    """The node under test plus a helper node (publisher, result and diagnostics
    subscribers) on one executor, spun from the test thread: deterministic, no sleeps."""

    def __init__(
        self, context: Any, node: Any, result_type: Any, result_topic: str, discover: bool = True
    ) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from sensor_msgs.msg import CompressedImage, Image

        self.node = node
        self.helper = Node("edgeinfer_test_helper", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(node)
        self.executor.add_node(self.helper)
        in_type = CompressedImage if node.params.compressed else Image
        self.pub = self.helper.create_publisher(in_type, node.input_topic, 10)
        self.results: list[Any] = []
        self.diagnostics: list[Any] = []
        self.helper.create_subscription(result_type, result_topic, self.results.append, 10)
        self.helper.create_subscription(
            DiagnosticArray, "/diagnostics", self.diagnostics.append, 10
        )
        if not discover:  # a managed node subscribes and publishes only once configured/active
            return
        self.spin_until(
            lambda: (
                self.pub.get_subscription_count() > 0
                and node._sub.get_publisher_count() > 0
                and self.helper.count_publishers(result_topic) > 0
            ),
            what="discovery",
        )

    def spin_until(self, cond: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.02)

    def request(self, msg: Any, timeout: float = 15.0) -> Any:
        """Publish one image and return the result carrying its header (republished each
        second in case discovery still lags: best-effort may drop the very first frame)."""
        from edgeinfer.ros.outputs import result_key as key

        want = (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id)

        end = time.monotonic() + timeout
        while True:
            self.pub.publish(msg)
            retry = min(end, time.monotonic() + 1.0)
            self.spin_until(
                lambda t=retry: any(key(r) == want for r in self.results) or time.monotonic() > t,
                timeout=timeout + 1,
                what="a result",
            )
            found = [r for r in self.results if key(r) == want]
            if found:
                return found[-1]
            if time.monotonic() > end:
                raise AssertionError(f"no result for the image stamped {want}")

    def close(self) -> None:
        self.executor.shutdown()
        self.helper.destroy_node()
        self.node.destroy_node()


@pytest.fixture
def ros_context() -> Iterator[Any]:
    rclpy = pytest.importorskip("rclpy")
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.try_shutdown(context=context)
