from __future__ import annotations

import math

import pytest

from edgeinfer.errors import ConfigError
from edgeinfer.search.select import Budget, objective_value, select, violations

from .synthetic import fidelity, labelled


def test_winner_is_fastest_meeting_budget_with_runner_up_and_reasons() -> None:
    results = [
        labelled("fp32", 2.0, 0.0),
        labelled("int8-bad", 0.5, 2.0),
        labelled("int8-ok", 0.8, 0.3),
        labelled("fp16", 1.5, 0.1),
    ]
    sel = select(results, Budget(max_accuracy_drop=0.5))
    assert sel.winner == "int8-ok"
    assert sel.runner_up == "fp16"
    assert sel.reasons["int8-bad"] == ["top-1 drop 2.00 pts > budget 0.5 pts"]
    assert sel.reasons["fp16"] == ["meets the budgets but p50 1.500 ms (1.88x the winner's)"]
    assert sel.reasons["int8-ok"][0].startswith("fastest meeting the budgets (p50 0.800 ms")
    assert sel.pareto == ["int8-bad", "int8-ok", "fp16", "fp32"]


def test_objective_choice_changes_the_winner() -> None:
    results = [labelled("steady", 1.0, 0.0, p99=1.1), labelled("spiky", 0.9, 0.0, p99=5.0)]
    assert select(results, Budget(objective="p50")).winner == "spiky"
    assert select(results, Budget(objective="p99")).winner == "steady"
    assert select(results, Budget(objective="throughput")).winner == "spiky"
    assert objective_value(results[0], "throughput") == pytest.approx(-1000.0)


def test_ties_go_to_accuracy_then_size() -> None:
    results = [labelled("lossy", 1.000, 0.4), labelled("exact", 1.005, 0.0)]
    sel = select(results, Budget(max_accuracy_drop=1.0))
    assert sel.winner == "exact"
    assert "tied within 1%" in sel.winner_reason
    results = [labelled("big", 1.0, 0.0, size=2000), labelled("small", 1.0, 0.0, size=10)]
    assert select(results, Budget()).winner == "small"
    # Outside the tolerance the faster one wins even if less accurate.
    results = [labelled("lossy", 1.0, 0.4), labelled("exact", 1.2, 0.0)]
    assert select(results, Budget(max_accuracy_drop=1.0)).winner == "lossy"


def test_latency_budget_and_nothing_meets_gives_closest() -> None:
    results = [labelled("a", 5.0, 0.0), labelled("b", 3.0, 0.2), labelled("c", 1.0, 9.0)]
    sel = select(results, Budget(max_accuracy_drop=0.5, latency_budget_ms=2.0))
    assert sel.winner is None and not sel.met
    assert sel.closest == ["b", "a", "c"]
    assert sel.reasons["a"] == ["p50 5.000 ms > budget 2 ms"]
    assert sel.reasons["c"] == ["top-1 drop 9.00 pts > budget 0.5 pts"]


def test_fidelity_budget_needs_confident_agreement_and_top5() -> None:
    results = [
        fidelity("ref", 2.0, 1.0),
        fidelity("int8", 0.9, 0.99),
        fidelity("bf16", 1.0, 0.999),
        fidelity("flippy", 0.8, 1.0, top5=0.998),
    ]
    sel = select(results, Budget())
    assert sel.winner == "bf16"
    assert sel.reasons["int8"] == ["agreement on confident inputs 0.9900 < 0.995"]
    assert sel.reasons["flippy"] == ["top-1-in-top-5 0.9980 < 1"]
    assert select(results, Budget(min_agreement=0.98, require_top5=False)).winner == "flippy"


