from __future__ import annotations

import time

from edgeinfer.search.mixed import (
    layer_units,
    mixed_precision_search,
    quantizable_layers,
    unit_label,
)
from edgeinfer.search.results import Quality

from ..conftest import make_conv_relu, make_matmul


def _fake(sensitive: dict[str, float]):
    """Quality = 0.9 + sum of the gains of the excluded layers (a synthetic model)."""
    calls: list[tuple[str, ...]] = []

    def evaluate(exclude: tuple[str, ...]) -> Quality:
        calls.append(exclude)
        agr = 0.9 + sum(sensitive.get(x, 0.0) for x in exclude)
        return Quality("fidelity", 100, agreement=agr, agreement_confident=agr, top5_containment=1)

    return evaluate, calls


def _meets(q: Quality) -> bool:
    return (q.agreement_confident or 0) >= 0.995


def _score(q: Quality) -> float:
    return q.agreement_confident or 0


BASE = Quality("fidelity", 100, agreement=0.9, agreement_confident=0.9, top5_containment=1)


def _layers(*names: str) -> list[tuple[str, ...]]:
    return [(n,) for n in names]


def test_most_sensitive_layers_are_kept_first_until_budget_holds() -> None:
    layers = _layers(*(f"conv{i}" for i in range(6)))
    evaluate, calls = _fake({"conv4": 0.06, "conv0": 0.04, "conv2": 0.001})
    out = mixed_precision_search(layers, evaluate, _meets, _score, BASE)
    assert out.meets and out.excluded == ("conv4", "conv0")
    assert [s[0] for s in out.sensitivity[:3]] == ["conv4", "conv0", "conv2"]
    assert out.steps == [(1, 0.96, False), (2, 1.0, True)]
    assert len(calls) == 6 + 2 + 1  # rank, greedy, one give-back try (conv4 is needed)
    assert out.sensitivity[-1][1] == 0.0  # units that do not help are ranked, never added


def test_units_no_longer_needed_go_back_to_int8() -> None:
    # conv1 alone looks best, but conv2 alone also fixes it once conv3 is in: after the
    # greedy pass the give-back pass returns what is not needed.
    evaluate, _ = _fake({"conv1": 0.05, "conv2": 0.049, "conv3": 0.047})
    out = mixed_precision_search(_layers("conv1", "conv2", "conv3"), evaluate, _meets, _score, BASE)
    assert out.meets and out.excluded == ("conv1", "conv2")
    assert out.steps[-1][2] is True


def test_groups_when_there_are_many_layers_and_failure_note() -> None:
    layers = _layers(*"abcdefg")
    assert layer_units(layers, 3) == [("a", "b", "c"), ("d", "e"), ("f", "g")]
    assert layer_units(_layers("a"), 3) == [("a",)]
    assert unit_label(("a", "b", "c"), layers) == "a..c (3 layers)"
    evaluate, _ = _fake({})
    out = mixed_precision_search(layers, evaluate, _meets, _score, BASE, max_units=3)
    assert not out.meets and out.excluded == ()  # no unit helps: none is kept in FP32
    assert out.note == "keeping every layer that helps in FP32 still misses the budget"
    assert out.sensitivity[0][0] == "a..c (3 layers)"


def test_deadline_and_no_layers() -> None:
    evaluate, calls = _fake({"a": 1})
    out = mixed_precision_search(
        _layers("a", "b"), evaluate, _meets, _score, BASE, deadline=time.monotonic() - 1
    )
    assert not out.meets and calls == [] and "time budget" in out.note
    out = mixed_precision_search([], evaluate, _meets, _score, BASE)
    assert out.note == "no quantizable named layers to keep in FP32"


def test_layers_carry_the_quantizable_nodes_after_each_weighted_one() -> None:
    proto = make_conv_relu()
    proto.graph.node[0].name = "conv"
    assert quantizable_layers(proto, quantizable=("Relu",)) == [("conv", "Relu_1")]
    assert quantizable_layers(proto) == [("conv", "Relu_1")]  # ORT quantizes Relu
    assert quantizable_layers(make_matmul(), quantizable=()) == [("MatMul_0",)]
