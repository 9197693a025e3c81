"""``EdgeInferNode``: camera images in, engine results and diagnostics out.

Per frame (in the subscription callback, on the executor's thread): decode the message
(:mod:`edgeinfer.ros.codecs`), preprocess into the runner's persistent input buffer, run the
engine, publish the result stamped with the input image's header. A 1 Hz timer publishes
``diagnostic_msgs/DiagnosticArray`` on ``/diagnostics``. Malformed messages are counted per
kind, logged once per kind (then at most every 30 s), and never stop the node.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from edgeinfer.builder import resolve_engine
from edgeinfer.errors import ConfigError, DataError, MissingExtraError
from edgeinfer.preprocess import PreprocessSpec
from edgeinfer.ros import outputs
from edgeinfer.ros.codecs import MalformedImage, RawImage, decode_compressed, decode_image
from edgeinfer.ros.diagnostics import NodeStats, diagnostic_array, status_level
from edgeinfer.ros.msgs import vision_msgs_available
from edgeinfer.ros.params import NodeParams
from edgeinfer.ros.pipeline import Pipeline

if TYPE_CHECKING:
    from edgeinfer.engine import Engine

RESULT_DEPTH = 10


def input_qos(params: NodeParams) -> QoSProfile:
    """Subscription QoS: keep last ``queue_depth``, best effort (sensor data) by default."""
    reliability = (
        ReliabilityPolicy.BEST_EFFORT
        if params.reliability == "best_effort"
        else ReliabilityPolicy.RELIABLE
    )
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=params.queue_depth, reliability=reliability
    )


def classification_format(requested: str) -> str:
    """``vision_msgs`` or ``json``; ``auto`` picks vision_msgs when it is installed."""
    if requested == "json":
        return "json"
    if vision_msgs_available():
        return "vision_msgs"
    if requested == "vision_msgs":
        raise MissingExtraError(
            "classification_format 'vision_msgs' needs the vision_msgs messages; install them "
            "with: edgeinfer ros --install-msgs (or set classification_format: json)"
        )
    return "json"


class EdgeInferNode(Node):
    """A ROS 2 node running one edgeinfer engine on an image topic.

    Args:
        params: defaults for the ROS parameters; values from a params file or
            ``--ros-args -p`` given to ``rclpy.init`` override them.
        node_name: the node's name (params files address it by this name).
        engine: an already loaded engine (default: load the ``engine`` parameter).
        spec: preprocessing spec (default: the engine's own).
        message_info: take each message with its ``MessageInfo`` (DDS sequence numbers for
            the dropped-frame count, middleware receive time for the latency). rclpy's
            EventsExecutor cannot deliver it: False then (drops not counted, latency from
            callback start).
        **node_kwargs: passed to ``rclpy.node.Node`` (``context``, ``namespace`` ...).

    Raises:
        EdgeInferError: invalid parameters, engine missing/unloadable, no preprocessing spec.
    """

    def __init__(
        self,
        params: NodeParams | None = None,
        *,
        node_name: str = "edgeinfer",
        engine: Engine | None = None,
        spec: PreprocessSpec | None = None,
        message_info: bool = True,
        **node_kwargs: Any,
    ) -> None:
        super().__init__(node_name, **node_kwargs)
        self._message_info = message_info
        self.pipeline: Pipeline | None = None
        try:
            self.params = self._declare(params or NodeParams())
            eng = engine if engine is not None else resolve_engine(self.params.require_engine())
            pipe = Pipeline(eng, spec=spec, task=self.params.task, threads=self.params.threads)
            self.pipeline = pipe.__enter__()
            self.stats = NodeStats(deadline_ms=self.params.deadline_ms)
            self.format = classification_format(self.params.classification_format)
            self._previous: dict[str, Any] | None = None
            self._make_publishers()
            self._make_subscription()
        except BaseException:
            self.destroy_node()
            raise
        self.get_logger().info(
            f"{eng.describe()} ({self.pipeline.task}) on {self.input_topic} -> "
            f"{', '.join(self.result_topics)}"
        )

    # -- setup -----------------------------------------------------------------------------
    def _declare(self, defaults: NodeParams) -> NodeParams:
        from rcl_interfaces.msg import ParameterDescriptor

        values = {}
        for f in fields(NodeParams):
            if f.name == "version":  # the format version of the params, not a ROS parameter
                continue
            desc = ParameterDescriptor(name=f.name, dynamic_typing=True)
            param = self.declare_parameter(f.name, getattr(defaults, f.name), desc)
            values[f.name] = param.value
        return NodeParams.from_dict(values)

    def _make_publishers(self) -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        assert self.pipeline is not None
        prefix, task = self.params.output_prefix, self.pipeline.task
        self._result_pubs: dict[str, Any] = {}
        if task == "classification":
            if self.format == "vision_msgs":
                from vision_msgs.msg import Classification as ResultType
            else:
                from std_msgs.msg import String as ResultType
            self._result_pubs["classification"] = self.create_publisher(
                ResultType, f"{prefix}/classification", RESULT_DEPTH
            )
        elif task == "dense":
            from sensor_msgs.msg import Image

            self._result_pubs["map"] = self.create_publisher(Image, f"{prefix}/map", RESULT_DEPTH)
        else:
            from std_msgs.msg import Float32MultiArray

            for spec in self.pipeline.engine.outputs:
                topic = f"{prefix}/output/{outputs.topic_name(spec.name)}"
                self._result_pubs[spec.name] = self.create_publisher(
                    Float32MultiArray, topic, RESULT_DEPTH
                )
        self.result_topics = [p.topic_name for p in self._result_pubs.values()]
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", RESULT_DEPTH)
        self._timer = self.create_timer(self.params.diagnostics_period_s, self.publish_diagnostics)

    def _make_subscription(self) -> None:
        from sensor_msgs.msg import CompressedImage, Image

        msg_type = CompressedImage if self.params.compressed else Image
        self.input_topic = self.params.resolved_input_topic
        events = SubscriptionEventCallbacks(message_lost=self._on_lost)
        self._sub = self.create_subscription(
            msg_type,
            self.input_topic,
            self._on_image if self._message_info else self._on_image_only,
            input_qos(self.params),
            event_callbacks=events,
        )

    # -- per frame ---------------------------------------------------------------------------
    def _on_lost(self, info: Any) -> None:
        self.stats.lost = int(info.total_count)

    def _on_image_only(self, msg: Any) -> None:
        self._on_image(msg, {})

    def _on_image(self, msg: Any, info: Any) -> None:
        t_start = time.time_ns()
        received = int(info.get("received_timestamp") or 0) or t_start
        self.stats.on_receive(_publisher_key(info), info.get("publication_sequence_number"))
        try:
            image = self._decode(msg)
            assert self.pipeline is not None
            try:
                self.pipeline.preprocess(image)
            except DataError as exc:
                raise MalformedImage(
                    "preprocess", f"preprocessing refused the image: {exc}"
                ) from exc
            out, infer_ns = self.pipeline.infer()
            self._publish(msg.header, out)
        except MalformedImage as exc:
            self._malformed(exc.kind, str(exc))
            return
        except Exception as exc:  # never let one frame take the node down
            self._malformed("error", f"{type(exc).__name__}: {exc}")
            return
        self.stats.on_result(time.time_ns() - received, infer_ns, t_start - received)

    def _decode(self, msg: Any) -> Any:
        limit = self.params.max_image_bytes
        if self.params.compressed:
            return decode_compressed(msg.format, msg.data, max_bytes=limit)
        raw = RawImage(
            msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian), msg.data
        )
        return decode_image(raw, max_bytes=limit)

    def _publish(self, header: Any, out: dict[str, Any]) -> None:
        assert self.pipeline is not None
        task = self.pipeline.task
        if task == "classification":
            results = outputs.top_k(
                out[self.pipeline.output_name],
                self.pipeline.labels,
                self.params.top_k,
                self.params.score_threshold,
            )
            msg = outputs.classification_message(header, results, self.format)
            self._result_pubs["classification"].publish(msg)
        elif task == "dense":
            self._result_pubs["map"].publish(
                outputs.dense_message(header, out[self.pipeline.output_name])
            )
        else:
            for name, pub in self._result_pubs.items():
                pub.publish(outputs.tensor_message(out[name]))

    def _malformed(self, kind: str, message: str) -> None:
        if self.stats.on_malformed(kind, time.monotonic()):
            total = self.stats.malformed[kind]
            self.get_logger().warning(
                f"dropped a malformed message ({kind}, {total} so far): {message}"
            )

    # -- diagnostics -------------------------------------------------------------------------
    def publish_diagnostics(self) -> None:
        """Publish one ``DiagnosticArray`` (called by the 1 Hz timer)."""
        assert self.pipeline is not None
        snap = self.stats.snapshot(time.monotonic())
        info = {k: str(v) for k, v in self.pipeline.describe().items()}
        info["input_topic"] = self.input_topic
        info["deadline_ms"] = str(self.params.deadline_ms)
        level = status_level(snap, self._previous)
        self._previous = snap
        msg = diagnostic_array(
            self.get_clock().now().to_msg(),
            f"edgeinfer: {self.get_fully_qualified_name()}",
            self.pipeline.engine.name,
            snap,
            info,
            level,
        )
        self._diag_pub.publish(msg)

    def destroy_node(self) -> None:
        """Close the pipeline (the runner's buffers), then destroy the ROS node."""
        if self.pipeline is not None:
            self.pipeline.close()
            self.pipeline = None
        super().destroy_node()


def _publisher_key(info: Any) -> bytes | None:
    gid = info.get("publisher_gid")
    if isinstance(gid, dict):
        data = gid.get("data")
        return bytes(data) if data is not None else None
    return None


def run_node(
    params: NodeParams,
    *,
    node_name: str = "edgeinfer",
    duration_s: float | None = None,
    ros_args: list[str] | None = None,
    executor: str = "single",
) -> dict[str, Any]:
    """Initialise ROS, spin an :class:`EdgeInferNode` until Ctrl-C or ``duration_s``.

    Args:
        params: node parameters (a params file's values already merged in).
        node_name: the node's name.
        duration_s: stop after this many seconds (None: run until interrupted).
        ros_args: extra ``--ros-args`` arguments (remappings, ``-p name:=value``).
        executor: ``single`` (SingleThreadedExecutor: full diagnostics) or ``events``
            (rclpy's C++ EventsExecutor, where available: lower wake-up latency, but it cannot
            deliver MessageInfo, so dropped frames are not counted).

    Returns:
        The final statistics snapshot (counters, rates, latency percentiles).
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.signals import SignalHandlerOptions

    stop = threading.Event()
    previous = _install_stop_handlers(stop)
    context = rclpy.Context()
    args = ["edgeinfer", "--ros-args", *ros_args] if ros_args else None
    # our own SIGINT/SIGTERM handlers: stop between frames, never inside a callback
    rclpy.init(args=args, context=context, signal_handler_options=SignalHandlerOptions.NO)
    node: EdgeInferNode | None = None
    try:
        spinner = make_executor(executor, context)
        events = type(spinner).__name__ != "SingleThreadedExecutor"
        node = EdgeInferNode(params, node_name=node_name, context=context, message_info=not events)
        spinner.add_node(node)
        start = time.monotonic()
        end = start + duration_s if duration_s else None
        try:
            while not stop.is_set() and context.ok():
                if end is not None and time.monotonic() >= end:
                    break
                spinner.spin_once(timeout_sec=0.1)
        except ExternalShutdownException:
            pass
        now = time.monotonic()
        snap = node.stats.snapshot(now)
        elapsed = max(now - start, 1e-9)  # rates over the whole run
        snap["input_rate_hz"] = node.stats.received / elapsed
        snap["processed_rate_hz"] = node.stats.processed / elapsed
        snap["duration_s"] = elapsed
        snap.update(node.pipeline.describe() if node.pipeline else {})
        snap["node"] = node.get_fully_qualified_name()
        snap["params"] = node.params.to_dict()  # as the node resolved them
        return snap
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def make_executor(kind: str, context: Any) -> Any:
    """An rclpy executor: ``events`` (C++ EventsExecutor, when available) or ``single``."""
    from rclpy.executors import SingleThreadedExecutor

    if kind not in ("events", "single"):
        raise ConfigError(f"executor '{kind}' is not valid; choose events or single")
    if kind == "events":
        try:
            from rclpy.experimental import EventsExecutor
        except ImportError:
            return SingleThreadedExecutor(context=context)
        return EventsExecutor(context=context)
    return SingleThreadedExecutor(context=context)


def _install_stop_handlers(stop: threading.Event) -> dict[int, Any]:
    """SIGINT/SIGTERM set ``stop`` (main thread only; elsewhere signals are left alone)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    return previous
