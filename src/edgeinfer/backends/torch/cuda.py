"""Running a torch engine on a CUDA GPU: persistent device buffers, pinned host staging and
one CUDA graph per input-shape signature.

Per shape signature a :class:`Slot` holds float32 device inputs and outputs at fixed
addresses, pinned host copies of both (their numpy views are what ``infer`` returns and what
``input_buffer`` hands out), and the CUDA graph of one step: convert the inputs to the
engine's dtype and memory format, run the executor, write float32 outputs. A frame is then
one host copy into pinned memory (none when the caller filled the input buffer), one
asynchronous upload, one graph replay and one asynchronous download.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from edgeinfer.backends.torch.executors import EngineInfo, Executor
from edgeinfer.backends.torch.prepare import torch_dtype
from edgeinfer.errors import BackendError, first_line

__all__ = ["Slot", "make_slot", "oom_error"]

WARMUP_CALLS = 3


def oom_error(exc: BaseException, batch: int) -> BackendError:
    """The one-line error for CUDA out-of-memory at ``batch``."""
    return BackendError(
        f"out of GPU memory at batch {batch} ({first_line(exc)}); use a smaller batch or free "
        "GPU memory"
    )


@contextlib.contextmanager
def cudnn_benchmark() -> Iterator[None]:
    """CuDNN's algorithm benchmarking on, restored afterwards (no global side effect)."""
    import torch

    prev = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = prev


class Slot:
    """Static buffers (and a CUDA graph) for one input-shape signature."""

    def __init__(
        self,
        step: Callable[[], None],
        dev_in: list[Any],
        dev_out: list[Any],
        graph: Any | None,
    ) -> None:
        import torch

        self.step, self.dev_in, self.dev_out, self.graph = step, dev_in, dev_out, graph
        self.host_in = [torch.empty(t.shape, dtype=t.dtype, pin_memory=True) for t in dev_in]
        self.host_out = [torch.empty(t.shape, dtype=t.dtype, pin_memory=True) for t in dev_out]
        self.host_in_np = [t.numpy() for t in self.host_in]
        self.host_out_np = [t.numpy() for t in self.host_out]

    def launch(self) -> None:
        """Enqueue one step on the current stream (graph replay when captured)."""
        if self.graph is not None:
            self.graph.replay()
        else:
            self.step()

    def upload(self, arrays: Sequence[np.ndarray]) -> None:
        """Copy host arrays into the device inputs through the pinned buffers (no copy for an
        array that is the pinned buffer itself).
        """
        for arr, np_buf, host, dev in zip(
            arrays, self.host_in_np, self.host_in, self.dev_in, strict=True
        ):
            if arr is not np_buf:
                np.copyto(np_buf, arr)
            dev.copy_(host, non_blocking=True)

    def download(self) -> None:
        """Enqueue the copies of the device outputs into the pinned host outputs."""
        for host, dev in zip(self.host_out, self.dev_out, strict=True):
            host.copy_(dev, non_blocking=True)


def converter(info: EngineInfo) -> Callable[[Any], Any]:
    """``f(tensor)``: the tensor in the engine's dtype and memory format (what it was
    compiled for: compiled graphs check strides).
    """
    import torch

    dtype = torch_dtype(info.precision)

    def convert(t: Any) -> Any:
        t = t.to(dtype)
        if info.channels_last and t.dim() == 4:
            return t.contiguous(memory_format=torch.channels_last)
        return t.contiguous()

    return convert


def _step_fn(
    executor: Executor, info: EngineInfo, dev_in: list[Any], dev_out: list[Any]
) -> Callable[[], None]:
    import torch

    convert = converter(info)

    def step() -> None:
        with torch.no_grad():
            for dst, out in zip(dev_out, executor([convert(t) for t in dev_in]), strict=True):
                dst.copy_(out)

    return step


def make_slot(
    executor: Executor,
    info: EngineInfo,
    shapes: Sequence[tuple[int, ...]],
    in_dtypes: Sequence[np.dtype],
    out_dtypes: Sequence[np.dtype],
    *,
    graphs: bool,
) -> Slot:
    """Allocate the buffers for ``shapes``, warm up on a side stream and capture the step.

    Raises:
        BackendError: out of GPU memory, or the executor fails or cannot be captured.
    """
    import torch

    dev = torch.device(info.torch_device)
    batch = int(shapes[0][0]) if shapes and shapes[0] else 1
    try:
        with cudnn_benchmark():
            return _make_slot(executor, info, shapes, in_dtypes, out_dtypes, dev, graphs)
    except torch.cuda.OutOfMemoryError as exc:
        torch.cuda.empty_cache()
        raise oom_error(exc, batch) from exc


def _make_slot(
    executor: Executor,
    info: EngineInfo,
    shapes: Sequence[tuple[int, ...]],
    in_dtypes: Sequence[np.dtype],
    out_dtypes: Sequence[np.dtype],
    dev: Any,
    graphs: bool,
) -> Slot:
    import torch

    def tdt(d: np.dtype) -> Any:
        return torch.from_numpy(np.zeros(0, dtype=d)).dtype

    gen = torch.Generator(device="cpu").manual_seed(0)
    dev_in = [
        torch.randn(s, generator=gen).to(dtype=tdt(d), device=dev)
        for s, d in zip(shapes, in_dtypes, strict=True)
    ]
    convert = converter(info)
    with torch.no_grad():
        first = executor([convert(t) for t in dev_in])  # shapes of the outputs
    dev_out = [
        torch.empty(tuple(o.shape), dtype=tdt(d), device=dev)
        for o, d in zip(first, out_dtypes, strict=True)
    ]
    step = _step_fn(executor, info, dev_in, dev_out)
    side = torch.cuda.Stream(device=dev)
    side.wait_stream(torch.cuda.current_stream(dev))
    with torch.cuda.stream(side):
        for _ in range(WARMUP_CALLS):
            step()
    torch.cuda.current_stream(dev).wait_stream(side)
    graph = None
    if graphs and executor.capturable:
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                step()
        except RuntimeError as exc:
            raise BackendError(
                f"CUDA graph capture failed ({first_line(exc)}); build or run with "
                "--option cuda_graphs=false"
            ) from exc
    torch.cuda.synchronize(dev)
    return Slot(step, dev_in, dev_out, graph)
