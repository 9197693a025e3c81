"""``edgeinfer ros``: a real node process, driven over DDS; start-up errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("rclpy")

from edgeinfer.cli import main

from .conftest import image_msg


def test_cli_node_process_serves_results_and_stops_on_sigint(
    ros_context: Any, classifier_engine: Any, photo: np.ndarray, tmp_path: Path
) -> None:
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    out = tmp_path / "stats.json"
    params = tmp_path / "params.yaml"
    params.write_text("edgeinfer:\n  ros__parameters:\n    top_k: 2\n    input_topic: /cam\n")
    cmd = [sys.executable, "-m", "edgeinfer", "ros", "--engine", str(classifier_engine.path),
           "--params", str(params), "--output", "/cli", "--classification-format", "json",
           "--duration", "60", "--json", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    helper = Node("cli_test", context=ros_context)
    ex = SingleThreadedExecutor(context=ros_context)
    ex.add_node(helper)
    results: list[Any] = []
    helper.create_subscription(String, "/cli/classification", results.append, 10)
    pub = helper.create_publisher(Image, "/cam", 10)
    try:
        end = time.monotonic() + 30
        n = 0
        while len(results) < 3 and time.monotonic() < end and proc.poll() is None:
            if pub.get_subscription_count():
                n += 1
                pub.publish(image_msg(photo, stamp=n))
            ex.spin_once(timeout_sec=0.1)
        assert len(results) >= 3, proc.stderr.read() if proc.poll() is not None else "no results"
        doc = json.loads(results[0].data)
        assert len(doc["results"]) == 2  # top_k from the params file
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        ex.shutdown()
        helper.destroy_node()
    assert proc.returncode == 0, err
    stats = json.loads(out.read_text())
    assert stats["processed"] >= 3 and stats["params"]["top_k"] == 2
    assert stats["model"] == "tiny_classifier" and stats["latency_p99_ms"] > 0


def test_cli_engine_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ros", "--engine", str(tmp_path / "nope")]) == 2
    assert "edgeinfer: error: engine directory" in capsys.readouterr().err  # ... does not exist
    assert main(["ros", "--engine", str(tmp_path)]) == 2
    assert "is not an engine directory (no manifest.json)" in capsys.readouterr().err
    assert main(["ros"]) == 2
    assert "parameter 'engine' is empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--duration", "0"], "duration must be a positive number of seconds, got 0.0"),
        (["--duration", "nan"], "duration must be a positive number of seconds, got nan"),
        (["--duration", "-1"], "duration must be a positive number of seconds, got -1.0"),
        (["--score-threshold", "inf"], "parameter score_threshold must be a finite number"),
        (["--top-k", "0"], "parameter top_k must be >= 1, got 0"),
        (["--node-name", "9lives"], "invalid node name or namespace: "),
        (["--ros-args", "-r", "__ns:=bad ns"], "ROS arguments refused:"),
        (["--input", "/cam era"], "input topic '/cam era' is not a valid ROS topic name"),
        (["--autostart"], "--autostart applies to --lifecycle nodes; add --lifecycle"),
    ],
)
def test_cli_bad_arguments_are_one_line_errors(
    classifier_engine: Any, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    duration = [] if "--duration" in argv else ["--duration", "0.2"]
    assert main(["ros", "--engine", str(classifier_engine.path), *duration, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_engine_from_ros_parameters_only(
    classifier_engine: Any, tmp_path: Path
) -> None:
    """The issue's two bugs: -p engine:= and a params file's engine were refused before."""
    out = tmp_path / "s.json"
    argv = ["ros", "--duration", "0.2", "--json", str(out), "--ros-args", "-p",
            f"engine:={classifier_engine.path}", "-p", "top_k:=2", "-r", "__node:=renamed"]  # fmt: skip
    assert main(argv) == 0
    stats = json.loads(out.read_text())
    assert stats["params"]["top_k"] == 2 and stats["node"] == "/renamed"
    assert stats["params"]["engine"] == str(classifier_engine.path)
    f = tmp_path / "p.yaml"
    f.write_text(f"/robot/edgeinfer:\n  ros__parameters:\n    engine: {classifier_engine.path}\n"
                 "    top_k: 4\n    threads: 1\n")  # fmt: skip
    argv = ["ros", "--params", str(f), "--top-k", "1", "--duration", "0.2", "--json", str(out),
            "--ros-args", "-r", "__ns:=/robot"]  # fmt: skip
    assert main(argv) == 0
    stats = json.loads(out.read_text())
    assert stats["node"] == "/robot/edgeinfer" and stats["model"] == "tiny_classifier"
    assert (stats["params"]["top_k"], stats["params"]["threads"]) == (1, 1)  # flag wins


def test_transport_profile_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from xml.etree import ElementTree

    target = tmp_path / "fastdds.xml"
    assert main(["ros", "--transport-profile", str(target)]) == 0
    line = capsys.readouterr().out.strip()
    assert line == f"export FASTDDS_DEFAULT_PROFILES_FILE={target.resolve()}"
    seg = ElementTree.parse(target).getroot().find(".//{http://www.eprosima.com}segment_size")
    assert seg is not None and seg.text == str(32 * 1024 * 1024)
