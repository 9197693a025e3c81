"""Node parameters, statistics and result layouts (pure Python, no transport)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeinfer.errors import ConfigError
from edgeinfer.evaluate.metrics import probabilities
from edgeinfer.ros.diagnostics import NodeStats, status_level
from edgeinfer.ros.outputs import resolve_task, top_k, topic_name
from edgeinfer.ros.params import NodeParams, expected_image_size
from edgeinfer.zoo.ppocr import SHA256


def test_params_round_trip_and_validation() -> None:
    p = NodeParams(engine="e", top_k=3, reliability="reliable", output_prefix="/x/")
    assert NodeParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert p.output_prefix == "/x"
    assert NodeParams().resolved_input_topic == "/camera/image_raw"
    assert NodeParams(compressed=True).resolved_input_topic == "/camera/image_raw/compressed"
    with pytest.raises(ConfigError, match="parameter reliability 'fast' is not valid"):
        NodeParams(reliability="fast")
    with pytest.raises(ConfigError, match="parameter top_k must be >= 1, got 0"):
        NodeParams(top_k=0)
    with pytest.raises(ConfigError, match="parameter score_threshold must be <= 1, got 1.5"):
        NodeParams(score_threshold=1.5)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="parameter deadline_ms must be a finite number"):
            NodeParams(deadline_ms=bad)
    with pytest.raises(ConfigError, match=r"unknown edgeinfer node parameter\(s\) \['topk'\]"):
        NodeParams.from_dict({"topk": 3})
    with pytest.raises(ConfigError, match="parameter top_k must be a int, got str 'many'"):
        NodeParams.from_dict({"top_k": "many"})
    assert NodeParams.from_dict({"deadline_ms": 33}).deadline_ms == 33.0
    assert expected_image_size("640x480 rgb8") == (640, 480, "rgb8")
    assert expected_image_size(" 1280 x 720 ") == (1280, 720, "rgb8")
    with pytest.raises(ConfigError, match="parameter expected_image 'big' is not valid"):
        NodeParams(expected_image="big")


def test_stats_sequence_gaps_count_drops() -> None:
    s = NodeStats()
    for seq in (1, 2, 3, 7, 8):  # 4, 5, 6 never arrived
        s.on_receive(b"pubA", seq)
    s.on_receive(b"pubB", 1)  # another publisher has its own numbering
    s.on_receive(b"pubA", 8)  # duplicates/reordering never count negative
    assert (s.received, s.gaps, s.dropped) == (7, 3, 3)
    s.on_receive(None, None)  # no sequence numbers: not measurable, not counted
    assert s.dropped == 3
    s.lost = 2  # two of the gaps were lost in transport (the middleware says so)
    assert (s.gaps, s.lost, s.dropped) == (3, 2, 1)
    s.lost = 5  # losses outside the received range never make drops negative
    assert s.dropped == 0


def test_stats_latency_deadline_and_malformed_throttle() -> None:
    s = NodeStats(deadline_ms=10.0)
    for ms in (1, 2, 3, 4, 50):
        s.on_result(int(ms * 1e6), int(ms * 1e5))
    assert s.deadline_misses == 1
    assert s.on_malformed("size", 0.0) is True
    assert s.on_malformed("size", 1.0) is False  # throttled
    assert s.on_malformed("encoding", 1.0) is True  # once per kind
    assert s.on_malformed("size", 31.0) is True
    s.rates(0.0, cpu_s=1.0)
    s.received = 20
    snap = s.snapshot(2.0, cpu_s=1.5)
    assert snap["input_rate_hz"] == pytest.approx(10.0)
    assert snap["cpu_percent"] == pytest.approx(25.0)  # 0.5 s CPU in 2 s
    assert snap["cpu_ms_per_frame"] == 0.0  # no frame processed in that period
    s.on_result(1, 1)
    s.on_result(1, 1)
    later = s.snapshot(4.0, cpu_s=1.7)
    assert later["cpu_ms_per_frame"] == pytest.approx(100.0)  # 0.2 s for 2 frames
    assert snap["latency_p50_ms"] == pytest.approx(3.0)
    assert snap["malformed"]["size"] == 3
    level, message = status_level(snap, None)
    assert level == 1 and "1 deadline misses" in message and "4 malformed" in message
    assert status_level(snap, snap)[0] == 0


def test_topk_and_probabilities() -> None:
    logits = np.array([[1.0, 3.0, 2.0, -1.0]], np.float32)
    res = top_k(logits, ["a", "b", "c", "d"], 3)
    assert [r.class_id for r in res] == ["b", "c", "a"]
    assert sum(r.score for r in res) < 1.0 and res[0].score == pytest.approx(0.6572, abs=1e-4)
    assert [r.class_id for r in top_k(logits, None, 2)] == ["1", "2"]
    assert [r.class_id for r in top_k(logits, ["a", "b", "c", "d"], 4, 0.2)] == ["b", "c"]
    probs = np.array([0.1, 0.7, 0.2])
    np.testing.assert_array_equal(probabilities(probs), probs)  # already probabilities


def test_task_resolution_and_topic_names() -> None:
    assert resolve_task("auto", {"task": "dense"}, [1, 1000]) == "dense"
    assert resolve_task("auto", {}, ["batch", 1000]) == "classification"
    assert resolve_task("auto", {}, [1, 1000, 1, 1]) == "classification"
    assert resolve_task("auto", {}, [1, 1, 64, 64]) == "dense"
    assert resolve_task("auto", {}, [1, 100, 85]) == "generic"
    assert resolve_task("generic", {"task": "dense"}, [1, 1, 4, 4]) == "generic"
    assert resolve_task("auto", {"postprocess": "db"}, [1, 1, "h", "w"]) == "detection"
    ppocr = {"task": "dense", "provenance": {"original_sha256": SHA256}}
    assert resolve_task("auto", ppocr, ["batch", 1, "height", "width"]) == "detection"
    assert resolve_task("auto", ppocr, [1, 3, 64, 64]) == "dense"  # not one map: no boxes
    assert topic_name("output:0") == "output_0"
    assert topic_name("1x") == "t_1x"


def test_ros_library_modules_do_not_import_rclpy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, edgeinfer.ros, edgeinfer.ros.codecs, edgeinfer.ros.params, "
        "edgeinfer.ros.outputs, edgeinfer.ros.diagnostics, edgeinfer.ros.msgs, "
        "edgeinfer.ros.pipeline, edgeinfer.ros.transport, edgeinfer.ros.textboxes, "
        "edgeinfer.ros.testimage, edgeinfer.ros.examples, edgeinfer.cli.ros;"
        "print('rclpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fastdds_profile(tmp_path: Path) -> None:
    from xml.etree import ElementTree

    from edgeinfer.ros.transport import write_fastdds_profile

    path = write_fastdds_profile(tmp_path / "p.xml", segment_bytes=1 << 24)
    seg = ElementTree.parse(path).getroot().find(".//{http://www.eprosima.com}segment_size")
    assert seg is not None and seg.text == str(1 << 24)
