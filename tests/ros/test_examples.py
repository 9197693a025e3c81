"""examples/: the launch file and params file, validated as far as possible without `launch`.

`launch`/`launch_ros` are not installable from the package registries, so the launch file
cannot be executed here. What is checked: the shipped files equal what
`edgeinfer ros --write-examples` renders; the launch file compiles and declares the expected
arguments and node; and the exact command line launch_ros builds for that Node action
(`edgeinfer ros ... --ros-args -r __node:= -r __ns:= --params-file <file> --params-file
<launch's temp file for dict parameters> -r <remapping>`) runs the node against real DDS with
the shipped params file.
"""

from __future__ import annotations

import ast
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeinfer.cli import main
from edgeinfer.ros.examples import PLACEHOLDER, render_launch, render_params

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_shipped_examples_are_the_rendered_ones() -> None:
    assert (EXAMPLES / "edgeinfer.launch.py").read_text() == render_launch()
    assert (EXAMPLES / "params.yaml").read_text() == render_params(PLACEHOLDER)


def test_launch_file_declares_arguments_and_the_node() -> None:
    text = (EXAMPLES / "edgeinfer.launch.py").read_text()
    tree = ast.parse(text)
    compile(tree, "edgeinfer.launch.py", "exec")
    funcs = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in funcs
    imports = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
               for a in n.names}  # fmt: skip
    assert ("launch_ros.actions", "Node") in imports
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    declared = [c.args[0].value for c in calls if getattr(c.func, "id", "") ==
                "DeclareLaunchArgument"]  # fmt: skip
    assert declared == ["params_file", "namespace", "node_name", "image"]
    (node,) = [c for c in calls if getattr(c.func, "id", "") == "Node"]
    kw = {k.arg: k.value for k in node.keywords}
    assert ast.literal_eval(kw["executable"]) == "edgeinfer"
    assert ast.literal_eval(kw["arguments"]) == ["ros", "--lifecycle", "--autostart"]
    assert set(kw) >= {"name", "namespace", "parameters", "remappings"}


def test_write_examples_for_an_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    engine = tmp_path / "my engine"
    assert main(["ros", "--engine", str(engine), "--write-examples", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() != []
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    assert params["/**"]["ros__parameters"]["engine"] == str(engine.resolve())
    assert main(["ros", "--engine", str(engine), "--write-examples", str(tmp_path)]) == 2
    assert "already exists; edgeinfer does not overwrite it" in capsys.readouterr().err
    assert main(["ros", "--write-examples", str(tmp_path)]) == 2
    assert "--write-examples needs --engine" in capsys.readouterr().err
    assert main(["ros", "--engine", "e", "--write-examples", str(tmp_path / "no")]) == 2
    assert "is not a directory; create it first" in capsys.readouterr().err


@pytest.mark.slow
def test_launch_ros_command_line_with_the_params_file(
    ros_context: Any, classifier_engine: Any, photo: np.ndarray, tmp_path: Path
) -> None:
    pytest.importorskip("rclpy")
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter_client import AsyncParameterClient
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from edgeinfer.ros.outputs import parse_classification

    from .conftest import image_msg

    assert main(["ros", "--engine", str(classifier_engine.path), "--write-examples",
                 str(tmp_path)]) == 0  # fmt: skip
    dict_params = tmp_path / "launch_params_x.yaml"  # what launch_ros writes for {"top_k": 2}
    dict_params.write_text("/robot/edgeinfer:\n  ros__parameters:\n    top_k: 2\n"
                           "    result_format: json\n")  # fmt: skip
    cmd = [sys.executable, "-m", "edgeinfer", "ros", "--lifecycle", "--autostart",
           "--ros-args", "-r", "__node:=edgeinfer", "-r", "__ns:=/robot",
           "--params-file", str(tmp_path / "params.yaml"), "--params-file", str(dict_params),
           "-r", "/camera/image_raw:=/front/image_raw"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    helper = Node("launch_test", context=ros_context)
    ex = SingleThreadedExecutor(context=ros_context)
    ex.add_node(helper)
    results: list[Any] = []
    helper.create_subscription(String, "/edgeinfer/classification", results.append, 10)
    pub = helper.create_publisher(Image, "/front/image_raw", 10)
    client = AsyncParameterClient(helper, "/robot/edgeinfer")
    try:
        end = time.monotonic() + 60
        while not results and time.monotonic() < end and proc.poll() is None:
            if pub.get_subscription_count():
                pub.publish(image_msg(photo, stamp=5))
            ex.spin_once(timeout_sec=0.1)
        assert results, proc.stderr.read() if proc.poll() is not None else "no results"
        assert len(parse_classification(results[0])[1]) == 2  # launch's dict beat the file
        fut = client.get_parameters(["engine", "top_k", "deadline_ms"])
        while not fut.done() and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.1)
        engine, top_k, deadline = (v for v in fut.result().values)
        assert engine.string_value == str(classifier_engine.path)  # from params.yaml
        assert (top_k.integer_value, deadline.double_value) == (2, 33.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        ex.shutdown()
        helper.destroy_node()
    assert proc.returncode == 0, err
