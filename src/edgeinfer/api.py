"""The library's front door for whole workflows (what the CLI verbs call).

:func:`optimize` runs the search (:func:`edgeinfer.search.run_search`), then writes the
winning engine and the reports (:mod:`edgeinfer.report`, with the winner's per-layer profile
in the HTML) under ``OptimizeConfig.out_dir``, also after a Ctrl-C (a partial report) before
re-raising.
"""

from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from edgeinfer.builder import build, check_engine_output, load_runner
from edgeinfer.errors import BackendError, EdgeInferError, first_line
from edgeinfer.fileio import atomic_write_json
from edgeinfer.profile import ProfileConfig, profile_runner
from edgeinfer.report.html import write_html
from edgeinfer.report.profile import profile_html
from edgeinfer.search import OptimizeConfig, OptimizeResult, SearchInterrupted, run_search
from edgeinfer.zoo import get_entry, list_models

if TYPE_CHECKING:
    from edgeinfer.engine import Engine
    from edgeinfer.model import Model

__all__ = ["check_output_dir", "optimize", "write_outputs"]

ENGINE_DIR = "engine"
REPORT_FILES = ("report.json", "report.html")


def check_output_dir(out_dir: str | Path, *, force: bool = False) -> None:
    """Refuse an ``out_dir`` that holds files other than a previous run's outputs (unless
    ``force``: they are then kept), or whose ``engine/`` is not an engine edgeinfer wrote
    (never replaced, ``force`` or not).

    Raises:
        EdgeInferError: naming the first foreign entry and the fix.
    """
    out = Path(out_dir)
    if not (out.exists() or out.is_symlink()):
        return
    if not out.is_dir():
        raise EdgeInferError(f"-o '{out}' exists and is not a directory; choose another -o")
    ours = {ENGINE_DIR, *REPORT_FILES}
    foreign = sorted(e.name for e in out.iterdir() if e.name not in ours)
    if foreign and not force:
        raise EdgeInferError(
            f"-o '{out}' holds files edgeinfer did not write (e.g. '{foreign[0]}'); choose an "
            "empty or new directory, or pass --force to write beside them (they are kept)"
        )
    check_engine_output(out / ENGINE_DIR, overwrite=True)


def optimize(
    model: Model | str | Path,
    config: OptimizeConfig | None = None,
    *,
    command: str | None = None,
    force: bool = False,
) -> OptimizeResult:
    """Find the fastest engine that keeps accuracy within the budget, and write the outputs.

    Args:
        model: an ONNX path, a :class:`~edgeinfer.model.Model`, ``zoo:NAME`` or a zoo name.
        config: what to search and the budgets (None: defaults, fidelity on photo crops;
            a zoo model with its own datasets, e.g. fashion-cnn, uses them when the config
            names no calibration or evaluation data).
        command: the command line, recorded in the report.
        force: write into an ``out_dir`` that holds other files (see :func:`check_output_dir`).

    Returns:
        The result; with ``config.out_dir`` the winning engine is in ``out_dir/engine`` and the
        reports are ``out_dir/report.json`` and ``out_dir/report.html``.

    Raises:
        KeyboardInterrupt: after writing the partial report (with ``out_dir``).
        EdgeInferError: ``out_dir`` holds other files and not ``force`` (checked first).
    """
    cfg = _zoo_data(model, config or OptimizeConfig())
    if cfg.out_dir:
        check_output_dir(cfg.out_dir, force=force)  # before a search that may take minutes
    try:
        result = run_search(model, cfg, command=command)
    except SearchInterrupted as stop:
        if cfg.out_dir:
            write_outputs(stop.result, cfg.out_dir, force=force)
        raise
    if cfg.out_dir:
        write_outputs(result, cfg.out_dir, force=force)
    return result


def _zoo_data(model: Model | str | Path, cfg: OptimizeConfig) -> OptimizeConfig:
    """A zoo model's own datasets when the user named none (fashion-cnn: Fashion-MNIST);
    generic photo crops do not fit every zoo model (a 28x28 grey model has no resize step).
    """
    if cfg.calib or cfg.eval or not isinstance(model, str | Path) or Path(model).exists():
        return cfg
    name = str(model).removeprefix("zoo:")
    if name not in list_models():
        return cfg
    entry = get_entry(name)
    if not entry.calib_data:
        return cfg
    return replace(cfg, calib=entry.calib_data, eval=entry.eval_data or None)


def write_outputs(result: OptimizeResult, out_dir: str | Path, *, force: bool = False) -> None:
    """Winning engine (from the engine cache), ``report.json`` and ``report.html`` in
    ``out_dir``; nothing else there is touched, and an ``out_dir`` holding other files is
    refused unless ``force`` (:func:`check_output_dir`).
    """
    out = Path(out_dir)
    check_output_dir(out, force=force)
    out.mkdir(parents=True, exist_ok=True)
    result.out_dir = str(out)
    winner = result.candidate(result.winner) if result.winner else None
    sections = []
    # A pruned winner is built from its own (pruned) model.
    model = result.candidate_models.get(result.winner or "", result.source_model)
    if winner is not None and winner.config is not None and model is not None:
        engine = build(model, winner.config, out / ENGINE_DIR, overwrite=True, quiet=True)
        result.engine_dir = str(out / ENGINE_DIR)
        sections.append(_winner_profile(engine, model))
    atomic_write_json(out / REPORT_FILES[0], result.to_dict())
    write_html(result, out / REPORT_FILES[1], sections=sections)


def _winner_profile(engine: Engine, model: Model) -> str:
    """The winning engine's per-layer profile as an HTML section (a short one: 30 inferences
    in 3 rounds), layers named after ``model``'s nodes; a note when its backend has no
    per-layer profiler.
    """
    try:
        with load_runner(engine) as runner:
            prof = profile_runner(
                runner,
                ProfileConfig(iterations=30, rounds=3, warmup=5),
                source=model.proto.graph,
                quiet=True,
            )
    except BackendError as exc:
        return f"<h2>Per-layer profile</h2><p class='note'>{html.escape(first_line(exc))}</p>"
    prof.command = f"edgeinfer profile {engine.path}"
    return profile_html(prof, top=15)
