"""Empirical bias correction for the QDQ INT8 route, layer by layer, computed by NNCF.

Quantization shifts the mean of each channel's output (weight rounding and activation
clipping do not average out); bias correction measures the shift on calibration data and
subtracts it from the layer's bias. It must be *sequential*: each layer's shift is measured
on the inputs produced by the already corrected, quantized layers before it. A one-shot
correction (every bias at once from the FP32-vs-INT8 mean difference) over-corrects, because a
layer's measured shift already contains its predecessors' shifts: on MobileNetV2 it
collapsed top-1 agreement to 17%.

NNCF's ``BiasCorrection`` (``nncf.quantize(..., fast_bias_correction=False)``) is that
sequential algorithm, well kept and tested, and it runs on ONNX graphs: edgeinfer runs it on
the prepared FP32 model and copies the corrected Conv/Gemm biases back into it, then
quantizes with its own calibrated ranges and ONNX Runtime's quantizer (whose QDQ layout ONNX
Runtime fuses into integer kernels; NNCF's own QDQ model runs 2.3x *slower than FP32* in ONNX
Runtime: only 13 of MobileNetV2's 52 Convs fuse).

The corrected biases are cached (``$EDGEINFER_CACHE_DIR/bias_correction``) by model, NNCF
version and calibration arrays, so mixed-precision searches do not rerun NNCF per build.

Measured (MobileNetV2, percentile 99.99, graph outputs float; confident flips / top-5 misses
on 2 x 500 real-photo crops): without 6/14 and 8/9, with 3/5 and 5/6.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeinfer.calibration import calibration_feeds, fingerprint_feeds
from edgeinfer.errors import MissingExtraError, require
from edgeinfer.fileio import atomic_write_json, cache_dir
from edgeinfer.model import Model
from edgeinfer.passes.base import copy_proto

if TYPE_CHECKING:
    import onnx

    from edgeinfer.config import CalibrationConfig

MIN_SAMPLES = 32
"""Fewer calibration samples than this: the per-channel means are too noisy to correct by."""
BIASED_OPS = ("Conv", "Gemm", "ConvTranspose")


def _array(proto: onnx.ModelProto, name: str) -> np.ndarray | None:
    from onnx import numpy_helper

    for t in proto.graph.initializer:
        if t.name == name:
            return numpy_helper.to_array(t)
    for n in proto.graph.node:
        if n.op_type == "Constant" and n.output[0] == name:
            return numpy_helper.to_array(n.attribute[0].t)
    return None


def bias_correct(
    model: Model, calibration: CalibrationConfig, *, quiet: bool | None = None
) -> tuple[Model, str]:
    """``model`` with the biases NNCF's sequential bias correction computes, and a note.

    The model is returned unchanged (with the reason in the note) when NNCF is not
    installed, the calibration data has fewer than :data:`MIN_SAMPLES` samples, or no
    Conv/Gemm has a bias initializer.

    Raises:
        DataError: the calibration data is missing or does not fit the model.
    """
    try:
        nncf = require("nncf", "openvino", purpose="INT8 bias correction")
    except MissingExtraError as exc:
        return model, f"int8: bias correction skipped: {exc}"
    if calibration.samples < MIN_SAMPLES:
        return model, (
            f"int8: bias correction skipped: it needs at least {MIN_SAMPLES} calibration "
            f"samples, got {calibration.samples} (--calib-samples)"
        )
    proto = copy_proto(model)
    biased = [
        n for n in proto.graph.node if n.op_type in BIASED_OPS and len(n.input) > 2 and n.input[2]
    ]
    init = {t.name: t for t in proto.graph.initializer}
    biased = [n for n in biased if n.input[2] in init]
    if not biased:
        return model, "int8: bias correction skipped: no Conv/Gemm with a bias initializer"
    t0 = time.perf_counter()
    feeds = calibration_feeds(model, calibration, quiet=quiet)
    name = model.inputs[0].name
    samples = [{name: f[name][i : i + 1]} for f in feeds for i in range(len(f[name]))]
    cached = _cache_path(model, nncf.__version__, fingerprint_feeds(feeds))
    biases = _load_cached(cached)
    if biases is None:
        corrected = nncf.quantize(
            model.proto, nncf.Dataset(samples), subset_size=len(samples), fast_bias_correction=False
        )
        biases = _biases(corrected, biased)
        _save_cached(cached, biases)
    changed = _copy_biases(proto, biases, biased)
    out = Model.from_proto(proto, model.path)
    out.torch_source = model.torch_source
    return out, (
        f"int8: bias correction (NNCF {nncf.__version__}, sequential, {len(samples)} samples): "
        f"{changed} of {len(biased)} biases corrected in {time.perf_counter() - t0:.0f} s"
    )


def _cache_path(model: Model, version: str, data: str) -> Path:
    """One cache file per model, NNCF version and calibration arrays."""
    key = hashlib.sha256(f"{model.hash}|nncf {version}|{data}".encode()).hexdigest()[:32]
    return cache_dir() / "bias_correction" / f"{key}.json"


def _load_cached(path: Path) -> dict[str, np.ndarray] | None:
    """The cached biases (None: absent or unreadable, then they are recomputed)."""
    try:
        data = json.loads(path.read_text())
        return {k: np.asarray(v, dtype=np.float32) for k, v in data["biases"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _save_cached(path: Path, biases: dict[str, np.ndarray]) -> None:
    data = {"biases": {k: v.astype(np.float64).tolist() for k, v in biases.items()}}
    try:
        atomic_write_json(path, data)
    except OSError:
        pass  # a read-only cache only costs the next build the NNCF run


def _biases(corrected: onnx.ModelProto, biased: list[onnx.NodeProto]) -> dict[str, np.ndarray]:
    """The corrected bias of each node in ``biased`` (by node name) in NNCF's model."""
    by_name = {n.name: n for n in corrected.graph.node}
    out = {}
    for node in biased:
        other = by_name.get(node.name)
        value = (
            _array(corrected, other.input[2])
            if other is not None and len(other.input) > 2
            else None
        )
        if value is not None:
            out[node.name] = value
    return out


def _copy_biases(
    proto: onnx.ModelProto, biases: dict[str, np.ndarray], biased: list[onnx.NodeProto]
) -> int:
    """Write ``biases`` (by node name) into the bias initializers of ``biased`` in ``proto``."""
    from onnx import numpy_helper

    init = {t.name: t for t in proto.graph.initializer}
    changed = 0
    for node in biased:
        value = biases.get(node.name)
        old = numpy_helper.to_array(init[node.input[2]])
        if value is None or value.shape != old.shape or value.dtype != old.dtype:
            continue
        if not np.array_equal(value, old):
            init[node.input[2]].CopyFrom(numpy_helper.from_array(value, node.input[2]))
            changed += 1
    return changed
