"""ONNX -> ONNX passes: small, typed, testable transforms returning ``PassResult``.

Backends call :func:`run_pipeline` (the passes named in ``BuildConfig.passes``, then the
precision pass); passes are registered by name (:func:`register_pass`) and take their own
frozen configs (:class:`Fp16Pass`, :class:`Int8Pass`).
"""

from edgeinfer.passes.act_equalize import ActEqualizePass
from edgeinfer.passes.base import Pass, PassManager, PassResult
from edgeinfer.passes.equalize import EqualizeConfig, EqualizePass
from edgeinfer.passes.fp16 import DEFAULT_BLOCK_OPS, Fp16Config, Fp16Pass
from edgeinfer.passes.int8 import Int8Config, Int8Pass, prepare_for_quantization
from edgeinfer.passes.pipeline import build_pipeline, int8_config, run_pipeline
from edgeinfer.passes.registry import PassContext, get_pass, list_passes, register_pass

__all__ = [
    "DEFAULT_BLOCK_OPS",
    "ActEqualizePass",
    "EqualizeConfig",
    "EqualizePass",
    "Fp16Config",
    "Fp16Pass",
    "Int8Config",
    "Int8Pass",
    "Pass",
    "PassContext",
    "PassManager",
    "PassResult",
    "build_pipeline",
    "get_pass",
    "int8_config",
    "list_passes",
    "prepare_for_quantization",
    "register_pass",
    "run_pipeline",
]
