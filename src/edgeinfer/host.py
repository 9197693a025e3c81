"""What machine we run on: CPU model and ISA flags, OS, Python.

Engines record the host they were built on; loading checks compatibility with
:func:`check_compatible` so that an engine tuned for AVX-512 is not silently run elsewhere.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from edgeinfer import serde
from edgeinfer.errors import ConfigError

# ISA extensions that change which kernels a backend may pick. Only these are compared.
# Arm's SME flags (sme, sme2, smef64f64 …) match; x86's ``smep`` (a kernel protection
# feature, not an instruction set) does not.
_ISA_PATTERN = re.compile(
    r"^(sse4_1|sse4_2|avx|avx2|fma|f16c|avx512\w*|avx_vnni\w*|amx\w*|asimd\w*|sve\w*|"
    r"fphp|asimdhp|i8mm|bf16|dotprod|sme(?!p$)\w*)$"
)


def isa_flags(flags: set[str] | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The ISA flags among ``flags`` (sorted): those that change kernel choices."""
    return tuple(sorted(f for f in flags if _ISA_PATTERN.match(f)))


@dataclass(frozen=True)
class HostInfo:
    """A description of the current machine, stored in every engine manifest and report.

    A data type, not a config: versioned by the document that holds it.

    Attributes:
        machine: CPU architecture (``x86_64``, ``aarch64``).
        cpu_model: CPU model name.
        cpu_count: CPUs this process may use.
        isa_flags: the ISA extensions that change kernel choices (avx2, avx512*, amx*, neon …).
        os: operating system and kernel release.
        python: Python version.
    """

    WHAT: ClassVar[str] = "host"
    IGNORE_UNKNOWN_KEYS: ClassVar[bool] = True  # a newer edgeinfer may add fields

    machine: str
    cpu_model: str
    cpu_count: int
    isa_flags: tuple[str, ...] = field(default_factory=tuple)
    os: str = ""
    python: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON data (``isa_flags`` as a list)."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostInfo:
        """Parse :meth:`to_dict` data.

        Raises:
            ConfigError: missing keys or wrong types (unknown keys are ignored: a newer
                edgeinfer may add fields).
        """
        return serde.from_dict(cls, data)

    def summary(self) -> str:
        """One line for table captions: CPU model, cores, OS."""
        return f"{self.cpu_model} ({self.cpu_count} cpus, {self.machine}), {self.os}, Python {self.python}"

    def fingerprint(self) -> str:
        """What must match for an engine built here to run identically elsewhere.

        An ISA override in the environment (:data:`ISA_OVERRIDES`: a forced INT8 ISA class, or
        oneDNN's kernel cap) is part of it: an engine built under one is not served to a
        process without it, or the other way round.
        """
        base = f"{self.machine}|{','.join(self.isa_flags)}"
        forced = [f"{k}={os.environ[k]}" for k in ISA_OVERRIDES if os.environ.get(k)]
        return "|".join([base, *forced])


INT8_ISA_ENV = "EDGEINFER_INT8_ISA"
"""Forces the INT8 ISA class edgeinfer decides with (``avx2``, ``vnni``, ``amx``): exercises
the decisions of another CPU on this one (the kernels a runtime picks do not change)."""
ISA_OVERRIDES = (INT8_ISA_ENV, "ONEDNN_MAX_CPU_ISA")
"""Environment variables that change INT8 decisions or kernels; part of the fingerprint."""
INT8_ISAS = ("amx", "vnni", "avx2", "sse", "arm-dot", "arm", "other")
"""INT8 ISA classes, best first within each architecture."""
SATURATING_ISAS = frozenset({"avx2", "sse"})
"""x86 without VNNI: u8 x s8 products are added in pairs in saturating 16-bit (``vpmaddubsw``),
so a full-range 8-bit weight times an 8-bit activation can overflow (ONNX Runtime documents
``reduce_range``, NNCF an overflow fix, oneDNN halves s8 weights)."""


def _x86_int8_isa(flags: set[str]) -> str:
    if any(f.startswith("amx_int8") for f in flags):
        return "amx"
    if "avx512_vnni" in flags or any(f.startswith("avx_vnni") for f in flags):
        return "vnni"
    return "avx2" if "avx2" in flags else "sse"


def int8_isa(host: HostInfo | None = None) -> str:
    """The class of INT8 dot-product instructions of ``host`` (default: this one).

    ``amx`` (AMX-INT8 tiles), ``vnni`` (AVX512-VNNI or AVX-VNNI: 32-bit accumulation),
    ``avx2``/``sse`` (no VNNI: saturating 16-bit pair sums, see :data:`SATURATING_ISAS`),
    ``arm-dot`` (Arm SDOT/I8MM), ``arm`` or ``other``. ``EDGEINFER_INT8_ISA`` overrides the
    detection for this host (tests force the non-VNNI decisions with it).

    Raises:
        ConfigError: the override is not one of :data:`INT8_ISAS`.
    """
    here = current_host()
    host = host or here
    forced = os.environ.get(INT8_ISA_ENV, "").strip().lower()
    if forced and host == here:
        if forced not in INT8_ISAS:
            raise ConfigError(
                f"{INT8_ISA_ENV}={forced!r} is not an INT8 ISA class; use one of "
                f"{', '.join(INT8_ISAS)} (or unset it)"
            )
        return forced
    flags = set(host.isa_flags)
    if host.machine in ("x86_64", "AMD64", "i686", "x86"):
        return _x86_int8_isa(flags)
    if host.machine in ("aarch64", "arm64"):
        return "arm-dot" if flags & {"asimddp", "dotprod", "i8mm"} else "arm"
    return "other"


