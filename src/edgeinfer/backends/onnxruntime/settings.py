"""ONNX Runtime session settings: the build options and the session options runners use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeinfer.errors import ConfigError

if TYPE_CHECKING:
    import onnxruntime as ort

PAYLOAD = "model.onnx"
LEVELS = ("disable", "basic", "extended", "all")
OPTIONS = ("optimization_level", "allow_spinning", "quant_preprocess")


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


