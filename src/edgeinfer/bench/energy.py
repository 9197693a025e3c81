"""Energy per inference: average power and joules per inference over windows of >= 1 s.

Sources, in order: NVIDIA's NVML (``nvidia-ml-py``; the GPU's total-energy counter where the
GPU has one, else its power readings averaged over the window) for runners on a CUDA GPU.
Where nothing is readable the result says "not available" and why; nothing is estimated.
CPU package energy: :mod:`edgeinfer.bench.rapl` (``bench --energy``, read during the run).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from edgeinfer.bench.rapl import EnergyResult
from edgeinfer.errors import ConfigError

__all__ = ["EnergyResult", "measure_energy", "runner_energy"]

MIN_WINDOW_S = 1.0


def check_window(seconds: float) -> None:
    """Refuse an energy window below 1 s or not finite.

    Raises:
        ConfigError: naming the flag to fix.
    """
    if not MIN_WINDOW_S <= seconds < float("inf"):
        raise ConfigError(
            f"energy window must be >= {MIN_WINDOW_S:g} s (GPU power readings average over "
            f"about 1 s), got {seconds}; use --energy-s 1 or more (0 skips it)"
        )


def _nvml() -> Any:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:
        return None
    return pynvml


def measure_energy(
    run_once: Callable[[], None],
    synchronize: Callable[[], None],
    *,
    gpu_index: int | None,
    seconds: float = 2.0,
) -> EnergyResult:
    """Run ``run_once`` back to back for ``seconds`` (at least 1 s) and read the GPU's energy.

    Raises:
        ConfigError: ``seconds`` below 1 or not finite.
    """
    check_window(seconds)
    if gpu_index is None:
        return EnergyResult(
            False, "the engine runs on the CPU; pass --energy to read the CPU's RAPL counters"
        )
    nvml = _nvml()
    if nvml is None:
        return EnergyResult(False, "NVML (nvidia-ml-py) is not installed or not readable")
    try:
        return _measure(nvml, run_once, synchronize, gpu_index, seconds)
    finally:
        nvml.nvmlShutdown()


def _measure(
    nvml: Any, run_once: Callable[[], None], sync: Callable[[], None], index: int, seconds: float
) -> EnergyResult:
    h = nvml.nvmlDeviceGetHandleByIndex(index)
    name = nvml.nvmlDeviceGetName(h)
    name = name.decode() if isinstance(name, bytes) else str(name)
    idle = nvml.nvmlDeviceGetPowerUsage(h) / 1000.0
    try:
        e0: int | None = nvml.nvmlDeviceGetTotalEnergyConsumption(h)  # mJ
    except Exception:
        e0 = None
    samples: list[float] = []
    sync()
    t0 = time.perf_counter()
    n = 0
    while True:
        run_once()
        n += 1
        if n % 16 == 0:
            sync()
            samples.append(nvml.nvmlDeviceGetPowerUsage(h) / 1000.0)
            if time.perf_counter() - t0 >= seconds:
                break
    dt = time.perf_counter() - t0
    if e0 is not None:
        joules = (nvml.nvmlDeviceGetTotalEnergyConsumption(h) - e0) / 1000.0
        source = "NVML total-energy counter"
    else:
        joules = sum(samples) / len(samples) * dt
        source = "NVML power readings x time"
    return EnergyResult(
        True,
        source=source,
        device=name,
        seconds=round(dt, 3),
        inferences=n,
        avg_power_w=round(joules / dt, 2),
        joules_per_inference=joules / n,
        idle_power_w=round(idle, 2),
    )


def runner_energy(runner: Any, feed: dict[str, Any], *, seconds: float = 2.0) -> EnergyResult:
    """:func:`measure_energy` of an active runner on ``feed`` (its GPU, if it runs on one:
    the runner's ``cuda_device_index``).
    """
    index = getattr(runner, "cuda_device_index", None)
    return measure_energy(
        lambda: runner.infer(feed), runner.synchronize, gpu_index=index, seconds=seconds
    )
