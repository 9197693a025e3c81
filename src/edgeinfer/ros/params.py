"""The node's parameters: one frozen, validated config, and the table that declares them.

Every field of :class:`NodeParams` is a ROS parameter of the same name, declared with a
static type, a description and its range or choices (:data:`PARAMS`), so ``ros2 param
describe`` shows them and rclpy refuses ill-typed or out-of-range values. rcl applies every
standard source (``-p name:=value``, ``--params-file``, ``/**:`` and ``/ns/node:`` sections,
wildcards) before the node reads them::

    /robot/edgeinfer:         # the node's full name; or /** for any node
      ros__parameters:
        engine: /path/to/engine
        input_topic: /camera/image_raw
        top_k: 5

``dynamic`` parameters (score threshold, top-k, deadline, detection post-processing) may be
changed at run time (``ros2 param set``); the others are read-only once declared.
``None``-like values use ROS-friendly sentinels: ``deadline_ms: 0.0`` (no deadline),
``threads: 0`` (backend default), ``input_topic: ""`` (derived from ``compressed``),
``expected_image: ""`` (unknown).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from edgeinfer import serde
from edgeinfer.errors import ConfigError

RELIABILITIES = ("best_effort", "reliable")
RESULT_FORMATS = ("auto", "vision_msgs", "json")
OUTPUT_KINDS = ("auto", "classification", "detection", "dense", "generic")
DEFAULT_INPUT = "/camera/image_raw"
NODE_PARAMS_VERSION = 2
_FLOAT_MAX = 1e12
_EXPECTED = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*([A-Za-z0-9_]*)\s*$")


@dataclass(frozen=True)
class ParamInfo:
    """How one parameter is declared: description, mutability and its valid values.

    Attributes:
        description: one line for ``ros2 param describe``.
        dynamic: may change at run time (else read-only once declared).
        low: smallest valid value (numbers).
        high: largest valid value (numbers).
        choices: the valid values (strings).
    """

    description: str
    dynamic: bool = False
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()


PARAMS: dict[str, ParamInfo] = {
    "engine": ParamInfo("engine directory (or ONNX file, built and cached at configure)"),
    "input_topic": ParamInfo("image topic ('' = /camera/image_raw[/compressed])"),
    "output_prefix": ParamInfo("result topics prefix: <prefix>/classification, /detections..."),
    "compressed": ParamInfo("subscribe to sensor_msgs/CompressedImage instead of Image"),
    "queue_depth": ParamInfo("subscription history depth (keep last N)", low=1, high=1000),
    "reliability": ParamInfo("subscription QoS reliability", choices=RELIABILITIES),
    "top_k": ParamInfo("classification results per image", True, 1, 100_000),
    "score_threshold": ParamInfo("drop results scoring below this", True, 0.0, 1.0),
    "deadline_ms": ParamInfo("receive-to-publish deadline (0: none)", True, 0.0, 1e7),
    "threads": ParamInfo("inference threads (0: backend default)", low=0, high=1024),
    "spinning": ParamInfo("let idle inference threads spin (lower latency, much more CPU)"),
    "max_image_bytes": ParamInfo("larger images are rejected", low=1, high=2**40),
    "result_format": ParamInfo(
        "vision_msgs (Classification, Detection2DArray), json (std_msgs/String) or auto",
        choices=RESULT_FORMATS,
    ),
    "output_kind": ParamInfo("what the outputs are (auto: from the engine)", choices=OUTPUT_KINDS),
    "det_threshold": ParamInfo("detection: probability-map binarization threshold", True, 0, 1),
    "box_threshold": ParamInfo("detection: minimum mean probability inside a box", True, 0, 1),
    "unclip_ratio": ParamInfo("detection: box growth (area * ratio / perimeter)", True, 0, 100),
    "min_box_size": ParamInfo("detection: minimum box side, map pixels", True, 0, 1e6),
    "max_detections": ParamInfo("detection: at most this many boxes per image", True, 1, 100_000),
    "expected_image": ParamInfo("camera frames, e.g. '640x480 rgb8' (transport check; '' off)"),
    "diagnostics_period_s": ParamInfo("/diagnostics period", low=0.01, high=3600.0),
}


@dataclass(frozen=True)
class NodeParams:
    """Configuration of the edgeinfer node (see :data:`PARAMS` for each field's meaning).

    Attributes:
        engine: engine directory (or ONNX file, built and cached on start-up).
        input_topic: image topic ("" = ``/camera/image_raw``, plus ``/compressed`` when
            ``compressed``).
        output_prefix: results go to ``<prefix>/classification``, ``<prefix>/detections``,
            ``<prefix>/map`` or ``<prefix>/output/<name>``.
        compressed: subscribe to ``sensor_msgs/CompressedImage`` instead of ``Image``.
        queue_depth: subscription history depth (keep last N).
        reliability: subscription QoS reliability; ``best_effort`` (the sensor-data profile)
            drops stale frames instead of queueing them.
        top_k: classification results per image.
        score_threshold: drop classification results and detections scoring below this.
        deadline_ms: receive-to-publish deadline counted in diagnostics (0: none).
        threads: inference threads (0: the engine's/backend's default).
        spinning: let idle inference threads spin-wait (off in the node: frames arrive
            every few tens of ms and spinning threads burn a core between them).
        max_image_bytes: images larger than this are rejected as malformed.
        result_format: ``vision_msgs`` (vision_msgs/Classification or Detection2DArray),
            ``json`` (std_msgs/String) or ``auto`` (vision_msgs when installed).
        output_kind: ``auto`` (engine metadata, else guessed from shapes), ``classification``,
            ``detection`` (text boxes from a DB probability map), ``dense`` or ``generic``.
        det_threshold: DB binarization threshold of the probability map.
        box_threshold: minimum mean probability inside a detected box.
        unclip_ratio: how much a detected text kernel is grown (DB's unclip).
        min_box_size: boxes whose shorter side is below this (map pixels) are dropped.
        max_detections: at most this many detections per image.
        expected_image: the camera's frames (``"640x480 rgb8"``), to warn at start-up when
            they exceed what the transport delivers under the chosen QoS ("" = unknown).
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
    spinning: bool = False
    max_image_bytes: int = 64 * 1024 * 1024
    result_format: str = "auto"
    output_kind: str = "auto"
    det_threshold: float = 0.3
    box_threshold: float = 0.5
    unclip_ratio: float = 1.6
    min_box_size: float = 3.0
    max_detections: int = 1000
    expected_image: str = ""
    diagnostics_period_s: float = 1.0
    version: int = NODE_PARAMS_VERSION

    def __post_init__(self) -> None:
        for name, info in PARAMS.items():
            check_value(name, getattr(self, name), info)
        expected_image_size(self.expected_image)
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
                "parameter 'engine' is empty; pass --engine ENGINE_DIR, -p engine:=ENGINE_DIR "
                "after --ros-args, or set engine in the params file"
            )
        return self.engine

    # -- serialization -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON data (see :mod:`edgeinfer.serde`)."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeParams:
        """Build from a mapping of JSON values (ints are accepted for float fields).

        Raises:
            ConfigError: unknown parameters, values of the wrong type, invalid values or a
                newer version.
        """
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(
                f"unknown edgeinfer node parameter(s) {sorted(unknown)}; valid: {sorted(PARAMS)}"
            )
        defaults = cls()
        kw = {name: _coerce(name, value, getattr(defaults, name)) for name, value in data.items()}
        return cls(**kw)


def check_value(name: str, value: Any, info: ParamInfo) -> None:
    """Refuse a value outside the parameter's range or choices (NaN and inf included).

    Raises:
        ConfigError: the message names the parameter and its valid values.
    """
    if info.choices and value not in info.choices:
        raise ConfigError(
            f"parameter {name} '{value}' is not valid; choose one of {', '.join(info.choices)}"
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"parameter {name} must be a finite number, got {value}")
    if info.low is not None and value < info.low:
        raise ConfigError(f"parameter {name} must be >= {_num(info.low)}, got {value}")
    if info.high is not None and value > info.high:
        raise ConfigError(f"parameter {name} must be <= {_num(info.high)}, got {value}")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def expected_image_size(text: str) -> tuple[int, int, str] | None:
    """``"640x480 rgb8"`` -> (640, 480, "rgb8"); "" -> None (encoding defaults to rgb8).

    Raises:
        ConfigError: not WIDTHxHEIGHT [ENCODING].
    """
    if not text:
        return None
    m = _EXPECTED.match(text)
    if m is None or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise ConfigError(
            f"parameter expected_image '{text}' is not valid; write WIDTHxHEIGHT [ENCODING], "
            "e.g. '640x480 rgb8'"
        )
    return int(m.group(1)), int(m.group(2)), m.group(3) or "rgb8"


def _coerce(name: str, value: Any, default: Any) -> Any:
    kind = type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind):
        return value
    raise ConfigError(
        f"parameter {name} must be a {kind.__name__}, got {type(value).__name__} {value!r}"
    )