def test_only_engines_can_win_and_pruned_keep_their_reasons() -> None:
    eager = labelled("pytorch", 0.1, 0.0, kind="baseline")
    pruned = labelled("pruned", 0.2, 0.0, status="pruned")
    pruned.reasons.append("dominated in the quick probe")
    err = labelled("broken", 0.1, 0.0, status="error")
    err.error = "build failed: boom"
    sel = select([eager, pruned, err, labelled("ort", 1.0, 0.0)], Budget())
    assert sel.winner == "ort" and sel.runner_up is None
    assert sel.reasons["pytorch"] == ["the starting point, not an engine (shown for the speed-up)"]
    assert sel.reasons["pruned"] == ["dominated in the quick probe"]
    assert sel.reasons["broken"] == ["build failed: boom"]
    assert violations(err, Budget()) == ["failed: build failed: boom"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"max_accuracy_drop": 1, "min_agreement": 0.9},
            "give either --max-accuracy-drop or --min-agreement, not both; the first needs "
            "labelled eval data, the second compares with the FP32 reference",
        ),
        (
            {"min_agreement": 99.5},
            "--min-agreement is a fraction in (0, 1], got 99.5; e.g. 0.995 for 99.5%",
        ),
        ({"objective": "p90"}, "unknown objective 'p90'; choose one of p50, p99, throughput"),
        ({"latency_budget_ms": 0}, "--latency-budget-ms must be > 0, got 0"),
        ({"confidence": 1.0}, "--confidence must be in [0, 1), got 1.0"),
    ],
)
def test_budget_validation_messages(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        Budget(**kwargs)
    assert str(exc.value) == message


def test_budget_round_trip_and_describe() -> None:
    b = Budget(min_agreement=0.99, latency_budget_ms=5, objective="p99")
    assert Budget.from_dict(b.to_dict()) == b
    assert b.describe("fidelity") == (
        "agreement on confident inputs (ref p >= 0.5) >= 0.99 and 100% top-1-in-top-5"
    )
    assert Budget().describe("labels") == "top-1 drop <= 1 pts vs FP32"


def test_dense_outputs_are_judged_by_cosine_in_either_mode() -> None:
    from edgeinfer.search.results import Quality
    from edgeinfer.search.select import accuracy_violations

    for mode in ("labels", "fidelity"):
        assert accuracy_violations(Quality(mode, 10, cosine=0.9999), Budget()) == []
        assert accuracy_violations(Quality(mode, 10, cosine=0.99), Budget()) == [
            "cosine similarity 0.99000 < 0.999"
        ]


def test_a_measured_faster_candidate_that_meets_the_budget_always_wins() -> None:
    # The two-output detector case: the table showed OpenVINO FP32 1.32x faster (median of
    # per-round ratios, interleaved) but the pooled p50 of a noisy run favoured ONNX Runtime.
    ort, ov = fidelity("onnxruntime/fp32", 1.00, 1.0), fidelity("openvino/fp32", 1.02, 1.0)
    ort.ratio_vs_baseline, ort.paired_p50_ms = 1.0, 1.00
    ov.ratio_vs_baseline, ov.paired_p50_ms = 1 / 1.32, 1.00 / 1.32
    sel = select([ort, ov], Budget())
    assert sel.winner == "openvino/fp32"
    assert sel.reasons["openvino/fp32"] == [
        "fastest meeting the budgets (p50 0.758 ms interleaved, paired)"
    ]
    assert sel.reasons["onnxruntime/fp32"] == [
        "meets the budgets but p50 1.000 ms interleaved, paired (1.32x the winner's)"
    ]
    # whatever the order and the tie rules, no budget-meeting candidate beats the winner
    for order in ([ov, ort], [ort, ov]):
        sel = select(order, Budget())
        w = next(r for r in order if r.name == sel.winner)
        assert all(
            objective_value(r, "p50") >= objective_value(w, "p50") * (1 - 0.01) for r in order
        )


def test_dense_candidates_rank_without_nan() -> None:
    from edgeinfer.search.results import CandidateResult, Quality

    from .synthetic import stats

    def dense(name: str, p50: float, cos: float) -> CandidateResult:
        q = Quality("fidelity", 100, cosine=cos)
        return CandidateResult(name, None, status="measured", latency=stats(p50), quality=q)

    results = [dense("slow", 1.0, 1.0), dense("fast", 0.9, 0.9995), dense("bad", 0.5, 0.9)]
    sel = select(results, Budget())
    assert sel.winner == "fast" and sel.reasons["bad"] == ["cosine similarity 0.90000 < 0.999"]
    assert not any(math.isnan(r.quality.score()) for r in results if r.quality)


def test_fp16_that_executes_fp32_does_not_outrank_its_fp32_twin() -> None:
    from edgeinfer.config import BuildConfig

    fp32, fp16 = fidelity("onnxruntime/fp32", 1.00, 1.0), fidelity("onnxruntime/fp16", 0.80, 1.0)
    fp32.config, fp32.executed_precision = BuildConfig(precision="fp32"), "fp32"
    fp16.config, fp16.executed_precision = BuildConfig(precision="fp16"), "fp32"
    sel = select([fp32, fp16], Budget())
    assert sel.winner == "onnxruntime/fp32"
    assert sel.reasons["onnxruntime/fp16"] == [
        "executes fp32 like onnxruntime/fp32: the same computation, so its speed difference "
        "is noise; onnxruntime/fp32 stands for both"
    ]
