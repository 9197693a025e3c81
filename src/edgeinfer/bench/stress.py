"""A bounded CPU load in other processes, to see how a model behaves when the robot's other
nodes keep cores busy (``bench --stress-cores N``).

:class:`CpuStress` starts ``cores`` child processes, each spinning one core at 100% at the
normal priority, and stops them when the block ends. They are bounded three ways: they are
terminated (then killed) when the block exits, each exits by itself after ``max_seconds``,
and each exits when its parent is gone (it checks every 0.1 s), so no load outlives the
benchmark.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from types import TracebackType

from edgeinfer.errors import ConfigError

__all__ = ["MAX_STRESS_FACTOR", "CpuStress", "check_stress_cores"]

MAX_STRESS_FACTOR = 4  # at most this many busy processes per CPU
_STOP_TIMEOUT_S = 2.0

# Runs in the child: spin until the deadline or until the parent is gone.
_LOOP = """
import os, sys, time
parent, deadline = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
try:
    os.nice(int(sys.argv[3]))
except OSError:
    pass  # a higher priority needs privileges: keep the normal one
print("ready", flush=True)
x = 0
while time.monotonic() < deadline and os.getppid() == parent:
    t = time.monotonic() + 0.1
    while time.monotonic() < t:
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
"""


def check_stress_cores(cores: int) -> None:
    """Refuse a negative or absurd number of stress processes.

    Raises:
        ConfigError: below 0 or above :data:`MAX_STRESS_FACTOR` per CPU.
    """
    cpus = os.cpu_count() or 1
    if cores < 0 or cores > MAX_STRESS_FACTOR * cpus:
        raise ConfigError(
            f"--stress-cores must be between 0 and {MAX_STRESS_FACTOR * cpus} "
            f"({MAX_STRESS_FACTOR}x this machine's {cpus} CPUs), got {cores}"
        )


class CpuStress:
    """Keep ``cores`` cores busy in other processes while a block runs.

    Example::

        with CpuStress(2, max_seconds=120) as stress:
            measure()
        stress.pids  # the load's processes (the stability check tells them apart)

    Args:
        cores: busy processes to start (0: none).
        max_seconds: each process exits by itself after this long.
        nice: their niceness increment (0: normal priority; negative, where privileged, for a
            load that wins the CPU from everything else, as the stability tests use).
    """

    def __init__(self, cores: int, *, max_seconds: float = 3600.0, nice: int = 0) -> None:
        check_stress_cores(cores)
        if not 0 < max_seconds <= 7 * 24 * 3600:
            raise ConfigError(f"stress duration must be in (0, 1 week], got {max_seconds} s")
        self.cores = cores
        self.max_seconds = max_seconds
        self.nice = nice
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def pids(self) -> tuple[int, ...]:
        """Process ids of the running load."""
        return tuple(p.pid for p in self._procs)

    def __enter__(self) -> CpuStress:
        argv = [
            sys.executable,
            "-c",
            _LOOP,
            str(os.getpid()),
            str(self.max_seconds),
            str(self.nice),
        ]
        try:
            for _ in range(self.cores):
                self._procs.append(
                    subprocess.Popen(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL,
                    )
                )
            for p in self._procs:  # wait until each one spins
                assert p.stdout is not None
                p.stdout.readline()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Terminate the load (kill what does not stop within 2 s)."""
        for p in self._procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        for p in self._procs:
            try:
                p.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stdout is not None:
                p.stdout.close()
        self._procs.clear()
