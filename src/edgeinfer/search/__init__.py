"""Accuracy-constrained search across backends and precisions (``edgeinfer optimize``).

    from edgeinfer.search import OptimizeConfig, optimize
    result = optimize("zoo:fashion-cnn", OptimizeConfig(eval="fashion-mnist", out_dir="out"))

Pure logic (Pareto front, selection, mixed-precision control flow, metrics) lives in small
modules with no heavy imports; :mod:`edgeinfer.search.optimize` wires it to real engines.
Importing this package loads numpy and onnx, never torch or openvino.
"""

from __future__ import annotations

from edgeinfer.search.config import OptimizeConfig
from edgeinfer.search.optimize import check_budget, optimize
from edgeinfer.search.results import CandidateResult, MixedReport, OptimizeResult, Quality
from edgeinfer.search.select import Budget

__all__ = [
    "Budget",
    "CandidateResult",
    "MixedReport",
    "OptimizeConfig",
    "OptimizeResult",
    "Quality",
    "check_budget",
    "optimize",
]
