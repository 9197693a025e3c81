"""The library's front door for whole workflows (what the CLI verbs call).

:func:`optimize` runs the search (:func:`edgeinfer.search.run_search`), then writes the
winning engine and the reports (:mod:`edgeinfer.report`) under ``OptimizeConfig.out_dir``,
also after a Ctrl-C (a partial report) before re-raising.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgeinfer.builder import build
from edgeinfer.fileio import atomic_write_json
from edgeinfer.report.html import write_html
from edgeinfer.search import OptimizeConfig, OptimizeResult, SearchInterrupted, run_search

if TYPE_CHECKING:
    from edgeinfer.model import Model

__all__ = ["optimize", "write_outputs"]


def optimize(
    model: Model | str | Path, config: OptimizeConfig | None = None, *, command: str | None = None
) -> OptimizeResult:
    """Find the fastest engine that keeps accuracy within the budget, and write the outputs.

    Args:
        model: an ONNX path, a :class:`~edgeinfer.model.Model`, ``zoo:NAME`` or a zoo name.
        config: what to search and the budgets (None: defaults, fidelity on photo crops).
        command: the command line, recorded in the report.

    Returns:
        The result; with ``config.out_dir`` the winning engine is in ``out_dir/engine`` and the
        reports are ``out_dir/report.json`` and ``out_dir/report.html``.

    Raises:
        KeyboardInterrupt: after writing the partial report (with ``out_dir``).
    """
    cfg = config or OptimizeConfig()
    try:
        result = run_search(model, cfg, command=command)
    except SearchInterrupted as stop:
        if cfg.out_dir:
            write_outputs(stop.result, cfg.out_dir)
        raise
    if cfg.out_dir:
        write_outputs(result, cfg.out_dir)
    return result


def write_outputs(result: OptimizeResult, out_dir: str | Path) -> None:
    """Winning engine (from the engine cache), ``report.json`` and ``report.html`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.out_dir = str(out)
    winner = result.candidate(result.winner) if result.winner else None
    model = result.candidate_models.get(result.winner or "", result.source_model)
    if winner is not None and winner.config is not None and model is not None:
        build(model, winner.config, out / "engine", overwrite=True, quiet=True)
        result.engine_dir = str(out / "engine")
    atomic_write_json(out / "report.json", result.to_dict())
    write_html(result, out / "report.html")
