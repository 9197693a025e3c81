"""How much memory an engine needs: resident memory of building, loading and running it
(its size on disk is :meth:`Engine.size_bytes`).

Linux keeps a high-water mark of each process's resident memory (``VmHWM`` in
``/proc/self/status``) and lets the process reset it (``echo 5 > /proc/self/clear_refs``), so
:class:`MemoryProbe` measures the peak of one block of work, not of the whole process. Where
that is not possible (other systems) it reports the process's lifetime peak
(``getrusage``) and says so (``peak_of_block`` False).
"""

from __future__ import annotations

import ctypes
import gc
import resource
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["MemoryProbe", "MemoryUsage", "RunMemory", "rss_mb"]

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
MB = 1024 * 1024


def _status_kb(key: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_mb() -> float | None:
    """This process's resident memory now (MiB); None where unknown."""
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 1024


def _lifetime_peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def _reset_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _trim() -> None:
    """Give freed heap memory back to the system (glibc ``malloc_trim``; elsewhere nothing),
    so that a block reusing memory an earlier block freed still shows its own growth.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return


def _peak_mb() -> float:
    kb = _status_kb("VmHWM")
    return kb / 1024 if kb is not None else _lifetime_peak_mb()


@dataclass(frozen=True)
class MemoryUsage:
    """Resident memory around one block of work (MiB).

    Attributes:
        before_mb: resident memory when it started.
        after_mb: resident memory when it ended.
        peak_mb: the highest resident memory during it.
        peak_of_block: the peak is this block's (False: the process's lifetime peak).
    """

    before_mb: float
    after_mb: float
    peak_mb: float
    peak_of_block: bool = True

    @property
    def growth_mb(self) -> float:
        """How far above its starting point the block took resident memory (MiB)."""
        return max(self.peak_mb - self.before_mb, 0.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON data (MiB, rounded to 0.1), with ``growth_mb``."""
        data = {k: round(v, 1) if isinstance(v, float) else v for k, v in asdict(self).items()}
        data["growth_mb"] = round(self.growth_mb, 1)
        return data


class MemoryProbe:
    """Measure the resident memory of a block.

    Example::

        with MemoryProbe() as probe:
            build_or_run()
        probe.usage.peak_mb

    Args:
        trim: first collect garbage and give freed heap memory back to the system, so the
            block's growth is not hidden by memory an earlier block left behind.
    """

    def __init__(self, *, trim: bool = False) -> None:
        self.usage: MemoryUsage | None = None
        self._before = 0.0
        self._reset = False
        self._trim = trim

    def __enter__(self) -> MemoryProbe:
        if self._trim:
            gc.collect()
            _trim()
        self._reset = _reset_peak()
        self._before = rss_mb() or _lifetime_peak_mb()
        return self

    def __exit__(self, *exc: object) -> None:
        after = rss_mb()
        peak = _peak_mb()
        self.usage = MemoryUsage(
            before_mb=self._before,
            after_mb=after if after is not None else peak,
            peak_mb=max(peak, self._before),
            peak_of_block=self._reset,
        )


@dataclass(frozen=True)
class RunMemory:
    """The memory an engine needed in one run.

    Attributes:
        engine_bytes: its size on disk (payload files).
        run: resident memory around loading the runner and running it.
        loaded_mb: resident memory once the runner was loaded (before the first inference).
        build: resident memory of building it in this process (None: loaded or cached).
        workspace_bytes: memory the runtime reported for activations (None: not reported).
    """

    engine_bytes: int
    run: MemoryUsage
    loaded_mb: float | None = None
    build: MemoryUsage | None = None
    workspace_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON data (MiB except ``engine_bytes``/``workspace_bytes``)."""
        return {
            "engine_bytes": self.engine_bytes,
            "engine_mb": round(self.engine_bytes / MB, 2),
            "loaded_rss_mb": None if self.loaded_mb is None else round(self.loaded_mb, 1),
            "run": self.run.to_dict(),
            "build": None if self.build is None else self.build.to_dict(),
            "workspace_bytes": self.workspace_bytes,
        }

    def describe(self) -> str:
        """One line for people."""
        parts = [f"engine {self.engine_bytes / MB:.2f} MiB on disk"]
        parts.append(
            f"load+run peak RSS {self.run.peak_mb:.0f} MiB (+{self.run.growth_mb:.0f} MiB)"
            + ("" if self.run.peak_of_block else " [process lifetime peak]")
        )
        if self.build is not None:
            parts.append(
                f"build peak RSS {self.build.peak_mb:.0f} MiB (+{self.build.growth_mb:.0f})"
            )
        if self.workspace_bytes:
            parts.append(f"runtime workspace {self.workspace_bytes / MB:.1f} MiB")
        return "memory: " + ", ".join(parts)
