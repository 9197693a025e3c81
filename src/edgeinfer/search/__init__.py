"""Accuracy-constrained search across backends and precisions (``edgeinfer optimize``).

    from edgeinfer.search import OptimizeConfig, run_search
    result = run_search("zoo:fashion-cnn", OptimizeConfig(eval="fashion-mnist"))

The search writes nothing: :func:`edgeinfer.api.optimize` (``edgeinfer.optimize``) also writes
the winning engine and the reports.

Pure logic (Pareto front, selection, mixed-precision control flow, metrics) lives in small
modules with no heavy imports; :mod:`edgeinfer.search.optimize` wires it to real engines.
Importing this package loads numpy and onnx, never torch or openvino.
"""

from __future__ import annotations

from edgeinfer.search.config import OptimizeConfig
from edgeinfer.search.optimize import SearchInterrupted, check_budget, run_search
from edgeinfer.search.results import CandidateResult, MixedReport, OptimizeResult, Quality
from edgeinfer.search.select import Budget

__all__ = [
    "Budget",
    "CandidateResult",
    "MixedReport",
    "OptimizeConfig",
    "OptimizeResult",
    "Quality",
    "SearchInterrupted",
    "check_budget",
    "run_search",
]
