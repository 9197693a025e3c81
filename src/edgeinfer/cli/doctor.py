"""``edgeinfer doctor``: what this machine offers, and what that means for precisions.

CPU model, cores and the instruction sets that decide kernels (AVX2, AVX-512, VNNI, BF16,
AMX; NEON, dot product, i8mm, SVE on ARM), memory, every backend with its version and the
precisions it can build here (asked through each backend's own ``check_config``), GPUs and
the NVIDIA driver, ROS 2, the engine cache, energy counters, and how busy the machine is
right now (benchmarks on a busy machine are noisy).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from edgeinfer.cli.common import add_json_option, emit_json
from edgeinfer.cli.console import stdout_console
from edgeinfer.errors import ConfigError, EdgeInferError, first_line

_ISA_GROUPS = (
    ("SIMD", ("sse4_2", "avx", "avx2", "fma", "f16c", "asimd")),
    ("AVX-512", ("avx512f", "avx512bw", "avx512vl", "avx512_fp16")),
    ("INT8 dot products", ("avx512_vnni", "avx_vnni", "asimddp", "dotprod", "i8mm")),
    ("BF16", ("avx512_bf16", "bf16")),
    ("AMX", ("amx_tile", "amx_int8", "amx_bf16")),
    ("SVE", ("sve", "sve2")),
)


def register(sub: Any) -> None:
    """Add the ``doctor`` verb and its flags to the ``edgeinfer`` subcommand parsers."""
    p = sub.add_parser(
        "doctor",
        help="what this machine offers (CPU ISA, backends, GPU, ROS, cache) and what it means",
    )
    add_json_option(p)
    p.add_argument(
        "--sample-s",
        type=float,
        default=0.5,
        metavar="S",
        help="seconds to watch how busy the machine is (default 0.5; 0: skip)",
    )
    p.set_defaults(func=run)


def _cores() -> dict[str, Any]:
    pairs = set()
    for topo in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/topology"):
        try:
            pairs.add(((topo / "physical_package_id").read_text(), (topo / "core_id").read_text()))
        except OSError:
            continue
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"logical": os.cpu_count(), "usable": usable, "physical": len(pairs) or None}


def _memory_mib() -> dict[str, int | None]:
    out: dict[str, int | None] = {"total_mib": None, "available_mib": None}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("MemTotal", "MemAvailable"):
                out["total_mib" if key == "MemTotal" else "available_mib"] = (
                    int(value.split()[0]) // 1024
                )
    except (OSError, ValueError):
        pass
    return out


def _cpu() -> dict[str, Any]:
    from edgeinfer.host import current_host

    host = current_host()
    flags = set(host.isa_flags)
    groups = {name: [f for f in members if f in flags] for name, members in _ISA_GROUPS}
    return {
        "model": host.cpu_model,
        "machine": host.machine,
        "cores": _cores(),
        "isa": {k: v for k, v in groups.items()},
        "flags": sorted(flags),
        "os": host.os,
        "python": host.python,
    }


def _precision_advice(flags: set[str]) -> list[str]:
    """What the instruction sets mean for each precision on the CPU."""
    x86 = "avx2" in flags or "avx" in flags
    vnni = flags & {"avx512_vnni", "avx_vnni", "asimddp", "dotprod", "i8mm"}
    out = ["fp32: every backend"]
    if vnni:
        out.append(
            f"int8: fast 8-bit dot products ({', '.join(sorted(vnni))}): expect INT8 speed-ups "
            "on ONNX Runtime and OpenVINO"
            + ("; AMX-INT8 tiles run OpenVINO's INT8 convolutions" if "amx_int8" in flags else "")
        )
    elif x86 and "avx2" in flags:
        out.append(
            "int8: no VNNI: 8-bit products go through AVX2 pairs that can saturate (a lost "
            "weight bit in oneDNN); smaller speed-ups, check accuracy with edgeinfer compare"
        )
    else:
        out.append("int8: no 8-bit dot-product instructions: INT8 is unlikely to be faster")
    if flags & {"avx512_bf16", "amx_bf16", "bf16"}:
        out.append("bf16: native (AVX512_BF16/AMX-BF16): OpenVINO --precision bf16")
    else:
        out.append("bf16: no BF16 instructions: OpenVINO refuses bf16 here; keep fp32 or int8")
    out.append(
        "fp16: ONNX Runtime's CPU provider computes fp16 models in fp32; OpenVINO runs fp16 "
        "only where its CPU plugin reports FP16 (see the openvino backend's precisions)"
    )
    return out


def _backends() -> list[dict[str, Any]]:
    from edgeinfer.backends import get_backend, list_backends
    from edgeinfer.config import BuildConfig

    rows = []
    for name in list_backends():
        backend = get_backend(name)
        row: dict[str, Any] = {"name": name, "extra": backend.extra}
        try:
            backend.ensure_available()
            row["version"] = backend.version()
        except EdgeInferError as exc:
            row.update(version=None, missing=first_line(exc))
            rows.append(row)
            continue
        ok, refused = [], {}
        for precision in backend.precisions:
            try:
                backend.check_config(BuildConfig(backend=name, precision=precision))
                ok.append(precision)
            except EdgeInferError as exc:
                refused[precision] = first_line(exc)
        row.update(precisions=ok, refused=refused)
        rows.append(row)
    return rows


def _nvidia_smi() -> list[str]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def _gpu() -> dict[str, Any]:
    info: dict[str, Any] = {"nvidia_smi": _nvidia_smi(), "driver": None, "torch_cuda": None}
    proc = Path("/proc/driver/nvidia/version")
    if proc.exists():
        m = re.search(r"Kernel Module\s+(\S+)", proc.read_text(errors="replace"))
        info["driver"] = m.group(1) if m else None
    if importlib.util.find_spec("torch") is not None:
        try:
            import torch

            if torch.cuda.is_available():
                info["torch_cuda"] = {
                    "cuda": torch.version.cuda,
                    "devices": [
                        torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
                    ],
                }
            else:
                info["torch_cuda"] = {"cuda": torch.version.cuda, "devices": []}
        except Exception as exc:  # a broken CUDA install: say so, do not fail
            info["torch_cuda"] = {
                "error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            }
    return info


def _ros() -> dict[str, Any]:
    found = importlib.util.find_spec("rclpy") is not None
    out: dict[str, Any] = {
        "rclpy": found,
        "ros_distro": os.environ.get("ROS_DISTRO"),
        "rmw": os.environ.get("RMW_IMPLEMENTATION"),
    }
    if found:
        for dist in ("ros-rclpy", "rclpy"):
            try:
                out["version"] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return out


def _cache() -> dict[str, Any]:
    from edgeinfer.fileio import cache_dir

    root = cache_dir()
    size = files = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            try:
                size += (Path(dirpath) / n).stat().st_size
                files += 1
            except OSError:
                continue
    engines = root / "engines"
    count = sum(1 for p in engines.iterdir() if p.is_dir()) if engines.is_dir() else 0
    return {"path": str(root), "size_mib": round(size / 2**20, 1), "files": files, "engines": count}


def _energy() -> dict[str, Any]:
    from edgeinfer.bench.rapl import rapl_zones

    zones, reason = rapl_zones()
    return {"rapl": [z.name for z in zones], "rapl_reason": reason}


def _busy(seconds: float) -> dict[str, Any] | None:
    import time

    from edgeinfer.bench.stability import assess
    from edgeinfer.bench.usage import UsageSampler

    if seconds <= 0:
        return None
    with UsageSampler() as sampler:
        time.sleep(min(seconds, 10.0))
    verdict = assess(sampler.usage)
    return {"quiet": verdict.stable, "reasons": list(verdict.reasons), "notes": list(verdict.notes)}


def collect(sample_s: float = 0.5) -> dict[str, Any]:
    """Everything ``doctor`` reports, as JSON data."""
    from edgeinfer import __version__

    cpu = _cpu()
    return {
        "edgeinfer": __version__,
        "cpu": cpu,
        "memory": _memory_mib(),
        "backends": _backends(),
        "precisions": _precision_advice(set(cpu["flags"])),
        "gpu": _gpu(),
        "ros": _ros(),
        "cache": _cache(),
        "energy": _energy(),
        "machine_now": _busy(sample_s),
    }


def run(args: argparse.Namespace) -> int:
    """Print what the machine offers and what it means for precisions.

    Returns:
        The exit code: 0.
    """
    if not 0 <= args.sample_s <= 10:
        raise ConfigError(f"--sample-s must be in 0..10 seconds, got {args.sample_s}")
    data = collect(args.sample_s)
    from edgeinfer.report.doctor import doctor_text

    stdout_console().print(doctor_text(data))
    if args.json:
        emit_json(args.json, data)
    return 0
