"""The node's per-frame work without ROS: decoded image -> preprocess -> engine -> outputs.

The input tensor is the runner's persistent input buffer (``Runner.input_buffer``), filled in
place by the engine's own :class:`~edgeinfer.preprocess.PreprocessSpec`: no per-frame tensor
allocation. The benchmark uses the same class for its in-process baseline.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from edgeinfer.builder import load_runner
from edgeinfer.data.specs import image_input, resolve_preprocess
from edgeinfer.errors import ConfigError, EngineError
from edgeinfer.ros.outputs import resolve_task

if TYPE_CHECKING:
    from edgeinfer.backends.base import Runner
    from edgeinfer.engine import Engine
    from edgeinfer.preprocess import PreprocessSpec


def engine_spec(engine: Engine, spec: PreprocessSpec | None = None) -> PreprocessSpec:
    """The preprocessing spec: the one given, else the engine's; refuse when there is none
    (:func:`~edgeinfer.data.specs.resolve_preprocess` without guessing from the shape).

    Raises:
        ConfigError: no spec was given and the engine stores none.
    """
    found, _ = resolve_preprocess(None, engine, override=spec, allow_guess=False)
    if found is None:
        raise ConfigError(
            f"engine '{engine.path}' has no preprocessing spec, so the node cannot turn images "
            "into its input tensor; build it from a model with a preprocessing spec (zoo "
            "models have one; Model.with_meta(preprocess=spec.to_dict())) or pass a spec"
        )
    return found


class Pipeline:
    """One engine with its preprocessing, ready to run frames. Not thread-safe.

    Args:
        engine: the engine.
        spec: preprocessing spec (default: the engine's own; refused when it has none).
        task: output kind (``auto``: :func:`~edgeinfer.ros.outputs.resolve_task`).
        threads: inference threads (None: the engine's/backend's default).
        spinning: whether idle inference threads spin-wait, for runners that have the
            setting (None: the engine's own setting).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        spec: PreprocessSpec | None = None,
        task: str = "auto",
        threads: int | None = None,
        spinning: bool | None = None,
    ) -> None:
        self.engine = engine
        self.spec = engine_spec(engine, spec)
        self.input_name = image_input(
            engine, consumer="the ROS node feeds", fix="build the engine from a single-input model"
        ).name
        self.output_name = engine.outputs[0].name
        self.task = resolve_task(task, engine.metadata, engine.outputs[0].shape)
        labels = engine.metadata.get("labels")
        self.labels: list[str] | None = [str(x) for x in labels] if labels else None
        self.runner: Runner = load_runner(engine, threads=threads or None)
        if spinning is not None and hasattr(self.runner, "spinning"):
            # runners with spin-waiting worker threads (ONNX Runtime) expose the setting;
            # it is read when the runner activates
            cast(Any, self.runner).spinning = spinning
        self._buffer: np.ndarray | None = None

    def __enter__(self) -> Pipeline:
        self.runner.activate()
        shape = (1, *self.spec.tensor_shape())
        self._buffer = self.runner.input_buffer(self.input_name, shape)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Deactivate the runner and drop the input buffer (safe to call twice)."""
        self.runner.deactivate()
        self._buffer = None

    @property
    def buffer(self) -> np.ndarray:
        """The runner's persistent input buffer ``[1, ...]``; preprocess frames straight into it.

        Raises:
            EngineError: the pipeline is not open (use it as a context manager).
        """
        if self._buffer is None:
            raise EngineError("pipeline is not open; use it as a context manager")
        return self._buffer

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """Fill the persistent input buffer from ``image``; returns the buffer."""
        buf = self.buffer
        self.spec.apply(image, out=buf[0])
        return buf

    def infer(self) -> tuple[dict[str, np.ndarray], int]:
        """Run the engine on the buffer; (persistent outputs, inference ns)."""
        t0 = time.perf_counter_ns()
        out = self.runner.infer({self.input_name: self.buffer})
        return out, time.perf_counter_ns() - t0

    def describe(self) -> dict[str, Any]:
        """JSON data naming the engine, model, backend, precision and task."""
        return {
            "engine": str(self.engine.path),
            "model": self.engine.name,
            "backend": f"{self.engine.backend} {self.engine.manifest.backend_version}",
            "precision": self.engine.precision,
            "task": self.task,
        }
