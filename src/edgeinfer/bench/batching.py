"""Batch sizes a model can take: its fixed batch dims, and making them dynamic where the graph
allows (checked numerically) so ``bench --batch N`` measures what it says.

A model exported with a fixed batch of 1 cannot take 2 inputs per call; feeding it batch 1
while reporting "batch 2" doubled the reported throughput. :func:`fixed_batches` finds such
inputs; :func:`with_batch` rewrites the leading dim of every input and output to a symbolic
``batch`` and keeps the result only when the graph really computes per-sample (a batch of
several inputs gives the same outputs as running them one by one); graphs that hard-code
the batch (a ``Reshape`` to ``[1, -1]``) are refused with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgeinfer.errors import ConfigError, first_line
from edgeinfer.model import Model
from edgeinfer.passes.base import copy_proto
from edgeinfer.preprocess import spec_from_metadata
from edgeinfer.tensors import TensorSpec, random_feed

__all__ = ["BATCH_DIM", "check_batch", "fixed_batches", "with_batch"]

BATCH_DIM = "batch"


def fixed_batches(specs: Sequence[TensorSpec]) -> dict[str, int]:
    """Inputs whose leading (batch) dim is a fixed number, with that number."""
    return {s.name: s.shape[0] for s in specs if s.shape and isinstance(s.shape[0], int)}


def check_batch(specs: Sequence[TensorSpec], batch: int, what: str) -> None:
    """Refuse ``batch`` when an input's batch dim is fixed to another size.

    Args:
        specs: the inputs.
        batch: the batch size asked for.
        what: the engine or model, for the message (e.g. "engine 'eng/'").

    Raises:
        ConfigError: naming the input, its fixed batch and what to do instead.
    """
    for spec in specs:
        fixed = fixed_batches([spec]).get(spec.name)
        if fixed is not None and fixed != batch:
            raise ConfigError(
                f"--batch {batch}: {what} has a fixed batch of {fixed} (input '{spec.name}' is "
                f"{spec.describe()}), so it cannot take {batch} inputs per call; bench it with "
                f"--batch {fixed}, bench the ONNX file (edgeinfer tries to make its batch "
                "dynamic), or re-export the model with a dynamic batch dim"
            )


def _dynamic(model: Model) -> Model:
    proto = copy_proto(model)
    inits = {i.name for i in proto.graph.initializer}
    for vi in [*(v for v in proto.graph.input if v.name not in inits), *proto.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        if len(dims):
            dims[0].Clear()
            dims[0].dim_param = BATCH_DIM
    del proto.graph.value_info[:]  # intermediate shapes are inferred again
    out = Model.from_proto(proto, model.path)
    out.torch_source = model.torch_source
    return out


def _session(model: Model) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 4  # its failures are reported in our words
    return ort.InferenceSession(
        model.proto.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )


def _dims(model: Model) -> dict[str, int]:
    """Values for symbolic non-batch dims (the stored preprocessing size, else 32)."""
    spec = spec_from_metadata({"preprocess": model.meta("preprocess")})
    out: dict[str, int] = {}
    for inp in model.inputs:
        for i, d in enumerate(inp.shape[1:], start=1):
            if isinstance(d, int):
                continue
            size = spec.tensor_shape() if spec is not None and spec.size is not None else None
            out[str(d)] = size[i - 1] if size is not None and len(inp.shape) == 4 else 32
    return out


def _verify(original: Model, dynamic: Model, batch: int) -> None:
    """The dynamic model on ``batch`` stacked inputs gives the original's per-input outputs.

    Raises:
        ConfigError: it does not run at that batch, or computes something else.
    """
    fixed = fixed_batches(original.inputs)
    per_call = max(fixed.values())
    calls = max(1, -(-batch // per_call))
    feeds = [random_feed(original.inputs, 1, seed=k, dims=_dims(original)) for k in range(calls)]
    s_orig, s_dyn = _session(original), _session(dynamic)
    singles = [s_orig.run(None, f) for f in feeds]
    stacked = {k: np.concatenate([f[k] for f in feeds])[:batch] for k in feeds[0]}
    stacked = {k: np.concatenate([v] * (-(-batch // len(v))))[:batch] for k, v in stacked.items()}
    try:
        together = s_dyn.run(None, stacked)
    except Exception as exc:
        raise ConfigError(_refusal(original, batch, _failure(exc, batch))) from exc
    for i, out in enumerate(together):
        want = np.concatenate([s[i] for s in singles])
        want = np.concatenate([want] * (-(-batch // len(want))))[:batch]
        if np.shape(out) != np.shape(want) or not np.allclose(out, want, rtol=1e-4, atol=1e-5):
            raise ConfigError(
                _refusal(original, batch, "its outputs at that batch differ from per-input runs")
            )


def _failure(exc: Exception, batch: int) -> str:
    """Where ONNX Runtime failed, in a few words (its messages run to hundreds of characters)."""
    text = first_line(exc)
    found = re.search(r"running (\w+) node\. Name:'([^']*)'", text)
    if found:
        return f"its {found.group(1)} node '{found.group(2)}' fails at batch {batch}"
    return f"it fails at batch {batch}: {text[:160]}"


def _refusal(model: Model, batch: int, why: str) -> str:
    fixed = fixed_batches(model.inputs)
    size = max(fixed.values())
    return (
        f"--batch {batch}: model '{model.name}' has a fixed batch of {size} and its graph does "
        f"not allow another ({why}); bench with --batch {size}, or re-export the model with a "
        "dynamic batch dim"
    )


def with_batch(model: Model, batch: int) -> tuple[Model, str | None]:
    """``model`` able to take ``batch`` inputs per call, and a note when it was changed.

    A model whose batch dims are dynamic (or already ``batch``) is returned as it is.
    Otherwise the leading dim of every input and output becomes a symbolic ``batch``, kept
    only when ONNX Runtime runs it at ``batch`` and the outputs equal per-input runs.

    Raises:
        ConfigError: the graph hard-codes its batch (the message says why).
    """
    fixed = fixed_batches(model.inputs)
    if not fixed or all(b == batch for b in fixed.values()):
        return model, None
    try:
        dynamic = _dynamic(model)
    except Exception as exc:  # the checker or shape inference refuse the rewritten graph
        raise ConfigError(_refusal(model, batch, first_line(exc))) from exc
    _verify(model, dynamic, batch)
    size = max(fixed.values())
    return dynamic, (
        f"reshaped: '{model.name}' has a fixed batch of {size}; its batch dim was made dynamic "
        f"for --batch {batch} (checked: outputs at batch {batch} equal per-input runs)"
    )
