"""Run a node as a process: rclpy initialised with the ROS arguments, an executor, a stop.

rcl parses the ROS arguments (``--params-file``, ``-p``, ``-r`` remappings and ``__ns`` /
``__node``) once for the process's context, so a params file given with ``--params`` is
handed to rcl as ``--params-file`` (before the user's ``--ros-args``: an explicit ``-p``
wins, later sources override earlier ones) and every node section rcl understands applies
(``/**``, ``/robot/edgeinfer``, wildcards). rcl's and rclpy's start-up errors (unreadable
params file, bad ``-p`` syntax, invalid node name or namespace) become one-line
:class:`~edgeinfer.errors.ConfigError` errors.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from edgeinfer.errors import ConfigError, EdgeInferError, first_line
from edgeinfer.ros.params import NodeParams

EXECUTORS = ("events", "single")


def ros_arguments(params_file: str | Path | None, ros_args: list[str] | None) -> list[str]:
    """The argument list for ``rclpy.init``: the params file first, the user's ROS args after.

    Raises:
        ConfigError: the params file does not exist.
    """
    args = ["edgeinfer", "--ros-args"]
    if params_file is not None:
        path = Path(params_file)
        if not path.is_file():
            raise ConfigError(f"params file '{path}' does not exist (or is not a file)")
        args += ["--params-file", str(path)]
    rest = list(ros_args or [])
    if rest[:1] == ["--ros-args"]:
        rest = rest[1:]
    return args + rest


def init_context(args: list[str]) -> Any:
    """A new rclpy context initialised with ``args`` (our own signal handling).

    Raises:
        ConfigError: rcl refused the arguments (message without rcl's source locations).
    """
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    context = rclpy.Context()
    try:
        rclpy.init(args=args, context=context, signal_handler_options=SignalHandlerOptions.NO)
    except RuntimeError as exc:  # RCLError and UnknownROSArgsError are RuntimeErrors
        rclpy.try_shutdown(context=context)
        raise ConfigError(
            f"ROS arguments refused: {_rcl_message(exc)}; check --params/--ros-args "
            "(e.g. -p name:=value, -r __ns:=/robot, --params-file FILE)"
        ) from exc
    return context


def _rcl_message(exc: BaseException) -> str:
    text = first_line(exc).replace("failed to initialize rcl: ", "")
    return text.split(", at /")[0].strip()


def make_node(
    params: NodeParams,
    *,
    node_name: str,
    context: Any,
    lifecycle: bool,
    overrides: dict[str, Any] | None = None,
) -> Any:
    """An :class:`EdgeInferNode` or, with ``lifecycle``, a :class:`ManagedEdgeInferNode`.

    ``overrides`` (the CLI flags) are rclpy constructor overrides: they beat every rcl source.

    Raises:
        ConfigError: an invalid node name or namespace (one line).
    """
    from rclpy.exceptions import InvalidNamespaceException, InvalidNodeNameException
    from rclpy.parameter import Parameter

    from edgeinfer.ros.node import EdgeInferNode, ManagedEdgeInferNode

    cls = ManagedEdgeInferNode if lifecycle else EdgeInferNode
    extra = [Parameter(k, value=v) for k, v in (overrides or {}).items()]
    try:
        return cls(params, node_name=node_name, context=context, parameter_overrides=extra)
    except (InvalidNodeNameException, InvalidNamespaceException) as exc:
        raise ConfigError(
            f"invalid node name or namespace: {first_line(exc)}; names use letters, digits "
            "and '_' and do not start with a digit (e.g. --node-name front_detector)"
        ) from exc


def make_executor(kind: str, context: Any) -> Any:
    """An rclpy executor: ``events`` (rclpy's C++ EventsExecutor, when this rclpy has it;
    else single-threaded) or ``single`` (``SingleThreadedExecutor``).

    Raises:
        ConfigError: another kind.
    """
    from rclpy.executors import SingleThreadedExecutor

    if kind not in EXECUTORS:
        raise ConfigError(f"executor '{kind}' is not valid; choose {' or '.join(EXECUTORS)}")
    if kind == "events":
        try:
            from rclpy.experimental import EventsExecutor
        except ImportError:
            return SingleThreadedExecutor(context=context)
        # it calls faulthandler.enable(), which needs a stderr with a file descriptor (the
        # CLI's console and pytest replace sys.stderr): give it the process's own
        real = sys.__stderr__
        if real is None:
            return SingleThreadedExecutor(context=context)
        saved, sys.stderr = sys.stderr, real
        try:
            return EventsExecutor(context=context)
        finally:
            sys.stderr = saved
    return SingleThreadedExecutor(context=context)


def check_duration(duration_s: float | None) -> None:
    """Refuse a run length that is not a positive finite number of seconds.

    Raises:
        ConfigError: zero, negative, NaN or infinite (None means: until stopped).
    """
    if duration_s is None:
        return
    if not math.isfinite(duration_s) or duration_s <= 0:
        raise ConfigError(
            f"duration must be a positive number of seconds, got {duration_s}; leave it out "
            "to run until Ctrl-C"
        )


def run_node(
    params: NodeParams,
    *,
    node_name: str = "edgeinfer",
    duration_s: float | None = None,
    ros_args: list[str] | None = None,
    params_file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    executor: str = "events",
    lifecycle: bool = False,
    autostart: bool = False,
) -> dict[str, Any]:
    """Initialise ROS, spin a node until Ctrl-C/SIGTERM or ``duration_s``.

    Args:
        params: defaults for the node's parameters (a params file and ``-p`` override them).
        node_name: the node's name.
        duration_s: stop after this many seconds (None: run until interrupted).
        ros_args: ``--ros-args`` arguments (remappings, ``-p name:=value``, ``__ns``).
        params_file: a ROS 2 params file, handed to rcl (``--params-file``).
        overrides: parameter values that beat every other source (the CLI flags).
        executor: ``events`` (rclpy's C++ EventsExecutor: least CPU; default) or ``single``.
        lifecycle: run the managed node (unconfigured until a ``configure`` transition).
        autostart: with ``lifecycle``, configure and activate at start-up.

    Returns:
        The final statistics snapshot (counters, rates, latency percentiles, parameters).

    Raises:
        EdgeInferError: invalid arguments or parameters, engine errors (configure errors of
            an autostarted managed node included).
    """
    check_duration(duration_s)
    stop = threading.Event()
    previous = _install_stop_handlers(stop)
    context = init_context(ros_arguments(params_file, ros_args))
    node: Any = None
    try:
        spinner = make_executor(executor, context)
        node = make_node(params, node_name=node_name, context=context, lifecycle=lifecycle,
                         overrides=overrides)  # fmt: skip
        if lifecycle and autostart:
            _autostart(node)
        spinner.add_node(node)
        start = time.monotonic()
        _spin(spinner, context, stop, None if duration_s is None else start + duration_s)
        return _summary(node, start)
    finally:
        if node is not None:
            _shutdown(node, lifecycle)
        import rclpy

        rclpy.try_shutdown(context=context)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _autostart(node: Any) -> None:
    from rclpy.lifecycle import TransitionCallbackReturn

    for step in (node.trigger_configure, node.trigger_activate):
        if step() != TransitionCallbackReturn.SUCCESS:
            raise EdgeInferError(node.last_error or f"lifecycle {step.__name__} failed")


def _spin(spinner: Any, context: Any, stop: threading.Event, end: float | None) -> None:
    from rclpy.executors import ExternalShutdownException

    try:
        while not stop.is_set() and context.ok():
            if end is not None and time.monotonic() >= end:
                break
            spinner.spin_once(timeout_sec=0.1)
    except (ExternalShutdownException, KeyboardInterrupt):
        pass


def _summary(node: Any, start: float) -> dict[str, Any]:
    now = time.monotonic()
    elapsed = max(now - start, 1e-9)
    snap: dict[str, Any] = {"state": node.state}
    if node.worker is not None:
        stats = node.worker.stats
        snap.update(stats.snapshot(now))
        snap["input_rate_hz"] = stats.received / elapsed  # rates over the whole run
        snap["processed_rate_hz"] = stats.processed / elapsed
        snap.update(node.worker.pipeline.describe())
    snap["duration_s"] = elapsed
    snap["node"] = node.get_fully_qualified_name()
    snap["params"] = node.params.to_dict()  # as the node resolved them
    return snap


def _shutdown(node: Any, lifecycle: bool) -> None:
    # SIGINT/rclpy.shutdown do not run on_shutdown: release the engine ourselves
    if lifecycle and node.worker is not None:
        try:
            node.trigger_shutdown()
        except Exception:  # the context may already be shut down
            pass
    node.destroy_node()


def _install_stop_handlers(stop: threading.Event) -> dict[int, Any]:
    """SIGINT/SIGTERM set ``stop`` (main thread only; elsewhere signals are left alone)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    return previous
