"""The verdict's exact wording, the plotted Pareto front and the log latency axis."""

from __future__ import annotations

import pytest

from edgeinfer.report.headline import INTERRUPTED_NO_WINNER, headline
from edgeinfer.search.results import OptimizeResult

from ..search.synthetic import labelled


def _result(**kw: object) -> OptimizeResult:
    base = labelled("onnxruntime/fp32", 2.0, 0.0)
    win = labelled("onnxruntime/int8(minmax)", 0.8, 0.3)
    fields: dict[str, object] = dict(
        model={"name": "tiny"}, config={}, mode="labels", data_note="",
        candidates=[base, win], winner=win.name, winner_reason="fastest within the budgets",
        baseline=base.name, speedup_vs_baseline=2.5, budget_met=True,
    )  # fmt: skip
    fields.update(kw)
    return OptimizeResult(**fields)  # type: ignore[arg-type]


def test_winner_speedup_always_with_its_spread() -> None:
    assert headline(_result()) == (
        "Winner: onnxruntime/int8(minmax) (fastest within the budgets). 2.50x faster (one "
        "round: no spread measured) than the starting point onnxruntime/fp32 (interleaved p50)."
    )
    res = _result()
    res.candidate(res.winner).round_ratios = [0.5, 0.3, 0.4]
    res.unstable = True
    assert headline(res) == (
        "Winner: onnxruntime/int8(minmax) (fastest within the budgets). 2.50x faster "
        "(2.00–3.33x over 3 interleaved rounds, on an unstable machine) than the starting "
        "point onnxruntime/fp32 (interleaved p50)."
    )


def test_the_starting_point_won() -> None:
    res = _result(winner="onnxruntime/fp32", speedup_vs_baseline=1.0)
    text = headline(res)
    assert text == (
        "Winner: onnxruntime/fp32, the starting point itself: no other candidate was faster "
        "within the budgets, so keep what you have (fastest within the budgets)."
    )
    assert "1.00x" not in text


def test_interrupted_without_a_winner() -> None:
    res = _result(winner=None, partial=True, closest=[], budget_met=False)
    assert headline(res) == INTERRUPTED_NO_WINNER
    assert "Closest: none" not in headline(res)


def test_interrupted_with_a_winner_says_so() -> None:
    assert headline(_result(partial=True)).startswith(
        "Interrupted (Ctrl-C); among the candidates measured so far, the winner is "
        "onnxruntime/int8(minmax) "
    )


def test_nothing_meets_the_budgets() -> None:
    res = _result(winner=None, closest=["a", "b"], budget_met=False)
    assert headline(res) == "No candidate meets the budgets. Closest: a, b."
    res = _result(winner=None, closest=[], budget_met=False)
    assert headline(res).startswith("No candidate meets the budgets, and none was measured")


def test_plotted_front_is_two_dimensional() -> None:
    pytest.importorskip("matplotlib")
    from edgeinfer.report.plots import plotted_front

    # "small" is beaten on both plotted axes by "win" (only its file size is smaller): the
    # 3-objective front of the search keeps it, the plotted front must not pass through it.
    pts = {"win": (1.0, 0.9), "small": (2.0, 0.8), "slow-accurate": (5.0, 0.95), "base": (9.0, 0.9)}
    assert plotted_front(pts) == ["win", "slow-accurate"]


@pytest.mark.parametrize("values, minor_labels", [([0.5, 950.0], False), ([1.0, 3.0], True)])
def test_latency_axis_is_log(values: list[float], minor_labels: bool) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    from edgeinfer.report.plots import log_x

    fig, ax = plt.subplots()
    ax.plot(values, [0, 1])
    log_x(ax, values)
    assert ax.get_xscale() == "log"
    assert isinstance(ax.xaxis.get_minor_formatter(), NullFormatter) is not minor_labels
    plt.close(fig)
