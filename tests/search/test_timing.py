"""The time budget holds: the final phase is reserved, work that no longer fits is not
started, and a unit of work that runs long is stopped."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edgeinfer.search import OptimizeConfig
from edgeinfer.search.timing import OutOfTime, TimeKeeper, time_limit

from .tiny import write_classifier


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_reserve_and_affordability() -> None:
    clock = Clock()
    keeper = TimeKeeper(OptimizeConfig(time_budget_min=1.0, rounds=5, round_s=0.25), now=clock)
    keeper.per_input_s, keeper.holdout_n = 0.01, 500  # 5 s per finalist's verdict
    reserve = keeper.final_phase_s(3)
    assert reserve == pytest.approx(3 * 500 * 0.01 * 1.5 + 5 * 0.3 * 4 * 1.3 + 3.0)
    assert not keeper.late(3) and keeper.can_afford("int8", 3)
    keeper.record("int8", 20.0)
    clock.t += 60 - reserve - 19.0  # 19 s left before the reserve: a 20 s build does not fit
    assert not keeper.late(3) and not keeper.can_afford("int8", 3)
    assert keeper.can_afford("fp32", 3)
    clock.t += 19.5
    assert keeper.late(3)
    assert TimeKeeper(OptimizeConfig(time_budget_min=None)).left() == float("inf")


def test_time_limit_stops_a_long_unit_of_work() -> None:
    t0 = time.monotonic()
    with pytest.raises(OutOfTime), time_limit(0.2):
        time.sleep(5)
    assert time.monotonic() - t0 < 2
    with time_limit(float("inf")):  # no budget: no timer
        time.sleep(0.01)


def test_a_slow_build_cannot_break_the_time_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgeinfer.search import phases
    from edgeinfer.search.optimize import run_search

    real = phases.build

    def slow(model, config, **kw):  # type: ignore[no-untyped-def]
        if config.precision == "int8":
            time.sleep(600)  # a calibration that outlasts every estimate
        return real(model, config, **kw)

    monkeypatch.setattr(phases, "build", slow)
    model, data = write_classifier(tmp_path)
    cfg = OptimizeConfig(
        eval=f"npz:{data}", calib=f"npz:{data}", backends=("onnxruntime",),
        precisions=("fp32", "int8"), calibrators=("minmax",), time_budget_min=0.25,
        rounds=2, round_s=0.05, calib_samples=16, quick_n=48, finalists=2, quiet=True,
        thread_variants=False,
    )  # fmt: skip
    t0 = time.monotonic()
    res = run_search(model, cfg)
    assert time.monotonic() - t0 < 0.25 * 60 + 5
    int8 = res.candidate("onnxruntime/int8(minmax)")
    assert int8.status == "skipped" and int8.reasons[0].startswith("stopped after ")
    assert res.winner == "onnxruntime/fp32"
    assert not [w for w in res.warnings if "over the" in w]
