"""Compiled torch engines on disk: AOTInductor packages and standalone Inductor artifacts.

* **AOTInductor** (``artifact=aoti``, the CPU default): ``torch.export`` then
  ``aoti_compile_and_package`` under ``no_grad`` with ``freezing`` (weights folded into the
  generated code, oneDNN weights pre-packed), one ``.pt2`` per static batch size or one with
  a dynamic batch dimension. Loaded with the raw ``torch._C._aoti.AOTIModelPackageLoader``:
  ``torch._inductor.aoti_load_package`` spends 10-30 s per load compiling and running ISA
  probes in child processes only to log a warning (measured, docs/backends.md).
* **Standalone Inductor artifacts** (``artifact=inductor``, the CUDA default):
  ``torch._inductor.standalone_compile`` of the exported graph, saved with
  ``CompiledArtifact.save``; the Triton kernels (auto-tuned ones included) are bundled, so a
  load does not compile. The artifact holds no weights: they are saved apart
  (``weights.pt``) in the order the compiled graph takes them.

Every function imports torch lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgeinfer.backends.torch.settings import BatchProfile
from edgeinfer.errors import BackendError, first_line

__all__ = [
    "build_aoti",
    "build_inductor",
    "export_module",
    "flatten",
    "load_aoti",
    "load_inductor",
    "load_weights",
]

WEIGHTS_LIST = "weights.pt"


def flatten(out: Any) -> list[Any]:
    """A module's or artifact's output as a flat list of tensors."""
    if isinstance(out, list | tuple):
        items: list[Any] = []
        for o in out:
            items.extend(flatten(o))
        return items
    if isinstance(out, dict):
        return [t for v in out.values() for t in flatten(v)]
    return [out]


def export_module(module: Any, examples: Sequence[Any], dynamic: BatchProfile | None) -> Any:
    """``torch.export.export`` of ``module`` on ``examples`` (batch dim dynamic in ``dynamic``).

    Raises:
        BackendError: the module cannot be exported (graph breaks, data-dependent control flow).
    """
    import torch
    import torch.export

    shapes = None
    if dynamic is not None:
        dim = torch.export.Dim("batch", min=dynamic.low, max=dynamic.high)
        shapes = tuple({0: dim} for _ in examples)
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        with torch.no_grad():
            return torch.export.export(module, tuple(examples), dynamic_shapes=shapes)
    except Exception as exc:
        raise BackendError(
            f"the module cannot be compiled: torch.export failed ({type(exc).__name__}: "
            f"{first_line(exc)}); make forward() traceable (no data-dependent Python control "
            "flow) or build with --option compile=none"
        ) from exc


def build_aoti(
    module: Any,
    examples: Sequence[Any],
    path: Path,
    *,
    dynamic: BatchProfile | None,
    configs: dict[str, Any],
) -> None:
    """Compile ``module`` into the AOTInductor package ``path`` (frozen weights).

    Raises:
        BackendError: export or compilation fails.
    """
    import torch
    import torch._inductor

    ep = export_module(module, examples, dynamic)
    try:
        with torch.no_grad():
            torch._inductor.aoti_compile_and_package(
                ep, package_path=str(path), inductor_configs={"freezing": True, **configs}
            )
    except Exception as exc:
        raise _compile_error(exc) from exc


def _compile_error(exc: BaseException) -> BackendError:
    return BackendError(
        f"TorchInductor failed to compile the module ({type(exc).__name__}: {first_line(exc)}); "
        "build with --option compile=none, or without --option autotune=true"
    )


def load_aoti(path: Path, *, device_index: int, single_threaded: bool) -> Any:
    """The raw AOTInductor loader of package ``path`` (``run(list_of_tensors)``).

    ``single_threaded``: a runner that can be captured in a CUDA graph (the default runner's
    container threading breaks stream capture).
    """
    import torch

    return torch._C._aoti.AOTIModelPackageLoader(str(path), "model", single_threaded, 1, device_index)


def _graph_module(ep: Any) -> Any:
    """The exported program as a picklable GraphModule: without export's guard submodule and
    forward-hook lambdas, which stop AOTAutograd's cache key from pickling (then ``save``
    fails with "no aot_autograd artifacts").
    """
    import torch

    gm0 = ep.module(check_guards=False)
    return torch.fx.GraphModule(gm0, gm0.graph)


def build_inductor(
    module: Any, examples: Sequence[Any], path: Path, *, configs: dict[str, Any]
) -> tuple[list[str], list[Any]]:
    """Compile ``module`` for ``examples`` (static shapes) and save the artifact to ``path``.

    Returns:
        The names and tensors of the weights the loaded artifact takes before the inputs.

    Raises:
        BackendError: export, compilation or saving fails.
    """
    import torch
    import torch._inductor

    ep = export_module(module, examples, None)
    gm = _graph_module(ep)
    try:
        with torch.no_grad():
            art = torch._inductor.standalone_compile(
                gm,
                list(examples),
                dynamic_shapes="from_example_inputs",
                options={"config_patches": dict(configs)},
            )
    except Exception as exc:
        raise _compile_error(exc) from exc
    try:
        art.save(path=str(path), format="binary")
    except Exception as exc:
        raise BackendError(
            f"the compiled module cannot be saved ({first_line(exc)}); torch "
            f"{torch.__version__} cannot serialize this graph: build with --option compile=none"
        ) from exc
    named = [*gm.named_parameters(), *gm.named_buffers()]
    return [n for n, _ in named], [t.detach() for _, t in named]


def save_weights(names: list[str], tensors: list[Any], path: Path) -> None:
    """The weights a loaded Inductor artifact takes, in its order (``torch.load``-able with
    ``weights_only=True``).
    """
    import torch

    torch.save({"names": names, "tensors": [t.detach().cpu() for t in tensors]}, path)


def load_weights(path: Path, device: str) -> list[Any]:
    """The weights saved by :func:`save_weights`, on ``device``."""
    import torch

    data = torch.load(path, map_location="cpu", weights_only=True)
    return [t.to(device) for t in data["tensors"]]


def load_inductor(path: Path) -> Any:
    """A standalone Inductor artifact (called as ``art(*weights, *inputs)``)."""
    import torch
    import torch._inductor

    return torch._inductor.CompiledArtifact.load(path=str(path), format="binary")
