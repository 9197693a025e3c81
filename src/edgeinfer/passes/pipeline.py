"""The build-time pass pipeline: the one entry point backends call to transform the graph.

``run_pipeline(model, config)`` runs the graph passes named in ``config.passes`` and then the
precision pass for ``config.precision`` when the backend lowers that precision in the graph
(``fp16``: :class:`Fp16Pass`; ``int8``: calibration + :class:`Int8Pass` static QDQ). bf16 is
not a graph pass: backends that run bf16 (OpenVINO) set it as their inference precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from edgeinfer.errors import ConfigError, require
from edgeinfer.model import Model
from edgeinfer.passes.base import Pass, PassManager, PassResult, copy_proto
from edgeinfer.passes.fp16 import Fp16Config, Fp16Pass
from edgeinfer.passes.int8 import Int8Config, Int8Pass
from edgeinfer.passes.registry import PassContext, get_pass, list_passes, register_pass

if TYPE_CHECKING:
    from edgeinfer.config import BuildConfig

__all__ = ["GRAPH_PRECISIONS", "build_pipeline", "check_passes", "int8_config", "run_pipeline"]

GRAPH_PRECISIONS = ("fp16", "int8")
"""Precisions that have a graph pass (registered under the precision's name)."""


def int8_config(
    config: BuildConfig, *, preprocess: bool = True, context: PassContext | None = None
) -> Int8Config:
    """The :class:`Int8Config` a build config asks for (calibration + exclude), with the
    backend's INT8 choices from ``context`` (reduce_range, output quantization, bias
    correction).
    """
    ctx = context or PassContext()
    return Int8Config(
        calibration=config.calibration_config(),
        exclude=config.exclude,
        preprocess=preprocess,
        reduce_range=ctx.reduce_range,
        quantize_outputs=ctx.quantize_outputs,
        bias_correction=ctx.bias_correction,
    )


@register_pass("fp16", summary="weights and compute in float16, graph I/O stays float32")
def _fp16(config: BuildConfig, context: PassContext) -> Pass:
    return Fp16Pass(Fp16Config(exclude=config.exclude))


@register_pass("int8", summary="calibrated static INT8 QDQ (ONNX Runtime's quantizer)")
def _int8(config: BuildConfig, context: PassContext) -> Pass:
    return Int8Pass(
        int8_config(config, preprocess=context.quant_preprocess, context=context),
        table=context.calibration_table,
        quiet=context.quiet,
    )


class SimplifyPass(Pass):
    """Constant folding and dead-node removal with onnxscript's optimizer (well kept, used by
    PyTorch's exporter); the result is checked like every pass's.
    """

    name = "simplify"

    def call(self, model: Model) -> PassResult:
        optimizer = require("onnxscript.optimizer", "torch", purpose="the 'simplify' pass")
        before = len(model.proto.graph.node)
        proto = optimizer.optimize(copy_proto(model))
        after = len(proto.graph.node)
        if after == before:
            return PassResult(model, False, ("simplify: nothing to fold",))
        out = Model.from_proto(proto, model.path)
        out.torch_source = model.torch_source
        return PassResult(out, True, (f"simplify: {before} -> {after} nodes",))


@register_pass("simplify", summary="constant folding and dead-node removal (onnxscript)")
def _simplify(config: BuildConfig, context: PassContext) -> Pass:
    return SimplifyPass()


def check_passes(names: Sequence[str]) -> None:
    """Refuse unknown pass names and precision passes given by name (they follow from
    ``--precision``).

    Raises:
        ConfigError: naming the registered passes.
    """
    known = list_passes()
    for name in names:
        if name in GRAPH_PRECISIONS:
            raise ConfigError(f"pass '{name}' runs from --precision {name}; drop --pass {name}")
        if name not in known:
            raise ConfigError(
                f"unknown pass '{name}'; registered passes: "
                f"{', '.join(n for n in known if n not in GRAPH_PRECISIONS)}"
            )


def build_pipeline(
    config: BuildConfig, context: PassContext | None = None, *, lower: bool = True
) -> PassManager:
    """The passes a build runs: ``config.passes`` in order, then the precision pass of
    ``config.precision`` when ``lower`` and it has one.
    """
    ctx = context or PassContext()
    check_passes(config.passes)
    names = list(config.passes)
    if lower and config.precision in GRAPH_PRECISIONS:
        names.append(config.precision)
    return PassManager([get_pass(n, config, ctx) for n in names])


def run_pipeline(
    model: Model, config: BuildConfig, context: PassContext | None = None, *, lower: bool = True
) -> tuple[Model, list[str]]:
    """Run :func:`build_pipeline` on ``model``.

    Returns:
        (the transformed model, notes for the engine manifest).
    """
    pipeline = build_pipeline(config, context, lower=lower)
    if not pipeline.passes:
        return model, []
    result = pipeline(model)
    return result.model, list(result.notes)
