"""ISA-aware INT8: the CPU's INT8 instruction class, and the saturation fix a build applies.

On x86 CPUs without VNNI (AVX2, and AVX-512 before Cascade Lake) an INT8 convolution's u8 x s8
products are added in pairs into a *saturating* 16-bit register (``vpmaddubsw``): 2 x 255 x 127
= 64770 > 32767, so large activations times large weights overflow silently. The fixes are
7-bit weights (ONNX Runtime's ``reduce_range``, NNCF's ``overflow_fix``); on VNNI/AMX they only
cost accuracy. Each backend asks :func:`int8_isa` (or :func:`onednn_int8_isa`, which also
honours oneDNN's kernel cap) and records the decision (:meth:`Int8Isa.record`) in the
engine's manifest.

Forcing the non-VNNI path on a VNNI host: OpenVINO runs oneDNN's AVX2 kernels with
``ONEDNN_MAX_CPU_ISA=AVX2`` set before the process imports openvino; ONNX Runtime picks its
kernels from CPUID alone (no switch), so ``EDGEINFER_INT8_ISA=avx2`` only makes edgeinfer take
the AVX2 *decisions* (the kernels stay VNNI/AMX).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from edgeinfer.errors import ConfigError
from edgeinfer.host import INT8_ISA_ENV, SATURATING_ISAS, current_host, int8_isa

__all__ = ["Int8Isa", "auto_flag", "host_int8_isa", "onednn_int8_isa"]

ONEDNN_ENV = "ONEDNN_MAX_CPU_ISA"
# oneDNN's ISA cap names (dnnl_cpu_isa_t) -> the INT8 class they allow.
_ONEDNN_CAPS = {
    "SSE41": "sse",
    "AVX": "sse",
    "AVX2": "avx2",
    "AVX512_CORE": "avx2",  # AVX-512 without VNNI: the same saturating vpmaddubsw
    "AVX2_VNNI": "vnni",
    "AVX2_VNNI_2": "vnni",
    "AVX512_CORE_VNNI": "vnni",
    "AVX512_CORE_BF16": "vnni",
    "AVX10_1_512": "vnni",
    "AVX512_CORE_FP16": "vnni",
    "AVX10_1_512_AMX": "amx",
    "AVX512_CORE_AMX": "amx",
    "AVX10_1_512_AMX_FP16": "amx",
    "AVX512_CORE_AMX_FP16": "amx",
    "ALL": "amx",
    "DEFAULT": "amx",
}
_RANK = {"sse": 0, "avx2": 1, "vnni": 2, "amx": 3}


@dataclass(frozen=True)
class Int8Isa:
    """The INT8 instruction class a build decides with, and where it came from.

    Attributes:
        isa: ``amx``, ``vnni``, ``avx2``, ``sse``, ``arm-dot``, ``arm`` or ``other``.
        source: ``detected`` (the CPU flags), or the environment variable that set it.
    """

    isa: str
    source: str = "detected"

    @property
    def saturates(self) -> bool:
        """Whether u8 x s8 pair sums saturate 16 bits here (x86 without VNNI)."""
        return self.isa in SATURATING_ISAS

    def describe(self) -> str:
        """``avx2 (no VNNI; from EDGEINFER_INT8_ISA)``."""
        kind = "no VNNI: 16-bit saturating pair sums" if self.saturates else "no saturation"
        where = "" if self.source == "detected" else f"; from {self.source}"
        return f"{self.isa} ({kind}{where})"

    def record(self, fix: str) -> dict[str, Any]:
        """The manifest metadata of this decision (``fix``: what the build applied)."""
        return {"isa": self.isa, "source": self.source, "saturates": self.saturates, "fix": fix}


def host_int8_isa() -> Int8Isa:
    """This host's INT8 class (``EDGEINFER_INT8_ISA`` overrides the detection).

    Raises:
        ConfigError: an invalid override.
    """
    forced = bool(os.environ.get(INT8_ISA_ENV, "").strip())
    return Int8Isa(int8_isa(), INT8_ISA_ENV if forced else "detected")


def onednn_int8_isa() -> Int8Isa:
    """The INT8 class oneDNN (OpenVINO's CPU kernels) runs with: this host's, capped by
    ``ONEDNN_MAX_CPU_ISA`` when that is set.

    Raises:
        ConfigError: ``ONEDNN_MAX_CPU_ISA`` is not one of oneDNN's ISA names.
    """
    base = host_int8_isa()
    cap = os.environ.get(ONEDNN_ENV, "").strip().upper()
    if not cap or current_host().machine not in ("x86_64", "AMD64"):
        return base
    if cap not in _ONEDNN_CAPS:
        raise ConfigError(
            f"{ONEDNN_ENV}={cap!r} is not a oneDNN ISA name; use e.g. AVX2, AVX512_CORE, "
            "AVX512_CORE_VNNI or unset it"
        )
    capped = _ONEDNN_CAPS[cap]
    if _RANK.get(capped, 3) < _RANK.get(base.isa, 3):
        return Int8Isa(capped, ONEDNN_ENV)
    return base


def auto_flag(value: bool | str, isa: Int8Isa) -> bool:
    """Resolve a ``true``/``false``/``auto`` saturation-fix option: ``auto`` is on exactly
    where pair sums saturate.
    """
    if value == "auto":
        return isa.saturates
    return bool(value)


def check_auto_flag(what: str, value: Any) -> bool | str:
    """Validate an ``auto``/true/false option value (options arrive as bool or text).

    Raises:
        ConfigError: any other value.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("auto", "true", "false"):
        return text if text == "auto" else text == "true"
    raise ConfigError(f"{what} must be auto, true or false, got {value!r}")
