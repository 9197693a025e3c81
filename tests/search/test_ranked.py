"""Mixed precision from a ranking: the fewest top-ranked layers that meet the budget."""

from __future__ import annotations

from edgeinfer.search.ranked import fewest_layers
from edgeinfer.search.results import Quality

RANKING = [f"layer{i}" for i in range(20)]


def _evaluate_needing(k_needed: int, calls: list[int]):  # type: ignore[no-untyped-def]
    def evaluate(exclude: tuple[str, ...]) -> Quality:
        calls.append(len(exclude))
        assert list(exclude) == RANKING[: len(exclude)]
        return Quality("fidelity", 100, agreement=min(1.0, 0.9 + 0.1 * len(exclude) / k_needed))

    return evaluate


def _meets(q: Quality) -> bool:
    return (q.agreement or 0) >= 1.0


def _score(q: Quality) -> float:
    return q.agreement or 0.0


def test_finds_the_smallest_k_with_few_builds() -> None:
    for needed in (1, 2, 3, 5, 8, 13, 20):
        calls: list[int] = []
        out = fewest_layers(RANKING, _evaluate_needing(needed, calls), _meets, _score)
        assert out.meets and out.excluded == tuple(RANKING[:needed]), needed
        assert len(calls) <= 2 * 5 + 1  # ~2 log2(20) builds, not 20
        assert out.steps[-1][0] in calls


def test_unreachable_budget_reports_the_best_tried() -> None:
    calls: list[int] = []
    out = fewest_layers(RANKING, _evaluate_needing(50, calls), _meets, _score)
    assert not out.meets and calls == [1, 2, 4, 8, 16, 20]
    assert out.excluded == tuple(RANKING) and out.note == (
        "keeping every ranked layer in float still misses the budget"
    )


def test_failed_builds_and_the_time_budget() -> None:
    def broken(exclude: tuple[str, ...]) -> Quality | None:
        return None

    out = fewest_layers(RANKING, broken, _meets, _score)
    assert not out.meets and out.quality is None and out.excluded == ()
    out = fewest_layers(RANKING, broken, _meets, _score, late=lambda: True)
    assert out.note == "time budget ran out"
    out = fewest_layers([], broken, _meets, _score)
    assert out.note == "the diagnosis ranked no layer as harmful"
