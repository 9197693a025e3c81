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
from edgeinfer.backends.openvino.nncf import named_model, nncf_quantize
from edgeinfer.backends.openvino.runner import OpenVinoRunner
from edgeinfer.backends.openvino.settings import (
    BIN,
    DEVICE,
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
    import onnx
    import openvino as ov

    with tempfile.TemporaryDirectory(prefix="edgeinfer-ov-") as tmp:
        path = Path(tmp) / "model.onnx"
        large = model.proto.ByteSize() > 2**31 - 1
        onnx.save_model(
            model.proto, str(path), save_as_external_data=large, location="model.onnx.data"
        )
        try:
            return ov.convert_model(str(path))
        except Exception as exc:
            raise BackendError(
                f"OpenVINO cannot convert '{model.name}': {first_line(exc)}; check that its ops are "
                "supported by OpenVINO's ONNX frontend (or try --backend onnxruntime)"
            ) from exc


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
            Int8Route("qdq", proxy_backend="onnxruntime"),
            Int8Route("nncf", options=(("quantizer", "nncf"),), calibrators=False),
        ),
        precision_options=frozenset(
            {"inference_precision", "quantizer", "nncf_preset", "fast_bias_correction"}
        ),
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
        ov_model, notes = _to_openvino(model, config, settings, quiet)
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
        meta = {"openvino": {**readback, "requested_hint": hint or "default"}}
        return BuildResult(
            payload=(XML, BIN), executed_precision=executed, notes=tuple(notes), metadata=meta
        )

    def runner(self, engine: Engine, **options: Any) -> OpenVinoRunner:
        """A new, inactive :class:`OpenVinoRunner` for ``engine``."""
        return OpenVinoRunner(engine, **options)


def _to_openvino(
    model: Model, config: BuildConfig, settings: OpenVinoSettings, quiet: bool | None
) -> tuple[ov.Model, list[str]]:
    """The ``ov.Model`` to save: FP32, INT8 from QDQ ONNX (OpenVINO turns QDQ pairs into
    FakeQuantize), or INT8 by NNCF; plus notes naming the route.
    """
    context = PassContext(quiet=quiet)
    if config.precision == "int8" and settings.quantizer == "nncf":
        graph, notes = run_pipeline(model, config, context, lower=False)
        named = named_model(graph)
        ov_model, route = nncf_quantize(_convert(named), named, config, settings, quiet=quiet)
        return ov_model, [*notes, route]
    # int8 by QDQ: OpenVINO turns the QDQ pairs into FakeQuantize; fp16/bf16 are hints
    lower = config.precision == "int8"
    graph, notes = run_pipeline(model, config, context, lower=lower)
    if lower:
        notes.insert(0, "int8 route: QDQ ONNX from edgeinfer.passes (static, calibrated)")
    return _convert(graph), notes


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
