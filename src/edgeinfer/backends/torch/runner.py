"""The PyTorch runner: eager modules, AOTInductor packages or Inductor artifacts, on the CPU
or a CUDA GPU, with persistent buffers.

CPU: numpy inputs are wrapped without a copy (converted once for bf16), outputs are copied
into persistent numpy buffers. CUDA: per input-shape signature, fixed device buffers, pinned
host staging and a captured CUDA graph (:mod:`.cuda`); ``infer`` also takes torch tensors
(on any device) and then returns the persistent *device* output tensors without waiting;
:meth:`TorchRunner.synchronize` waits, :meth:`TorchRunner.timed_infer` times with CUDA events.

torch's intra-op thread count is process-wide: an active runner with ``threads`` sets it and
restores the previous value on deactivation. A CPU AOTInductor engine runs with the thread
count it was compiled with unless told otherwise (its weights are pre-packed for it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.backends.base import LayerProfile, Runner
from edgeinfer.backends.options import parse_options
from edgeinfer.backends.torch import cuda as cuda_stage
from edgeinfer.backends.torch.executors import (
    SOURCE,
    WEIGHTS,
    EngineInfo,
    Executor,
    open_executor,
)
from edgeinfer.backends.torch.prepare import torch_dtype
from edgeinfer.backends.torch.profiling import profile_layers
from edgeinfer.backends.torch.settings import TorchSettings
from edgeinfer.errors import BackendError, EngineError, FeedError, require
from edgeinfer.host import current_gpu, gpu_mismatches

if TYPE_CHECKING:
    from edgeinfer.engine import Engine

__all__ = ["SOURCE", "WEIGHTS", "TorchRunner", "forward"]


def forward(module: Any, inputs: Sequence[np.ndarray]) -> list[Any]:
    """``module(*inputs)`` in inference mode; the outputs as a list of tensors."""
    import torch

    args = [torch.from_numpy(a if a.flags.writeable else a.copy()) for a in inputs]
    with torch.inference_mode():
        out = module(*args)
    return list(out) if isinstance(out, list | tuple) else [out]


def check_gpu(engine: Engine, info: EngineInfo) -> None:
    """Refuse a CUDA engine on a machine without its GPU, compute capability or software.

    Raises:
        EngineError: naming what differs and the fix (rebuild here).
    """
    if info.device != "cuda" or info.gpu is None:
        return
    here = current_gpu(max(info.device_index, 0))
    diff = gpu_mismatches(info.gpu, here)
    if diff:
        raise EngineError(
            f"engine '{engine.path}' was compiled for {info.gpu.describe()}; this machine "
            f"differs: {'; '.join(diff)}; rebuild the engine on this machine with edgeinfer build"
        )


class TorchRunner(Runner):
    """Runs a torch engine with persistent buffers (and CUDA graphs on a GPU).

    Args:
        engine: the engine.
        threads: intra-op CPU threads (None: the engine's).
        cuda_graphs: capture CUDA graphs (None: the engine's setting).
    """

    def __init__(
        self, engine: Engine, *, threads: int | None = None, cuda_graphs: bool | None = None
    ) -> None:
        super().__init__(engine, threads=threads)
        self.info = EngineInfo.from_dict(engine.metadata.get("torch") or {})
        if self.threads is None and self.info.compile_threads and self.info.device == "cpu":
            self.threads = self.info.compile_threads
        settings = parse_options(TorchSettings, "torch", engine.config.options)
        self.cuda_graphs = settings.cuda_graphs if cuda_graphs is None else cuda_graphs
        self.executor: Executor | None = None
        self._saved_threads: int | None = None
        self._outputs: dict[tuple[tuple[int, ...], ...], dict[str, np.ndarray]] = {}
        self._inputs: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}
        self._slots: dict[tuple[tuple[int, ...], ...], cuda_stage.Slot] = {}
        self._dtype: Any = None

    @property
    def on_gpu(self) -> bool:
        """Whether the engine runs on a CUDA GPU."""
        return self.info.device == "cuda"

    @property
    def cuda_device_index(self) -> int | None:
        """The CUDA device the engine runs on (None on the CPU): energy is read from it."""
        return max(self.info.device_index, 0) if self.on_gpu else None

    @property
    def module(self) -> Any:
        """The eager module of an eager engine (None otherwise or when inactive)."""
        return getattr(self.executor, "module", None)

    # -- lifecycle -------------------------------------------------------------------------
    def _activate_impl(self) -> None:
        torch = require("torch", "torch", purpose="the torch backend")
        if self.on_gpu:
            if not torch.cuda.is_available():
                raise EngineError(
                    f"engine '{self.engine.path}' runs on a CUDA GPU and this machine has none "
                    "(or torch is a CPU build); rebuild it with --option device=cpu"
                )
            check_gpu(self.engine, self.info)
        self._saved_threads = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(int(self.threads))
        try:
            capture = self.on_gpu and self.cuda_graphs
            self.executor = open_executor(self.engine.path, self.info, capture=capture)
        except BaseException:
            self._restore_threads()
            raise
        self._dtype = torch_dtype(self.info.precision)

    def _restore_threads(self) -> None:
        import torch

        if self._saved_threads and torch.get_num_threads() != self._saved_threads:
            torch.set_num_threads(self._saved_threads)

    def _deactivate_impl(self) -> None:
        self._restore_threads()
        self.executor = None
        self._outputs.clear()
        self._inputs.clear()
        self._slots.clear()
        if self.on_gpu:
            import torch

            torch.cuda.empty_cache()

    # -- inference -------------------------------------------------------------------------
    def infer(self, feed: Mapping[str, Any], *, copy: bool = False) -> dict[str, Any]:
        """Run one inference on numpy arrays (see :meth:`Runner.infer`) or torch tensors.

        With torch tensors (any device, float32 or the engine's dtype) a CUDA engine returns
        its persistent device output tensors without waiting for the GPU (call
        :meth:`synchronize` before reading them on the host); a CPU engine returns CPU tensors.

        Raises:
            FeedError: wrong input names, dtypes or shapes, or a batch outside the profile.
        """
        if feed and all(_is_tensor(v) for v in feed.values()):
            return self._infer_tensors(feed, copy=copy)
        return super().infer(feed, copy=copy)

    def _infer_impl(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = [feed[n] for n in self._input_names]
        self.info.check_batch(int(arrays[0].shape[0]) if arrays[0].ndim else 1)
        if self.on_gpu:
            slot = self._slot(tuple(a.shape for a in arrays))
            slot.upload(arrays)
            slot.launch()
            slot.download()
            self.synchronize()
            return dict(zip(self._output_names, slot.host_out_np, strict=True))
        return self._infer_cpu(arrays)

    @property
    def _output_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.output_specs)

    def _infer_cpu(self, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        assert self.executor is not None
        xs = [torch.from_numpy(a if a.flags.writeable else a.copy()) for a in arrays]
        xs = [self._convert(x) for x in xs]  # no copy when already right
        with torch.inference_mode():
            outs = self.executor(xs)
        key = tuple(a.shape for a in arrays)
        bufs = self._outputs.get(key)
        if bufs is None or len(bufs) != len(outs):
            bufs = {
                s.name: np.empty(tuple(o.shape), dtype=np.dtype(s.dtype))
                for s, o in zip(self.output_specs, outs, strict=True)
            }
            self._outputs[key] = bufs
        for s, o in zip(self.output_specs, outs, strict=True):
            arr = o.float().numpy() if o.dtype != torch.float32 else o.numpy()
            if arr.shape != bufs[s.name].shape:  # data-dependent output shape
                bufs[s.name] = np.empty(arr.shape, dtype=bufs[s.name].dtype)
            np.copyto(bufs[s.name], arr, casting="unsafe")
        return bufs

    def _convert(self, x: Any) -> Any:
        return cuda_stage.converter(self.info)(x)

    def _slot(self, shapes: tuple[tuple[int, ...], ...]) -> cuda_stage.Slot:
        slot = self._slots.get(shapes)
        if slot is None:
            assert self.executor is not None
            slot = cuda_stage.make_slot(
                self.executor,
                self.info,
                shapes,
                [self._input_dtypes[n] for n in self._input_names],
                [np.dtype(s.dtype) for s in self.output_specs],
                graphs=self.cuda_graphs,
            )
            self._slots[shapes] = slot
        return slot

    def _infer_tensors(self, feed: Mapping[str, Any], *, copy: bool) -> dict[str, Any]:
        if not self.is_active:
            raise BackendError(
                "runner is not active; use it as a context manager: "
                "`with load_runner(engine) as r: r.infer(feed)`"
            )
        tensors = self._check_tensors(feed)
        self.info.check_batch(int(tensors[0].shape[0]))
        if self.on_gpu:
            slot = self._slot(tuple(tuple(t.shape) for t in tensors))
            for dst, t in zip(slot.dev_in, tensors, strict=True):
                dst.copy_(t, non_blocking=True)
            slot.launch()
            outs = list(slot.dev_out)
        else:
            import torch

            assert self.executor is not None
            with torch.inference_mode():
                outs = [o.float() for o in self.executor([self._convert(t) for t in tensors])]
        if copy:
            outs = [o.clone() for o in outs]
        return dict(zip(self._output_names, outs, strict=True))

    def _check_tensors(self, feed: Mapping[str, Any]) -> list[Any]:
        import torch

        if set(feed) != set(self._input_names):
            raise FeedError(
                f"feed has inputs {sorted(feed)}; the engine's inputs are "
                f"{', '.join(s.name + ': ' + s.describe() for s in self.input_specs)}"
            )
        out = []
        for spec in self.input_specs:
            t = feed[spec.name]
            ok_dtype = t.dtype in (torch.float32, self._dtype) or not t.is_floating_point()
            if not ok_dtype or not _shape_ok(spec.shape, tuple(t.shape)):
                raise FeedError(
                    f"input '{spec.name}' expects {spec.describe()}, got tensor "
                    f"{str(t.dtype).removeprefix('torch.')}{list(t.shape)}; convert the tensor"
                )
            out.append(t)
        return out

    def _input_buffer_impl(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        if self.on_gpu:  # the pinned staging buffer: filling it saves the host copy
            shapes = tuple(shape if n == name else self._other_shape(n, shape) for n in self._input_names)
            self.info.check_batch(shape[0] if shape else 1)
            return self._slot(shapes).host_in_np[self._input_names.index(name)]
        key = (name, shape)
        if key not in self._inputs:  # torch.from_numpy shares it: filling it feeds the module
            self._inputs[key] = np.zeros(shape, dtype=self._input_dtypes[name])
        return self._inputs[key]

    def _other_shape(self, name: str, like: tuple[int, ...]) -> tuple[int, ...]:
        spec = self._input_by_name[name]
        dims = [d if isinstance(d, int) else None for d in spec.shape]
        if any(d is None for d in dims[1:]):
            raise FeedError(f"input '{name}' has symbolic dims; feed the inputs with infer")
        return (like[0], *[int(d) for d in dims[1:] if d is not None])

    # -- timing hooks ----------------------------------------------------------------------
    def synchronize(self) -> None:
        """Wait for the GPU work queued by :meth:`infer` (no-op on the CPU)."""
        if self.on_gpu and self.is_active:
            import torch

            torch.cuda.current_stream(self.info.torch_device).synchronize()

    def timed_infer(self, feed: Mapping[str, Any]) -> int:
        """One inference's latency in ns: CUDA events around upload, graph and download on
        the GPU (host work before the upload is not counted); the host clock on the CPU.
        """
        if not self.on_gpu:
            return super().timed_infer(feed)
        import torch

        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        self.infer(feed)
        end.record()
        end.synchronize()
        return int(start.elapsed_time(end) * 1e6)

    def _profile_impl(self, feed: Mapping[str, np.ndarray], iterations: int) -> LayerProfile:
        return profile_layers(self, feed, iterations, cuda=self.on_gpu)


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "is_floating_point")


def _shape_ok(expected: tuple[int | str, ...], actual: tuple[int, ...]) -> bool:
    if len(expected) != len(actual):
        return False
    return all(not isinstance(e, int) or e == a for e, a in zip(expected, actual, strict=True))
