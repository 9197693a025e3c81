"""ONNX Runtime CPU backend.

Build: run ONNX Runtime's graph optimizations (constant folding, layer fusion, and at level
``all`` the hardware-specific layout transforms) once, offline, and save the optimized model
as the payload. Run: an ``InferenceSession`` with IO binding to persistent, pre-allocated
input and output buffers, reused across calls.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeinfer.backends import register_backend
from edgeinfer.backends.base import Backend, BuildResult, Capabilities, Int8Route
from edgeinfer.backends.int8_isa import auto_flag, host_int8_isa
from edgeinfer.backends.onnxruntime.precision import executed_precision
from edgeinfer.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeinfer.backends.onnxruntime.settings import PAYLOAD, OrtOptions, session_options
from edgeinfer.errors import BackendError, MissingExtraError, first_line
from edgeinfer.fileio import cannot_write
from edgeinfer.passes import PassContext, run_pipeline

if TYPE_CHECKING:
    from edgeinfer.config import BuildConfig
    from edgeinfer.engine import Engine
    from edgeinfer.model import Model


@register_backend
class OnnxRuntimeBackend(Backend[OrtOptions]):
    """The embedded default: ONNX Runtime on the CPU."""

    name = "onnxruntime"
    extra = None
    distribution = "onnxruntime"
    module = "onnxruntime"
    capabilities = Capabilities(
        precisions=("fp32", "fp16", "int8"),
        # bc: the QDQ route with NNCF's sequential bias correction (needs the openvino extra)
        int8_routes=(
            Int8Route("qdq"),
            Int8Route("bc", options=(("bias_correction", True),), calibrators=False),
        ),
        precision_options=frozenset(
            {"quant_preprocess", "reduce_range", "quantize_outputs", "bias_correction"}
        ),
        reference=True,
    )
    options_type = OrtOptions

    def check_config(self, config: BuildConfig) -> None:
        """Refuse bf16 (the CPU provider has no bfloat16 kernels), INT8 bias correction
        without NNCF, then the common checks.

        Raises:
            BackendError: bf16, or a precision or option the backend does not support.
            MissingExtraError: ``bias_correction`` without NNCF installed.
        """
        if config.precision == "bf16":
            raise BackendError(
                "backend 'onnxruntime' does not support precision 'bf16': its CPU provider has "
                "no bfloat16 kernels (MatMul, Conv); use --backend openvino --precision bf16 "
                "(CPUs with AVX512_BF16/AMX), or fp16/int8 here"
            )
        super().check_config(config)
        wants_bc = config.precision == "int8" and self.options(config).bias_correction
        if wants_bc and importlib.util.find_spec("nncf") is None:
            raise MissingExtraError(
                "onnxruntime option bias_correction needs NNCF (its sequential bias "
                "correction); install the extra: pip install 'edgeinfer[openvino]'"
            )

    def build(
        self, model: Model, config: BuildConfig, directory: Path, *, quiet: bool | None = None
    ) -> BuildResult:
        """Run the pass pipeline, let ONNX Runtime optimize the graph and save the result.

        The payload is ONNX Runtime's optimized model (plus an external data file for models over
        2 GiB); the executed precision is read back from it.

        Raises:
            BackendError: ONNX Runtime cannot create a session for the model.
        """
        import onnxruntime as ort

        options = self.options(config)
        context, isa_notes, isa_meta = _int8_context(config, options, quiet)
        model, notes = run_pipeline(model, config, context)
        notes = [*isa_notes, *notes]
        so = session_options(config.threads, options.optimization_level)
        so.optimized_model_filepath = str(directory / PAYLOAD)
        if model.large:
            so.add_session_config_entry(
                "session.optimized_model_external_initializers_file_name", PAYLOAD + ".data"
            )
        try:
            ort.InferenceSession(
                model.proto.SerializeToString(), so, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            why = cannot_write(directory, model.proto.ByteSize())
            fix = (
                f"cannot write the engine in '{directory.parent}' ({why}): free disk space or "
                "choose another location (EDGEINFER_CACHE_DIR)"
                if why
                else "check that the model's ops are supported (or try --backend openvino)"
            )
            raise BackendError(
                f"ONNX Runtime cannot build '{model.name}': {first_line(exc)}; {fix}"
            ) from exc
        payload = [PAYLOAD] + (
            [PAYLOAD + ".data"] if (directory / (PAYLOAD + ".data")).exists() else []
        )
        executed, more = executed_precision(directory / PAYLOAD, config.precision)
        return BuildResult(
            payload=tuple(payload),
            executed_precision=executed,
            notes=(*notes, *more),
            metadata=isa_meta,
        )

    def runner(self, engine: Engine, **options: Any) -> OnnxRuntimeRunner:
        """A new, inactive :class:`OnnxRuntimeRunner` for ``engine``."""
        return OnnxRuntimeRunner(engine, **options)


def _int8_context(
    config: BuildConfig, options: OrtOptions, quiet: bool | None
) -> tuple[PassContext, list[str], dict[str, Any]]:
    """The pass context of a build, with the INT8 saturation fix this CPU needs (the ISA
    decision goes into the manifest's notes and ``metadata["int8_isa"]``).
    """
    if config.precision != "int8":
        return PassContext(quiet=quiet, quant_preprocess=options.quant_preprocess), [], {}
    isa = host_int8_isa()
    reduce = auto_flag(options.reduce_range, isa)
    fix = "reduce_range (7-bit weights)" if reduce else "none"
    how = "auto" if options.reduce_range == "auto" else "option"
    note = f"int8 ISA {isa.describe()}: saturation fix {fix} ({how})"
    if isa.source != "detected":
        note += "; ONNX Runtime picks its kernels from CPUID, so they are this CPU's"
    context = PassContext(
        quiet=quiet,
        quant_preprocess=options.quant_preprocess,
        reduce_range=reduce,
        quantize_outputs=options.quantize_outputs,
        bias_correction=options.bias_correction,
    )
    return context, [note], {"int8_isa": isa.record(fix)}

