"""What precision an ONNX Runtime engine really computes in, read from its optimized graph.

ONNX Runtime decides at session creation: on CPU it fuses QDQ pairs into integer kernels
(QLinearConv, MatMulInteger, QGemm …) when it can, and wraps FP16 nodes that have no FP16
kernel in Casts (``InsertedPrecisionFreeCast_*``), computing them in FP32. The saved,
optimized payload shows which happened, so the manifest records the truth.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

# Heavy float compute ops (any domain: com.microsoft fused and NCHWc variants included).
FLOAT_COMPUTE = frozenset(
    {"Conv", "ConvTranspose", "MatMul", "Gemm", "FusedConv", "FusedGemm", "FusedMatMul", "NhwcConv"}
)
# Integer compute kernels ONNX Runtime fuses QDQ groups into.
INT_COMPUTE = frozenset(
    {
        "QLinearConv",
        "QLinearMatMul",
        "MatMulInteger",
        "ConvInteger",
        "QGemm",
        "DynamicQuantizeMatMul",
        "MatMulIntegerToFloat",
        "NhwcQLinearConv",
        "QLinearConvTranspose",
    }
)
_FLOAT16, _FLOAT = 10, 1


def _compute_types(path: Path) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """(integer kernels, FP16 float compute ops, FP32 float compute ops) by op type."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    g = proto.graph
    types: dict[str, int] = {vi.name: vi.type.tensor_type.elem_type for vi in g.input}
    types.update({i.name: i.data_type for i in g.initializer})
    ints: Counter[str] = Counter()
    half: Counter[str] = Counter()
    full: Counter[str] = Counter()
    for node in g.node:
        first = next((types[x] for x in node.input if x in types), None)
        if node.op_type == "Cast":
            to = next((a.i for a in node.attribute if a.name == "to"), None)
            out_type = to
        else:
            out_type = first
        if out_type is not None:
            for o in node.output:
                types[o] = out_type
        if node.op_type in INT_COMPUTE:
            ints[node.op_type] += 1
        elif node.op_type in FLOAT_COMPUTE:
            (half if first == _FLOAT16 else full)[node.op_type] += 1
    return ints, half, full


def _fmt(counts: Counter[str]) -> str:
    return ", ".join(f"{op} x{n}" for op, n in sorted(counts.items()))


def executed_precision(payload: Path, requested: str) -> tuple[str, tuple[str, ...]]:
    """The precision the optimized ``payload`` computes in, and notes that explain it."""
    if requested == "fp32":
        return "fp32", ()
    ints, half, full = _compute_types(payload)
    n_full = sum(full.values())
    if requested == "int8":
        if not ints:
            return "fp32", (
                "int8: ONNX Runtime fused no QDQ group into an integer kernel on this host; the "
                "engine computes in FP32 (fake quantization): keep fp32 or try --backend openvino",
            )
        notes = [f"int8: integer kernels {_fmt(ints)}"]
        if n_full:
            notes.append(f"int8: still FP32: {_fmt(full)}")
        return "int8", tuple(notes)
    if requested == "fp16":
        if not half:
            return "fp32", (
                "fp16: ONNX Runtime's CPU provider has no FP16 kernels for "
                f"{', '.join(sorted(full)) or 'these ops'} on this host; it casts them back and "
                "computes in FP32 (weights are stored in FP16): expect no speed-up; keep fp32 or "
                "try --backend openvino",
            )
        notes = [f"fp16: FP16 kernels {_fmt(half)}"]
        if n_full:
            notes.append(f"fp16: still FP32: {_fmt(full)}")
        return "fp16", tuple(notes)
    return requested, ()
