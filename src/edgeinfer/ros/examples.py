"""The launch file and params file shipped in ``examples/``, written for the user's engine.

``edgeinfer ros --engine ENGINE --write-examples DIR`` writes ``DIR/edgeinfer.launch.py`` and
``DIR/params.yaml``; the repository's ``examples/`` holds the same files rendered for
:data:`PLACEHOLDER` (a test keeps them equal). The launch file starts ``edgeinfer ros`` as a
managed node that configures and activates itself (``--lifecycle --autostart``), with the
params file, an optional namespace and the image topic remapped::

    ros2 launch edgeinfer.launch.py namespace:=robot image:=/front/image_raw
"""

from __future__ import annotations

import json
from pathlib import Path

from edgeinfer.errors import ConfigError
from edgeinfer.fileio import atomic_write_text
from edgeinfer.ros.params import NodeParams

PLACEHOLDER = "/path/to/engine"
LAUNCH_NAME = "edgeinfer.launch.py"
PARAMS_NAME = "params.yaml"

_LAUNCH = '''"""Launch edgeinfer as a managed ROS 2 node: ros2 launch {launch} [arguments].

Arguments (name:=value): params_file (default: params.yaml beside this file), namespace
(default: none), node_name (default: {node}), image (the camera topic the node reads;
default: /camera/image_raw).

The node is `edgeinfer ros --lifecycle --autostart`: a managed node that configures (loads
the engine) and activates itself; drop --autostart to leave the transitions to a lifecycle
manager (ros2 lifecycle set /{node} configure). Every parameter is in the params file; its
section `/**:` applies to the node under any name and namespace.
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

HERE = os.path.dirname(os.path.abspath(__file__))


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=os.path.join(HERE, "{params}")),
        DeclareLaunchArgument("namespace", default_value=""),
        DeclareLaunchArgument("node_name", default_value="{node}"),
        DeclareLaunchArgument("image", default_value="/camera/image_raw"),
        Node(
            executable="edgeinfer",
            arguments=["ros", "--lifecycle", "--autostart"],
            name=LaunchConfiguration("node_name"),
            namespace=LaunchConfiguration("namespace"),
            parameters=[LaunchConfiguration("params_file")],
            remappings=[("/camera/image_raw", LaunchConfiguration("image"))],
            output="screen",
        ),
    ])
'''

_PARAMS_HEAD = """# edgeinfer ROS 2 node parameters (`edgeinfer ros --params {params}`, or the launch file).
# `/**` applies to the node whatever its name and namespace; a section keyed by the node's
# full name (e.g. `/robot/{node}:`) applies to that node only. Dynamic parameters (marked *)
# can be changed while it runs: ros2 param set /{node} top_k 3
/**:
  ros__parameters:
"""
_PARAMS_ROWS = (
    ("engine", None, ""),
    ("input_topic", "/camera/image_raw", "or remap: -r /camera/image_raw:=/front/image_raw"),
    ("output_prefix", "/edgeinfer", "results on <prefix>/classification, /detections, /map"),
    ("reliability", "best_effort", "best_effort (sensor data) or reliable"),
    ("queue_depth", 1, ""),
    ("result_format", "auto", "vision_msgs, json, or auto (vision_msgs if installed)"),
    ("output_kind", "auto", "classification, detection, dense, generic, auto"),
    ("top_k", None, "* classification results per image"),
    ("score_threshold", None, "* drop results/boxes scoring below"),
    ("deadline_ms", 33.0, "* receive->publish deadline counted in diagnostics"),
    ("det_threshold", None, "* text detection: map binarization threshold"),
    ("box_threshold", None, "* text detection: mean probability in a box"),
    ("unclip_ratio", None, "* text detection: box growth"),
    ("threads", 0, "inference threads (0: backend default)"),
    ("spinning", False, "idle inference threads sleep: far less CPU"),
    ("expected_image", "640x480 rgb8", "warn at start-up if the transport cannot carry it"),
)


def render_launch(node_name: str = "edgeinfer") -> str:
    """The launch file's text."""
    return _LAUNCH.format(launch=LAUNCH_NAME, node=node_name, params=PARAMS_NAME)


def render_params(engine: str = PLACEHOLDER, node_name: str = "edgeinfer") -> str:
    """The params file's text for ``engine`` (defaults from :class:`NodeParams`)."""
    defaults = NodeParams(engine=engine)
    lines = [_PARAMS_HEAD.format(params=PARAMS_NAME, node=node_name)]
    for key, value, comment in _PARAMS_ROWS:
        v = getattr(defaults, key) if value is None else value
        text = json.dumps(v) if isinstance(v, str | bool) else repr(v)
        row = f"    {key}: {text}"
        lines.append((f"{row:<40}# {comment}" if comment else row) + "\n")
    return "".join(lines)


def write_examples(
    directory: str | Path, *, engine: str, node_name: str = "edgeinfer"
) -> list[Path]:
    """Write the launch file and the params file for ``engine`` into ``directory``.

    The engine path is written absolute (the launch file may run from anywhere).

    Returns:
        The two paths written.

    Raises:
        ConfigError: ``directory`` does not exist, or already holds one of the files.
    """
    out = Path(directory)
    if not out.is_dir():
        raise ConfigError(f"'{out}' is not a directory; create it first")
    for name in (LAUNCH_NAME, PARAMS_NAME):
        if (out / name).exists():
            raise ConfigError(
                f"'{out / name}' already exists; edgeinfer does not overwrite it: move it away "
                "or choose another directory"
            )
    eng = str(Path(engine).resolve()) if engine != PLACEHOLDER else engine
    launch = out / LAUNCH_NAME
    params = out / PARAMS_NAME
    atomic_write_text(launch, render_launch(node_name))
    atomic_write_text(params, render_params(eng, node_name))
    return [launch, params]
