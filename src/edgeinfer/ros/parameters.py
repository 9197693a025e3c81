"""Declare :class:`~edgeinfer.ros.params.NodeParams` as typed ROS parameters on a node.

rcl has already applied ``-p``, ``--params-file`` and every matching YAML section (``/**``,
``/ns/node``, wildcards) as the node's *overrides* when the node is created; this module
checks each override against the parameter's type and range (one clear
:class:`~edgeinfer.errors.ConfigError` instead of rclpy's exceptions), declares every
parameter with a static type and a ``ParameterDescriptor`` (description, ranges,
``read_only`` for the ones that cannot change while running), refuses parameters that are
not edgeinfer's, and installs the callbacks that validate and apply run-time changes of the
dynamic ones (``ros2 param set /edgeinfer top_k 3``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.parameter import Parameter

from edgeinfer.errors import ConfigError
from edgeinfer.ros.params import PARAMS, NodeParams, ParamInfo, check_value

# declared by rclpy itself on every node
BUILTIN = frozenset({"use_sim_time", "start_type_description_service"})
_TYPES = {bool: Parameter.Type.BOOL, int: Parameter.Type.INTEGER,
          float: Parameter.Type.DOUBLE, str: Parameter.Type.STRING}  # fmt: skip
_NAMES = {Parameter.Type.BOOL: "bool", Parameter.Type.INTEGER: "integer",
          Parameter.Type.DOUBLE: "double", Parameter.Type.STRING: "string"}  # fmt: skip


def descriptor(name: str, default: Any, info: ParamInfo) -> ParameterDescriptor:
    """The ``ParameterDescriptor`` of one parameter: static type, description, range."""
    desc = ParameterDescriptor(
        name=name,
        type=int(_TYPES[type(default)]),
        description=info.description,
        read_only=not info.dynamic,
    )
    if info.choices:
        desc.additional_constraints = "one of: " + ", ".join(info.choices)
    if isinstance(default, bool):
        return desc
    if isinstance(default, int) and info.low is not None and info.high is not None:
        desc.integer_range = [
            IntegerRange(from_value=int(info.low), to_value=int(info.high), step=1)
        ]
    elif isinstance(default, float) and info.low is not None and info.high is not None:
        desc.floating_point_range = [
            FloatingPointRange(from_value=float(info.low), to_value=float(info.high), step=0.0)
        ]
    return desc


def override_value(name: str, default: Any, override: Parameter | None) -> Any:
    """The value rcl resolved for ``name`` (the default when none), type-checked.

    An integer for a float parameter is accepted (``-p score_threshold:=1``: YAML's ``1`` is
    an integer, the classic ROS 2 trap).

    Raises:
        ConfigError: the override has another type (the message shows how to write it).
    """
    if override is None or override.type_ == Parameter.Type.NOT_SET:
        return default
    want = _TYPES[type(default)]
    got, value = override.type_, override.value
    if got == want:
        return value
    if want == Parameter.Type.DOUBLE and got == Parameter.Type.INTEGER:
        return float(value)
    example = {bool: "true", int: "3", float: "0.5", str: "'text'"}[type(default)]
    raise ConfigError(
        f"parameter {name} must be a {_NAMES[want]}, got {_NAMES.get(got, str(got))} "
        f"{value!r}; e.g. -p {name}:={example} or '{name}: {example}' in the params file"
    )


def declare_params(node: Any, defaults: NodeParams) -> NodeParams:
    """Declare every parameter on ``node`` and return the values rcl resolved.

    Args:
        node: an ``rclpy.node.Node`` (or ``LifecycleNode``) created with the ROS arguments.
        defaults: values used where no override is given (the CLI flags' values).

    Raises:
        ConfigError: an ill-typed or invalid value, or a parameter that is not edgeinfer's.
    """
    overrides: dict[str, Parameter] = dict(getattr(node, "_parameter_overrides", {}))
    values: dict[str, Any] = {}
    for name, info in PARAMS.items():
        default = getattr(defaults, name)
        value = override_value(name, default, overrides.get(name))
        check_value(name, value, info)
        node.declare_parameter(name, value, descriptor(name, default, info), ignore_override=True)
        values[name] = value
    check_unknown(node, overrides)
    return NodeParams.from_dict(values)


def check_unknown(node: Any, overrides: dict[str, Any]) -> None:
    """Refuse overrides that name no edgeinfer parameter (a typo would be silently ignored).

    Raises:
        ConfigError: listing the unknown names and the valid ones.
    """
    unknown = sorted(
        n for n in overrides
        if n not in PARAMS and n not in BUILTIN and not n.startswith("qos_overrides.")
    )  # fmt: skip
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {unknown} for node {node.get_fully_qualified_name()}; "
            f"valid: {', '.join(PARAMS)}"
        )


def watch_params(node: Any, apply: Callable[[dict[str, Any]], None]) -> None:
    """Validate run-time changes (reject with a reason ``ros2 param set`` prints) and hand
    the accepted ones to ``apply`` as ``{name: value}``.
    """

    def validate(params: list[Parameter]) -> SetParametersResult:
        for p in params:
            info = PARAMS.get(p.name)
            if info is None:
                continue
            try:
                check_value(p.name, p.value, info)
            except ConfigError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def applied(params: list[Parameter]) -> None:
        changed = {p.name: p.value for p in params if p.name in PARAMS}
        if changed:
            apply(changed)

    node.add_on_set_parameters_callback(validate)
    node.add_post_set_parameters_callback(applied)


def replaced(params: NodeParams, changed: dict[str, Any]) -> NodeParams:
    """``params`` with the accepted run-time changes."""
    return dataclasses.replace(params, **changed)
