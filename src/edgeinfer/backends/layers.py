"""Data types of per-layer profiles (:meth:`Runner.profile <edgeinfer.backends.base.Runner.profile>`):
what each backend's profiler reports, for :mod:`edgeinfer.profile` to tabulate.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LayerEvent", "LayerProfile", "LayerTime"]


@dataclass(frozen=True)
class LayerTime:
    """Time spent in one layer (node or fused kernel) during profiled inferences.

    Attributes:
        name: the layer's name as the backend reports it.
        op_type: operator or kernel type.
        time_ms: mean time per inference in milliseconds.
        precision: the precision it executed in (e.g. ``fp32``, ``int8``, ``bf16``; "" unknown).
        detail: backend-specific detail (kernel implementation, provider).
        fused: the source model's (ONNX) node names this layer computes, where the backend
            can map a fused kernel back to them (empty: unknown).
        order: its position in execution order (-1: unknown).
    """

    name: str
    op_type: str
    time_ms: float
    precision: str = ""
    detail: str = ""
    fused: tuple[str, ...] = ()
    order: int = -1


@dataclass(frozen=True)
class LayerEvent:
    """One layer's execution in one profiled inference (for timelines: Chrome traces).

    Attributes:
        name: the layer's name (as in :class:`LayerTime`).
        op_type: operator or kernel type.
        iteration: which profiled inference (0-based).
        start_us: start in microseconds from the first profiled inference's start.
        dur_us: duration in microseconds.
        thread: the thread that ran it (0 when unknown).
        measured_start: False when the backend reports durations only and the start is the
            previous layer's end (OpenVINO's performance counters).
    """

    name: str
    op_type: str
    iteration: int
    start_us: float
    dur_us: float
    thread: int = 0
    measured_start: bool = True


@dataclass(frozen=True)
class LayerProfile:
    """Per-layer times from the backend's own profiler (see :meth:`Runner.profile`).

    Attributes:
        layers: one entry per layer, in execution order where known.
        iterations: profiled inferences (warm-up excluded).
        total_ms: mean over inferences of the sum of layer times (ms).
        source: which profiler produced it.
        events: per-inference layer executions (empty when the profiler gives none).
        iteration_ms: the sum of layer times of each profiled inference (ms).
        run_ms: each profiled inference's own end-to-end time as the profiler saw it (ms;
            empty when it reports none).
        workspace_bytes: memory the runtime reports holding for activations (ONNX Runtime's
            arena); None when it reports none.
        notes: what the reader should know (e.g. synthesized start times).
    """

    layers: tuple[LayerTime, ...]
    iterations: int
    total_ms: float
    source: str  # which profiler produced it
    events: tuple[LayerEvent, ...] = ()
    iteration_ms: tuple[float, ...] = ()
    run_ms: tuple[float, ...] = ()
    workspace_bytes: int | None = None
    notes: tuple[str, ...] = ()
