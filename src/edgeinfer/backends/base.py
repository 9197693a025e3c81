"""The Runner contract every backend implements, and the Backend interface.

A :class:`Runner` is a context manager with persistent, pre-allocated buffers::

    with load_runner(engine) as r:
        outputs = r.infer({"input": x})

The base class validates feeds and state; subclasses fill the small ``*_impl`` hooks.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np

from edgeinfer.backends.guards import (
    FiniteCounts,
    ThreadOwner,
    check_finite,
    runner_threads,
    shape_matches,
    validate_feed,
)
from edgeinfer.backends.options import NoOptions, parse_options
from edgeinfer.errors import BackendError, ConfigError, FeedError, MissingExtraError
from edgeinfer.passes.pipeline import check_passes
from edgeinfer.tensors import check_nbytes, check_threads

if TYPE_CHECKING:
    from edgeinfer.config import BuildConfig, OptionValue
    from edgeinfer.engine import Engine
    from edgeinfer.model import Model
    from edgeinfer.tensors import TensorSpec

OptionsT = TypeVar("OptionsT")


@dataclass(frozen=True)
class Int8Route:
    """One way a backend quantizes to INT8.

    Attributes:
        name: short name shown in candidate names (``qdq``, ``nncf``).
        options: the build options that select the route (empty: the default route).
        calibrators: whether the calibrator choice (minmax/entropy/percentile) changes the
            result; when False the search tries the route once.
        proxy_backend: a backend whose INT8 build quantizes the same way and is cheaper to
            build, used to rank layer sensitivity for mixed precision (None: this backend).
        mixed_options: options a mixed-precision variant adds, e.g. the precision the layers
            kept out of INT8 run in (OpenVINO: ``inference_precision=bf16``); dropped where
            the host refuses them (no BF16: they run in FP32).
    """

    name: str
    options: tuple[tuple[str, OptionValue], ...] = ()
    calibrators: bool = True
    proxy_backend: str | None = None
    mixed_options: tuple[tuple[str, OptionValue], ...] = ()


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, declared once, so nothing outside ``backends/`` names it.

    Attributes:
        precisions: precisions it builds (the host may rule some out: :meth:`Backend.check_config`).
        int8_routes: its INT8 routes, the default first.
        precision_options: options that only matter below FP32 (the FP32 twin drops them).
        reference: it can be the FP32 reference that fidelity is measured against.
        searched_by_default: ``optimize`` tries it when no ``--backends`` are given.
        needs_torch_source: it builds from the PyTorch module (:attr:`Model.torch_source`),
            not from the ONNX graph.
        baseline: it is the user's starting point (PyTorch eager) when a module is known.
        search_options: the option sets ``optimize`` builds for each precision (one
            candidate per set; host rules may leave some out, e.g. ``device=cuda`` without
            a GPU); ``((),)``: the defaults only.
    """

    precisions: tuple[str, ...] = ("fp32",)
    int8_routes: tuple[Int8Route, ...] = ()
    precision_options: frozenset[str] = frozenset()
    reference: bool = False
    searched_by_default: bool = True
    needs_torch_source: bool = False
    baseline: bool = False
    search_options: tuple[tuple[tuple[str, OptionValue], ...], ...] = ((),)


@dataclass(frozen=True)
class LayerTime:
    """Time spent in one layer (node or fused kernel) during profiled inferences.

    Attributes:
        name: the layer's name (an ONNX node name where the backend maps it back).
        op_type: operator or kernel type.
        time_ms: mean time per inference in milliseconds.
        precision: the precision it executed in (e.g. ``fp32``, ``int8``, ``bf16``; "" unknown).
        detail: backend-specific detail (kernel implementation, provider).
    """

    name: str
    op_type: str
    time_ms: float
    precision: str = ""
    detail: str = ""


@dataclass(frozen=True)
class LayerProfile:
    """Per-layer times from the backend's own profiler (see :meth:`Runner.profile`)."""

    layers: tuple[LayerTime, ...]
    iterations: int
    total_ms: float
    source: str  # which profiler produced it


@dataclass(frozen=True)
class BuildResult:
    """What a backend build wrote into the engine directory."""

    payload: tuple[str, ...]
    executed_precision: str
    notes: tuple[str, ...] = ()
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


