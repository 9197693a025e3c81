"""OpenVINO build/runtime settings: typed options, precision hints, property read-back.

Kept apart from :mod:`edgeinfer.backends.openvino` so the precision rules are small and
testable. Nothing here imports openvino at module level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from edgeinfer import serde
from edgeinfer.backends.int8_isa import check_auto_flag
from edgeinfer.errors import BackendError, ConfigError, first_line

if TYPE_CHECKING:
    import openvino as ov

    from edgeinfer.config import BuildConfig

XML = "model.xml"
BIN = "model.bin"
DEVICE = "CPU"

HINTS = ("LATENCY", "THROUGHPUT")
INFERENCE_PRECISIONS = ("f32", "bf16", "f16", "default")
QUANTIZERS = ("qdq", "nncf")
NNCF_PRESETS = ("performance", "mixed")
OVERFLOW_FIXES = ("auto", "first_layer", "enable", "disable")
SETTINGS_VERSION = 1
INT8_OPTIONS = (
    "quantizer",
    "nncf_preset",
    "fast_bias_correction",
    "overflow_fix",
    "reduce_range",
    "quantize_outputs",
)

# precision -> (default INFERENCE_PRECISION_HINT, allowed values of inference_precision)
_PRECISION_HINTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fp32": ("f32", ("f32", "default")),
    "bf16": ("bf16", ("bf16",)),
    "fp16": ("f16", ("f16",)),
    "int8": ("f32", ("f32", "bf16", "f16", "default")),  # precision of the unquantized rest
}
_CAPABILITY = {"bf16": "BF16", "f16": "FP16"}
_EDGEINFER_NAME = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}
# Layers that only move or hold data; left out of the runtime-precision summary.
_BOOKKEEPING = {"Input", "Output", "Const", "Reorder", "Reshape", "Parameter", "Result"}


def _streams(value: int | str | None) -> str | None:
    if value is None:
        return None
    text = str(value).strip().upper()
    if text == "AUTO" or (text.isdigit() and int(text) >= 1 and not isinstance(value, bool)):
        return text
    raise ConfigError(f"openvino streams must be a positive integer or AUTO, got {value!r}")


@dataclass(frozen=True)
class OpenVinoSettings:
    """OpenVINO options of a build (``--option NAME=VALUE``; the backend's ``options_type``).

    Attributes:
        performance_hint: ``LATENCY`` (one stream, lowest latency) or ``THROUGHPUT``.
        streams: ``NUM_STREAMS``: a positive int or ``AUTO``, kept as text (``"2"``);
            None: the hint decides.
        inference_precision: ``f32``, ``bf16``, ``f16`` or ``default`` (leave the plugin's
            default, recorded as executed); None: derived from the build precision.
        quantizer: int8 route: ``qdq`` (the QDQ ONNX of edgeinfer.passes) or ``nncf``.
        nncf_preset: NNCF preset: ``performance`` (symmetric) or ``mixed``.
        fast_bias_correction: NNCF's fast bias correction; False (default): its full,
            layer-by-layer bias correction (MobileNetV2: 0 top-5 misses of 500 instead of 2;
            about 3.5x the quantization time).
        overflow_fix: NNCF's 7-bit weights against u8 x s8 saturation on CPUs without VNNI:
            ``auto`` (``enable`` where oneDNN's INT8 kernels saturate, NNCF's default
            ``first_layer`` elsewhere), ``first_layer``, ``enable`` or ``disable``.
        reduce_range: the QDQ route's 7-bit weights (``auto``: where the kernels saturate).
        quantize_outputs: the QDQ route also quantizes the graph outputs (default: float).
        version: format version of these settings.
    """

    WHAT: ClassVar[str] = "openvino options"

    performance_hint: str = "LATENCY"
    streams: int | str | None = None
    inference_precision: str | None = None
    quantizer: str = "qdq"
    nncf_preset: str = "performance"
    fast_bias_correction: bool = False
    overflow_fix: str = "auto"
    reduce_range: bool | str = "auto"
    quantize_outputs: bool = False
    version: int = SETTINGS_VERSION

    def __post_init__(self) -> None:
        hint = str(self.performance_hint).upper()
        if hint not in HINTS:
            raise ConfigError(
                f"unknown openvino performance_hint '{self.performance_hint}'; choose one of "
                f"{', '.join(HINTS)}"
            )
        object.__setattr__(self, "performance_hint", hint)
        object.__setattr__(self, "streams", _streams(self.streams))
        checks = (
            ("inference_precision", self.inference_precision, INFERENCE_PRECISIONS),
            ("quantizer", self.quantizer, QUANTIZERS),
            ("nncf_preset", self.nncf_preset, NNCF_PRESETS),
            ("overflow_fix", self.overflow_fix, OVERFLOW_FIXES),
        )
        for name, value, allowed in checks:
            if value is not None and value not in allowed:
                raise ConfigError(
                    f"unknown openvino {name} '{value}'; choose one of {', '.join(allowed)}"
                )
        reduce = check_auto_flag("openvino option reduce_range", self.reduce_range)
        object.__setattr__(self, "reduce_range", reduce)
        serde.check_version(self.WHAT, self.version, SETTINGS_VERSION)

    @property
    def num_streams(self) -> str | None:
        """``NUM_STREAMS`` as text (``"2"``, ``"AUTO"``), None when the hint decides."""
        return None if self.streams is None else str(self.streams)

    def with_runtime(
        self, *, performance_hint: str | None = None, streams: int | str | None = None
    ) -> OpenVinoSettings:
        """These settings with runner-level overrides (None keeps the engine's value)."""
        changes: dict[str, Any] = {}
        if performance_hint is not None:
            changes["performance_hint"] = performance_hint
        if streams is not None:
            changes["streams"] = streams
        return replace(self, **changes)


def ignored_options(config: BuildConfig) -> list[str]:
    """int8-only options given with another precision: accepted (so an FP32 baseline can be
    derived from an int8 config by changing only the precision) but they do nothing.
    """
    if config.precision == "int8":
        return []
    return sorted(k for k, _ in config.options if k in INT8_OPTIONS)


def requested_hint(precision: str, settings: OpenVinoSettings) -> str | None:
    """The ``INFERENCE_PRECISION_HINT`` to set for ``precision`` (None: plugin default).

    Raises:
        ConfigError: ``inference_precision`` contradicts the requested precision.
    """
    default, allowed = _PRECISION_HINTS[precision]
    wanted = settings.inference_precision or default
    if wanted not in allowed:
        fix = {"bf16": "--precision bf16", "f16": "--precision fp16", "f32": "--precision fp32"}
        raise ConfigError(
            f"openvino inference_precision={wanted} contradicts --precision {precision} "
            f"(allowed: {', '.join(allowed)}); use {fix.get(wanted, '--precision fp32')} instead"
        )
    return None if wanted == "default" else wanted


def check_capability(
    core: ov.Core, precision: str, hint: str | None, settings: OpenVinoSettings
) -> None:
    """Refuse inference precisions the CPU plugin does not report as a capability.

    Raises:
        BackendError: e.g. fp16 on an x86 CPU (the plugin would silently run bf16 or f32).
    """
    need = _CAPABILITY.get(hint or "")
    if need is None:
        return
    caps = [str(c) for c in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")]
    if need in caps:
        return
    cpu = str(core.get_property("CPU", "FULL_DEVICE_NAME"))
    what = (
        f"precision '{precision}'"
        if settings.inference_precision is None
        else f"inference_precision={hint}"
    )
    alternatives = [p for p in ("bf16", "fp32") if p == "fp32" or "BF16" in caps]
    alternatives = [p for p in alternatives if p != _EDGEINFER_NAME.get(hint or "")]
    raise BackendError(
        f"backend 'openvino' cannot run {what} on this CPU ({cpu}): its CPU plugin reports "
        f"capabilities {', '.join(caps)}, without {need}; use --precision "
        f"{' or '.join(alternatives)} instead"
    )


def compile_properties(
    hint: str | None, performance_hint: str, threads: int | None, streams: str | None
) -> dict[str, Any]:
    """``compile_model`` properties for these settings."""
    props: dict[str, Any] = {"PERFORMANCE_HINT": performance_hint}
    if hint is not None:
        props["INFERENCE_PRECISION_HINT"] = hint
    if threads:
        props["INFERENCE_NUM_THREADS"] = int(threads)
    if streams is not None:
        props["NUM_STREAMS"] = streams
    return props


def _type_name(value: Any) -> str:
    get = getattr(value, "get_type_name", None)
    return str(get()) if get is not None else str(value)


def layer_precisions(compiled: Any) -> dict[str, int]:
    """How many compute layers of the compiled (runtime) model run in each precision."""
    counts: dict[str, int] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if info["layerType"].astype(str) in _BOOKKEEPING:
            continue
        prec = info["runtimePrecision"].astype(str)
        counts[prec] = counts.get(prec, 0) + 1
    return counts


_KERNEL_LAYERS = {"Convolution", "GroupConvolution", "FullyConnected", "MatMul", "Deconvolution"}


def kernel_primitives(compiled: Any) -> dict[str, int]:
    """How many convolution/matmul layers of the compiled model use each oneDNN primitive
    (e.g. ``brgconv_avx512_amx_1x1_I8``, ``jit_avx2_1x1_I8``): which ISA really runs.
    """
    counts: dict[str, int] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if info["layerType"].astype(str) not in _KERNEL_LAYERS:
            continue
        prim = info["primitiveType"].astype(str)
        counts[prim] = counts.get(prim, 0) + 1
    return counts


def read_properties(compiled: Any, *, layers: bool = True) -> dict[str, Any]:
    """What the compiled model really runs with (read back, not what was asked for)."""
    out: dict[str, Any] = {
        "inference_precision": _type_name(compiled.get_property("INFERENCE_PRECISION_HINT")),
        "performance_hint": str(compiled.get_property("PERFORMANCE_HINT")).split(".")[-1],
        "streams": int(str(compiled.get_property("NUM_STREAMS"))),
        "threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
        "optimal_requests": int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")),
    }
    if layers:
        out["layer_precisions"] = layer_precisions(compiled)
        out["kernels"] = kernel_primitives(compiled)
    return out


def executed_precision(precision: str, readback: Mapping[str, Any]) -> str:
    """The precision that executes: from the read-back hint and the layers' precisions.

    ``int8`` when quantized layers run in int8 and the rest in f32; ``int8+bf16`` when the
    rest runs in bf16; the hint's precision when no layer runs in int8.
    """
    hint = str(readback["inference_precision"])
    base = _EDGEINFER_NAME.get(hint, hint)
    if precision != "int8":
        return base
    counts: Mapping[str, int] = readback.get("layer_precisions", {})
    if not any(n for p, n in counts.items() if p in ("i8", "u8")):
        return base
    return "int8" if base == "fp32" else f"int8+{base}"


def compile_ir(core: ov.Core, model: ov.Model | str, props: dict[str, Any], what: str) -> Any:
    """``core.compile_model`` on the CPU with ``props``; failures become a BackendError."""
    try:
        return core.compile_model(model, DEVICE, props)
    except Exception as exc:
        raise BackendError(
            f"OpenVINO cannot compile {what} for the CPU: {first_line(exc)}; rebuild the engine, or "
            "try other options (performance_hint, streams, inference_precision)"
        ) from exc
