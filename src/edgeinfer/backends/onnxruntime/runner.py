"""The ONNX Runtime runner: an ``InferenceSession`` with IO binding to persistent buffers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.backends.base import Runner
from edgeinfer.backends.onnxruntime.settings import PAYLOAD, OrtOptions, session_options
from edgeinfer.backends.options import parse_options
from edgeinfer.errors import BackendError, EdgeInferError, first_line

if TYPE_CHECKING:
    import onnxruntime as ort

    from edgeinfer.engine import Engine


@dataclass
class _Binding:
    """IO binding for one set of input shapes: persistent input and output buffers."""

    binding: Any
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    bound: dict[str, int] = field(default_factory=dict)  # input name -> bound buffer address
    dynamic_outputs: bool = False


class OnnxRuntimeRunner(Runner):
    """Runs an ONNX Runtime engine with IO binding to persistent buffers.

    Args:
        engine: the engine to run.
        threads: intra-op threads (None: the engine's config, then ONNX Runtime's).
        spinning: let idle threads spin (None: the engine's ``allow_spinning`` option).
    """

    def __init__(
        self, engine: Engine, *, threads: int | None = None, spinning: bool | None = None
    ) -> None:
        super().__init__(engine, threads=threads)
        options = parse_options(OrtOptions, engine.backend, engine.config.options)
        self.spinning = options.allow_spinning if spinning is None else spinning
        self.session: ort.InferenceSession | None = None
        self._bindings: dict[tuple[tuple[int, ...], ...], _Binding] = {}
        # outputs that are graph inputs too: ONNX Runtime leaves a bound output buffer
        # untouched for them (uninitialised memory), so the runner copies the input over
        inputs = set(self._input_names)
        self._passthrough = tuple(s.name for s in self.output_specs if s.name in inputs)

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
        self._run(binding)
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
            return self._pass_inputs(feed, self._run_dynamic(state))
        try:
            self.session.run_with_iobinding(state.binding)
        except Exception:
            state.dynamic_outputs = True
            return self._pass_inputs(feed, self._run_dynamic(state))
        return self._pass_inputs(feed, state.outputs)

    def _pass_inputs(
        self, feed: Mapping[str, np.ndarray], outputs: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        for name in self._passthrough:
            out = outputs[name]
            if out.shape == feed[name].shape and out.flags.writeable:
                np.copyto(out, feed[name])
            else:
                outputs[name] = np.array(feed[name], copy=True)
        return outputs

    def _run(self, binding: Any) -> None:
        """``run_with_iobinding``, its failures as one-line :class:`BackendError`."""
        assert self.session is not None
        try:
            self.session.run_with_iobinding(binding)
        except Exception as exc:
            raise BackendError(
                f"ONNX Runtime inference failed on engine '{self.engine.path}': "
                f"{first_line(exc)}; check the inputs, or rebuild the engine"
            ) from exc

    def _run_dynamic(self, state: _Binding) -> dict[str, np.ndarray]:
        state.binding.clear_binding_outputs()
        for spec in self.output_specs:
            state.binding.bind_output(spec.name, "cpu")
        self._run(state.binding)
        values = state.binding.copy_outputs_to_cpu()
        return {s.name: v for s, v in zip(self.output_specs, values, strict=True)}
