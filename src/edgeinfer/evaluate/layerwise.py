"""Which layers break INT8: FP32 and INT8 side by side, every tensor compared, layers ranked.

``diagnose_precision(model, config)`` quantizes the model the way a build would (edgeinfer's
QDQ pass, or NNCF on the ONNX graph), runs FP32 and INT8 on held-out calibration-style
inputs, and

1. measures every layer's output tensor in the INT8 graph against FP32 (SQNR in dB: the
   error accumulated up to that point);
2. ranks the layers by their contribution to the *output* error: each layer is run in float
   alone (reading FP32 activations and weights; :func:`edgeinfer.passes.qdq_float.float_nodes`)
   and the drop of the output noise power is its gain. ``share`` is the gain relative to the
   sum of all gains (the gains of different layers need not add up exactly);
3. keeps the top 1, 2, 4, … layers in float together and reports the output error and top-1
   agreement with FP32 (the fallback curve that mixed precision starts from).

The ranking is what mixed precision (INT8 + FP32 on ONNX Runtime, INT8 + BF16 on OpenVINO)
takes its layers from, most harmful first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.backends import get_backend
from edgeinfer.backends.int8_isa import auto_flag, host_int8_isa
from edgeinfer.calibration import calibration_feeds
from edgeinfer.config import BuildConfig, CalibrationConfig
from edgeinfer.errors import ConfigError, DataError, require
from edgeinfer.evaluate import metrics
from edgeinfer.evaluate.tensor_error import (
    OutputRun,
    Power,
    chunks,
    compare_tensors,
    float_tensors_of,
    output_error,
    run_outputs,
    session,
)
from edgeinfer.model import Model
from edgeinfer.passes import (
    Int8Config,
    Int8Pass,
    PassContext,
    prepare_for_quantization,
    run_pipeline,
)
from edgeinfer.passes.qdq_float import FOLDABLE, float_nodes, quantized_units
from edgeinfer.progress import Progress

if TYPE_CHECKING:
    import onnx

    from edgeinfer.calibration.data import Feed

QUANTIZERS = ("qdq", "nncf")


@dataclass(frozen=True)
class LayerError:
    """One layer of the ranking.

    Attributes:
        rank: 1 = the largest contribution to the output error.
        name: the node's name (what ``--exclude`` and NNCF's ignored scope take).
        op_type: its ONNX op type.
        sqnr_db: SQNR of its output in the INT8 graph vs FP32 (accumulated error), None when
            its output is not a float tensor.
        gain: fraction of the INT8 model's output noise power removed when it alone runs in
            float (negative: float made it worse).
        share: ``gain`` relative to the sum of the positive gains.
    """

    rank: int
    name: str
    op_type: str
    sqnr_db: float | None
    gain: float
    share: float


@dataclass(frozen=True)
class FallbackStep:
    """The top ``layers`` of the ranking in float together."""

    layers: int
    sqnr_db: float
    agreement: float | None


@dataclass(frozen=True)
class PrecisionReport:
    """What :func:`diagnose_precision` found (``to_dict`` for JSON)."""

    model: str
    quantizer: str
    samples: int
    output_sqnr_db: float
    agreement: float | None
    layers: tuple[LayerError, ...]
    fallback: tuple[FallbackStep, ...]
    notes: tuple[str, ...]
    seconds: float

    def ranking(self) -> list[str]:
        """Node names, largest contribution to the output error first (positive gains only)."""
        return [layer.name for layer in self.layers if layer.gain > 0]

    def to_dict(self) -> dict[str, Any]:
        """JSON data."""
        return {
            "model": self.model,
            "quantizer": self.quantizer,
            "samples": self.samples,
            "output_sqnr_db": round(self.output_sqnr_db, 3),
            "agreement": self.agreement,
            "layers": [
                {
                    "rank": x.rank,
                    "name": x.name,
                    "op_type": x.op_type,
                    "sqnr_db": None if x.sqnr_db is None else round(x.sqnr_db, 3),
                    "gain": round(x.gain, 6),
                    "share": round(x.share, 6),
                }
                for x in self.layers
            ],
            "fallback": [
                {"layers": s.layers, "sqnr_db": round(s.sqnr_db, 3), "agreement": s.agreement}
                for s in self.fallback
            ],
            "notes": list(self.notes),
            "seconds": round(self.seconds, 1),
        }


def _agreement(reference: OutputRun, candidate: OutputRun) -> float | None:
    """Top-1 agreement on the first classification output (None: no such output)."""
    for name in reference.outputs:
        ref = reference.stacked(name)
        if metrics.is_class_scores(ref.shape):
            return float(np.mean(metrics.agreement(ref, candidate.stacked(name))))
    return None


def _diagnosis_config(cal: CalibrationConfig, samples: int) -> CalibrationConfig:
    """Held-out inputs drawn like the calibration data (another seed), no cache."""
    if samples < 2:
        raise ConfigError(f"debug precision needs at least 2 samples, got {samples}")
    return replace(
        cal,
        samples=samples,
        seed=cal.seed + 1,
        min_samples=min(cal.min_samples, samples),
        cache=None,
        data_fingerprint=None,
    )


def _qdq(prepared: Model, config: BuildConfig, quiet: bool | None) -> tuple[Model, str]:
    """The QDQ model edgeinfer's INT8 pass makes, with the backend's INT8 options."""
    options = get_backend(config.backend).options(config)
    isa = host_int8_isa()
    reduce = auto_flag(getattr(options, "reduce_range", "auto"), isa)
    cfg = Int8Config(
        calibration=config.calibration_config(),
        preprocess=False,
        reduce_range=reduce,
        quantize_outputs=bool(getattr(options, "quantize_outputs", False)),
        bias_correction=bool(getattr(options, "bias_correction", False)),
    )
    result = Int8Pass(cfg, quiet=quiet)(prepared)
    return result.model, f"quantizer qdq (edgeinfer's INT8 pass, {cfg.calibration.describe()})"


def _nncf(prepared: Model, config: BuildConfig, quiet: bool | None) -> tuple[Model, str]:
    """NNCF's QDQ model of the ONNX graph (full bias correction, as the OpenVINO route)."""
    nncf = require("nncf", "openvino", purpose="debug precision --quantizer nncf")
    cal = config.calibration_config()
    feeds = calibration_feeds(prepared, cal, quiet=quiet)
    name = prepared.inputs[0].name
    samples = [{name: f[name][i : i + 1]} for f in feeds for i in range(len(f[name]))]
    proto = nncf.quantize(
        prepared.proto,
        nncf.Dataset(samples),
        subset_size=len(samples),
        fast_bias_correction=False,
    )
    return Model.from_proto(proto, prepared.path), (
        f"quantizer nncf (NNCF {nncf.__version__} on the ONNX graph, full bias correction, "
        f"{len(samples)} samples of {cal.data})"
    )


