"""The PyTorch runner: the module rebuilt from its source and the engine's state dict, run
eagerly under ``torch.inference_mode`` with outputs copied into persistent buffers.

torch's intra-op thread count is process-wide: an active runner with ``threads`` sets it and
restores the previous value on deactivation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.backends.base import Runner
from edgeinfer.errors import BackendError, EdgeInferError, first_line, require
from edgeinfer.source import TorchSource

if TYPE_CHECKING:
    from edgeinfer.engine import Engine

WEIGHTS = "weights.pt"
SOURCE = "source.json"


def forward(module: Any, inputs: Sequence[np.ndarray]) -> list[Any]:
    """``module(*inputs)`` in inference mode; the outputs as a list of tensors."""
    import torch

    args = [torch.from_numpy(a if a.flags.writeable else a.copy()) for a in inputs]
    with torch.inference_mode():
        out = module(*args)
    return list(out) if isinstance(out, list | tuple) else [out]


class TorchRunner(Runner):
    """Runs a torch engine: module + state dict, eager, persistent numpy output buffers."""

    def __init__(self, engine: Engine, *, threads: int | None = None) -> None:
        super().__init__(engine, threads=threads)
        self.module: Any = None
        self._saved_threads: int | None = None
        self._outputs: dict[tuple[tuple[int, ...], ...], dict[str, np.ndarray]] = {}
        self._inputs: dict[tuple[str, tuple[int, ...]], np.ndarray] = {}

    def _activate_impl(self) -> None:
        torch = require("torch", "torch", purpose="the torch backend")
        try:
            data = json.loads(self.engine.payload_path(SOURCE).read_text())
            module = TorchSource.from_dict(data).load()
            state = torch.load(
                self.engine.payload_path(WEIGHTS), map_location="cpu", weights_only=True
            )
            module.load_state_dict(state, strict=True)
        except EdgeInferError as exc:
            raise BackendError(f"{exc} (engine '{self.engine.path}')") from exc
        except Exception as exc:
            raise BackendError(
                f"cannot load torch engine '{self.engine.path}': {first_line(exc)}; rebuild the "
                "engine (the source's architecture may have changed)"
            ) from exc
        self.module = module.eval()
        self._saved_threads = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(int(self.threads))

    def _deactivate_impl(self) -> None:
        import torch

        if self._saved_threads:
            torch.set_num_threads(self._saved_threads)
        self.module = None
        self._outputs.clear()
        self._inputs.clear()

    def _input_buffer_impl(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        key = (name, shape)
        if key not in self._inputs:  # torch.from_numpy shares it: filling it feeds the module
            self._inputs[key] = np.zeros(shape, dtype=self._input_dtypes[name])
        return self._inputs[key]

    def _infer_impl(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = forward(self.module, [feed[n] for n in self._input_names])
        key = tuple(feed[n].shape for n in self._input_names)
        bufs = self._outputs.get(key)
        if bufs is None:
            bufs = {
                s.name: np.empty(tuple(o.shape), dtype=o.numpy().dtype)
                for s, o in zip(self.output_specs, outs, strict=True)
            }
            self._outputs[key] = bufs
        for s, o in zip(self.output_specs, outs, strict=True):
            arr = o.numpy()
            if arr.shape != bufs[s.name].shape:  # data-dependent output shape
                bufs[s.name] = np.empty_like(arr)
            np.copyto(bufs[s.name], arr)
        return bufs
