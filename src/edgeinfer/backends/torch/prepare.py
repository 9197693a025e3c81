"""Getting a module ready to compile: precision, device, memory format, BatchNorm folding.

Every function imports torch lazily (``import edgeinfer.backends.torch`` stays light).
"""

from __future__ import annotations

from typing import Any

from edgeinfer.errors import BackendError, first_line

__all__ = ["DTYPES", "autotune_configs", "example_input", "fold_batchnorm", "torch_dtype"]

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def torch_dtype(precision: str) -> Any:
    """The torch dtype of an edgeinfer precision (fp32/fp16/bf16)."""
    import torch

    return getattr(torch, DTYPES[precision])


def autotune_configs(autotune: bool) -> dict[str, Any]:
    """Inductor config for kernel auto-tuning (what ``mode="max-autotune-no-cudagraphs"`` sets:
    edgeinfer captures its own CUDA graphs, so Inductor's cudagraph trees stay off).
    """
    if not autotune:
        return {}
    return {"max_autotune": True, "coordinate_descent_tuning": True}


def fold_batchnorm(module: Any) -> tuple[Any, str]:
    """``module`` with eval-mode BatchNorm folded into the convolution before it, and a note.

    Uses ``torch.fx.experimental.optimization.fuse`` (symbolic tracing); a module that does
    not trace (data-dependent control flow) is returned unchanged, and the note says so.
    """
    import torch

    if not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules()):
        return module, ""
    try:
        from torch.fx.experimental.optimization import fuse

        fused = fuse(module, inplace=False)
    except Exception as exc:
        return module, f"BatchNorm not folded (the module does not trace: {first_line(exc)})"
    left = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in fused.modules())
    total = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules())
    return fused.eval(), f"BatchNorm folded into convolutions ({total - left} of {total})"


def example_input(
    shape: tuple[int, ...], batch: int, precision: str, device: str, channels_last: bool
) -> Any:
    """A seeded example input of ``shape`` with batch ``batch`` for tracing and checks."""
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.randn((batch, *shape[1:]), generator=g).to(device=device, dtype=torch_dtype(precision))
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def prepare_module(
    module: Any, *, precision: str, device: str, channels_last: bool, fold_bn: bool
) -> tuple[Any, list[str]]:
    """The module converted for the build (weights in ``precision`` on ``device``), and notes.

    Raises:
        BackendError: the module cannot move to the device (e.g. CUDA out of memory).
    """
    import torch

    notes = []
    if fold_bn:
        module, note = fold_batchnorm(module)
        if note:
            notes.append(note)
    try:
        module = module.to(device=device, dtype=torch_dtype(precision))
        if channels_last:
            module = module.to(memory_format=torch.channels_last)
    except torch.cuda.OutOfMemoryError as exc:
        raise BackendError(
            f"the model's weights do not fit on {device}: {first_line(exc)}; free GPU memory"
        ) from exc
    return module.eval(), notes