def diagnose_precision(
    model: Model,
    config: BuildConfig,
    *,
    samples: int = 32,
    quantizer: str = "qdq",
    max_layers: int | None = None,
    quiet: bool | None = None,
) -> PrecisionReport:
    """Rank the layers of ``model`` by their contribution to its INT8 output error.

    The model goes through the build's graph passes (``config.passes``, e.g. ``act-equalize``)
    and INT8 options (bias correction, reduce_range) first, so the ranking is that of the
    engine the config builds.

    Args:
        model: the FP32 model.
        config: an INT8 build config (its calibration and INT8 options are used).
        samples: held-out calibration-style inputs to compare on.
        quantizer: ``qdq`` (edgeinfer's INT8 pass: the ONNX Runtime and OpenVINO QDQ routes)
            or ``nncf`` (NNCF on the ONNX graph: the OpenVINO NNCF route's quantization).
        max_layers: rank at most this many layers (those with the worst output SQNR first);
            None: all.
        quiet: no progress bars.

    Raises:
        ConfigError: not an INT8 config, an unknown quantizer or too few samples.
        DataError: calibration data missing or not matching the model.
    """
    if config.precision != "int8":
        raise ConfigError("debug precision diagnoses INT8: use an int8 build config")
    if quantizer not in QUANTIZERS:
        raise ConfigError(f"unknown quantizer '{quantizer}'; choose one of {', '.join(QUANTIZERS)}")
    t0 = time.perf_counter()
    graph, notes = run_pipeline(model, config, PassContext(quiet=quiet), lower=False)
    prepared, more = prepare_for_quantization(graph)
    notes.extend(more)
    make = _qdq if quantizer == "qdq" else _nncf
    quantized, how = make(prepared, config, quiet)
    diag = _diagnosis_config(config.calibration_config(), samples)
    feeds = calibration_feeds(prepared, diag, quiet=quiet)
    per_sample = sum(int(a[0].nbytes) for a in feeds[0].values()) if feeds else 0
    feeds = chunks(feeds, per_sample)
    n = sum(int(next(iter(f.values())).shape[0]) for f in feeds)
    units = quantized_units(quantized.proto, prepared.proto)
    if not units:
        raise DataError(f"'{model.name}' has no quantized layers to diagnose")
    ranked, base, sqnr, agree = _rank(
        prepared.proto, quantized.proto, units, feeds, max_layers, quiet
    )
    fallback = _fallback(prepared.proto, quantized.proto, ranked, feeds, base, quiet)
    notes = [*notes, how, f"{len(units)} quantized layers, {n} held-out samples of {diag.data}"]
    return PrecisionReport(
        model=model.name,
        quantizer=quantizer,
        samples=n,
        output_sqnr_db=sqnr,
        agreement=agree,
        layers=tuple(ranked),
        fallback=tuple(fallback),
        notes=tuple(notes),
        seconds=time.perf_counter() - t0,
    )


