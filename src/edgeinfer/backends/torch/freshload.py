"""Load a saved torch engine in a fresh Python process and run it once.

A build uses it to prove the engine loads without recompiling on this machine (a loader that
segfaults, as AOTInductor's did on the GPU machine's torch 2.11, fails the build with a
message instead of killing the user's process), and records how long the load took.

Child: ``python -X faulthandler -m edgeinfer.backends.torch.freshload DIR`` reads
``DIR/.freshload/{info.json,inputs.npz}``, writes ``outputs.npz`` and ``timing.json`` there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeinfer.backends.torch.executors import EngineInfo, open_executor
from edgeinfer.backends.torch.prepare import torch_dtype
from edgeinfer.errors import BackendError

__all__ = ["FreshLoad", "fresh_load"]

WORK = ".freshload"
TIMEOUT_S = 900.0


@dataclass(frozen=True)
class FreshLoad:
    """What the fresh process measured.

    Attributes:
        import_s: ``import torch`` and edgeinfer's torch backend.
        load_s: loading the payload (executor construction).
        first_s: the first inference (including any lazy compilation left).
        outputs: the outputs of the first inference.
    """

    import_s: float
    load_s: float
    first_s: float
    outputs: list[np.ndarray]

    @property
    def ready_s(self) -> float:
        """Load and first inference: how long a robot waits after ``import torch``."""
        return self.load_s + self.first_s


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[3])  # .../src holding the edgeinfer package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"crashed with {signal.Signals(-code).name}"
        except ValueError:
            return f"died with signal {-code}"
    return f"exited with code {code}"


def fresh_load(directory: Path, info: dict, inputs: Sequence[np.ndarray]) -> FreshLoad:
    """Load the engine payload in ``directory`` in a fresh process and run ``inputs`` once.

    Raises:
        BackendError: the process crashed, failed or timed out (with the stderr tail).
    """
    work = directory / WORK
    work.mkdir(exist_ok=True)
    try:
        (work / "info.json").write_text(json.dumps(info))
        np.savez(work / "inputs.npz", *inputs)
        cmd = [sys.executable, "-X", "faulthandler", "-m", "edgeinfer.backends.torch.freshload"]
        try:
            proc = subprocess.run(
                [*cmd, str(directory)], env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S
            )
        except subprocess.TimeoutExpired as exc:
            raise BackendError(
                f"loading the saved torch engine in a fresh process took over {TIMEOUT_S:.0f} s; "
                "build with --option verify_load=false to skip the check"
            ) from exc
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])[-400:]
            raise BackendError(
                f"loading the saved torch engine in a fresh process {_describe_exit(proc.returncode)} "
                f"({tail}); this torch cannot load {info.get('artifact')} engines here: "
                "build with another --option artifact=..."
            )
        timing = json.loads((work / "timing.json").read_text())
        with np.load(work / "outputs.npz") as data:
            outputs = [data[f"arr_{i}"] for i in range(len(data.files))]
        return FreshLoad(timing["import_s"], timing["load_s"], timing["first_s"], outputs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _child(directory: Path) -> None:
    t0 = time.perf_counter()
    import torch

    t1 = time.perf_counter()
    work = directory / WORK
    info = EngineInfo.from_dict(json.loads((work / "info.json").read_text()))
    with np.load(work / "inputs.npz") as data:
        arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
    executor = open_executor(directory, info, capture=info.device == "cuda")
    t2 = time.perf_counter()
    xs = [torch.from_numpy(a).to(info.torch_device, torch_dtype(info.precision)) for a in arrays]
    if info.channels_last:
        xs = [x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in xs]
    with torch.inference_mode():
        outs = executor(xs)
        host = [o.float().cpu().numpy() for o in outs]
    t3 = time.perf_counter()
    np.savez(work / "outputs.npz", *host)
    timing = {"import_s": t1 - t0, "load_s": t2 - t1, "first_s": t3 - t2}
    (work / "timing.json").write_text(json.dumps(timing))


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
