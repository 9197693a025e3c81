"""Shared helpers for benchmark scripts: interleaved timing, tables, JSON with host info."""

from __future__ import annotations

import datetime as _dt
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from edgeinfer.bench.stats import LatencyStats, latency_stats
from edgeinfer.cli.console import command_console, stdout
from edgeinfer.fileio import atomic_write_json
from edgeinfer.host import current_host


def interleaved(
    variants: dict[str, Callable[[], object]],
    *,
    rounds: int,
    per_round: int,
    warmup: int,
    progress: Callable[[], None] | None = None,
    pause_s: float = 0.0,
) -> dict[str, np.ndarray]:
    """Time each variant ``rounds * per_round`` times, alternating variants every round.

    The order of variants rotates each round so neither always runs first (noisy shared
    machines drift; interleaving makes the drift hit every variant equally). ``pause_s``
    sleeps after each variant's block so that runtimes whose worker threads spin-wait after
    a call (ONNX Runtime does by default) do not steal the CPU from the next variant.
    """
    names = list(variants)
    for name in names:
        for _ in range(warmup):
            variants[name]()
    samples: dict[str, list[int]] = {n: [] for n in names}
    clock = time.perf_counter_ns
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            fn = variants[name]
            buf = samples[name]
            for _ in range(per_round):
                t0 = clock()
                fn()
                buf.append(clock() - t0)
            if pause_s:
                time.sleep(pause_s)
        if progress:
            progress()
    return {n: np.asarray(v, dtype=np.int64) for n, v in samples.items()}


def console() -> Console:
    """A console wide enough for benchmark tables even when output is not a terminal."""
    out = stdout()
    return Console(file=out, width=None if out.isatty() else 160)


def run_main(main: Callable[[], int]) -> int:
    """Run a benchmark's ``main`` as the CLI runs a command: its tables on stdout, what ONNX
    Runtime and NNCF print kept off it (see :mod:`edgeinfer.cli.console`)."""
    if {"-h", "--help"} & set(sys.argv[1:]):  # argparse prints the help to sys.stdout
        return main()
    with command_console(debug="--debug" in sys.argv):
        return main()


def stats_row(stats: LatencyStats) -> list[str]:
    return [f"{v:.3f}" for v in (stats.p50, stats.p90, stats.p99, stats.max)]


def header() -> dict[str, Any]:
    return {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": current_host().to_dict(),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
    }


def save(path: str | Path, data: dict[str, Any]) -> None:
    atomic_write_json(path, data)


__all__ = [
    "console",
    "header",
    "interleaved",
    "latency_stats",
    "run_main",
    "save",
    "stats_row",
    "stdout",
]