def _rank(
    fp32: onnx.ModelProto,
    qdq: onnx.ModelProto,
    units: list[tuple[str, str]],
    feeds: list[Feed],
    max_layers: int | None,
    quiet: bool | None,
) -> tuple[list[LayerError], OutputRun, float, float | None]:
    """(ranked layers, FP32 outputs, INT8 output SQNR, INT8 agreement)."""
    node_out = _output_tensors(fp32)
    tensors = float_tensors_of(fp32, [node_out[name] for name, _ in units if name in node_out])
    powers, reference = compare_tensors(fp32, qdq, tensors, feeds)
    int8 = run_outputs(session(qdq, optimize=True), feeds)
    base = output_error(reference, int8)
    sqnr = {
        name: powers[node_out[name]].sqnr_db for name, _ in units if node_out.get(name) in powers
    }
    order = sorted(units, key=lambda u: sqnr.get(u[0], 200.0))
    probe = order[:max_layers] if max_layers else order
    gains: dict[str, float] = {}
    with Progress(quiet) as progress:
        for name, _ in progress.track(probe, "ranking layers (each in float)"):
            gains[name] = _gain(fp32, qdq, [name], feeds, reference, base)
    positive = sum(g for g in gains.values() if g > 0) or 1.0
    ordered = sorted(gains.items(), key=lambda kv: -kv[1])
    ops = dict(units)
    layers = [
        LayerError(i + 1, name, ops[name], sqnr.get(name), gain, gain / positive)
        for i, (name, gain) in enumerate(ordered)
    ]
    return layers, reference, base.sqnr_db, _agreement(reference, int8)


def _output_tensors(fp32: onnx.ModelProto) -> dict[str, str]:
    """Each node's output tensor, as INT8 sees it: the output of a ReLU/ReLU6 that reads it
    alone (INT8 folds that activation into the tensor's quantization range).
    """
    readers: dict[str, list[onnx.NodeProto]] = {}
    for n in fp32.graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    out = {}
    for n in fp32.graph.node:
        if not n.output:
            continue
        tensor = n.output[0]
        after = readers.get(tensor, [])
        while len(after) == 1 and after[0].op_type in FOLDABLE and after[0].output:
            tensor = after[0].output[0]
            after = readers.get(tensor, [])
        out[n.name] = tensor
    return out


def _gain(
    fp32: onnx.ModelProto,
    qdq: onnx.ModelProto,
    names: list[str],
    feeds: list[Feed],
    reference: OutputRun,
    base: Power,
) -> float:
    proto, _ = float_nodes(qdq, fp32, names)
    err = output_error(reference, run_outputs(session(proto, optimize=True), feeds))
    return 1.0 - err.relative / base.relative if base.relative > 0 else 0.0


def _fallback(
    fp32: onnx.ModelProto,
    qdq: onnx.ModelProto,
    ranked: list[LayerError],
    feeds: list[Feed],
    reference: OutputRun,
    quiet: bool | None,
) -> list[FallbackStep]:
    """Output error and agreement with the top 1, 2, 4, … helpful layers in float."""
    helpful = [x.name for x in ranked if x.gain > 0]
    sizes = sorted({k for k in (1, 2, 4, 8, 16, 32, 64) if k < len(helpful)} | {len(helpful)})
    steps = []
    with Progress(quiet) as progress:
        for k in progress.track([s for s in sizes if s > 0], "fallback curve"):
            proto, _ = float_nodes(qdq, fp32, helpful[:k])
            run = run_outputs(session(proto, optimize=True), feeds)
            steps.append(
                FallbackStep(k, output_error(reference, run).sqnr_db, _agreement(reference, run))
            )
    return steps
