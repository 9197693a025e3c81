"""INT8 pass: static QDQ quantization with calibrated activation ranges (ONNX Runtime).

Steps: optional pre-processing (ONNX Runtime's ``quant_pre_process``: shape inference and
basic graph optimization), calibration (:func:`edgeinfer.calibration.calibrate`, cached), then
``quantize_static`` in QDQ format fed with the calibrated ranges. Weights are INT8 (per output
channel by default; models below opset 13 are upgraded for it, or quantized per tensor:
:mod:`edgeinfer.passes.opset`); activations UINT8 asymmetric or INT8 symmetric. Excluded
nodes (by name or op type) stay FP32: the optimizer's mixed precision builds on this. The
result is checked against FP32 on held-out calibration-style inputs and refused when
degenerate (:mod:`edgeinfer.passes.int8_check`).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from edgeinfer import serde
from edgeinfer.calibration import calibrate
from edgeinfer.config import CalibrationConfig
from edgeinfer.errors import BackendError, ConfigError, ModelError, first_line
from edgeinfer.model import Model
from edgeinfer.passes.act_equalize import drop_redundant_min
from edgeinfer.passes.base import Pass, PassResult, check_exclude, copy_proto, ensure_node_names
from edgeinfer.passes.bias_correction import bias_correct
from edgeinfer.passes.int8_check import check_int8, verdict
from edgeinfer.passes.opset import opset_for_per_channel
from edgeinfer.passes.qdq_float import float_nodes, float_tensors

if TYPE_CHECKING:
    from edgeinfer.calibration.table import CalibrationTable

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
INT8_CONFIG_VERSION = 1


@dataclass(frozen=True)
class Int8Config:
    """Settings of :class:`Int8Pass`.

    Attributes:
        calibration: calibrator, data, and activation/weight granularity settings.
        exclude: node names or op types kept in FP32.
        preprocess: run ONNX Runtime's ``quant_pre_process`` first (recommended).
        op_types: op types to quantize (empty: every op ONNX Runtime can quantize).
        reduce_range: 7-bit weights, so that u8 x s8 pair sums cannot saturate 16 bits on
            CPUs without VNNI (ONNX Runtime's ``reduce_range``; costs accuracy on VNNI).
        quantize_outputs: quantize the graph outputs too (False: they stay float; 8-bit
            logits alone flipped 3 of 191 confident MobileNetV2 predictions).
        bias_correction: correct Conv/Gemm biases for the mean shift INT8 causes, layer by
            layer on the calibration data (:mod:`edgeinfer.passes.bias_correction`).
        version: format version of this config.
    """

    WHAT: ClassVar[str] = "int8"

    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    exclude: tuple[str, ...] = ()
    preprocess: bool = True
    op_types: tuple[str, ...] = ()
    reduce_range: bool = False
    quantize_outputs: bool = False
    bias_correction: bool = False
    version: int = INT8_CONFIG_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.calibration, CalibrationConfig):
            raise ConfigError("Int8Config.calibration must be a CalibrationConfig")
        for name in ("exclude", "op_types"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"int8 {name} must be a list of names")
            object.__setattr__(self, name, tuple(value))
        serde.check_version(self.WHAT, self.version, INT8_CONFIG_VERSION)

    def to_dict(self) -> dict[str, Any]:
        """JSON data (``calibration`` as an object)."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Int8Config:
        """Parse :meth:`to_dict` data.

        Raises:
            ConfigError: unknown keys (here or in ``calibration``), wrong types, invalid
                values or a newer version.
        """
        return serde.from_dict(cls, data)


def prepare_for_quantization(model: Model, *, preprocess: bool = True) -> tuple[Model, list[str]]:
    """Name unnamed nodes and (optionally) run ``quant_pre_process``; the result is what gets
    calibrated and quantized (its hash keys the calibration cache).
    """
    proto = copy_proto(model)
    ensure_node_names(proto)
    named = Model.from_proto(proto, model.path)
    if not preprocess:
        return named, []
    from onnxruntime.quantization.shape_inference import quant_pre_process

    notes: list[str] = []
    # ONNX Runtime's symbolic shape inference dumps 'sym_shape_infer_temp.onnx' into the
    # current directory when it fails: run it inside the temp directory. It gets a file, not
    # the proto: given a ModelProto it moves the weights out of it (in place) into
    # "external" tensors, which broke every later step ("Cannot parse data from external
    # tensors"); models over 2 GiB keep their weights in an external data file.
    with tempfile.TemporaryDirectory(prefix="edgeinfer-q-") as tmp, contextlib.chdir(tmp):
        src, out = named.save(Path(tmp) / "named.onnx"), Path(tmp) / "pre.onnx"
        large = {"save_as_external_data": named.large}
        try:
            try:
                with _quiet_logger("onnxruntime.quantization.shape_inference"):
                    quant_pre_process(str(src), str(out), skip_symbolic_shape=False, **large)
            except Exception:  # symbolic shape inference fails on some graphs: retry without
                with _quiet_logger("onnxruntime.quantization.shape_inference"):
                    quant_pre_process(str(src), str(out), skip_symbolic_shape=True, **large)
                notes.append("int8: symbolic shape inference failed; pre-processed without it")
            pre = Model.load(out)
        except Exception as exc:
            first = first_line(exc)
            return named, [f"int8: pre-processing skipped ({first})"]
    pre.path = model.path
    return pre, notes


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    """Silence one library logger (ONNX Runtime logs a traceback at ERROR when its
    symbolic shape inference fails; edgeinfer handles that failure and says so in a note).
    """
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _op_types_to_quantize(config: Int8Config, excluded_ops: set[str]) -> list[str]:
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    ops = set(config.op_types) or (set(QDQRegistry) | set(QLinearOpsRegistry))
    return sorted(ops - excluded_ops)


class Int8Pass(Pass):
    """Static INT8 QDQ quantization with calibrated ranges.

    Args:
        config: the pass settings.
        table: precomputed ranges for the prepared model (None: calibrate, with the cache).
        quiet: no progress bars.
    """

    name = "int8"

    def __init__(
        self,
        config: Int8Config | None = None,
        *,
        table: CalibrationTable | None = None,
        quiet: bool | None = None,
    ) -> None:
        self.config = config or Int8Config()
        self.table = table
        self.quiet = quiet
        self.last_table: CalibrationTable | None = None

    def requires(self, model: Model) -> None:
        """The common pre-condition, and the model must not be quantized already.

        Raises:
            ModelError: the model has no nodes or already holds QDQ/quantized ops.
        """
        super().requires(model)
        bad = sorted({n.op_type for n in model.proto.graph.node if n.op_type in QDQ_OPS})
        if bad:
            raise ModelError(
                f"model '{model.name}' is already quantized ({', '.join(bad)} present); "
                "build it with --precision fp32, or quantize the FP32 original"
            )

    def call(self, model: Model) -> PassResult:
        """Calibrate (or use the given table) and insert QDQ pairs with ONNX Runtime's quantizer.

        Raises:
            ConfigError: the given calibration table was made for another model.
        """
        cal = self.config.calibration
        opset = opset_for_per_channel(model, cal.per_channel)
        if opset.per_channel != cal.per_channel:
            cal = replace(cal, per_channel=opset.per_channel)
        prepared, notes = prepare_for_quantization(opset.model, preprocess=self.config.preprocess)
        notes[:0] = [opset.note] if opset.note else []
        names, ops = check_exclude(prepared.proto, self.config.exclude)
        original = prepared
        if self.config.bias_correction:
            prepared, note = bias_correct(prepared, cal, quiet=self.quiet)
            notes.append(note)
        table = self.table or calibrate(prepared, cal, cache=cal.cache, quiet=self.quiet)
        if table.key.model_hash != prepared.hash:
            raise ConfigError(
                "the calibration table was made for another model (or another pre-processing "
                "setting); calibrate the prepared model (prepare_for_quantization) again"
            )
        self.last_table = table
        to_quantize, dropped = drop_redundant_min(prepared, table)
        if dropped:
            notes.append(
                f"int8: {dropped} equalized ReLU6 bound(s) lie above the calibrated range: "
                "left to the quantization's clipping (the ReLU folds into the Conv again)"
            )
        quantized = self._quantize(to_quantize, table, set(), ops, cal)
        # nodes kept in float read the FP32 values, so they take the original biases
        quantized, floated = keep_float(quantized, original, names, self.config.quantize_outputs)
        notes.append(_calibration_note(table))
        notes.extend(_summary(prepared, quantized, names | ops))
        notes.extend(floated)
        checks, samples, why = check_int8(original, quantized, cal)
        if why is not None:
            notes.append(f"int8 check vs FP32 skipped: {why}")
        else:
            notes.extend(verdict(model.name, checks, cal.method, samples))
        return PassResult(quantized, True, tuple(notes))

    def _quantize(
        self,
        model: Model,
        table: CalibrationTable,
        names: set[str],
        ops: set[str],
        cal: CalibrationConfig,
    ) -> Model:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType
        from onnxruntime.quantization.calibrate import save_tensors_data

        sym = cal.symmetric_activations
        kwargs = {
            "quant_format": QuantFormat.QDQ,
            "op_types_to_quantize": _op_types_to_quantize(self.config, ops),
            "per_channel": cal.per_channel,
            "activation_type": QuantType.QInt8 if sym else QuantType.QUInt8,
            "weight_type": QuantType.QInt8,
            "nodes_to_exclude": sorted(names),
            "calibrate_method": CalibrationMethod.MinMax,  # ranges come from our table
            "reduce_range": self.config.reduce_range,
            "use_external_data_format": model.large,
            "extra_options": {"ActivationSymmetric": sym, "WeightSymmetric": True},
        }
        with tempfile.TemporaryDirectory(prefix="edgeinfer-q-") as tmp:
            src, dst, ranges = (Path(tmp) / n for n in ("in.onnx", "out.onnx", "ranges.json"))
            model.save(src)
            save_tensors_data(table.to_tensors_data(), ranges)
            _quantize_static(model.name, src, dst, ranges, kwargs)
            return Model.from_proto(_load(dst), model.path)


def _quantize_static(name: str, src: Path, dst: Path, ranges: Path, kwargs: dict[str, Any]) -> None:
    from onnxruntime.quantization import quantize_static

    try:
        quantize_static(str(src), str(dst), None, calibration_cache_path=str(ranges), **kwargs)
    except Exception as exc:
        first = first_line(exc)
        raise BackendError(
            f"ONNX Runtime cannot quantize '{name}': {first}; exclude the offending nodes or "
            "op types with --exclude, or use --precision fp32"
        ) from exc


def keep_float(
    quantized: Model, prepared: Model, names: set[str], quantize_outputs: bool
) -> tuple[Model, list[str]]:
    """Keep the nodes ``names`` and (unless ``quantize_outputs``) the graph outputs of
    ``quantized`` in float by surgery (:mod:`edgeinfer.passes.qdq_float`), with notes.
    """
    proto, notes = quantized.proto, []
    if names:
        proto, edit = float_nodes(proto, prepared.proto, sorted(names))
        if edit.reinserted:
            notes.append(
                f"int8: {len(edit.reinserted)} folded activation(s) re-inserted before the "
                "nodes kept in float (their inputs are the FP32 values)"
            )
    if not quantize_outputs:
        outputs = [o.name for o in prepared.proto.graph.output]
        proto, edit = float_tensors(proto, prepared.proto, outputs, strict=False)
        if edit.tensors:
            notes.append(f"int8: graph outputs not quantized: {', '.join(edit.tensors)}")
    if proto is quantized.proto:
        return quantized, notes
    return Model.from_proto(proto, quantized.path), notes


def _load(path: Path) -> Any:
    import onnx

    return onnx.load(str(path), load_external_data=True)


def _calibration_note(table: CalibrationTable) -> str:
    where = f" ({table.path})" if table.path else ""
    if table.from_cache:
        return f"calibration: reused cache{where}, {table.method}, {len(table)} tensors"
    return (
        f"calibration: ran {table.method} on {table.samples} samples in {table.seconds:.1f} s, "
        f"{len(table)} tensors, cached{where}"
    )


def _summary(before: Model, after: Model, excluded: set[str]) -> list[str]:
    q = Counter(n.op_type for n in after.proto.graph.node if n.op_type in QDQ_OPS)
    notes = [
        f"int8: static QDQ, {q['QuantizeLinear']} QuantizeLinear / "
        f"{q['DequantizeLinear']} DequantizeLinear inserted"
    ]
    if excluded:
        notes.append(f"int8: kept in FP32 by --exclude: {', '.join(sorted(excluded))}")
    return notes
