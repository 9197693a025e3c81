"""The OpenVINO runner: one compiled model, one ``InferRequest``, persistent tensors.

``activate`` compiles the engine's IR once and creates one request. For each input-shape
signature, numpy input/output buffers are wrapped in ``ov.Tensor(array, shared_memory=True)``
and bound with ``set_input_tensor``/``set_output_tensor``, so ``infer`` writes straight into
the persistent output buffers (no per-call allocation). :meth:`OpenVinoRunner.infer_many` runs
a pool of asynchronous requests for throughput.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.backends.base import Runner
from edgeinfer.backends.openvino.settings import (
    BIN,
    XML,
    OpenVinoSettings,
    compile_ir,
    compile_properties,
    read_properties,
    requested_hint,
)
from edgeinfer.backends.options import parse_options
from edgeinfer.errors import BackendError, EdgeInferError, first_line

if TYPE_CHECKING:
    from edgeinfer.engine import Engine


@dataclass
class _Bound:
    """Persistent tensors for one input-shape signature."""

    inputs: dict[str, np.ndarray]
    in_tensors: dict[str, Any]
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    out_tensors: dict[str, Any] = field(default_factory=dict)
    bound: dict[str, np.ndarray] = field(default_factory=dict)  # array whose memory is bound
    dynamic_outputs: bool = False


class OpenVinoRunner(Runner):
    """Runs an OpenVINO engine: one compiled model, one request, persistent tensors.

    Args:
        engine: the engine to run.
        threads: ``INFERENCE_NUM_THREADS`` (None: the engine's config, then OpenVINO's).
        performance_hint: ``LATENCY`` or ``THROUGHPUT`` (None: the engine's config).
        streams: ``NUM_STREAMS``: a positive int or ``AUTO`` (None: the engine's config).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        threads: int | None = None,
        performance_hint: str | None = None,
        streams: int | str | None = None,
    ) -> None:
        super().__init__(engine, threads=threads)
        base = parse_options(OpenVinoSettings, engine.backend, engine.config.options)
        self.settings = base.with_runtime(performance_hint=performance_hint, streams=streams)
        self.hint = requested_hint(engine.config.precision, self.settings)
        self.compiled: Any = None
        self.request: Any = None
        self.properties: dict[str, Any] = {}
        self._states: dict[tuple[tuple[int, ...], ...], _Bound] = {}
        self._current: _Bound | None = None
        self._pool: list[Any] | None = None
        self._dyn_request: Any = None
        self._in_index: dict[str, int] = {}
        self._out_index: dict[str, int] = {}

    # -- lifecycle -----------------------------------------------------------------------
    def _activate_impl(self) -> None:
        import openvino as ov

        self.engine.payload_path(BIN)
        props = compile_properties(
            self.hint, self.settings.performance_hint, self.threads, self.settings.num_streams
        )
        core = ov.Core()
        try:
            compiled = compile_ir(core, str(self.engine.payload_path(XML)), props, "the engine")
        except EdgeInferError as exc:
            raise BackendError(f"{exc} (engine '{self.engine.path}')") from exc
        self.properties = read_properties(compiled, layers=False)
        recorded = self.engine.metadata.get("openvino", {}).get("inference_precision")
        if recorded and recorded != self.properties["inference_precision"]:
            raise BackendError(
                f"engine '{self.engine.path}' was built to run {recorded} but OpenVINO now "
                f"runs {self.properties['inference_precision']}; rebuild the engine"
            )
        self._in_index = _port_index(compiled.inputs, self._input_names, "input", self.engine)
        names = tuple(s.name for s in self.output_specs)
        self._out_index = _port_index(compiled.outputs, names, "output", self.engine)
        self.compiled = compiled
        self.request = compiled.create_infer_request()

    def _deactivate_impl(self) -> None:
        self._states.clear()
        self._current = None
        self._pool = None
        self._dyn_request = None
        self.request = None
        self.compiled = None

    # -- buffers ---------------------------------------------------------------------------
    def _prepare(self, key: tuple[tuple[int, ...], ...]) -> _Bound:
        import openvino as ov

        inputs = {
            n: np.zeros(shape, dtype=self._input_dtypes[n])
            for n, shape in zip(self._input_names, key, strict=True)
        }
        state = _Bound(inputs, {n: ov.Tensor(a, shared_memory=True) for n, a in inputs.items()})
        for spec, shape in zip(self.output_specs, self._output_shapes(state), strict=True):
            port = self.compiled.outputs[self._out_index[spec.name]]
            buf = np.empty(shape, dtype=port.get_element_type().to_dtype())
            state.outputs[spec.name] = buf
            state.out_tensors[spec.name] = ov.Tensor(buf, shared_memory=True)
        self._states[key] = state
        return state

    def _output_shapes(self, state: _Bound) -> list[tuple[int, ...]]:
        ports = [self.compiled.outputs[self._out_index[s.name]] for s in self.output_specs]
        if all(p.get_partial_shape().is_static for p in ports):
            return [tuple(p.get_shape()) for p in ports]
        try:
            scratch = self.compiled.create_infer_request()  # once per new input signature
            for name, tensor in state.in_tensors.items():
                scratch.set_input_tensor(self._in_index[name], tensor)
            scratch.infer()
        except Exception as exc:  # e.g. a bf16 kernel missing under a forced ISA
            raise BackendError(
                f"OpenVINO inference failed on engine '{self.engine.path}': {first_line(exc)}; "
                "rebuild the engine on this host or choose --precision fp32"
            ) from exc
        return [
            tuple(scratch.get_output_tensor(self._out_index[s.name]).shape)
            for s in self.output_specs
        ]

    def _bind(self, state: _Bound) -> None:
        for name, tensor in state.in_tensors.items():
            self.request.set_input_tensor(self._in_index[name], tensor)
            state.bound[name] = state.inputs[name]
        for name, tensor in state.out_tensors.items():
            self.request.set_output_tensor(self._out_index[name], tensor)
        self._current = state

    def _input_buffer_impl(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        key = tuple(
            shape if n == name else self._input_by_name[n].concrete_shape(batch=shape[0])
            for n in self._input_names
        )
        state = self._states.get(key) or self._prepare(key)
        return state.inputs[name]

    # -- inference -------------------------------------------------------------------------
    def _infer_impl(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        key = tuple(feed[n].shape for n in self._input_names)
        state = self._states.get(key) or self._prepare(key)
        if state.dynamic_outputs:
            return self._infer_dynamic(feed)
        if self._current is not state:
            self._bind(state)
        for name in self._input_names:
            self._feed_input(state, name, feed[name])
        try:
            self.request.infer(share_outputs=True)  # outputs land in our buffers: no copies
        except Exception:
            state.dynamic_outputs = True  # data-dependent output shapes: let OpenVINO allocate
            self._current = None
            return self._infer_dynamic(feed)
        return state.outputs

    def _feed_input(self, state: _Bound, name: str, arr: np.ndarray) -> None:
        """Bind ``arr`` without a copy when OpenVINO can share it, else copy into the buffer.

        The bound ``ov.Tensor`` keeps its array alive, so an array object that is already bound
        is the same memory: it needs no work at all (the steady state of a camera loop).
        """
        import openvino as ov

        if state.bound[name] is arr:
            return
        buf = state.inputs[name]
        if arr.flags.c_contiguous and arr.ctypes.data == buf.ctypes.data:  # a view of buf
            arr, tensor = buf, state.in_tensors[name]
        elif arr.flags.c_contiguous and arr.flags.writeable and arr.flags.aligned:
            tensor = ov.Tensor(arr, shared_memory=True)
        else:
            np.copyto(buf, arr)
            if state.bound[name] is buf:
                return
            arr, tensor = buf, state.in_tensors[name]
        self.request.set_input_tensor(self._in_index[name], tensor)
        state.bound[name] = arr

    def _infer_dynamic(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._dyn_request is None:
            self._dyn_request = self.compiled.create_infer_request()
        req = self._dyn_request
        try:
            inputs = {self._in_index[n]: feed[n] for n in self._input_names}
            req.infer(inputs, share_outputs=True)
        except Exception as exc:
            raise BackendError(
                f"OpenVINO inference failed on engine '{self.engine.path}': {first_line(exc)}"
            ) from exc
        return {
            s.name: req.get_output_tensor(self._out_index[s.name]).data for s in self.output_specs
        }

    def infer_many(
        self, feeds: Sequence[Mapping[str, np.ndarray]], *, jobs: int | None = None
    ) -> list[dict[str, np.ndarray]]:
        """Run independent feeds concurrently on a pool of asynchronous requests (throughput).

        Up to ``jobs`` requests run at once (``start_async``); a request's results are copied
        out (``wait``) before it takes the next feed. Use it with
        ``performance_hint="THROUGHPUT"`` (several streams). Results are copies, in the order
        of ``feeds``; the feeds must stay unchanged until it returns.

        Args:
            feeds: one feed per inference.
            jobs: parallel requests (None: ``OPTIMAL_NUMBER_OF_INFER_REQUESTS`` of the
                compiled model).
        """
        if not self.is_active:
            raise BackendError(
                "runner is not active; use it as a context manager: "
                "`with load_runner(engine) as r: r.infer_many(feeds)`"
            )
        self._check_thread()
        for feed in feeds:
            self._check_feed(feed)
            if self.check_finite:  # OpenVINO turns NaN inputs into plausible finite logits
                self.finite_counts.checked += 1
                self._finite("input", feed)
        pool = self._request_pool(int(jobs or self.properties["optimal_requests"] or 1))
        results: list[dict[str, np.ndarray]] = [{} for _ in feeds]
        running: list[int | None] = [None] * len(pool)
        for index, feed in enumerate(feeds):
            slot = index % len(pool)
            self._collect(pool[slot], running[slot], results)
            inputs = {self._in_index[n]: feed[n] for n in self._input_names}
            pool[slot].start_async(inputs, share_inputs=True)
            running[slot] = index
        for request, last in zip(pool, running, strict=True):
            self._collect(request, last, results)
        if self.check_finite:
            for result in results:
                self._finite("output", result)
        return results

    def _request_pool(self, size: int) -> list[Any]:
        if self._pool is None or len(self._pool) != size:
            self._pool = [self.compiled.create_infer_request() for _ in range(size)]
        return list(self._pool)

    def _collect(
        self, request: Any, index: int | None, results: list[dict[str, np.ndarray]]
    ) -> None:
        """Wait for ``request`` (GIL released) and copy its outputs into ``results[index]``."""
        if index is None:
            return
        request.wait()
        results[index] = {
            s.name: np.array(request.get_output_tensor(self._out_index[s.name]).data, copy=True)
            for s in self.output_specs
        }


def _port_index(
    ports: Sequence[Any], names: Sequence[str], kind: str, engine: Engine
) -> dict[str, int]:
    """Engine tensor name -> index of the compiled model's port carrying that name."""
    index = {name: i for i, port in enumerate(ports) for name in port.get_names()}
    missing = [n for n in names if n not in index]
    if missing:
        raise BackendError(
            f"engine '{engine.path}' IR has no {kind}(s) {missing}; rebuild the engine"
        )
    return {n: index[n] for n in names}
