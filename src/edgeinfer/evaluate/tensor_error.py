"""Run an FP32 model and its QDQ INT8 model side by side and measure every tensor's error.

Both graphs come from the same prepared FP32 model, so a tensor has the same name in both;
in the INT8 graph the value compared is the one its readers see (after its own
QuantizeLinear -> DequantizeLinear pair when it is quantized, which also applies a ReLU6
folded into the quantization range). Errors accumulate over samples as signal and noise
power, so memory stays at one chunk of intermediate tensors.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.errors import BackendError, first_line
from edgeinfer.passes.qdq_float import QdqGraph

if TYPE_CHECKING:
    import onnx
    import onnxruntime as ort

Feed = dict[str, np.ndarray]
_CHUNK_BYTES = 1 << 30  # intermediate tensors of one chunk (estimated 300x the input)


@dataclass
class Power:
    """Accumulated signal and noise power of one tensor (or of all outputs)."""

    signal: float = 0.0
    noise: float = 0.0

    def add(self, reference: np.ndarray, candidate: np.ndarray) -> None:
        """Accumulate one chunk (float64 sums)."""
        ref = reference.astype(np.float64, copy=False)
        diff = candidate.astype(np.float64, copy=False) - ref
        self.signal += float(np.sum(ref * ref))
        self.noise += float(np.sum(diff * diff))

    @property
    def relative(self) -> float:
        """Noise power / signal power (0: identical)."""
        if self.signal <= 0:
            return 0.0 if self.noise <= 0 else math.inf
        return self.noise / self.signal

    @property
    def sqnr_db(self) -> float:
        """Signal-to-quantization-noise ratio in dB (capped at 200 for identical tensors)."""
        rel = self.relative
        return 200.0 if rel <= 1e-20 else min(200.0, -10.0 * math.log10(rel))


@dataclass
class OutputRun:
    """Outputs of one model over the diagnosis data (kept: they are small)."""

    outputs: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, names: Sequence[str], values: Sequence[np.ndarray]) -> None:
        """Append one chunk's outputs."""
        for name, value in zip(names, values, strict=True):
            self.outputs.setdefault(name, []).append(np.asarray(value))

    def stacked(self, name: str) -> np.ndarray:
        """All chunks of output ``name`` along the batch axis."""
        return np.concatenate(self.outputs[name], axis=0)


def session(proto: onnx.ModelProto, *, optimize: bool, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session (``optimize``: full graph optimization, i.e. fused integer
    kernels; otherwise none, i.e. exact fake quantization).

    Raises:
        BackendError: ONNX Runtime cannot load the graph.
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if optimize
        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(
            proto.SerializeToString(), so, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise BackendError(
            f"ONNX Runtime cannot run the diagnosis graph: {first_line(exc)}; check that the "
            "model runs in ONNX Runtime (edgeinfer build MODEL)"
        ) from exc


def chunks(feeds: Iterable[Feed], per_sample_bytes: int) -> list[Feed]:
    """Split batches so that one chunk's intermediate tensors stay near 1 GiB."""
    size = max(1, int(_CHUNK_BYTES // max(per_sample_bytes * 300, 1)))
    out: list[Feed] = []
    for feed in feeds:
        n = int(next(iter(feed.values())).shape[0])
        out.extend({k: v[i : i + size] for k, v in feed.items()} for i in range(0, n, size))
    return out


def _with_outputs(proto: onnx.ModelProto, names: Sequence[str]) -> onnx.ModelProto:
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(proto)
    have = {o.name for o in out.graph.output}
    for name in names:
        if name not in have:
            out.graph.output.append(
                onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
            )
    return out


def float_tensors_of(fp32: onnx.ModelProto, names: Iterable[str]) -> list[str]:
    """Those of ``names`` that are float tensors of ``fp32`` (after shape inference)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(fp32)
    types = {
        vi.name: vi.type.tensor_type.elem_type
        for vi in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]
    }
    return [n for n in names if types.get(n) == onnx.TensorProto.FLOAT]


def compare_tensors(
    fp32: onnx.ModelProto,
    qdq: onnx.ModelProto,
    tensors: Sequence[str],
    feeds: Sequence[Feed],
) -> tuple[dict[str, Power], OutputRun]:
    """Error of each FP32 tensor in ``tensors`` in the INT8 graph, and the FP32 outputs.

    Returns:
        (tensor name -> accumulated :class:`Power`, the FP32 model's graph outputs).
    """
    g = QdqGraph(qdq, fp32)
    q_names = {t: (g.by_name[t].dq_outputs[0] if t in g.by_name else t) for t in tensors}
    present = {o for n in qdq.graph.node for o in n.output} | {i.name for i in qdq.graph.input}
    pairs = [(t, q) for t, q in q_names.items() if q in present]
    outputs = [o.name for o in fp32.graph.output]
    f_sess = session(_with_outputs(fp32, [t for t, _ in pairs]), optimize=False)
    q_sess = session(_with_outputs(qdq, [q for _, q in pairs]), optimize=False)
    f_names = outputs + [t for t, _ in pairs if t not in outputs]
    q_fetch = [q for _, q in pairs]
    powers = {t: Power() for t, _ in pairs}
    reference = OutputRun()
    for feed in feeds:
        f_vals = dict(zip(f_names, f_sess.run(f_names, feed), strict=True))
        q_vals = dict(zip(q_fetch, q_sess.run(q_fetch, feed), strict=True))
        reference.add(outputs, [f_vals[o] for o in outputs])
        for t, q in pairs:
            if f_vals[t].shape == q_vals[q].shape:
                powers[t].add(f_vals[t], q_vals[q])
    return powers, reference


def run_outputs(sess: ort.InferenceSession, feeds: Sequence[Feed]) -> OutputRun:
    """Graph outputs of ``sess`` over ``feeds``."""
    names = [o.name for o in sess.get_outputs()]
    out = OutputRun()
    for feed in feeds:
        out.add(names, sess.run(names, feed))
    return out


def output_error(reference: OutputRun, candidate: OutputRun) -> Power:
    """Signal and noise power over every output and sample."""
    power = Power()
    for name in reference.outputs:
        power.add(reference.stacked(name), candidate.stacked(name))
    return power
