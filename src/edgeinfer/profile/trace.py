"""Chrome-trace JSON of a per-layer profile (open it in ``chrome://tracing`` or Perfetto).

One complete event (``"ph": "X"``) per layer execution, on one track per thread, with the
operator type as the category and the precision and ONNX nodes in ``args``; one event per
profiled inference on a track of its own. Times are microseconds from the first profiled
inference. Where the backend reports durations only (OpenVINO), the layers are laid end to
end and the trace says so in its metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeinfer.backends.base import LayerProfile
from edgeinfer.fileio import atomic_write_text

__all__ = ["chrome_trace", "write_trace"]

_PID = 1
_INFERENCE_TID = 0


def _inference_events(profile: LayerProfile) -> list[dict[str, Any]]:
    spans: dict[int, list[float]] = {}
    for e in profile.events:
        lo, hi = spans.get(e.iteration, [e.start_us, e.start_us + e.dur_us])
        spans[e.iteration] = [min(lo, e.start_us), max(hi, e.start_us + e.dur_us)]
    return [
        {
            "name": f"inference {i}",
            "cat": "inference",
            "ph": "X",
            "pid": _PID,
            "tid": _INFERENCE_TID,
            "ts": round(lo, 3),
            "dur": round(hi - lo, 3),
        }
        for i, (lo, hi) in sorted(spans.items())
    ]


def chrome_trace(profile: LayerProfile, title: str) -> dict[str, Any]:
    """The trace as JSON data (the Chrome trace event format's object form)."""
    layers = {t.name: t for t in profile.layers}
    threads = sorted({e.thread for e in profile.events})
    tid = {t: i + 1 for i, t in enumerate(threads)}
    events: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": _PID, "args": {"name": title}},
        {
            "name": "thread_name",
            "ph": "M",
            "pid": _PID,
            "tid": _INFERENCE_TID,
            "args": {"name": "inferences"},
        },
    ]
    events += [
        {
            "name": "thread_name",
            "ph": "M",
            "pid": _PID,
            "tid": tid[t],
            "args": {"name": f"layers (thread {t})" if t else "layers"},
        }
        for t in threads
    ]
    events += _inference_events(profile)
    for e in profile.events:
        layer = layers.get(e.name)
        events.append(
            {
                "name": e.name,
                "cat": e.op_type or "layer",
                "ph": "X",
                "pid": _PID,
                "tid": tid[e.thread],
                "ts": round(e.start_us, 3),
                "dur": round(e.dur_us, 3),
                "args": {
                    "iteration": e.iteration,
                    "precision": layer.precision if layer else "",
                    "detail": layer.detail if layer else "",
                    "onnx_nodes": list(layer.fused) if layer else [],
                },
            }
        )
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "metadata": {
            "source": profile.source,
            "iterations": profile.iterations,
            "measured_starts": all(e.measured_start for e in profile.events),
            "notes": list(profile.notes),
        },
    }


def write_trace(profile: LayerProfile, path: str | Path, title: str) -> Path:
    """Write :func:`chrome_trace` to ``path`` atomically (compact JSON)."""
    return atomic_write_text(path, json.dumps(chrome_trace(profile, title), separators=(",", ":")))
