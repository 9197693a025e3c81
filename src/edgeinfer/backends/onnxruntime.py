"""ONNX Runtime CPU backend.

Build: run ONNX Runtime's graph optimizations (constant folding, layer fusion, and at level
``all`` the hardware-specific layout transforms) once, offline, and save the optimized model
as the payload. Run: an ``InferenceSession`` with IO binding to persistent, pre-allocated
input and output buffers, reused across calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.backends import register_backend
from edgeinfer.backends.base import Backend, BuildResult, Runner
from edgeinfer.errors import BackendError, ConfigError, EdgeInferError

if TYPE_CHECKING:
    import onnxruntime as ort

    from edgeinfer.config import BuildConfig
    from edgeinfer.engine import Engine
    from edgeinfer.model import Model

PAYLOAD = "model.onnx"
LEVELS = ("disable", "basic", "extended", "all")
OPTIONS = ("optimization_level", "allow_spinning", "quant_preprocess")


def _level(name: str) -> ort.GraphOptimizationLevel:
    import onnxruntime as ort

    mapping = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if name not in mapping:
        raise ConfigError(
            f"unknown ONNX Runtime optimization_level '{name}'; choose one of {', '.join(LEVELS)}"
        )
    return mapping[name]


def session_options(
    threads: int | None, level: str = "disable", spinning: bool = True
) -> ort.SessionOptions:
    """Session options used by runners (and by the overhead benchmark's bare session)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = _level(level)
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.inter_op_num_threads = 1
    if threads:
        so.intra_op_num_threads = threads
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    so.log_severity_level = 3
    return so


@register_backend
class OnnxRuntimeBackend(Backend):
    """The embedded default: ONNX Runtime on the CPU."""

    name = "onnxruntime"
    extra = None
    distribution = "onnxruntime"
    module = "onnxruntime"
    precisions = ("fp32", "fp16", "int8")

    def check_config(self, config: BuildConfig) -> None:
        if config.precision == "bf16":
            raise BackendError(
                "backend 'onnxruntime' does not support precision 'bf16': its CPU provider has "
                "no bfloat16 kernels (MatMul, Conv); use --backend openvino --precision bf16 "
                "(CPUs with AVX512_BF16/AMX), or fp16/int8 here"
            )
        super().check_config(config)
        _level(str(config.option("optimization_level", "all")))
        unknown = {k for k, _ in config.options} - set(OPTIONS)
        if unknown:
            raise ConfigError(
                f"unknown onnxruntime option(s) {sorted(unknown)}; valid: {', '.join(OPTIONS)}"
            )
        if config.precision == "int8":
            from edgeinfer.calibration import CalibrationConfig

            CalibrationConfig.from_items(config.calibration)

    def build(
        self, model: Model, config: BuildConfig, directory: Path, *, quiet: bool | None = None
    ) -> BuildResult:
        import onnxruntime as ort

        from edgeinfer.backends.ort_precision import executed_precision
        from edgeinfer.passes.precision import lower_precision

        model, notes = lower_precision(
            model, config, quiet=quiet, preprocess=bool(config.option("quant_preprocess", True))
        )
        level = str(config.option("optimization_level", "all"))
        so = session_options(config.threads, level)
        so.optimized_model_filepath = str(directory / PAYLOAD)
        if model.proto.ByteSize() > 2**31 - 1:
            so.add_session_config_entry(
                "session.optimized_model_external_initializers_file_name", PAYLOAD + ".data"
            )
        try:
            ort.InferenceSession(
                model.proto.SerializeToString(), so, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise BackendError(
                f"ONNX Runtime cannot build '{model.name}': {str(exc).strip().splitlines()[0]}; "
                "check that the model's ops are supported (or try --backend openvino)"
            ) from exc
        payload = [PAYLOAD] + (
            [PAYLOAD + ".data"] if (directory / (PAYLOAD + ".data")).exists() else []
        )
        executed, more = executed_precision(directory / PAYLOAD, config.precision)
        return BuildResult(
            payload=tuple(payload), executed_precision=executed, notes=(*notes, *more)
        )

    def runner(self, engine: Engine, **options: Any) -> OnnxRuntimeRunner:
        return OnnxRuntimeRunner(engine, **options)


@dataclass
class _Binding:
    """IO binding for one set of input shapes: persistent input and output buffers."""

    binding: Any
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    bound: dict[str, int] = field(default_factory=dict)  # input name -> bound buffer address
    dynamic_outputs: bool = False


class OnnxRuntimeRunner(Runner):
    """Runs an ONNX Runtime engine with IO binding to persistent buffers."""

    def __init__(
        self, engine: Engine, *, threads: int | None = None, spinning: bool | None = None
    ) -> None:
        super().__init__(engine, threads=threads)
        opt = engine.config.option("allow_spinning", True)
        self.spinning = bool(opt) if spinning is None else spinning
        self.session: ort.InferenceSession | None = None
        self._bindings: dict[tuple[tuple[int, ...], ...], _Binding] = {}

    def _activate_impl(self) -> None:
        import onnxruntime as ort

        so = session_options(self.threads, "disable", self.spinning)
        try:
            self.session = ort.InferenceSession(
                str(self.engine.payload_path(PAYLOAD)), so, providers=["CPUExecutionProvider"]
            )
        except EdgeInferError:
            raise
        except Exception as exc:
            raise BackendError(
                f"ONNX Runtime cannot load engine '{self.engine.path}': {exc}; rebuild the engine"
            ) from exc

    def _deactivate_impl(self) -> None:
        self._bindings.clear()
        self.session = None

    def _prepare(
        self, key: tuple[tuple[int, ...], ...], feed: Mapping[str, np.ndarray]
    ) -> _Binding:
        assert self.session is not None
        binding = self.session.io_binding()
        inputs = {}
        for name, shape in zip(self._input_names, key, strict=True):
            buf = np.empty(shape, dtype=self._input_dtypes[name])
            np.copyto(buf, feed[name])
            inputs[name] = buf
        state = _Binding(binding, inputs)
        for name, buf in inputs.items():
            self._bind_input(state, name, buf)
        # One run with ONNX Runtime allocating the outputs tells us their shapes.
        for spec in self.output_specs:
            binding.bind_output(spec.name, "cpu")
        self.session.run_with_iobinding(binding)
        first = binding.copy_outputs_to_cpu()
        binding.clear_binding_outputs()
        for spec, value in zip(self.output_specs, first, strict=True):
            buf = np.empty_like(value)
            state.outputs[spec.name] = buf
            binding.bind_output(spec.name, "cpu", 0, buf.dtype, list(buf.shape), buf.ctypes.data)
        self._bindings[key] = state
        return state

    @staticmethod
    def _bind_input(state: _Binding, name: str, arr: np.ndarray) -> None:
        state.binding.bind_input(name, "cpu", 0, arr.dtype, list(arr.shape), arr.ctypes.data)
        state.bound[name] = arr.ctypes.data

    def _input_buffer_impl(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        key = tuple(
            shape if n == name else self._current_shape(n, shape) for n in self._input_names
        )
        state = self._bindings.get(key)
        if state is None:
            feed = {
                n: np.ones(s, dtype=self._input_dtypes[n])
                for n, s in zip(self._input_names, key, strict=True)
            }
            state = self._prepare(key, feed)
        return state.inputs[name]

    def _current_shape(self, name: str, like: tuple[int, ...]) -> tuple[int, ...]:
        spec = self._input_by_name[name]
        return spec.concrete_shape(batch=like[0] if like else 1)

    def _infer_impl(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert self.session is not None
        key = tuple(feed[n].shape for n in self._input_names)
        state = self._bindings.get(key)
        if state is None:
            state = self._prepare(key, feed)
        for name in self._input_names:
            arr = feed[name]
            buf = state.inputs[name]
            if arr is buf:
                if state.bound[name] != buf.ctypes.data:
                    self._bind_input(state, name, buf)
            elif arr.flags.c_contiguous and arr.flags.aligned:
                if state.bound[name] != arr.ctypes.data:
                    self._bind_input(state, name, arr)
            else:
                np.copyto(buf, arr)
                if state.bound[name] != buf.ctypes.data:
                    self._bind_input(state, name, buf)
        if state.dynamic_outputs:
            return self._run_dynamic(state)
        try:
            self.session.run_with_iobinding(state.binding)
        except Exception:
            state.dynamic_outputs = True
            return self._run_dynamic(state)
        return state.outputs

    def _run_dynamic(self, state: _Binding) -> dict[str, np.ndarray]:
        assert self.session is not None
        state.binding.clear_binding_outputs()
        for spec in self.output_specs:
            state.binding.bind_output(spec.name, "cpu")
        self.session.run_with_iobinding(state.binding)
        values = state.binding.copy_outputs_to_cpu()
        return {s.name: v for s, v in zip(self.output_specs, values, strict=True)}
