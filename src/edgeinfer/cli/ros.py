"""``edgeinfer ros --engine ENGINE_DIR``: run an engine as a ROS 2 node."""

from __future__ import annotations

import argparse
from typing import Any

from edgeinfer.cli.common import command_line, write_json
from edgeinfer.errors import require

# CLI flag -> node parameter (flags left unset keep the params file's value or the default)
_FLAGS = {
    "engine": "engine",
    "input": "input_topic",
    "output": "output_prefix",
    "compressed": "compressed",
    "queue_depth": "queue_depth",
    "reliability": "reliability",
    "top_k": "top_k",
    "score_threshold": "score_threshold",
    "deadline_ms": "deadline_ms",
    "threads": "threads",
    "classification_format": "classification_format",
    "task": "task",
}


def register(sub: Any) -> None:
    """Add the ``ros`` verb and its flags to the ``edgeinfer`` subcommand parsers."""
    p = sub.add_parser(
        "ros",
        help="run an engine as a ROS 2 node (images in, results and diagnostics out)",
        description="Subscribe to camera images, run the engine with its own preprocessing, "
        "publish results stamped with the image header and /diagnostics at 1 Hz.",
    )
    p.add_argument("--engine", default=None, help="engine directory (or ONNX file)")
    p.add_argument("--input", default=None, metavar="TOPIC", help="image topic")
    p.add_argument("--output", default=None, metavar="PREFIX", help="result topic prefix")
    p.add_argument("--params", default=None, metavar="FILE.yaml", help="ROS 2 params file")
    p.add_argument("--node-name", default="edgeinfer", help="node name (default edgeinfer)")
    p.add_argument(
        "--compressed",
        action="store_const",
        const=True,
        default=None,
        help="subscribe to sensor_msgs/CompressedImage (JPEG/PNG)",
    )
    p.add_argument("--queue-depth", type=int, default=None, help="input queue depth")
    p.add_argument("--reliability", choices=("best_effort", "reliable"), default=None)
    p.add_argument("--top-k", type=int, default=None, help="classification results per image")
    p.add_argument("--score-threshold", type=float, default=None)
    p.add_argument("--deadline-ms", type=float, default=None, help="count latencies over this")
    p.add_argument("--threads", type=int, default=None, help="inference threads")
    p.add_argument("--classification-format", choices=("auto", "vision_msgs", "json"))
    p.add_argument("--task", choices=("auto", "classification", "dense", "generic"))
    p.add_argument(
        "--executor",
        choices=("single", "events"),
        default="single",
        help="rclpy executor: single (SingleThreadedExecutor, full diagnostics; default) or "
        "events (C++ EventsExecutor: lower latency, but no dropped-frame count)",
    )
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S s")
    p.add_argument(
        "--install-msgs",
        action="store_true",
        help="build and install the vision_msgs messages into this environment, then exit",
    )
    p.add_argument("--json", default=None, metavar="FILE", help="write final statistics")
    p.add_argument(
        "--ros-args",
        dest="ros_args",
        nargs=argparse.REMAINDER,
        default=None,
        help="everything after it goes to rclpy (e.g. -r __ns:=/robot -p top_k:=3); last",
    )
    p.set_defaults(func=run)


def params_from_args(args: argparse.Namespace) -> Any:
    """NodeParams: defaults < params file < command-line flags."""
    from edgeinfer.ros.params import NodeParams, read_params_file

    values: dict[str, Any] = {}
    if args.params:
        values.update(read_params_file(args.params, args.node_name))
    for flag, name in _FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            values[name] = value
    return NodeParams.from_dict(values)


def run(args: argparse.Namespace) -> int:
    """Run an engine as a ROS 2 node until stopped (or install vision_msgs) and print its stats.

    Returns:
        The exit code: 0.

    Raises:
        MissingExtraError: rclpy is not installed.
    """
    from rich.console import Console

    require("rclpy", "ros", purpose="edgeinfer ros")
    if args.install_msgs:
        from edgeinfer.ros.msgs import install_vision_msgs

        built = install_vision_msgs()
        Console(stderr=True).print("vision_msgs " + ("installed" if built else "already present"))
        return 0
    params = params_from_args(args)
    params.require_engine()
    ros_args = list(args.ros_args or [])
    from edgeinfer.ros.node import run_node

    snap = run_node(
        params,
        node_name=args.node_name,
        duration_s=args.duration,
        ros_args=ros_args or None,
        executor=args.executor,
    )
    _print(snap)
    if args.json:
        write_json(args.json, {"command": command_line(args), **snap})
    return 0


def _print(snap: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"edgeinfer ros: {snap.get('model', '')} [{snap.get('backend', '')}]")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in snap.items():
        if key == "malformed":
            for kind, n in value.items():
                if n:
                    table.add_row(f"malformed.{kind}", str(n))
        elif key not in ("engine", "model", "backend", "params"):
            table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    Console(stderr=True).print(table)
