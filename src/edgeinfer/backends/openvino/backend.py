"""OpenVINO CPU backend.

Build: ONNX (after :func:`edgeinfer.passes.run_pipeline`: FP32, or INT8 QDQ) →
OpenVINO IR (``model.xml`` + ``model.bin``, weights kept in FP32), optionally quantized by
NNCF (``quantizer=nncf``). The IR is compiled once during the build to read back the
precision the CPU plugin really executes, which the manifest records: OpenVINO's CPU plugin
runs **bf16 by default** on CPUs with AVX512-BF16/AMX, so ``precision="fp32"`` pins
``INFERENCE_PRECISION_HINT=f32``.

Run: :class:`edgeinfer.backends.openvino.runner.OpenVinoRunner`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeinfer.backends import register_backend
from edgeinfer.backends.base import Backend, BuildResult, Capabilities, Int8Route
from edgeinfer.backends.int8_isa import Int8Isa, auto_flag, onednn_int8_isa
from edgeinfer.backends.openvino.nncf import named_model, nncf_quantize, overflow_fix
from edgeinfer.backends.openvino.runner import OpenVinoRunner
from edgeinfer.backends.openvino.settings import (
    BIN,
    DEVICE,
    INT8_OPTIONS,
    XML,
    OpenVinoSettings,
    check_capability,
    compile_ir,
    compile_properties,
    executed_precision,
    ignored_options,
    read_properties,
    requested_hint,
)
from edgeinfer.errors import BackendError, first_line
from edgeinfer.passes import PassContext, run_pipeline

if TYPE_CHECKING:
    import openvino as ov

    from edgeinfer.config import BuildConfig
    from edgeinfer.engine import Engine
    from edgeinfer.model import Model

def _convert(model: Model) -> ov.Model:
    """ONNX → ``ov.Model`` through a temporary file (the ONNX frontend reads files)."""
    import openvino as ov

    with tempfile.TemporaryDirectory(prefix="edgeinfer-ov-") as tmp:
        path = model.save(Path(tmp) / "model.onnx")  # external data over 2 GiB, model intact
        try:
            return ov.convert_model(str(path))
        except Exception as exc:
            raise BackendError(
                f"OpenVINO cannot convert '{model.name}': {first_line(exc)}; check that its ops are "
                "supported by OpenVINO's ONNX frontend (or try --backend onnxruntime)"
            ) from exc


_BF16_REST = (("inference_precision", "bf16"),)


@register_backend
class OpenVinoBackend(Backend[OpenVinoSettings]):
    """OpenVINO on the CPU: IR conversion, runtime hints, bf16 and INT8 (QDQ or NNCF)."""

    name = "openvino"
    extra = "openvino"
    distribution = "openvino"
    module = "openvino"
    capabilities = Capabilities(
        precisions=("fp32", "fp16", "bf16", "int8"),
        int8_routes=(
            # The QDQ route quantizes with edgeinfer's INT8 pass, exactly as ONNX Runtime does.
            # Mixed variants run the layers kept out of INT8 in BF16 where the CPU has it.
            Int8Route("qdq", proxy_backend="onnxruntime", mixed_options=_BF16_REST),
            Int8Route(
                "nncf",
                options=(("quantizer", "nncf"),),
                calibrators=False,
                mixed_options=_BF16_REST,
            ),
        ),
        precision_options=frozenset({"inference_precision", *INT8_OPTIONS}),
    )
    options_type = OpenVinoSettings

    def check_config(self, config: BuildConfig) -> None:
        """The common checks, then whether this host's CPU plugin runs the requested precision.

        Raises:
            BackendError: a precision, option or inference-precision hint this host cannot run.
        """
        import openvino as ov

        super().check_config(config)
        settings = self.options(config)
        hint = requested_hint(config.precision, settings)
        check_capability(ov.Core(), config.precision, hint, settings)

    def build(
        self, model: Model, config: BuildConfig, directory: Path, *, quiet: bool | None = None
    ) -> BuildResult:
        """Convert to OpenVINO IR (quantized by QDQ or NNCF for int8), compile it once and record
        the precision the CPU plugin really executes.

        Raises:
            BackendError: the plugin runs another inference precision than the one requested.
        """
        import openvino as ov

        settings = self.options(config)
        hint = requested_hint(config.precision, settings)
        ov_model, notes, isa_meta = _to_openvino(model, config, settings, quiet)
        ov.save_model(ov_model, str(directory / XML), compress_to_fp16=False)
        core = ov.Core()
        props = compile_properties(
            hint, settings.performance_hint, config.threads, settings.num_streams
        )
        compiled = compile_ir(core, str(directory / XML), props, f"'{model.name}'")
        readback = read_properties(compiled)
        if hint is not None and readback["inference_precision"] != hint:
            raise BackendError(
                f"OpenVINO was asked to run inference precision {hint} but its CPU plugin "
                f"runs {readback['inference_precision']} on this host; choose another "
                "--precision (or --backend onnxruntime)"
            )
        executed = executed_precision(config.precision, readback)
        notes.extend(_notes(config.precision, hint, executed, readback))
        if ignored_options(config):
            notes.append(
                f"option(s) {', '.join(ignored_options(config))} ignored: they apply only to "
                "--precision int8"
            )
        meta = {"openvino": {**readback, "requested_hint": hint or "default"}, **isa_meta}
        return BuildResult(
            payload=(XML, BIN), executed_precision=executed, notes=tuple(notes), metadata=meta
        )

    def runner(self, engine: Engine, **options: Any) -> OpenVinoRunner:
        """A new, inactive :class:`OpenVinoRunner` for ``engine``."""
        return OpenVinoRunner(engine, **options)


def _to_openvino(
    model: Model, config: BuildConfig, settings: OpenVinoSettings, quiet: bool | None
) -> tuple[ov.Model, list[str], dict[str, Any]]:
    """The ``ov.Model`` to save: FP32, INT8 from QDQ ONNX (OpenVINO turns QDQ pairs into
    FakeQuantize), or INT8 by NNCF; plus notes naming the route and the INT8 ISA decision
    (manifest metadata ``int8_isa``).
    """
    if config.precision != "int8":  # fp16/bf16 are hints
        graph, notes = run_pipeline(model, config, PassContext(quiet=quiet))
        return _convert(graph), notes, {}
    isa = onednn_int8_isa()
    if settings.quantizer == "nncf":
        graph, notes = run_pipeline(model, config, PassContext(quiet=quiet), lower=False)
        named = named_model(graph)
        fix = overflow_fix(settings.overflow_fix, isa)
        ov_model, route = nncf_quantize(
            _convert(named), named, config, settings, fix, quiet=quiet
        )
        return ov_model, [_isa_note(isa, f"NNCF overflow_fix {fix}"), *notes, route], {
            "int8_isa": isa.record(f"overflow_fix={fix}")
        }
    # int8 by QDQ: OpenVINO turns the QDQ pairs into FakeQuantize
    reduce = auto_flag(settings.reduce_range, isa)
    context = PassContext(
        quiet=quiet, reduce_range=reduce, quantize_outputs=settings.quantize_outputs
    )
    graph, notes = run_pipeline(model, config, context)
    fix = "reduce_range (7-bit weights)" if reduce else "none"
    notes[:0] = [
        _isa_note(isa, fix),
        "int8 route: QDQ ONNX from edgeinfer.passes (static, calibrated)",
    ]
    return _convert(graph), notes, {"int8_isa": isa.record(fix)}


def _isa_note(isa: Int8Isa, fix: str) -> str:
    return f"int8 ISA {isa.describe()}: saturation fix {fix}"


def _notes(
    precision: str, hint: str | None, executed: str, readback: Mapping[str, Any]
) -> list[str]:
    import openvino as ov

    layers = ", ".join(f"{p} {n}" for p, n in sorted(readback["layer_precisions"].items()))
    notes = [
        f"OpenVINO {ov.get_version()} on {DEVICE}",
        f"executed precision {executed}: INFERENCE_PRECISION_HINT "
        f"{readback['inference_precision']} ({'requested' if hint else 'plugin default'})",
        f"performance hint {readback['performance_hint']}, streams {readback['streams']}, "
        f"threads {readback['threads']}",
        f"layers by runtime precision: {layers or 'none'}",
    ]
    kernels = readback.get("kernels") or {}
    if kernels:
        notes.append(
            "conv/matmul kernels: " + ", ".join(f"{k} x{n}" for k, n in sorted(kernels.items()))
        )
    if precision == "fp32" and executed != "fp32":
        notes.append(
            f"precision fp32 was requested with inference_precision=default: the CPU plugin "
            f"runs {executed}; drop the option to force fp32"
        )
    if precision == "int8" and not executed.startswith("int8"):
        notes.append(
            "no layer runs in int8: the model runs unquantized (all quantizable layers "
            "excluded, or none the CPU plugin can run in int8)"
        )
    return notes
