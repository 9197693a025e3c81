"""ONNX -> ONNX passes: small, typed, testable transforms returning ``PassResult``.

``lower_precision(model, build_config)`` is what backends call; the individual passes
(:class:`Fp16Pass`, :class:`Int8Pass`) take their own frozen configs.
"""

from edgeinfer.passes.base import Pass, PassManager, PassResult
from edgeinfer.passes.fp16 import DEFAULT_BLOCK_OPS, Fp16Config, Fp16Pass
from edgeinfer.passes.int8 import Int8Config, Int8Pass, prepare_for_quantization
from edgeinfer.passes.precision import int8_config, lower_precision

__all__ = [
    "DEFAULT_BLOCK_OPS",
    "Fp16Config",
    "Fp16Pass",
    "Int8Config",
    "Int8Pass",
    "Pass",
    "PassManager",
    "PassResult",
    "int8_config",
    "lower_precision",
    "prepare_for_quantization",
]
