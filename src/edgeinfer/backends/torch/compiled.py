"""Building compiled torch engines: export, compile per batch size, verify in a fresh process.

Kept apart from :mod:`.backend` so the build steps stay small; torch is imported lazily.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.backends.torch import artifacts
from edgeinfer.backends.torch.executors import DYNAMIC_KEY, EngineInfo
from edgeinfer.backends.torch.freshload import FreshLoad, fresh_load
from edgeinfer.backends.torch.prepare import (
    autotune_configs,
    example_input,
    prepare_module,
    torch_dtype,
)
from edgeinfer.backends.torch.settings import BatchProfile, TorchSettings
from edgeinfer.errors import BackendError, first_line
from edgeinfer.progress import Progress

if TYPE_CHECKING:
    from edgeinfer.config import BuildConfig
    from edgeinfer.host import GpuInfo
    from edgeinfer.model import Model

__all__ = ["build_compiled", "output_close"]

# Allowed |fresh - in-process| relative to the output's largest magnitude, per precision.
# Largest |difference| allowed, relative to the largest |reference| value. bf16 keeps 8
# mantissa bits (fp16: 11): on an H200 a compiled bf16 ResNet-50 (random weights) differed from
# the eager bf16 module by 8.3% of the largest logit; weights loaded wrongly differ by ~100%.
TOLERANCE = {"fp32": 1e-3, "fp16": 3e-2, "bf16": 1.5e-1}


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Torch's intra-op threads set to ``n`` in this thread, restored afterwards."""
    import torch

    prev = torch.get_num_threads()
    if n and n != prev:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != prev:
            torch.set_num_threads(prev)


def _static_shapes(model: Model) -> list[tuple[int, ...]]:
    shapes = []
    for spec in model.inputs:
        rest = spec.shape[1:]
        if not spec.shape or not all(isinstance(d, int) for d in rest):
            raise BackendError(
                f"compiling needs static input shapes except the batch; input '{spec.name}' is "
                f"{spec.describe()}: export the model with fixed sizes or use --option compile=none"
            )
        shapes.append((1, *(int(d) for d in rest)))
    return shapes


def output_close(got: list[np.ndarray], ref: list[np.ndarray], precision: str) -> str | None:
    """None when ``got`` matches ``ref`` within the precision's tolerance, else why not."""
    if len(got) != len(ref):
        return f"{len(got)} outputs instead of {len(ref)}"
    for i, (a, b) in enumerate(zip(got, ref, strict=True)):
        if a.shape != b.shape:
            return f"output {i} has shape {list(a.shape)} instead of {list(b.shape)}"
        scale = float(np.abs(b).max()) if b.size else 0.0
        err = float(np.abs(a.astype(np.float64) - b).max()) if b.size else 0.0
        if not np.isfinite(err) or err > TOLERANCE[precision] * max(scale, 1e-6) + 1e-5:
            return f"output {i} differs by {err:.3g} (largest value {scale:.3g})"
    return None


def _compile_one(
    kind: str, module: Any, examples: list[Any], path: Path, dyn: BatchProfile | None, cfg: dict
) -> list[Any] | None:
    if kind == "aoti":
        artifacts.build_aoti(module, examples, path, dynamic=dyn, configs=cfg)
        return None
    names, tensors = artifacts.build_inductor(module, examples, path, configs=cfg)
    artifacts.save_weights(names, tensors, path.parent / artifacts.WEIGHTS_LIST)
    return tensors


def _compile_all(
    module: Any,
    shapes: list[tuple[int, ...]],
    profile: BatchProfile,
    info: EngineInfo,
    s: TorchSettings,
    directory: Path,
) -> dict[int, str]:
    kind, files = info.artifact, {}
    jobs = (
        [(DYNAMIC_KEY, profile.example_batch(), "model_dyn.pt2")]
        if profile.dynamic
        else [(b, b, f"model_b{b}.pt2" if kind == "aoti" else f"graph_b{b}.inductor") for b in profile.sizes]
    )
    with Progress() as progress:
        for key, batch, name in jobs:
            what = "auto-tuning and compiling" if s.autotune else "compiling"
            with progress.task(f"{what} torch engine (batch {batch}, {kind})", None):
                ex = [example_input(sh, batch, info.precision, info.torch_device, info.channels_last) for sh in shapes]
                _compile_one(kind, module, ex, directory / name, profile if profile.dynamic else None, autotune_configs(s.autotune))
            files[key] = name
    return files