class Backend(ABC, Generic[OptionsT]):
    """A runtime that can build engines from models and run them.

    ``options_type`` is the frozen dataclass of the backend's options (default
    :class:`~edgeinfer.backends.options.NoOptions`); :meth:`options` parses
    ``BuildConfig.options`` into it once.
    """

    name: ClassVar[str]
    extra: ClassVar[str | None] = None  # pip extra providing the dependency
    distribution: ClassVar[str]  # PyPI distribution whose version is recorded
    module: ClassVar[str]  # module imported to use the backend
    capabilities: ClassVar[Capabilities] = Capabilities()

    @property
    def precisions(self) -> tuple[str, ...]:
        """The precisions this backend builds (:attr:`Capabilities.precisions`)."""
        return self.capabilities.precisions
    options_type: type[OptionsT]

    def options(self, config: BuildConfig) -> OptionsT:
        """The typed options of ``config`` (memoized: parsed once per distinct options).

        Raises:
            ConfigError: unknown option names, wrong types or invalid values.
        """
        options_type = getattr(type(self), "options_type", NoOptions)
        return parse_options(options_type, self.name, config.options)

    def version(self) -> str:
        """The installed version of the backend's package (recorded in manifests).

        Raises:
            MissingExtraError: the package is not installed.
        """
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError as exc:
            raise self._missing(exc) from exc

    def _missing(self, exc: Exception) -> MissingExtraError:
        hint = (
            f"pip install 'edgeinfer[{self.extra}]'"
            if self.extra
            else f"pip install {self.distribution}"
        )
        return MissingExtraError(
            f"backend '{self.name}' needs '{self.distribution}', which is not installed; "
            f"install it with: {hint}"
        )

    def ensure_available(self) -> None:
        """Raise :class:`MissingExtraError` when the backend's package is absent."""
        self.version()
        if importlib.util.find_spec(self.module) is None:
            raise self._missing(ImportError(self.module))

    def check_config(self, config: BuildConfig) -> None:
        """Reject configs this backend cannot build (an unsupported precision, bad options),
        with a message naming the fix.
        """
        check_threads(config.threads, "the build config's threads")
        if config.precision not in self.precisions:
            raise BackendError(
                f"backend '{self.name}' does not support precision '{config.precision}'; "
                f"it supports {', '.join(self.precisions)}"
            )
        self.options(config)
        if config.passes and self.capabilities.needs_torch_source:
            raise ConfigError(
                f"backend '{self.name}' builds from the PyTorch module; graph passes "
                f"({', '.join(config.passes)}) apply to ONNX backends: drop --pass"
            )
        check_passes(config.passes)

    def fp32_twin(self, config: BuildConfig) -> BuildConfig:
        """The FP32 build of ``config`` on this backend (same threads and runtime options;
        precision-only options, exclusions and calibration dropped): the guardrail baseline.
        """
        drop = self.capabilities.precision_options
        options = tuple((k, v) for k, v in config.options if k not in drop)
        return config.replace(precision="fp32", exclude=(), calibration=None, options=options)

    def target_fingerprint(self, config: BuildConfig) -> str:
        """What an engine for ``config`` depends on besides the host CPU (e.g. the GPU it is
        compiled for), in the engine cache key; "" for nothing.
        """
        return ""

    def check_source(self, model: Model) -> None:
        """Refuse a model this backend cannot build from (e.g. no PyTorch source)."""
        if self.capabilities.needs_torch_source and model.torch_source is None:
            raise BackendError(
                f"backend '{self.name}' builds from the PyTorch module, and '{model.name}' has "
                "none; use a zoo model with a PyTorch definition (edgeinfer zoo list) or give "
                "the model as module:factory with --input-shape"
            )

    @abstractmethod
    def build(
        self, model: Model, config: BuildConfig, directory: Path, *, quiet: bool | None = None
    ) -> BuildResult:
        """Write the payload for ``model`` into ``directory`` (a fresh temp directory);
        ``quiet`` silences progress bars (calibration).
        """

    @abstractmethod
    def runner(self, engine: Engine, **options: Any) -> Runner:
        """A new, inactive runner for ``engine``."""


