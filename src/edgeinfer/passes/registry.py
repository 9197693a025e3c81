"""The pass registry: graph passes by name, so a new pass enters through a door.

    @register_pass("my-pass")
    def _make(config: BuildConfig, context: PassContext) -> Pass:
        return MyPass(...)

A build runs the passes named in :attr:`edgeinfer.config.BuildConfig.passes`, then the
precision pass its backend lowers through the graph (``fp16``, ``int8``), as one
:class:`~edgeinfer.passes.base.PassManager` (:mod:`edgeinfer.passes.pipeline`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgeinfer.errors import ConfigError

if TYPE_CHECKING:
    from edgeinfer.calibration.table import CalibrationTable
    from edgeinfer.config import BuildConfig
    from edgeinfer.passes.base import Pass

__all__ = ["PassContext", "PassFactory", "get_pass", "list_passes", "register_pass"]


@dataclass(frozen=True)
class PassContext:
    """What a pass factory may use besides the build config.

    Attributes:
        quiet: no progress bars.
        calibration_table: precomputed INT8 ranges (None: calibrate, cached).
        quant_preprocess: run ONNX Runtime's quantization pre-processing before INT8.
        reduce_range: INT8 with 7-bit weights (the backend decides it from the CPU's ISA).
        quantize_outputs: INT8 also quantizes the graph outputs.
        bias_correction: INT8 corrects the biases layer by layer (NNCF's algorithm).
    """

    quiet: bool | None = None
    calibration_table: CalibrationTable | None = None
    quant_preprocess: bool = True
    reduce_range: bool = False
    quantize_outputs: bool = False
    bias_correction: bool = False


PassFactory = Callable[["BuildConfig", PassContext], "Pass"]
"""``factory(config, context) -> Pass``: makes the pass a build config asks for."""

_PASSES: dict[str, tuple[PassFactory, str]] = {}


def register_pass(name: str, *, summary: str = "") -> Callable[[PassFactory], PassFactory]:
    """Decorator: make ``factory`` available as pass ``name`` (``--pass NAME``)."""

    def deco(factory: PassFactory) -> PassFactory:
        if name in _PASSES and _PASSES[name][0] is not factory:
            raise ConfigError(f"pass '{name}' is registered twice")
        _PASSES[name] = (factory, summary or (factory.__doc__ or "").strip().splitlines()[0])
        return factory

    return deco


def list_passes() -> dict[str, str]:
    """Registered pass names and one-line summaries, sorted by name."""
    return {name: _PASSES[name][1] for name in sorted(_PASSES)}


def get_pass(name: str, config: BuildConfig, context: PassContext) -> Pass:
    """The pass ``name`` made for ``config``.

    Raises:
        ConfigError: no such pass (the message lists the registered ones).
    """
    if name not in _PASSES:
        raise ConfigError(f"unknown pass '{name}'; registered passes: {', '.join(sorted(_PASSES))}")
    return _PASSES[name][0](config, context)
