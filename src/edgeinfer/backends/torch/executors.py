"""What runs a torch engine's payload: the eager module, AOTInductor packages or Inductor
artifacts, behind one call ``executor(inputs) -> outputs`` on device tensors in the engine's
dtype and memory format.

Shared by the runner and by the fresh-process load check (:mod:`.freshload`), so what the
build verifies is what users run. :class:`EngineInfo` is the ``metadata.torch`` block of the
manifest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeinfer.backends.torch import artifacts
from edgeinfer.backends.torch.prepare import torch_dtype
from edgeinfer.backends.torch.settings import BatchProfile
from edgeinfer.errors import BackendError, EdgeInferError, FeedError, first_line
from edgeinfer.host import GpuInfo
from edgeinfer.source import TorchSource

__all__ = ["SOURCE", "WEIGHTS", "EngineInfo", "open_executor"]

WEIGHTS = "weights.pt"
SOURCE = "source.json"
DYNAMIC_KEY = 0  # files[] key of the one package of a dynamic batch range


@dataclass(frozen=True)
class EngineInfo:
    """How a torch engine runs (``manifest.metadata["torch"]``).

    Attributes:
        artifact: ``eager``, ``aoti`` or ``inductor``.
        device: ``cpu`` or ``cuda``.
        precision: the weights' and activations' precision (fp32/fp16/bf16).
        channels_last: inputs are NHWC in memory.
        batch: the batch profile.
        files: payload file per static batch size (key 0: the dynamic package).
        device_index: CUDA device index (-1 on CPU).
        gpu: the GPU it was built for (CUDA engines).
        compile_threads: intra-op threads at compile time (AOTInductor on CPU pre-packs
            weights for this count).
        version: torch version that built it.
    """

    artifact: str = "eager"
    device: str = "cpu"
    precision: str = "fp32"
    channels_last: bool = False
    batch: BatchProfile = field(default_factory=BatchProfile)
    files: dict[int, str] = field(default_factory=dict)
    device_index: int = -1
    gpu: GpuInfo | None = None
    compile_threads: int | None = None
    version: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON data for the manifest."""
        batch: dict[str, Any] = (
            {"low": self.batch.low, "high": self.batch.high}
            if self.batch.dynamic
            else {"sizes": list(self.batch.sizes)}
        )
        return {
            "artifact": self.artifact,
            "device": self.device,
            "precision": self.precision,
            "channels_last": self.channels_last,
            "batch": batch,
            "files": {str(k): v for k, v in self.files.items()},
            "device_index": self.device_index,
            "gpu": None if self.gpu is None else self.gpu.to_dict(),
            "compile_threads": self.compile_threads,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineInfo:
        """Parse :meth:`to_dict` data (an eager engine of edgeinfer 0.1 has none of it).

        Raises:
            BackendError: malformed data.
        """
        try:
            b = data.get("batch") or {}
            batch = (
                BatchProfile(low=int(b["low"]), high=int(b["high"]))
                if "low" in b
                else BatchProfile(sizes=tuple(int(s) for s in b.get("sizes", ())))
            )
            gpu = data.get("gpu")
            return cls(
                artifact=str(data.get("artifact", "eager")),
                device=str(data.get("device", "cpu")),
                precision=str(data.get("precision", "fp32")),
                channels_last=bool(data.get("channels_last", False)),
                batch=batch,
                files={int(k): str(v) for k, v in (data.get("files") or {}).items()},
                device_index=int(data.get("device_index", -1)),
                gpu=None if gpu is None else GpuInfo.from_dict(gpu),
                compile_threads=data.get("compile_threads"),
                version=str(data.get("version", "")),
            )
        except (KeyError, TypeError, ValueError, EdgeInferError) as exc:
            raise BackendError(
                f"the torch engine's metadata is malformed ({first_line(exc)}); rebuild the engine"
            ) from exc

    @property
    def torch_device(self) -> str:
        """``cpu`` or ``cuda:N``."""
        return "cpu" if self.device == "cpu" else f"cuda:{max(self.device_index, 0)}"

    def check_batch(self, batch: int) -> None:
        """Refuse a batch size outside the profile (a compiled graph has fixed shapes).

        Raises:
            FeedError: naming the profile and the option to rebuild with.
        """
        if self.artifact == "eager" or self.batch.accepts(batch):
            return
        raise FeedError(
            f"this torch engine is compiled for batch {self.batch.describe()}, got batch "
            f"{batch}; rebuild with --option batch=... (e.g. batch={batch} or a range "
            f"batch=1-{max(batch, 2)})"
        )


class Executor:
    """Runs the engine on device tensors: ``executor(inputs) -> list of output tensors``."""

    capturable = True  # may be captured in a CUDA graph

    def __call__(self, inputs: list[Any]) -> list[Any]:
        """Run once on ``inputs`` (the engine's dtype, device and memory format)."""
        raise NotImplementedError


class EagerExecutor(Executor):
    """The module rebuilt from its source with the engine's (converted) state dict."""

    def __init__(self, directory: Path, info: EngineInfo) -> None:
        import torch

        data = json.loads((directory / SOURCE).read_text())
        module = TorchSource.from_dict(data).load()
        state = torch.load(directory / WEIGHTS, map_location="cpu", weights_only=True)
        module = module.to(dtype=torch_dtype(info.precision))
        module.load_state_dict(state, strict=True)
        module = module.to(info.torch_device)
        if info.channels_last:
            module = module.to(memory_format=torch.channels_last)
        self.module = module.eval()

    def __call__(self, inputs: list[Any]) -> list[Any]:
        """``module(*inputs)`` under ``inference_mode``."""
        import torch

        with torch.inference_mode():
            return artifacts.flatten(self.module(*inputs))


class AotiExecutor(Executor):
    """AOTInductor packages, one per batch size (or one dynamic), via the raw loader."""

    def __init__(self, directory: Path, info: EngineInfo, *, capture: bool) -> None:
        index = info.device_index if info.device == "cuda" else -1
        self.loaders = {
            b: artifacts.load_aoti(directory / f, device_index=index, single_threaded=capture)
            for b, f in info.files.items()
        }
        self.dynamic = info.batch.dynamic

    def __call__(self, inputs: list[Any]) -> list[Any]:
        """Run the package of the inputs' batch size."""
        key = DYNAMIC_KEY if self.dynamic else int(inputs[0].shape[0])
        return list(self.loaders[key].run(inputs))


class InductorExecutor(Executor):
    """Standalone Inductor artifacts (one per batch size) and their weights on the device.

    Each batch size's artifact is loaded on its first use (measured on an H200: loading one
    takes seconds, so a runner that serves batch 1 does not wait for the batch-256 graph).
    """

    def __init__(self, directory: Path, info: EngineInfo) -> None:
        self.weights = artifacts.load_weights(directory / artifacts.WEIGHTS_LIST, info.torch_device)
        self.paths = {b: directory / f for b, f in info.files.items()}
        self.arts: dict[int, Any] = {}

    def __call__(self, inputs: list[Any]) -> list[Any]:
        """``artifact(*weights, *inputs)`` for the inputs' batch size."""
        import torch

        batch = int(inputs[0].shape[0])
        art = self.arts.get(batch)
        if art is None:
            art = self.arts[batch] = artifacts.load_inductor(self.paths[batch])
        with torch.no_grad():
            return artifacts.flatten(art(*self.weights, *inputs))


def open_executor(directory: Path, info: EngineInfo, *, capture: bool = False) -> Executor:
    """The executor of the engine payload in ``directory``.

    Raises:
        BackendError: the payload cannot be loaded (with the fix).
    """
    try:
        if info.artifact == "aoti":
            return AotiExecutor(directory, info, capture=capture)
        if info.artifact == "inductor":
            return InductorExecutor(directory, info)
        return EagerExecutor(directory, info)
    except EdgeInferError as exc:
        raise BackendError(f"{exc} (engine '{directory}')") from exc
    except Exception as exc:
        raise BackendError(
            f"cannot load torch engine '{directory}' ({info.artifact}): {first_line(exc)}; "
            "rebuild the engine with this torch"
        ) from exc
