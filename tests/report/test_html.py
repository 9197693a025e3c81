from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from edgeinfer.search.results import OptimizeResult

from ..search.synthetic import fidelity, labelled

pytest.importorskip("matplotlib")


def _result() -> OptimizeResult:
    ref = labelled("onnxruntime/fp32", 2.0, 0.0)
    ref.role = "reference"
    ref.samples_ms = [1.9, 2.0, 2.1, 2.5]
    win = labelled("onnxruntime/int8(minmax)", 0.8, 0.3)
    win.samples_ms = [0.7, 0.8, 0.9]
    win.ratio_vs_baseline = 0.4
    bad = labelled("openvino/int8[nncf]", 0.5, 3.0)
    bad.reasons = ["top-1 drop 3.00 pts > budget 0.5 pts"]
    return OptimizeResult(
        model={"name": "tiny"},
        config={"budget": {"max_accuracy_drop": 0.5, "latency_budget_ms": 3.0}},
        mode="labels",
        data_note="top-1 accuracy on test <set>",
        candidates=[ref, win, bad],
        pareto=[bad.name, win.name, ref.name],
        winner=win.name,
        winner_reason="fastest",
        baseline=ref.name,
        reference=ref.name,
        speedup_vs_baseline=2.5,
        budget_met=True,
        notes=["accuracy budget: top-1 drop <= 0.5 pts vs FP32"],
        host={"cpu_model": "cpu"},
    )


def test_html_is_self_contained_with_both_plots_and_the_table(tmp_path: Path) -> None:
    from edgeinfer.report.html import write_html

    path = write_html(_result(), tmp_path / "report.html")
    text = path.read_text()
    imgs = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)">', text)
    assert [alt for alt, _ in imgs] == ["accuracy vs latency", "latency CDF"]
    for _, data in imgs:
        assert base64.b64decode(data).startswith(b"\x89PNG")
    assert "<table>" in text and text.count("<tr") == 4  # header + 3 candidates
    assert "Winner: onnxruntime/int8(minmax)" in text and "2.50x faster" in text
    assert "top-1 drop 3.00 pts &gt; budget 0.5 pts" in text
    assert "test &lt;set&gt;" in text  # escaped
    assert "http" not in text.replace("http-equiv", "")  # nothing fetched from elsewhere


def test_html_says_when_nothing_meets_the_budget(tmp_path: Path) -> None:
    from edgeinfer.report.html import render_html

    res = _result()
    res.winner, res.budget_met, res.closest = None, False, ["onnxruntime/fp32"]
    res.candidates.append(fidelity("other", 1.0, 0.9))
    assert "No candidate meets the budgets. Closest: onnxruntime/fp32.</b>" in render_html(res)


def test_report_json_round_trip(tmp_path: Path) -> None:
    from edgeinfer.fileio import atomic_write_json

    res = _result()
    atomic_write_json(tmp_path / "report.json", res.to_dict())
    back = OptimizeResult.from_dict(json.loads((tmp_path / "report.json").read_text()))
    assert back.to_dict() == res.to_dict()
