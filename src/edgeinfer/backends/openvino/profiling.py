"""Per-layer profiles of OpenVINO engines from the CPU plugin's performance counters.

The engine's IR is compiled a second time with the runner's properties plus
``PERF_COUNT=True`` (the runner's own compiled model stays as it is), and after each inference
``InferRequest.get_profiling_info()`` gives every executed node's ``real_time`` and its
``exec_type``: the kernel and the precision it ran in (``brgconv_avx512_amx_I8``,
``jit_avx512_f32``). The runtime model adds, per executed node, the original layers fused into
it (``originalLayersNames``: ONNX node names for models from ONNX) and its execution order.
The counters give durations, not start times, so timeline events are laid end to end.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np

from edgeinfer.backends.base import LayerEvent, LayerProfile, LayerTime
from edgeinfer.errors import BackendError, first_line

__all__ = ["exec_precision", "profile_compiled"]

WARMUP = 2
_EXEC_SUFFIX = re.compile(r"_(i8|u8|bf16|f16|fp16|f32|fp32|i32|i64|u1|boolean)$", re.IGNORECASE)
_NAMES = {
    "i8": "int8",
    "u8": "int8",
    "bf16": "bf16",
    "f16": "fp16",
    "fp16": "fp16",
    "f32": "fp32",
    "fp32": "fp32",
    "i32": "int32",
    "i64": "int64",
    "u1": "bool",
    "boolean": "bool",
}


def exec_precision(exec_type: str, runtime_precision: str = "") -> str:
    """The precision a node ran in: the suffix of its ``exec_type`` (``..._I8`` → ``int8``),
    else the runtime model's ``runtimePrecision``; "" when neither says.
    """
    m = _EXEC_SUFFIX.search(exec_type)
    if m:
        return _NAMES[m.group(1).lower()]
    return _NAMES.get(runtime_precision.lower(), runtime_precision.lower())


def _runtime_info(compiled: Any) -> dict[str, tuple[tuple[str, ...], int, str]]:
    """Executed node name -> (original layers fused into it, execution order, runtime precision)."""
    out = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        names = info["originalLayersNames"].astype(str) if "originalLayersNames" in info else ""
        order = info["execOrder"].astype(str) if "execOrder" in info else "-1"
        prec = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else ""
        fused = tuple(n for n in names.split(",") if n)
        out[op.get_friendly_name()] = (
            fused,
            int(order) if order.lstrip("-").isdigit() else -1,
            prec,
        )
    return out


class _Counters:
    """Performance counters summed per node, and laid end to end per inference."""

    def __init__(self) -> None:
        self.total_us: dict[str, float] = defaultdict(float)
        self.kind: dict[str, tuple[str, str]] = {}
        self.per_run: list[float] = []
        self.events: list[LayerEvent] = []

    def add(self, infos: Any, iteration: int, start_us: float) -> None:
        at, run = start_us, 0.0
        for p in infos:
            if str(p.status).rsplit(".", 1)[-1] != "EXECUTED":
                continue
            us = p.real_time.total_seconds() * 1e6
            self.total_us[p.node_name] += us
            self.kind.setdefault(p.node_name, (str(p.node_type), str(p.exec_type)))
            self.events.append(
                LayerEvent(p.node_name, str(p.node_type), iteration, at, us, measured_start=False)
            )
            at += us
            run += us
        self.per_run.append(run)


def profile_compiled(
    compile_profiled: Any, inputs: Mapping[int, np.ndarray], iterations: int
) -> LayerProfile:
    """Profile ``iterations`` inferences (after :data:`WARMUP`) of a model compiled with
    ``PERF_COUNT=True`` by ``compile_profiled()``.

    Raises:
        BackendError: OpenVINO failed to run or to report counters.
    """
    compiled = compile_profiled()
    try:
        request = compiled.create_infer_request()
        for _ in range(WARMUP):
            request.infer(dict(inputs))
        col, runs = _Counters(), []
        t_first = time.perf_counter()
        for i in range(iterations):
            t0 = time.perf_counter()
            request.infer(dict(inputs))
            runs.append((time.perf_counter() - t0) * 1000.0)
            col.add(request.get_profiling_info(), i, (t0 - t_first) * 1e6)
        runtime = _runtime_info(compiled)
    except Exception as exc:
        raise BackendError(f"OpenVINO's performance counters failed: {first_line(exc)}") from exc
    layers = []
    for name, us in col.total_us.items():
        node_type, exec_type = col.kind[name]
        fused, order, prec = runtime.get(name, ((), -1, ""))
        layers.append(
            LayerTime(
                name,
                node_type,
                us / iterations / 1000.0,
                exec_precision(exec_type, prec),
                exec_type,
                fused,
                order,
            )
        )
    layers.sort(key=lambda t: (t.order < 0, t.order))
    per_run = np.asarray(col.per_run) / 1000.0
    return LayerProfile(
        layers=tuple(layers),
        iterations=iterations,
        total_ms=float(per_run.mean()),
        source="openvino performance counters (PERF_COUNT, real time)",
        events=tuple(col.events),
        iteration_ms=tuple(float(v) for v in per_run),
        run_ms=tuple(runs),
        notes=(
            "OpenVINO reports each layer's duration, not its start: timeline events are "
            "laid end to end in execution order",
        ),
    )
