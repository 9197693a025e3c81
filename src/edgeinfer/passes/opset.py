"""Opsets for INT8: per-channel QDQ needs opset 13, so older models are upgraded (ONNX's
version converter, checked and verified numerically) or quantized per tensor, with a note.

``DequantizeLinear`` took an ``axis`` (one scale per output channel) only from opset 13 on.
ONNX Runtime's quantizer writes that attribute whatever the model's opset, so a per-channel
build of an opset-11 export was an invalid graph ("Unrecognized attribute: axis for operator
DequantizeLinear"). :func:`opset_for_per_channel` decides before quantizing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeinfer.errors import EdgeInferError, first_line
from edgeinfer.model import Model
from edgeinfer.preprocess import spec_from_metadata

__all__ = ["PER_AXIS_OPSET", "OpsetDecision", "opset_for_per_channel", "per_channel_possible"]

PER_AXIS_OPSET = 13
_SYMBOLIC_SIZE = 32  # symbolic non-batch dims of the verification input, when nothing says


@dataclass(frozen=True)
class OpsetDecision:
    """What to quantize: ``model`` (maybe upgraded), per channel or not, and why."""

    model: Model
    per_channel: bool
    note: str | None = None


def _upgrade(model: Model) -> Model:
    """``model`` converted to :data:`PER_AXIS_OPSET` and checked (ONNX's checker).

    Raises:
        Exception: whatever the converter or the checker raise.
    """
    from onnx import version_converter

    proto = version_converter.convert_version(model.proto, PER_AXIS_OPSET)
    upgraded = Model.from_proto(proto, model.path)
    upgraded.torch_source = model.torch_source
    return upgraded


def _feed(model: Model) -> dict[str, np.ndarray]:
    """One seeded random input; symbolic H/W from the stored preprocessing size, else 32."""
    spec = spec_from_metadata({"preprocess": model.meta("preprocess")})
    feed = {}
    rng = np.random.default_rng(0)
    for inp in model.inputs:
        dims = []
        for i, d in enumerate(inp.shape):
            if isinstance(d, int):
                dims.append(d)
            elif i == 0:
                dims.append(1)
            elif spec is not None and spec.size is not None and len(inp.shape) == 4:
                dims.append(spec.tensor_shape()[i - 1])
            else:
                dims.append(_SYMBOLIC_SIZE)
        dtype = np.dtype(inp.dtype) if inp.dtype in ("float32", "float16") else np.float32
        feed[inp.name] = rng.standard_normal(dims).astype(dtype)
    return feed


def _run(model: Model, feed: dict[str, np.ndarray]) -> list[Any]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(
        model.proto.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    return list(sess.run(None, feed))


def _same_outputs(a: Model, b: Model) -> str | None:
    """None when both models compute the same outputs on one random input; else why not
    ("not verified: ..." when it could not be run).
    """
    try:
        feed = _feed(a)
        before, after = _run(a, feed), _run(b, feed)
    except Exception as exc:  # a model ONNX Runtime cannot run on random data
        return f"not verified: {first_line(exc)}"
    for x, y in zip(before, after, strict=True):
        if np.shape(x) != np.shape(y) or not np.allclose(x, y, rtol=1e-4, atol=1e-5):
            return "the converted model computes different outputs"
    return None


def opset_for_per_channel(model: Model, per_channel: bool) -> OpsetDecision:
    """How to quantize ``model`` per channel: as it is (opset >= 13), upgraded to opset 13
    (converter + checker + the same outputs on a random input), or per tensor with a note
    when the upgrade fails.
    """
    if not per_channel or model.opset >= PER_AXIS_OPSET or model.opset == 0:
        return OpsetDecision(model, per_channel)
    old = model.opset
    try:
        upgraded = _upgrade(model)
    except Exception as exc:  # ONNX's converter has no adapter for some op, or the checker fails
        return OpsetDecision(model, False, _fallback(old, first_line(exc)))
    problem = _same_outputs(model, upgraded)
    if problem is not None and not problem.startswith("not verified"):
        return OpsetDecision(model, False, _fallback(old, problem))
    verified = f" ({problem})" if problem else " (same outputs as before)"
    return OpsetDecision(
        upgraded,
        True,
        f"int8: opset {old} upgraded to {PER_AXIS_OPSET} with ONNX's version converter for "
        f"per-channel weights (per-channel DequantizeLinear needs opset {PER_AXIS_OPSET}){verified}",
    )


def _fallback(opset: int, why: str) -> str:
    return (
        f"int8: per-tensor weights: per-channel quantization needs opset {PER_AXIS_OPSET} and "
        f"this opset-{opset} model could not be upgraded ({why}); re-export at opset "
        f"{PER_AXIS_OPSET}+ for per-channel weights"
    )


def per_channel_possible(model: Model) -> tuple[bool, str | None]:
    """Whether per-channel INT8 can be built for ``model`` (directly or after an upgrade),
    and the note that says why not.
    """
    try:
        decision = opset_for_per_channel(model, True)
    except EdgeInferError as exc:
        return False, first_line(exc)
    return decision.per_channel, None if decision.per_channel else decision.note
