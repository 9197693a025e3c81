"""The stream arrives: start-up and diagnostics warnings when frames exceed what Fast DDS
delivers under the chosen QoS, and frames lost in transport counted apart from drops."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest

from edgeinfer.ros.transport import (
    DEFAULT_SHM_SEGMENT,
    frame_bytes,
    lost_warning,
    startup_warning,
)

# a publisher process with Fast DDS defaults (no profile): 640x480 rgb8 best effort at 30 Hz
PUBLISHER = """
import sys, time, rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node("camera")
pub = node.create_publisher(Image, "/camera/image_raw", qos_profile_sensor_data)
msg = Image(height=480, width=640, encoding="rgb8", step=1920, data=bytes(921600))
end = time.monotonic() + 30
while pub.get_subscription_count() == 0 and time.monotonic() < end:
    time.sleep(0.05)
for i in range(int(sys.argv[1])):
    pub.publish(msg)
    time.sleep(1 / 30)
node.destroy_node()
rclpy.shutdown()
"""


def test_warnings_name_the_fix() -> None:
    assert frame_bytes(640, 480, "rgb8") == 921_600 > DEFAULT_SHM_SEGMENT
    assert startup_warning((320, 240, "rgb8"), "best_effort") == ""  # 230 KB fits
    warn = startup_warning((640, 480, "rgb8"), "best_effort")
    assert warn.startswith(
        "expected frames (640x480 rgb8, 921600 bytes) exceed Fast DDS's default 512 KiB "
        "shared-memory segment: under best_effort QoS they are lost in transport"
    )
    assert "edgeinfer ros --transport-profile fastdds.xml" in warn and "\n" not in warn
    assert "retransmitted UDP fragments" in startup_warning((640, 480, "rgb8"), "reliable")
    assert lost_warning(0, 10, 921_600) == ""
    lost = lost_warning(88, 2, 921_600)
    assert lost.startswith("88 frames lost in transport, 2 received, frames of 921600 bytes "
                           "(over the default 512 KiB segment); fix:")  # fmt: skip


@pytest.mark.slow
def test_lost_frames_are_counted_and_reported(ros_context: Any, classifier_engine: Any) -> None:
    pytest.importorskip("rclpy")
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor

    from edgeinfer.ros.node import EdgeInferNode
    from edgeinfer.ros.params import NodeParams

    env = {k: v for k, v in os.environ.items() if k != "FASTDDS_DEFAULT_PROFILES_FILE"}
    params = NodeParams(engine=str(classifier_engine.path), result_format="json",
                        expected_image="640x480 rgb8", diagnostics_period_s=0.5)  # fmt: skip
    node = EdgeInferNode(params, context=ros_context, engine=classifier_engine)
    assert "under best_effort QoS they are lost in transport" in node.transport_warning
    diags: list[Any] = []
    node.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)
    ex = SingleThreadedExecutor(context=ros_context)
    ex.add_node(node)
    pub = subprocess.Popen([sys.executable, "-c", PUBLISHER, "60"], env=env)
    try:
        end = time.monotonic() + 60
        while pub.poll() is None and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.05)
        for _ in range(30):  # the last lost events and a diagnostics period
            ex.spin_once(timeout_sec=0.05)
        stats = node.stats
        assert stats.lost > 0, "Fast DDS delivered every 900 KB best-effort frame"
        assert stats.received + stats.lost <= 60 + 2
        assert stats.dropped <= stats.gaps  # drops by the node are what losses do not explain
        warned = [d.status[0] for d in diags if "lost in transport" in d.status[0].message]
        assert warned and warned[-1].level == bytes([1])
        values = {kv.key: kv.value for kv in warned[-1].values}
        assert int(values["lost"]) > 0 and "--transport-profile" in values["transport"]
    finally:
        if pub.poll() is None:
            pub.kill()
        ex.shutdown()
        node.destroy_node()
