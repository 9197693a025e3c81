"""The edgeinfer ROS 2 nodes: camera images in, engine results and diagnostics out.

* :class:`ManagedEdgeInferNode` is a managed (lifecycle) node, what navigation-style stacks
  expect: created *unconfigured* with its parameters declared; ``configure`` loads the
  engine and creates the result publishers (lifecycle publishers), ``activate`` subscribes
  to the images, ``deactivate`` unsubscribes, ``cleanup`` releases the engine. Transitions
  come from ``ros2 lifecycle set /edgeinfer configure`` (the node's ``change_state``
  service), a lifecycle manager, or ``--autostart``.
* :class:`EdgeInferNode` is the plain node for quick use: configured and active from
  construction.

Both declare every parameter with a static type and descriptor (:mod:`.parameters`), apply
run-time changes of the dynamic ones, publish ``diagnostic_msgs/DiagnosticArray`` on
``/diagnostics`` (state, rates, lost/dropped frames, latency, CPU per frame, transport
warnings) and take each image with its ``MessageInfo`` (DDS sequence number and receive time)
under every executor, rclpy's C++ EventsExecutor included (:func:`message_info_callback`).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.exceptions import InvalidTopicNameException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from edgeinfer.errors import ConfigError, EdgeInferError, first_line
from edgeinfer.ros.core import Worker
from edgeinfer.ros.diagnostics import diagnostic_array, status_level
from edgeinfer.ros.parameters import declare_params, replaced, watch_params
from edgeinfer.ros.params import NodeParams, expected_image_size
from edgeinfer.ros.transport import lost_warning, startup_warning

if TYPE_CHECKING:
    from edgeinfer.engine import Engine
    from edgeinfer.preprocess import PreprocessSpec

_P = inspect.Parameter
_WITH_INFO = inspect.Signature(
    [_P("msg", _P.POSITIONAL_ONLY), _P("info", _P.POSITIONAL_ONLY)]
)


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


def message_info_callback(handle: Callable[[Any, Any], None]) -> Callable[..., None]:
    """A subscription callback that receives ``(msg, MessageInfo)`` under every executor.

    rclpy decides from the callback's signature whether to pass the MessageInfo; its
    EventsExecutor (9.x) then calls ``callback((msg, info))`` with ONE tuple argument where
    the Python executors call ``callback(msg, info)`` (measured; it fails with SystemError for
    an ordinary two-argument function). This wrapper declares the two-argument signature and
    accepts both calling conventions.
    """

    def on_message(*args: Any) -> None:
        msg, info = args[0] if len(args) == 1 else args
        handle(msg, info)

    on_message.__signature__ = _WITH_INFO  # type: ignore[attr-defined]
    return on_message


class _EdgeInfer:
    """What both node kinds share (a mixin over ``rclpy`` ``Node``/``LifecycleNode``)."""

    params: NodeParams
    worker: Worker | None
    _lifecycle: bool = False

    def _setup(self, defaults: NodeParams) -> None:
        node: Any = self
        self.worker = None
        self._sub: Any = None
        self._engine: Engine | None = None
        self._spec: PreprocessSpec | None = None
        self._previous: dict[str, Any] | None = None
        self.params = declare_params(node, defaults)
        watch_params(node, self._on_params)
        self.input_topic = self.params.resolved_input_topic
        size = expected_image_size(self.params.expected_image)
        self.transport_warning = startup_warning(size, self.params.reliability)
        if self.transport_warning:
            node.get_logger().warning(self.transport_warning)
        from diagnostic_msgs.msg import DiagnosticArray

        self._diag_pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._timer = node.create_timer(self.params.diagnostics_period_s, self.publish_diagnostics)

    def _on_params(self, changed: dict[str, Any]) -> None:
        self.params = replaced(self.params, changed)
        if self.worker is not None:
            self.worker.update(self.params)

    # -- configure / activate -----------------------------------------------------------
    def _configure(self) -> None:
        node: Any = self
        self.worker = Worker(node, self.params, engine=self._engine, spec=self._spec,
                             lifecycle=self._lifecycle)  # fmt: skip
        pipe = self.worker.pipeline
        node.get_logger().info(
            f"{pipe.engine.describe()} ({self.worker.kind}) on {self.input_topic} -> "
            f"{', '.join(self.worker.result_topics)}"
        )

    def _activate(self) -> None:
        from sensor_msgs.msg import CompressedImage, Image

        node: Any = self
        assert self.worker is not None
        worker = self.worker
        events = SubscriptionEventCallbacks(message_lost=self._on_lost)
        try:
            self._sub = node.create_subscription(
                CompressedImage if self.params.compressed else Image,
                self.input_topic,
                message_info_callback(worker.on_image),
                input_qos(self.params),
                callback_group=MutuallyExclusiveCallbackGroup(),
                event_callbacks=events,
            )
        except InvalidTopicNameException as exc:
            raise ConfigError(
                f"input topic '{self.input_topic}' is not a valid ROS topic name "
                f"({first_line(exc)}); use letters, digits, '_' and '/' (e.g. /camera/image_raw)"
            ) from exc

    def _on_lost(self, info: Any) -> None:
        if self.worker is not None:
            self.worker.stats.lost = int(info.total_count)

    def _deactivate(self) -> None:
        if self._sub is not None:
            node: Any = self
            node.destroy_subscription(self._sub)
            self._sub = None

    def _cleanup(self) -> None:
        self._deactivate()
        if self.worker is not None:
            self.worker.close()
            self.worker = None

    @property
    def pipeline(self) -> Any:
        """The open pipeline (None while not configured)."""
        return self.worker.pipeline if self.worker is not None else None

    @property
    def stats(self) -> Any:
        """The running statistics (None while not configured)."""
        return self.worker.stats if self.worker is not None else None

    @property
    def state(self) -> str:
        """``unconfigured``, ``inactive`` or ``active``."""
        if self.worker is None:
            return "unconfigured"
        return "active" if self._sub is not None else "inactive"

    # -- diagnostics -------------------------------------------------------------------------
    def publish_diagnostics(self) -> None:
        """Publish one ``DiagnosticArray`` (called by the diagnostics timer)."""
        node: Any = self
        name = f"edgeinfer: {node.get_fully_qualified_name()}"
        info = {"state": self.state, "input_topic": self.input_topic}
        worker = self.worker
        if worker is None:
            warn = self.transport_warning
            msg = diagnostic_array(node.get_clock().now().to_msg(), name, "", {}, info,
                                   (1 if warn else 0, warn or "unconfigured"))  # fmt: skip
            self._diag_pub.publish(msg)
            return
        snap = worker.stats.snapshot(time.monotonic())
        info.update({k: str(v) for k, v in worker.pipeline.describe().items()})
        info["deadline_ms"] = str(self.params.deadline_ms)
        transport = self._transport_status(snap)
        if transport:
            info["transport"] = transport
        level = status_level(snap, self._previous, transport)
        self._previous = snap
        hardware = worker.pipeline.engine.name
        node_stamp = node.get_clock().now().to_msg()
        self._diag_pub.publish(diagnostic_array(node_stamp, name, hardware, snap, info, level))

    def _transport_status(self, snap: dict[str, Any]) -> str:
        prev = self._previous or {}
        lost = snap["lost"] - prev.get("lost", 0)
        if lost > 0:
            return lost_warning(lost, snap["received"] - prev.get("received", 0),
                                snap["frame_bytes"])  # fmt: skip
        if snap["received"] == 0 and self.state == "active":
            return self.transport_warning  # nothing arrived yet: the start-up warning stands
        return ""


class EdgeInferNode(_EdgeInfer, Node):
    """A plain (unmanaged) node running one engine: configured and active on construction.

    Args:
        params: defaults for the ROS parameters; values from ``-p``, a params file or
            ``parameter_overrides`` (rclpy's) override them.
        node_name: the node's name (params files address it by this name).
        engine: an already loaded engine (default: load the ``engine`` parameter).
        spec: preprocessing spec (default: the engine's own).
        **node_kwargs: passed to ``rclpy.node.Node`` (``context``, ``namespace``,
            ``cli_args`` ...).

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
        **node_kwargs: Any,
    ) -> None:
        Node.__init__(self, node_name, **node_kwargs)
        try:
            self._setup(params or NodeParams())
            self._engine, self._spec = engine, spec
            self._configure()
            self._activate()
        except BaseException:
            self.destroy_node()
            raise

    @property
    def result_topics(self) -> list[str]:
        """The topics results are published on."""
        return self.worker.result_topics if self.worker is not None else []

    def destroy_node(self) -> None:
        """Release the engine (the runner's buffers), then destroy the ROS node."""
        if getattr(self, "worker", None) is not None:
            self._cleanup()
        super().destroy_node()


class ManagedEdgeInferNode(_EdgeInfer, LifecycleNode):
    """A managed (lifecycle) node running one engine; created *unconfigured*.

    Args: as :class:`EdgeInferNode`. The engine is loaded by the ``configure`` transition
    (a failure logs one line and leaves the node unconfigured, ready for a retry).
    """

    _lifecycle = True

    def __init__(
        self,
        params: NodeParams | None = None,
        *,
        node_name: str = "edgeinfer",
        engine: Engine | None = None,
        spec: PreprocessSpec | None = None,
        **node_kwargs: Any,
    ) -> None:
        LifecycleNode.__init__(self, node_name, **node_kwargs)
        try:
            self._setup(params or NodeParams())
        except BaseException:
            self.destroy_node()
            raise
        self._engine, self._spec = engine, spec
        self.last_error = ""

    @property
    def result_topics(self) -> list[str]:
        """The topics results are published on (empty while unconfigured)."""
        return self.worker.result_topics if self.worker is not None else []

    def _guard(self, what: str, step: Callable[[], None]) -> TransitionCallbackReturn:
        # rclpy swallows exceptions raised in transition callbacks without logging them
        try:
            step()
        except EdgeInferError as exc:
            self.last_error = str(exc)
            self.get_logger().error(f"{what} failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.get_logger().error(f"{what} failed: {self.last_error}")
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the engine and create the result publishers."""
        return self._guard("configure", self._configure)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the images and enable the result publishers."""
        result = self._guard("activate", self._activate)
        if result != TransitionCallbackReturn.SUCCESS:
            return result
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe (no inference while inactive) and disable the result publishers."""
        self._deactivate()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release the engine and the publishers."""
        return self._guard("cleanup", self._cleanup)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything (from any state)."""
        return self._guard("shutdown", self._cleanup)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything and go back to unconfigured."""
        self._cleanup()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        """Release the engine, then destroy the ROS node."""
        if getattr(self, "worker", None) is not None:
            self._cleanup()
        super().destroy_node()