class Runner(ABC):
    """Runs one engine with persistent buffers.

    One runner per thread: the first :meth:`infer` after :meth:`activate` binds the runner to
    its thread, and any call from another thread raises :class:`BackendError` (its buffers
    would be overwritten under the first thread). ``deactivate()`` releases the binding.

    With ``check_finite`` every float input and output is checked for NaN/Inf: such an
    inference raises :class:`~edgeinfer.errors.NonFiniteError` (never a plausible-looking
    result) and is counted in :attr:`finite_counts`.
    """

    def __init__(self, engine: Engine, *, threads: int | None = None) -> None:
        self.engine = engine
        self.threads = runner_threads(engine, threads)
        self.check_finite = False  # load_runner(engine, check_finite=True) sets it
        self.finite_counts = FiniteCounts()
        self._owner = ThreadOwner(f"runner of engine '{engine.path}'")
        self.input_specs: tuple[TensorSpec, ...] = engine.inputs
        self.output_specs: tuple[TensorSpec, ...] = engine.outputs
        self._input_names = tuple(s.name for s in self.input_specs)
        self._input_dtypes = {s.name: np.dtype(s.dtype) for s in self.input_specs}
        self._input_by_name = {s.name: s for s in self.input_specs}
        self._checked: dict[tuple[Any, ...], bool] = {}
        self.is_active = False

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> Runner:
        self.activate()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.deactivate()

    def activate(self) -> None:
        """Load the engine and allocate buffers; ``with runner:`` calls it.

        Raises:
            BackendError: the runner is already active.
        """
        if self.is_active:
            raise BackendError("runner is already active; activate it once (or use `with`)")
        self._activate_impl()
        self.is_active = True

    def deactivate(self) -> None:
        """Release what :meth:`activate` loaded (and the thread binding); a no-op on an
        inactive runner.
        """
        if self.is_active:
            self._deactivate_impl()
            self.is_active = False
        self._owner.release()

    def _check_thread(self) -> None:
        """Bind the runner to the calling thread, or refuse a call from another one."""
        self._owner.check()

    def _finite(self, where: str, arrays: Mapping[str, Any]) -> None:
        check_finite(self.finite_counts, where, arrays)

    # -- inference -----------------------------------------------------------------------
    def infer(self, feed: Mapping[str, np.ndarray], *, copy: bool = False) -> dict[str, np.ndarray]:
        """Run one inference.

        Args:
            feed: one array per input name.
            copy: return copies. By default the returned arrays are the runner's persistent
                output buffers: valid until the next ``infer`` call, no per-call allocation.

        Raises:
            FeedError: wrong input names, dtypes or shapes.
        """
        if not self.is_active:
            raise BackendError(
                "runner is not active; use it as a context manager: "
                "`with load_runner(engine) as r: r.infer(feed)`"
            )
        self._check_thread()
        self._check_feed(feed)
        if self.check_finite:
            self.finite_counts.checked += 1
            self._finite("input", feed)
        out = self._infer_impl(feed)
        if self.check_finite:
            self._finite("output", out)
        if copy:
            return {k: np.array(v, copy=True) for k, v in out.items()}
        return out

    def synchronize(self) -> None:
        """Wait until work queued by :meth:`infer` has finished (no-op on synchronous CPU
        runners; GPU runners wait for the device). Timing code calls it before reading a
        clock.
        """
        return None

    def timed_infer(self, feed: Mapping[str, np.ndarray]) -> int:
        """Run one inference and return its latency in nanoseconds.

        The base measures host wall time with ``perf_counter_ns`` around :meth:`infer` and
        :meth:`synchronize`; a runner with device timers (CUDA events) overrides it. Every
        benchmark reads latency through this hook.
        """
        clock = time.perf_counter_ns
        t0 = clock()
        self.infer(feed)
        self.synchronize()
        return clock() - t0

    def profile(self, feed: Mapping[str, np.ndarray], *, iterations: int = 20) -> LayerProfile:
        """Per-layer times from the backend's own profiler over ``iterations`` inferences.

        Raises:
            BackendError: the runner is not active, or the backend has no per-layer profiler.
        """
        if not self.is_active:
            raise BackendError("runner is not active; profile inside `with load_runner(engine) as r:`")
        if iterations < 1:
            raise BackendError(f"profile iterations must be >= 1, got {iterations}")
        self._check_thread()
        self._check_feed(feed)
        return self._profile_impl(feed, iterations)

    def input_buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A persistent buffer for input ``name``: fill it in place and pass it to ``infer``
        to skip the input copy (the zero-copy path used by the ROS node).
        """
        spec = self._input_by_name.get(name)
        if spec is None:
            raise FeedError(
                f"engine has no input '{name}'; its inputs are {', '.join(self._input_names)}"
            )
        if not shape_matches(spec.shape, tuple(shape)):
            raise FeedError(f"input '{name}' expects {spec.describe()}, got shape {list(shape)}")
        self._check_thread()
        check_nbytes(
            int(np.prod(shape, dtype=np.int64)) * self._input_dtypes[name].itemsize,
            f"input buffer '{name}' {list(shape)}",
        )
        return self._input_buffer_impl(name, tuple(int(s) for s in shape))

    def _check_feed(self, feed: Mapping[str, np.ndarray]) -> None:
        try:
            sig = tuple((n, feed[n].dtype, feed[n].shape) for n in self._input_names)
        except KeyError:
            sig = None
        except AttributeError:
            sig = None
        if sig is not None and len(feed) == len(self._input_names) and sig in self._checked:
            return
        self._validate_feed(feed)
        if sig is not None:
            self._checked[sig] = True

    def _validate_feed(self, feed: Mapping[str, np.ndarray]) -> None:
        validate_feed(self.input_specs, self._input_dtypes, feed)

    # -- hooks -----------------------------------------------------------------------------
    @abstractmethod
    def _activate_impl(self) -> None: ...

    @abstractmethod
    def _deactivate_impl(self) -> None: ...

    @abstractmethod
    def _infer_impl(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def _input_buffer_impl(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        return np.empty(shape, dtype=self._input_dtypes[name])

    def _profile_impl(self, feed: Mapping[str, np.ndarray], iterations: int) -> LayerProfile:
        raise BackendError(
            f"backend '{self.engine.backend}' has no per-layer profiler in edgeinfer; use "
            "edgeinfer bench for end-to-end latency"
        )
