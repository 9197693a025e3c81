"""Engines for the INT8 quality benchmark: peer defaults (ONNX Runtime, OpenVINO, NNCF used
directly, as a user who does not use edgeinfer would) and edgeinfer engines, behind one
small interface (run on arrays, a timed single call)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

Outputs = np.ndarray


@dataclass
class Engine:
    """``run(x)`` -> first output for every row of ``x``; ``call(feed)`` runs one batch."""

    kind: str  # "peer" or "edgeinfer"
    call: Callable[[np.ndarray], np.ndarray]
    executes: str = ""
    notes: list[str] = field(default_factory=list)

    def run(self, x: np.ndarray, batch: int = 50) -> np.ndarray:
        return np.concatenate(
            [np.array(self.call(x[i : i + batch])) for i in range(0, len(x), batch)]
        )

    def timer(self, feed: np.ndarray) -> Callable[[], object] | None:
        return lambda: self.call(feed)


def _ort_session(path_or_bytes: Any, threads: int) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    return ort.InferenceSession(path_or_bytes, so, providers=["CPUExecutionProvider"])


def _ort_engine(sess: Any, executes: str) -> Engine:
    name = sess.get_inputs()[0].name
    out = sess.get_outputs()[0].name
    return Engine("peer", lambda x: sess.run([out], {name: x})[0], executes)


class _Reader:
    """ONNX Runtime ``CalibrationDataReader`` over an array, batches of 16."""

    def __init__(self, x: np.ndarray, name: str) -> None:
        self.batches = iter([{name: x[i : i + 16]} for i in range(0, len(x), 16)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def _ov_engine(compiled: Any, kind: str, executes: str) -> Engine:
    request = compiled.create_infer_request()
    output = compiled.output(0)

    def call(x: np.ndarray) -> np.ndarray:
        return request.infer({0: np.ascontiguousarray(x)})[output]

    return Engine(kind, call, executes)


def peer_engines(model: Any, calib: np.ndarray, threads: int) -> dict[str, Engine]:
    """ONNX Runtime FP32, ONNX Runtime's quantizer, OpenVINO and OpenVINO + NNCF, defaults."""
    import nncf
    import openvino as ov
    from onnxruntime.quantization import quantize_static

    tmp = Path(tempfile.mkdtemp(prefix="int8-peers-"))
    src = model.save(tmp / "model.onnx")
    name = model.inputs[0].name
    out = {"ORT FP32 (peer)": _ort_engine(_ort_session(str(src), threads), "fp32")}
    quantize_static(str(src), str(tmp / "q.onnx"), _Reader(calib, name))  # its defaults
    out["ORT quantize_static defaults (peer)"] = _ort_engine(
        _ort_session(str(tmp / "q.onnx"), threads), "int8 (QDQ, per-tensor, MinMax)"
    )
    core = ov.Core()
    props: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() == "AVX2":
        # Emulated AVX2 host: the plugin still sees this CPU's BF16 (its own CPUID check) and
        # defaults to bf16, which oneDNN's AVX2 kernels cannot run ("Convolution node ... is
        # not initialized"). A real AVX2 CPU defaults to f32: set what it would pick.
        props["INFERENCE_PRECISION_HINT"] = "f32"
    fp32 = core.compile_model(ov.convert_model(str(src)), "CPU", props)
    hint_type = fp32.get_property("INFERENCE_PRECISION_HINT")  # an ov.Type
    hint = getattr(hint_type, "type_name", None) or str(hint_type)
    out["OV defaults (peer)"] = _ov_engine(fp32, "peer", f"fp32 model, plugin default ({hint})")
    samples = [calib[i : i + 1] for i in range(len(calib))]
    q = nncf.quantize(ov.convert_model(str(src)), nncf.Dataset(samples))
    out["OV + NNCF defaults (peer)"] = _ov_engine(
        core.compile_model(q, "CPU", props), "peer", f"int8 (NNCF defaults), rest {hint}"
    )
    for e in out.values():
        e.kind = "peer"
    return out


def edgeinfer_engine(model: Any, config: Any) -> Engine:
    """An edgeinfer engine built (through the engine cache) and kept loaded."""
    from edgeinfer.builder import build, load_runner

    engine = build(model, config)
    runner = load_runner(engine)
    runner.activate()
    name = runner.input_specs[0].name
    out = runner.output_specs[0].name
    return Engine(
        "edgeinfer",
        lambda x: runner.infer({name: np.ascontiguousarray(x)})[out].copy(),
        engine.precision,
        list(engine.manifest.notes),
    )
