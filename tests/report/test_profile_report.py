"""The per-layer profile for people: terminal tables and the HTML section."""

from __future__ import annotations

import base64
import re

import pytest
from rich.console import Console

from edgeinfer.builder import build, load_runner
from edgeinfer.config import BuildConfig
from edgeinfer.model import Model
from edgeinfer.profile import ProfileConfig, ProfileResult, profile_runner
from edgeinfer.report.profile import profile_html, profile_tables, short
from tests.profile.graphs import make_residual

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def result() -> ProfileResult:
    model = Model.from_proto(make_residual())
    with load_runner(build(model, BuildConfig(threads=1))) as r:
        return profile_runner(
            r, ProfileConfig(iterations=4, rounds=2, warmup=1), source=model.proto.graph, quiet=True
        )


def _text(result: ProfileResult, width: int) -> str:
    con = Console(width=width, record=True)
    for t in profile_tables(result, top=3, width=width):
        con.print(t)
    return con.export_text()


def test_tables_fit_the_terminal_and_name_onnx_nodes(result: ProfileResult) -> None:
    narrow = _text(result, 80)
    assert all(len(line) <= 80 for line in narrow.splitlines())
    assert "conv1 +1" in narrow and "time by op" in narrow and "time by precision" in narrow
    header = next(line for line in narrow.splitlines() if line.startswith(" #"))
    assert "layer (ONNX)" in header and "kernel" not in header  # no room below 110 columns
    wide = _text(result, 140)  # ONNX Runtime's kernels all say CPUExecutionProvider: no column
    assert "kernel" not in next(line for line in wide.splitlines() if line.startswith(" #"))
    flat = " ".join(narrow.split())
    assert "% of the end-to-end p50" in flat and "measured alternately" in flat


def test_html_section_has_bars_table_and_groups(result: ProfileResult) -> None:
    section = profile_html(result, top=3)
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', section)
    assert len(imgs) == 1 and base64.b64decode(imgs[0]).startswith(b"\x89PNG")
    ops = {t.op_type for t in result.profile.layers}
    precisions = {t.precision for t in result.profile.layers}
    assert section.count("<tr>") == (1 + 3) + (1 + len(ops)) + (1 + len(precisions))
    assert "conv1 + relu1" in section and "Time by precision" in section


def test_short_keeps_both_ends() -> None:
    assert short("/features/features.12/conv/conv.0/conv.0.0/Conv", 24) == "/features…/conv.0.0/Conv"
    assert short("abc", 10) == "abc"


def test_a_profiler_that_slows_the_runs_is_said(result: ProfileResult) -> None:
    from dataclasses import replace

    from edgeinfer.report.profile import _summary

    e2e = result.e2e.p50
    slowed = ProfileResult(
        **{**result.__dict__, "profile": replace(result.profile, run_ms=(1.5 * e2e,) * 3)}
    )
    assert "(profiling slowed each inference by 50%: the layer times are those of the slowed " \
        "runs)" in _summary(slowed)
    same = ProfileResult(
        **{**result.__dict__, "profile": replace(result.profile, run_ms=(e2e,) * 3)}
    )
    assert "slowed" not in _summary(same)
