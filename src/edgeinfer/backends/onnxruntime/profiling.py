"""Per-layer profiles of ONNX Runtime engines from ONNX Runtime's own profiler.

A separate ``InferenceSession`` on the same payload, with the runner's thread and spinning
settings and ``enable_profiling``, runs the feed; its profiling JSON (a Chrome trace) holds one
``Node`` event per kernel call with the operator (``op_name``), the execution provider and the
input/output types, and one ``model_run`` event per inference. The persistent runner is not
touched. The JSON goes to a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeinfer.backends.base import LayerEvent, LayerProfile, LayerTime
from edgeinfer.backends.onnxruntime.settings import session_options
from edgeinfer.errors import BackendError, first_line

__all__ = ["ProfileSetup", "layer_precision", "name_hints", "profile_payload"]

WARMUP = 2
_SUFFIX = re.compile(r"(_token_\d+|_nchwc|_kernel_time)+$")
_INT8_TYPES = {"int8", "uint8"}
_FLOAT_TYPES = {"float": "fp32", "float16": "fp16", "bfloat16": "bf16", "double": "fp64"}
# Operators that compute in integers whatever their float scale inputs.
_INTEGER_OPS = re.compile(r"^(QLinear\w+|QGemm|QAttention|\w+Integer\w*|DynamicQuantize\w+)$")


def name_hints(layer: str) -> tuple[str, ...]:
    """Source names a profiled node name points to: ONNX Runtime appends ``_token_N`` to
    nodes its transformers rewrote and names NCHWc kernels ``<output tensor>_nchwc``.
    """
    base = _SUFFIX.sub("", layer)
    return (base,) if base and base != layer else (layer,)


def _types(entries: Sequence[Mapping[str, Any]] | None) -> list[str]:
    return [t for entry in entries or () for t in entry]


def layer_precision(op_name: str, inputs: Sequence[str], outputs: Sequence[str]) -> str:
    """The precision a node computed in, from its operator and its tensors' element types.

    ``QuantizeLinear``/``DequantizeLinear`` are conversions (``fp32→int8``, ``int8→fp32``);
    integer kernels (``QLinearConv``, ``MatMulInteger`` …) are ``int8``; otherwise the first
    data tensor's type decides (``fp32``, ``fp16``, ``bf16``; ``int8`` for layout or pooling
    kernels running on 8-bit data); "" when unknown.
    """
    first_in = inputs[0] if inputs else ""
    first_out = outputs[0] if outputs else ""
    if op_name == "QuantizeLinear":
        return f"{_FLOAT_TYPES.get(first_in, first_in)}→int8"
    if op_name == "DequantizeLinear":
        return f"int8→{_FLOAT_TYPES.get(first_out, first_out)}"
    if _INTEGER_OPS.match(op_name) or first_in in _INT8_TYPES:
        return "int8"
    for t in (first_in, first_out):
        if t in _FLOAT_TYPES:
            return _FLOAT_TYPES[t]
    return ""


def _run_profiled(
    setup: ProfileSetup, feed: Mapping[str, np.ndarray], iterations: int, tmp: Path
) -> list[dict[str, Any]]:
    import onnxruntime as ort

    so = session_options(setup.threads, "disable", setup.spinning)
    so.enable_profiling = True
    so.profile_file_prefix = str(tmp / "ort")
    try:
        session = ort.InferenceSession(str(setup.payload), so, providers=["CPUExecutionProvider"])
        data = dict(feed)
        for _ in range(WARMUP + iterations):
            session.run(None, data)
        path = session.end_profiling()
        events = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise BackendError(f"ONNX Runtime's profiler failed: {first_line(exc)}") from exc
    except Exception as exc:  # onnxruntime's own exception types
        raise BackendError(f"ONNX Runtime's profiler failed: {first_line(exc)}") from exc
    if not isinstance(events, list):
        raise BackendError("ONNX Runtime's profiler wrote no event list; update onnxruntime")
    return events


def _runs(events: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """(start, end) in µs of each profiled inference after the warm-up."""
    runs = sorted(
        (float(e["ts"]), float(e["ts"]) + float(e["dur"]))
        for e in events
        if e.get("cat") == "Session" and e.get("name") == "model_run"
    )
    return runs[WARMUP:]


class _Collector:
    """Node events grouped by layer and by inference."""

    def __init__(self, runs: list[tuple[float, float]]) -> None:
        self.runs = runs
        self.starts = np.array([s for s, _ in runs])
        self.total_us: dict[str, float] = defaultdict(float)
        self.first: dict[str, dict[str, Any]] = {}
        self.order: dict[str, int] = {}
        self.per_run = np.zeros(len(runs))
        self.events: list[LayerEvent] = []
        self.arena = 0

    def add(self, e: dict[str, Any]) -> None:
        ts, dur = float(e["ts"]), float(e["dur"])
        i = int(np.searchsorted(self.starts, ts, side="right")) - 1
        if i < 0 or ts > self.runs[i][1]:
            return  # warm-up or outside any inference
        name = str(e["name"]).removesuffix("_kernel_time")
        args = e.get("args", {})
        self.first.setdefault(name, args)
        self.order.setdefault(name, len(self.order))
        self.total_us[name] += dur
        self.per_run[i] += dur
        self.arena = max(self.arena, int(args.get("mem_arena_held", 0) or 0))
        self.events.append(
            LayerEvent(
                name,
                str(args.get("op_name", "")),
                i,
                ts - self.runs[0][0],
                dur,
                int(e.get("tid", 0)),
            )
        )

    def layers(self, iterations: int) -> tuple[LayerTime, ...]:
        out = []
        for name, us in self.total_us.items():
            args = self.first[name]
            op = str(args.get("op_name", ""))
            ins, outs = _types(args.get("input_type_shape")), _types(args.get("output_type_shape"))
            out.append(
                LayerTime(
                    name=name,
                    op_type=op,
                    time_ms=us / iterations / 1000.0,
                    precision=layer_precision(op, ins, outs),
                    detail=str(args.get("provider", "")),
                    fused=name_hints(name),
                    order=self.order[name],
                )
            )
        return tuple(out)


@dataclass(frozen=True)
class ProfileSetup:
    """The payload to profile and the runner's session settings."""

    payload: Path
    threads: int | None
    spinning: bool


def profile_payload(
    setup: ProfileSetup, feed: Mapping[str, np.ndarray], iterations: int
) -> LayerProfile:
    """Profile ``iterations`` inferences (after :data:`WARMUP`) of the payload in a separate
    profiling session.

    Raises:
        BackendError: the profiler failed or recorded fewer inferences than asked.
    """
    with tempfile.TemporaryDirectory(prefix="edgeinfer-ort-profile-") as tmp:
        events = _run_profiled(setup, feed, iterations, Path(tmp))
    runs = _runs(events)
    if len(runs) < iterations:
        raise BackendError(
            f"ONNX Runtime's profiler recorded {len(runs)} of {iterations} inferences; "
            "profile fewer iterations"
        )
    col = _Collector(runs)
    for e in events:
        if e.get("cat") == "Node" and e.get("ph") == "X":
            col.add(e)
    return LayerProfile(
        layers=col.layers(iterations),
        iterations=iterations,
        total_ms=float(col.per_run.mean()) / 1000.0,
        source=f"onnxruntime profiler (CPUExecutionProvider, {setup.threads or 'default'} threads)",
        events=tuple(col.events),
        iteration_ms=tuple(float(v) / 1000.0 for v in col.per_run),
        run_ms=tuple((end - start) / 1000.0 for start, end in runs),
        workspace_bytes=col.arena or None,
    )
