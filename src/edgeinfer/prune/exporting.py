"""Export a pruned module to ONNX and prove the export: traced without warnings, loadable,
and computing what the module computes (ONNX Runtime vs torch at batch 2).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from edgeinfer.errors import EdgeInferError, first_line
from edgeinfer.model import META_PREFIX, Model, export_onnx
from edgeinfer.prune.analysis import PruneError
from edgeinfer.prune.quality import first_tensor

__all__ = ["carried_metadata", "export_checked"]

RTOL = 1e-3  # of the largest |output|: float32 reassociation in ONNX Runtime's kernels


def carried_metadata(model: Model | None) -> dict[str, Any]:
    """The unpruned model's edgeinfer metadata (preprocessing, labels, task, provenance)."""
    if model is None:
        return {}
    keys = [k[len(META_PREFIX) :] for k in model.metadata if k.startswith(META_PREFIX)]
    return {k: model.meta(k) for k in keys}


def _rename_io(path: Path, names: dict[str, str]) -> None:
    """Rename graph inputs/outputs (``{exported: wanted}``) in the ONNX file at ``path``."""
    import onnx

    proto = onnx.load(str(path))
    for node in proto.graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    for vi in [*proto.graph.input, *proto.graph.output]:
        vi.name = names.get(vi.name, vi.name)
    onnx.save(proto, str(path))


def io_names(exported: Model, dense: Model | None) -> dict[str, str]:
    """``{exported name: unpruned model's name}`` for inputs and outputs, so the pruned model
    is fed and read like the unpruned one (empty when the counts differ or nothing changes).
    """
    if dense is None:
        return {}
    same = len(exported.inputs) == len(dense.inputs) and len(exported.outputs) == len(dense.outputs)
    pairs = [*zip(exported.inputs, dense.inputs), *zip(exported.outputs, dense.outputs)]  # noqa: B905
    return {a.name: b.name for a, b in pairs if a.name != b.name} if same else {}


def export_checked(
    module: nn.Module, input_shape: tuple[int, ...], path: Path, dense: Model | None = None
) -> tuple[Model, float]:
    """Export ``module`` to ``path`` and check it; returns the model and max |torch - ORT|.

    Inputs and outputs keep the names of the ``dense`` (unpruned) model.

    Raises:
        PruneError: the export fails or warns that the trace may be wrong (data-dependent
            Python control flow), or ONNX Runtime computes something else.
    """
    module.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("error", torch.jit.TracerWarning)
            export_onnx(module, input_shape, path)
        renames = io_names(Model.load(path), dense)
        if renames:
            _rename_io(path, renames)
        model = Model.load(path)
    except EdgeInferError as exc:
        raise PruneError(
            f"the pruned model does not export to ONNX: {exc.message}; nothing was written"
        ) from exc
    x = torch.randn((2, *input_shape[1:]), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = first_tensor(module(x)).numpy()
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {model.inputs[0].name: x.numpy()})[0]
    except Exception as exc:
        raise PruneError(f"ONNX Runtime cannot run the pruned export: {first_line(exc)}") from exc
    diff = float(np.max(np.abs(got - ref))) if got.shape == ref.shape else float("inf")
    if not diff <= RTOL * max(1.0, float(np.max(np.abs(ref)))):
        raise PruneError(
            f"the ONNX export of the pruned model computes something else than the module "
            f"(max |difference| {diff:.3g} at batch 2); its forward() probably depends on "
            "Python values the trace froze (e.g. a size read with int()); nothing was written"
        )
    return model, diff
