"""``edgeinfer ros --engine ENGINE_DIR``: run an engine as a ROS 2 node.

Parameters come, lowest first, from the defaults, ``--params FILE`` (a ROS 2 params file,
handed to rcl as ``--params-file``) and ``--ros-args -p name:=value`` (rcl applies both, so
``/**:``, ``/ns/node:`` and wildcard sections work as in any ROS 2 node), and the flags below,
which override everything.
"""

from __future__ import annotations

import argparse
from typing import Any

from edgeinfer.cli.common import add_json_option, command_line, emit_json
from edgeinfer.cli.console import echo
from edgeinfer.errors import ConfigError, require

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
    "spinning": "spinning",
    "result_format": "result_format",
    "output_kind": "output_kind",
    "expected_image": "expected_image",
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
    p.add_argument("--input", default=None, metavar="TOPIC", help="image topic (default: the params file's, else /camera/image_raw)")
    p.add_argument("--output", default=None, metavar="PREFIX", help="result topic prefix (default: /edgeinfer)")
    p.add_argument("--params", default=None, metavar="FILE.yaml", help="ROS 2 params file")
    p.add_argument("--node-name", default="edgeinfer", help="node name (default edgeinfer)")
    p.add_argument("--compressed", action="store_const", const=True, default=None,
                   help="subscribe to sensor_msgs/CompressedImage (JPEG/PNG; default: raw Image)")  # fmt: skip
    p.add_argument("--queue-depth", type=int, default=None, help="input queue depth (default: 1)")
    p.add_argument("--reliability", choices=("best_effort", "reliable"), default=None,
                   help="subscription QoS reliability (default: best_effort)")  # fmt: skip
    p.add_argument("--top-k", type=int, default=None, help="classification results per image (default: 5)")
    p.add_argument("--score-threshold", type=float, default=None,
                   help="publish only results scoring at least this (default: 0)")  # fmt: skip
    p.add_argument("--deadline-ms", type=float, default=None, help="count latencies over this many ms as misses (default: 0, none)")
    p.add_argument("--threads", type=int, default=None, help="inference threads (default: 0, the backend's)")
    p.add_argument("--spinning", action="store_const", const=True, default=None,
                   help="let idle inference threads spin (lower latency, much more CPU)")  # fmt: skip
    p.add_argument("--result-format", "--classification-format", dest="result_format",
                   choices=("auto", "vision_msgs", "json"), default=None,
                   help="message type of the results (default: auto, vision_msgs when "
                   "installed)")  # fmt: skip
    p.add_argument("--output-kind", "--task", dest="output_kind", default=None,
                   choices=("auto", "classification", "detection", "dense", "generic"),
                   help="what the engine outputs (default: auto, from the engine)")  # fmt: skip
    p.add_argument("--expected-image", default=None, metavar="'WxH ENC'",
                   help="camera frames, e.g. '640x480 rgb8': warn when the transport "
                   "cannot deliver them")  # fmt: skip
    p.add_argument("--lifecycle", action="store_true",
                   help="run as a managed (lifecycle) node: unconfigured until configured")  # fmt: skip
    p.add_argument("--autostart", action="store_true",
                   help="with --lifecycle: configure and activate at start-up")  # fmt: skip
    p.add_argument("--executor", choices=("events", "single"), default="events",
                   help="rclpy executor: events (C++ EventsExecutor, least CPU; default) or "
                   "single (SingleThreadedExecutor)")  # fmt: skip
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S s (default: run until Ctrl-C)")
    p.add_argument("--install-msgs", action="store_true",
                   help="build and install the vision_msgs messages into this environment, "
                   "then exit")  # fmt: skip
    p.add_argument("--transport-profile", default=None, metavar="FILE.xml",
                   help="write a Fast DDS profile for large images and print the one line "
                   "(export ...) that applies it, then exit")  # fmt: skip
    p.add_argument("--write-examples", default=None, metavar="DIR",
                   help="write edgeinfer.launch.py and params.yaml for --engine into DIR, "
                   "then exit")  # fmt: skip
    add_json_option(p, help="write final statistics as JSON to FILE ('-': standard output)")
    p.add_argument("--ros-args", dest="ros_args", nargs=argparse.REMAINDER, default=None,
                   help="everything after it goes to rclpy (e.g. -r __ns:=/robot -p "
                   "top_k:=3); last")  # fmt: skip
    p.set_defaults(func=run)


def flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The flags that were given, as ``{parameter: value}`` (they override every other
    source: rclpy applies them after rcl's ``-p`` and params-file values).
    """
    return {name: getattr(args, flag) for flag, name in _FLAGS.items()
            if getattr(args, flag, None) is not None}  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Run an engine as a ROS 2 node until stopped (or one of the setup actions).

    Returns:
        The exit code: 0.

    Raises:
        MissingExtraError: rclpy is not installed.
        EdgeInferError: invalid arguments, parameters or engine.
    """
    if args.transport_profile:
        from edgeinfer.ros.transport import export_line, write_fastdds_profile

        echo(export_line(write_fastdds_profile(args.transport_profile)))
        return 0
    if args.write_examples:
        return _write_examples(args)
    require("rclpy", "ros", purpose="edgeinfer ros")
    if args.install_msgs:
        from rich.console import Console

        from edgeinfer.ros.msgs import install_vision_msgs

        built = install_vision_msgs()
        Console(stderr=True).print("vision_msgs " + ("installed" if built else "already present"))
        return 0
    from edgeinfer.ros.params import NodeParams
    from edgeinfer.ros.run import check_duration, run_node

    check_duration(args.duration)
    if args.autostart and not args.lifecycle:
        raise ConfigError("--autostart applies to --lifecycle nodes; add --lifecycle")
    snap = run_node(
        NodeParams(),
        node_name=args.node_name,
        duration_s=args.duration,
        ros_args=_user_ros_args(args),
        overrides=flag_values(args),
        params_file=args.params,
        executor=args.executor,
        lifecycle=args.lifecycle,
        autostart=args.autostart,
    )
    _print(snap)
    if args.json:
        emit_json(args.json, {"command": command_line(args), **snap})
    return 0


def _user_ros_args(args: argparse.Namespace) -> list[str]:
    rest = list(args.ros_args or [])
    return rest[1:] if rest[:1] == ["--ros-args"] else rest


def _write_examples(args: argparse.Namespace) -> int:
    from edgeinfer.ros.examples import write_examples

    if not args.engine:
        raise ConfigError("--write-examples needs --engine ENGINE_DIR (the engine to launch)")
    for path in write_examples(args.write_examples, engine=args.engine, node_name=args.node_name):
        echo(str(path))
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