def _cpuinfo() -> tuple[str, set[str]]:
    model = platform.processor() or platform.machine()
    flags: set[str] = set()
    path = Path("/proc/cpuinfo")
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in {"model name", "hardware", "cpu model"} and value.strip():
                model = value.strip()
            elif key in {"flags", "features"} and not flags:
                flags = set(value.split())
    return model, flags


@functools.cache
def current_host() -> HostInfo:
    """The host this process runs on (cached: it does not change while we run)."""
    model, flags = _cpuinfo()
    isa = isa_flags(flags)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return HostInfo(
        machine=platform.machine(),
        cpu_model=model,
        cpu_count=int(cpus or 1),
        isa_flags=isa,
        os=f"{platform.system()} {platform.release()}",
        python=sys.version.split()[0],
    )


def missing_features(built_on: HostInfo, here: HostInfo | None = None) -> list[str]:
    """Features the build host had that this host lacks (empty when compatible)."""
    here = here or current_host()
    missing: list[str] = []
    if built_on.machine and built_on.machine != here.machine:
        missing.append(f"architecture {built_on.machine}")
    # recorded flags go through today's rule: an older edgeinfer recorded kernel flags (smep)
    missing.extend(sorted(set(isa_flags(built_on.isa_flags)) - set(here.isa_flags)))
    return missing


# -- GPUs -------------------------------------------------------------------------------------
# Fields of a GPU fingerprint that must match for compiled GPU code to run as built: kernels
# are compiled for one compute capability, by one Triton, against one CUDA runtime.
GPU_MUST_MATCH = ("compute_capability", "cuda", "triton", "torch")


@dataclass(frozen=True)
class GpuInfo:
    """An NVIDIA GPU and the software that compiles for it, recorded in GPU engine manifests.

    Attributes:
        name: the device name (``NVIDIA H200``).
        compute_capability: ``major.minor`` (``9.0``).
        memory_mib: device memory in MiB.
        driver: NVIDIA driver version ("" when NVML is not readable).
        cuda: the CUDA runtime torch was built with (``13.0``).
        triton: the Triton version ("" when not installed).
        torch: the torch version.
        index: the CUDA device index.
    """

    WHAT: ClassVar[str] = "gpu"
    IGNORE_UNKNOWN_KEYS: ClassVar[bool] = True

    name: str
    compute_capability: str
    memory_mib: int
    driver: str = ""
    cuda: str = ""
    triton: str = ""
    torch: str = ""
    index: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON data."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GpuInfo:
        """Parse :meth:`to_dict` data (unknown keys are ignored).

        Raises:
            ConfigError: missing keys or wrong types.
        """
        return serde.from_dict(cls, data)

    def fingerprint(self) -> str:
        """What an engine compiled for this GPU depends on (engine cache key): the device
        name (tuned kernels) and :data:`GPU_MUST_MATCH`.
        """
        return "|".join([self.name, *(str(getattr(self, k)) for k in GPU_MUST_MATCH)])

    def describe(self) -> str:
        """``NVIDIA H200 (sm_90, 143771 MiB), CUDA 13.0, torch 2.11.0+cu130, Triton 3.6.0``."""
        sm = self.compute_capability.replace(".", "")
        return (
            f"{self.name} (sm_{sm}, {self.memory_mib} MiB), CUDA {self.cuda or '?'}, "
            f"torch {self.torch or '?'}, Triton {self.triton or 'none'}"
            + (f", driver {self.driver}" if self.driver else "")
        )


def nvidia_driver_version() -> str:
    """The NVIDIA driver version from NVML or ``/proc/driver/nvidia/version`` ("" if neither)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
        finally:
            pynvml.nvmlShutdown()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:
        pass
    proc = Path("/proc/driver/nvidia/version")
    if proc.exists():
        m = re.search(r"Kernel Module\s+(\S+)", proc.read_text(errors="replace"))
        if m:
            return m.group(1)
    return ""


def current_gpu(index: int | None = None) -> GpuInfo | None:
    """The CUDA GPU torch sees (``index``: the current device), None without torch or a GPU.

    Imports torch (only call it where a GPU matters).
    """
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    idx = torch.cuda.current_device() if index is None else index
    if idx >= torch.cuda.device_count():
        return None
    props = torch.cuda.get_device_properties(idx)
    try:
        import triton

        triton_version = str(triton.__version__)
    except ImportError:
        triton_version = ""
    return GpuInfo(
        name=str(props.name),
        compute_capability=f"{props.major}.{props.minor}",
        memory_mib=int(props.total_memory) // (1024 * 1024),
        driver=nvidia_driver_version(),
        cuda=str(torch.version.cuda or ""),
        triton=triton_version,
        torch=str(torch.__version__),
        index=int(idx),
    )


def gpu_mismatches(built: GpuInfo, here: GpuInfo | None) -> list[str]:
    """What differs between the GPU an engine was built for and this one, among the fields
    compiled code depends on (:data:`GPU_MUST_MATCH`); ``["no CUDA GPU"]`` without one.
    """
    if here is None:
        return ["no CUDA GPU"]
    out = []
    for key in GPU_MUST_MATCH:
        a, b = getattr(built, key), getattr(here, key)
        if a != b:
            out.append(f"{key.replace('_', ' ')} {a or 'none'} (this machine: {b or 'none'})")
    return out
