"""The node's parameters: one frozen, validated config, declared as ROS parameters.

Every field is a ROS parameter of the same name (``ros2 param list`` shows them), so it can
be set in a standard ROS 2 params file::

    edgeinfer:                # the node name (or /** for any node)
      ros__parameters:
        engine: /path/to/engine
        input_topic: /camera/image_raw
        top_k: 5

or on the command line (``edgeinfer ros --top-k 3`` or ``--ros-args -p top_k:=3``).
``None``-like values use ROS-friendly sentinels: ``deadline_ms: 0.0`` (no deadline),
``threads: 0`` (backend default), ``input_topic: ""`` (derived from ``compressed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from edgeinfer import serde
from edgeinfer.errors import ConfigError

RELIABILITIES = ("best_effort", "reliable")
CLASSIFICATION_FORMATS = ("auto", "vision_msgs", "json")
TASKS = ("auto", "classification", "dense", "generic")
DEFAULT_INPUT = "/camera/image_raw"
NODE_PARAMS_VERSION = 1


@dataclass(frozen=True)
class NodeParams:
    """Configuration of :class:`edgeinfer.ros.node.EdgeInferNode`.

    Attributes:
        engine: engine directory (or ONNX file, built and cached on start-up).
        input_topic: image topic ("" = ``/camera/image_raw``, plus ``/compressed`` when
            ``compressed``).
        output_prefix: results go to ``<prefix>/classification``, ``<prefix>/map`` or
            ``<prefix>/output/<name>``.
        compressed: subscribe to ``sensor_msgs/CompressedImage`` instead of ``Image``.
        queue_depth: subscription history depth (keep last N).
        reliability: subscription QoS reliability; ``best_effort`` (the sensor-data profile)
            drops stale frames instead of queueing them.
        top_k: classification results per image.
        score_threshold: drop classification results scoring below this.
        deadline_ms: receive-to-publish deadline counted in diagnostics (0: none).
        threads: inference threads (0: the engine's/backend's default).
        max_image_bytes: images larger than this are rejected as malformed.
        classification_format: ``vision_msgs`` (vision_msgs/Classification), ``json``
            (std_msgs/String) or ``auto`` (vision_msgs when installed).
        task: what the outputs are: ``auto`` (engine metadata, else guessed from shapes).
        diagnostics_period_s: period of the ``/diagnostics`` status.
        version: format version of these parameters (not a ROS parameter).
    """

    WHAT: ClassVar[str] = "edgeinfer node parameters"

    engine: str = ""
    input_topic: str = ""
    output_prefix: str = "/edgeinfer"
    compressed: bool = False
    queue_depth: int = 1
    reliability: str = "best_effort"
    top_k: int = 5
    score_threshold: float = 0.0
    deadline_ms: float = 0.0
    threads: int = 0
    max_image_bytes: int = 64 * 1024 * 1024
    classification_format: str = "auto"
    task: str = "auto"
    diagnostics_period_s: float = 1.0
    version: int = NODE_PARAMS_VERSION

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("reliability", self.reliability, RELIABILITIES),
            ("classification_format", self.classification_format, CLASSIFICATION_FORMATS),
            ("task", self.task, TASKS),
        ):
            if value not in allowed:
                raise ConfigError(
                    f"parameter {name} '{value}' is not valid; choose one of {', '.join(allowed)}"
                )
        for name, low in (("queue_depth", 1), ("top_k", 1), ("max_image_bytes", 1)):
            if int(getattr(self, name)) < low:
                raise ConfigError(f"parameter {name} must be >= {low}, got {getattr(self, name)}")
        for name in ("deadline_ms", "threads", "score_threshold"):
            if getattr(self, name) < 0:
                raise ConfigError(f"parameter {name} must be >= 0, got {getattr(self, name)}")
        if self.diagnostics_period_s <= 0:
            raise ConfigError(
                f"parameter diagnostics_period_s must be > 0, got {self.diagnostics_period_s}"
            )
        object.__setattr__(self, "output_prefix", self.output_prefix.rstrip("/") or "/edgeinfer")
        serde.check_version(self.WHAT, self.version, NODE_PARAMS_VERSION)

    @property
    def resolved_input_topic(self) -> str:
        """The image topic: ``input_topic``, else the camera's default (``.../compressed``
        with ``compressed``).
        """
        if self.input_topic:
            return self.input_topic
        return DEFAULT_INPUT + ("/compressed" if self.compressed else "")

    def require_engine(self) -> str:
        """The ``engine`` parameter.

        Raises:
            ConfigError: it is empty (the message says how to set it).
        """
        if not self.engine:
            raise ConfigError(
                "parameter 'engine' is empty; pass --engine ENGINE_DIR or set engine in the "
                "params file (edgeinfer: ros__parameters: engine: ...)"
            )
        return self.engine

    # -- serialization -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON data (see :mod:`edgeinfer.serde`)."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeParams:
        """Build from a mapping, coercing ints/floats/bools to the field types.

        ROS parameters arrive dynamically typed (``"true"``, ``33`` for a float), so this
        keeps its own coercion and the ROS wording of its messages instead of
        :func:`edgeinfer.serde.from_dict`.

        Raises:
            ConfigError: unknown parameters, values of the wrong type, invalid values or a
                newer version.
        """
        known = {f.name: f for f in fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise ConfigError(
                f"unknown edgeinfer node parameter(s) {sorted(unknown)}; valid: {sorted(known)}"
            )
        defaults = cls()
        kw: dict[str, Any] = {}
        for name, value in data.items():
            kw[name] = _coerce(name, value, getattr(defaults, name))
        return cls(**kw)

    @classmethod
    def from_yaml(cls, path: str | Path, node_name: str = "edgeinfer") -> NodeParams:
        """Read the ``ros__parameters`` for ``node_name`` (or ``/**``) from a params file."""
        return cls.from_dict(read_params_file(path, node_name))


def _coerce(name: str, value: Any, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() not in ("true", "false"):
                    raise ValueError(value)
                return value.lower() == "true"
            return bool(value)
        if isinstance(default, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if isinstance(default, float):
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"parameter {name} must be a {type(default).__name__}, got {value!r}"
        ) from exc


def read_params_file(path: str | Path, node_name: str = "edgeinfer") -> dict[str, Any]:
    """The parameters for ``node_name`` in a ROS 2 params file (``/**`` entries first)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"params file '{p}' does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"params file '{p}' is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"params file '{p}' must map node names to ros__parameters")
    out: dict[str, Any] = {}
    for key in ("/**", node_name, "/" + node_name.lstrip("/")):
        entry = data.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("ros__parameters"), dict):
            out.update(entry["ros__parameters"])
    if not out and data:
        raise ConfigError(
            f"params file '{p}' has no '{node_name}: ros__parameters:' (or '/**') section; "
            f"it has {sorted(str(k) for k in data)}"
        )
    return out
