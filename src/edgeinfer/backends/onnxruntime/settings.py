"""ONNX Runtime settings: the backend's typed options and the session options runners use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from edgeinfer import serde
from edgeinfer.backends.int8_isa import check_auto_flag
from edgeinfer.errors import ConfigError

if TYPE_CHECKING:
    import onnxruntime as ort

PAYLOAD = "model.onnx"
LEVELS = ("disable", "basic", "extended", "all")
ORT_OPTIONS_VERSION = 1


@dataclass(frozen=True)
class OrtOptions:
    """ONNX Runtime options of a build (``--option NAME=VALUE``).

    Attributes:
        optimization_level: graph optimizations run once, offline, at build time:
            ``disable``, ``basic``, ``extended`` or ``all`` (with the hardware-specific
            layout transforms).
        allow_spinning: intra-op threads spin while waiting (lowest latency, burns a core
            while idle); runners may override it.
        quant_preprocess: run ONNX Runtime's quantization pre-processing before INT8.
        reduce_range: INT8 with 7-bit weights: ``auto`` (on exactly where the CPU has no
            VNNI, so u8 x s8 pair sums cannot saturate), ``true`` or ``false``.
        quantize_outputs: also quantize the graph outputs (default: they stay float).
        bias_correction: INT8 biases corrected layer by layer on the calibration data
            (NNCF's sequential bias correction; needs the openvino extra).
        version: format version of these options.
    """

    WHAT: ClassVar[str] = "onnxruntime options"

    optimization_level: str = "all"
    allow_spinning: bool = True
    quant_preprocess: bool = True
    reduce_range: bool | str = "auto"
    quantize_outputs: bool = False
    bias_correction: bool = False
    version: int = ORT_OPTIONS_VERSION

    def __post_init__(self) -> None:
        reduce = check_auto_flag("onnxruntime option reduce_range", self.reduce_range)
        object.__setattr__(self, "reduce_range", reduce)
        if self.optimization_level not in LEVELS:
            raise ConfigError(
                f"unknown ONNX Runtime optimization_level '{self.optimization_level}'; choose "
                f"one of {', '.join(LEVELS)}"
            )
        serde.check_version(self.WHAT, self.version, ORT_OPTIONS_VERSION)


def _level(name: str) -> ort.GraphOptimizationLevel:
    import onnxruntime as ort

    mapping = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if name not in mapping:
        raise ConfigError(
            f"unknown ONNX Runtime optimization_level '{name}'; choose one of {', '.join(LEVELS)}"
        )
    return mapping[name]


def session_options(
    threads: int | None, level: str = "disable", spinning: bool = True
) -> ort.SessionOptions:
    """Session options used by runners (and by the overhead benchmark's bare session)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = _level(level)
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.inter_op_num_threads = 1
    if threads:
        so.intra_op_num_threads = threads
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    so.log_severity_level = 3
    return so


