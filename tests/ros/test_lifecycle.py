"""The managed node's transitions, driven over DDS through its lifecycle services (what
`ros2 lifecycle set` and lifecycle managers call)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

pytest.importorskip("rclpy")

from edgeinfer.ros.params import NodeParams

from .conftest import Harness, image_msg


class Driver:
    """Calls /<node>/change_state and get_state from the harness's helper node."""

    def __init__(self, h: Harness, node: str = "/edgeinfer") -> None:
        from lifecycle_msgs.srv import ChangeState, GetState

        self.h = h
        self.change = h.helper.create_client(ChangeState, f"{node}/change_state")
        self.get = h.helper.create_client(GetState, f"{node}/get_state")
        h.spin_until(lambda: self.change.service_is_ready() and self.get.service_is_ready(),
                     what="lifecycle services")  # fmt: skip

    def _call(self, client: Any, request: Any) -> Any:
        fut = client.call_async(request)
        self.h.spin_until(fut.done, what="a lifecycle service reply")
        return fut.result()

    def set(self, label: str) -> bool:
        from lifecycle_msgs.srv import ChangeState

        req = ChangeState.Request()
        req.transition.label = label
        return bool(self._call(self.change, req).success)

    def state(self) -> str:
        from lifecycle_msgs.srv import GetState

        return str(self._call(self.get, GetState.Request()).current_state.label)


def _results_after(h: Harness, photo: np.ndarray, stamp: int, seconds: float = 1.0) -> int:
    """Publish frames for ``seconds``; how many results came back for them."""
    from edgeinfer.ros.outputs import parse_classification

    h.results.clear()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        h.pub.publish(image_msg(photo, stamp=stamp))
        h.spin_until(lambda: time.monotonic() > end or len(h.results) > 50,
                     timeout=seconds + 1, what="")  # fmt: skip
    return sum(parse_classification(r)[0][1] == stamp for r in h.results)


def test_transitions_over_dds(ros_context: Any, classifier_engine: Any, photo: np.ndarray) -> None:
    from std_msgs.msg import String

    from edgeinfer.ros.node import ManagedEdgeInferNode

    params = NodeParams(engine=str(classifier_engine.path), result_format="json")
    node = ManagedEdgeInferNode(params, context=ros_context)
    h = Harness(ros_context, node, String, "/edgeinfer/classification", discover=False)
    try:
        lc = Driver(h)
        assert lc.state() == "unconfigured" and node.worker is None  # nothing loaded yet
        assert lc.set("activate") is False  # not a transition of 'unconfigured'
        assert lc.set("configure") and lc.state() == "inactive"
        assert node.worker is not None and node.worker.pipeline.runner.is_active
        h.spin_until(lambda: h.helper.count_publishers("/edgeinfer/classification") > 0,
                     what="result publisher")  # fmt: skip
        assert _results_after(h, photo, stamp=1, seconds=0.6) == 0  # inactive: no inference
        assert lc.set("activate") and lc.state() == "active"
        h.spin_until(lambda: node._sub.get_publisher_count() > 0, what="image subscription")
        assert _results_after(h, photo, stamp=2) > 0
        assert lc.set("deactivate") and lc.state() == "inactive"
        assert node._sub is None
        assert _results_after(h, photo, stamp=3, seconds=0.6) == 0
        runner = node.worker.pipeline.runner
        assert lc.set("cleanup") and lc.state() == "unconfigured"
        assert node.worker is None and not runner.is_active  # engine released
        assert lc.set("configure") and lc.set("activate")  # again, from scratch
        assert _results_after(h, photo, stamp=4) > 0
        assert lc.set("shutdown") and lc.state() == "finalized" and node.worker is None
    finally:
        h.close()


def test_failed_configure_stays_unconfigured(ros_context: Any, tmp_path: Any) -> None:
    from std_msgs.msg import String

    from edgeinfer.ros.node import ManagedEdgeInferNode

    node = ManagedEdgeInferNode(NodeParams(engine=str(tmp_path / "missing")), context=ros_context)
    h = Harness(ros_context, node, String, "/edgeinfer/classification", discover=False)
    try:
        lc = Driver(h)
        assert lc.set("configure") is False
        assert lc.state() == "unconfigured" and node.worker is None
        assert "engine directory" in node.last_error and "does not exist" in node.last_error
    finally:
        h.close()


def test_autostart_and_cli_lifecycle(classifier_engine: Any, tmp_path: Any) -> None:
    import json

    from edgeinfer.cli import main

    out = tmp_path / "s.json"
    argv = ["ros", "--engine", str(classifier_engine.path), "--lifecycle", "--autostart",
            "--duration", "0.3", "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(out.read_text())["state"] == "active"
    argv = ["ros", "--engine", str(classifier_engine.path), "--lifecycle", "--duration", "0.3",
            "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(out.read_text())["state"] == "unconfigured"
