"""Per-layer profiles of torch engines from the PyTorch profiler (``torch.profiler``).

Times are the profiler's *self* time per operator or kernel, averaged over the profiled
inferences: device time on a GPU (kernels), CPU time on the CPU. Inductor-compiled code shows
its generated kernels (``triton_poi_fused_...``, ``cpp_fused_...``) and the library calls it
keeps (convolutions, matrix products); an eager module shows ATen operators.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from edgeinfer.backends.base import LayerProfile, LayerTime

__all__ = ["profile_layers"]

MAX_LAYERS = 200


def _self_ms(event: Any, cuda: bool) -> float:
    if cuda:
        total = getattr(event, "self_device_time_total", None)
        if total is None:
            total = getattr(event, "self_cuda_time_total", 0.0)
        return float(total or 0.0) / 1000.0
    return float(event.self_cpu_time_total) / 1000.0


def profile_layers(
    runner: Any, feed: Mapping[str, np.ndarray], iterations: int, *, cuda: bool
) -> LayerProfile:
    """Profile ``iterations`` inferences of an active torch runner (after one warm-up)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    runner.infer(feed)
    runner.synchronize()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(iterations):
            runner.infer(feed)
        runner.synchronize()
    layers = []
    for ev in prof.key_averages():
        ms = _self_ms(ev, cuda) / iterations
        if ms <= 0 or ev.key.startswith("ProfilerStep"):
            continue
        detail = "cuda kernel" if cuda and getattr(ev, "device_type", None) != torch.autograd.DeviceType.CPU else "cpu"
        layers.append(LayerTime(ev.key, ev.key.split("::")[-1], round(ms, 6), runner.info.precision, detail))
    layers.sort(key=lambda t: t.time_ms, reverse=True)
    layers = layers[:MAX_LAYERS]
    return LayerProfile(
        layers=tuple(layers),
        iterations=iterations,
        total_ms=round(sum(t.time_ms for t in layers), 6),
        source=f"torch.profiler ({'CUDA kernels' if cuda else 'CPU operators'}, self time)",
    )
