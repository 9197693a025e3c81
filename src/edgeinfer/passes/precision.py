"""Lower a model to a build's precision: the one entry point backends call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeinfer.errors import BackendError
from edgeinfer.passes.fp16 import Fp16Config, Fp16Pass
from edgeinfer.passes.int8 import Int8Config, Int8Pass

if TYPE_CHECKING:
    from edgeinfer.calibration.table import CalibrationTable
    from edgeinfer.config import BuildConfig
    from edgeinfer.model import Model


def int8_config(config: BuildConfig, *, preprocess: bool = True) -> Int8Config:
    """The :class:`Int8Config` a build config asks for (calibration + exclude)."""
    return Int8Config(
        calibration=config.calibration_config(),
        exclude=config.exclude,
        preprocess=preprocess,
    )


def lower_precision(
    model: Model,
    config: BuildConfig,
    *,
    quiet: bool | None = None,
    table: CalibrationTable | None = None,
    preprocess: bool = True,
) -> tuple[Model, list[str]]:
    """Apply the graph pass for ``config.precision``.

    fp32: the model unchanged. fp16: :class:`Fp16Pass` (``config.exclude`` kept FP32).
    int8: calibration (cached) + :class:`Int8Pass` static QDQ. bf16 is not a graph pass:
    backends that run bf16 (OpenVINO) set it as their inference precision.

    Args:
        model: the FP32 model.
        config: the build config (precision, exclude, calibration).
        quiet: no progress bars.
        table: precomputed calibration ranges for int8 (None: calibrate, cached).
        preprocess: run ONNX Runtime's quantization pre-processing for int8.

    Returns:
        (lowered model, notes for the engine manifest).
    """
    if config.precision == "fp32":
        return model, []
    if config.precision == "fp16":
        result = Fp16Pass(Fp16Config(exclude=config.exclude))(model)
        return result.model, list(result.notes)
    if config.precision == "int8":
        result = Int8Pass(int8_config(config, preprocess=preprocess), table=table, quiet=quiet)(
            model
        )
        return result.model, list(result.notes)
    raise BackendError(
        f"precision '{config.precision}' is not an ONNX graph pass; backends that run it set "
        "it as an inference precision (--backend openvino --precision bf16)"
    )