def _reference(module: Any, shapes: list[tuple[int, ...]], batch: int, info: EngineInfo) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Float32 inputs at ``batch`` and the prepared module's eager outputs on them."""
    import torch

    xs = [example_input(sh, batch, "fp32", "cpu", False) for sh in shapes]
    dev = [x.to(info.torch_device, torch_dtype(info.precision)) for x in xs]
    if info.channels_last:
        dev = [x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in dev]
    with torch.inference_mode():
        outs = artifacts.flatten(module(*dev))
    return [x.numpy() for x in xs], [o.float().cpu().numpy() for o in outs]


def build_compiled(
    module: Any,
    model: Model,
    config: BuildConfig,
    s: TorchSettings,
    directory: Path,
    *,
    gpu: GpuInfo | None,
) -> tuple[EngineInfo, list[str]]:
    """Compile ``module`` into ``directory`` and check the saved engine in a fresh process.

    Raises:
        BackendError: export, compilation or saving fails, CUDA runs out of memory, or the
            saved engine fails to load or gives other outputs in a fresh process.
    """
    import torch

    shapes = _static_shapes(model)
    source_batch = (model.torch_source.input_shape or (1,))[0] if model.torch_source else 1
    profile = s.profile(source_batch)
    info = EngineInfo(
        artifact=s.artifact_kind,
        device=s.device,
        precision=config.precision,
        channels_last=s.use_channels_last(config.precision, len(shapes[0]) if shapes else 0),
        batch=profile,
        device_index=-1 if gpu is None else gpu.index,
        gpu=gpu,
        compile_threads=int(config.threads or torch.get_num_threads()) if s.device == "cpu" else None,
        version=str(torch.__version__),
    )
    notes: list[str] = []
    with torch_threads(config.threads if s.device == "cpu" else None):
        prepared, prep_notes = prepare_module(
            module,
            precision=config.precision,
            device=info.torch_device,
            channels_last=info.channels_last,
            fold_bn=s.fold_bn and info.artifact == "inductor",
        )
        notes += prep_notes
        t0 = time.perf_counter()
        try:
            files = _compile_all(prepared, shapes, profile, info, s, directory)
        except torch.cuda.OutOfMemoryError as exc:
            raise BackendError(f"out of GPU memory while compiling ({first_line(exc)}); use a smaller batch") from exc
        info = _with_files(info, files)
        notes.append(f"compiled {len(files)} graph(s) for batch {profile.describe()} in {time.perf_counter() - t0:.1f} s" + (" with kernel auto-tuning" if s.autotune else ""))
        if s.verify_load:
            batch = profile.example_batch() if profile.dynamic else profile.sizes[0]
            inputs, ref = _reference(prepared, shapes, batch, info)
            fresh = _verify(directory, info, inputs, ref)
            notes.append(f"loads in a fresh process in {fresh.load_s:.2f} s + first inference {fresh.first_s:.2f} s (after import torch {fresh.import_s:.1f} s)")
    return info, notes


def _with_files(info: EngineInfo, files: dict[int, str]) -> EngineInfo:
    return dataclasses.replace(info, files=files)


def _verify(directory: Path, info: EngineInfo, inputs: list[np.ndarray], ref: list[np.ndarray]) -> FreshLoad:
    fresh = fresh_load(directory, info.to_dict(), inputs)
    why = output_close(fresh.outputs, ref, info.precision)
    if why:
        raise BackendError(
            f"the saved torch engine, loaded in a fresh process, gives other outputs than the "
            f"module ({why}); build with --option compile=none or report the model"
        )
    return fresh
