"""Progress bars for long work (rich), silent with ``quiet`` or when stderr is not a TTY.

The bars never replace ``sys.stdout``/``sys.stderr`` (rich's default while a live display
runs); text meant to appear above the bars goes through :attr:`Progress.console`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


class Progress:
    """A thin wrapper over ``rich.progress.Progress`` that rate-limits updates."""

    def __init__(self, quiet: bool | None = None) -> None:
        self.enabled = (
            not quiet and sys.stderr.isatty() if quiet is not None else sys.stderr.isatty()
        )
        self._rich = None
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True, highlight=False),
                transient=True,
                redirect_stdout=False,  # sys.stdout and sys.stderr are not ours to replace
                redirect_stderr=False,
            )

    @property
    def console(self) -> Any:
        """The bars' rich console while bars are shown (print through it to write above them),
        else None.
        """
        return None if self._rich is None else self._rich.console

    def __enter__(self) -> Progress:
        if self._rich is not None:
            self._rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.stop()

    @contextmanager
    def task(self, description: str, total: float | None) -> Iterator[_Task]:
        """A progress task shown while the ``with`` block runs; a no-op when quiet."""
        if self._rich is None:
            yield _Task(None, 0)
            return
        task_id = self._rich.add_task(description, total=total)
        t = _Task(self._rich, task_id)
        try:
            yield t
        finally:
            t.flush()
            self._rich.remove_task(task_id)

    def track(
        self, items: Iterable[T], description: str, total: float | None = None
    ) -> Iterator[T]:
        """Yield ``items`` while advancing a task (``total`` defaults to ``len(items)``)."""
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        with self.task(description, total) as t:
            for item in items:
                yield item
                t.advance()


class _Task:
    def __init__(self, rich: object | None, task_id: object) -> None:
        self._rich = rich
        self._id = task_id
        self._pending = 0.0
        self._last = 0.0

    def advance(self, amount: float = 1.0) -> None:
        if self._rich is None:
            return
        self._pending += amount
        now = time.monotonic()
        if now - self._last > 0.1:
            self.flush()
            self._last = now

    def flush(self) -> None:
        if self._rich is not None and self._pending:
            self._rich.update(self._id, advance=self._pending)  # type: ignore[attr-defined]
            self._pending = 0.0
