"""Every output counts: per-output quality with intervals, the budget applied to each and
printed as applied, NaN-free scores, strict JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edgeinfer.search.metrics import (
    clearly_misses,
    describe_quality,
    error_terms,
    sensitivity_score,
)
from edgeinfer.search.quality import QualityAccumulator, quality_of
from edgeinfer.search.results import CandidateResult, OptimizeResult, Quality
from edgeinfer.search.select import Budget, accuracy_violations


def _two_outputs(n: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = np.eye(10)[np.arange(n) % 10] * 6 + rng.normal(0, 0.1, (n, 10))
    boxes = rng.standard_normal((n, 4, 8, 8)) + 3
    return {"scores": scores, "boxes": boxes}


def test_damage_to_the_second_output_fails_the_budget() -> None:
    # The two-output detector: per-tensor INT8 left the class scores intact but damaged the
    # second output; judging only the first output passed it.
    ref = _two_outputs()
    cand = {"scores": ref["scores"].copy(), "boxes": ref["boxes"] * 0.5 + 1.0}
    cand["boxes"][:, :2] = np.random.default_rng(1).standard_normal((200, 2, 8, 8))
    q = quality_of(ref, cand, confidence=0.5)
    assert [(o.name, o.kind) for o in q.outputs] == [("scores", "classification"), ("boxes", "dense")]
    assert q.agreement_confident == 1.0  # the primary output's numbers on top
    boxes = q.outputs[1]
    assert boxes.cosine is not None and boxes.cosine < 0.999
    why = accuracy_violations(q, Budget())
    assert why == [f"output 'boxes': cosine similarity {boxes.cosine:.5f} < 0.999"]
    assert clearly_misses(q, max_drop_pts=1, min_agreement=0.995, top5=True).startswith(
        "output 'boxes': cosine "
    )
    only_scores = quality_of(ref, cand, confidence=0.5, judged=("scores",))
    assert accuracy_violations(only_scores, Budget()) == []  # the user's choice of outputs
    assert not only_scores.outputs[1].judged


def test_budget_text_is_the_one_applied() -> None:
    b = Budget()
    assert b.describe("fidelity", [("maps", "dense")]) == (
        "cosine similarity to FP32 >= 0.999 (mean per input)"
    )
    assert b.describe("labels", [("logits", "classification"), ("boxes", "generic")]) == (
        "output 'logits' (classification): top-1 drop <= 1 pts vs FP32; output 'boxes' "
        "(generic): cosine similarity to FP32 >= 0.999 (mean per input)"
    )
    assert Budget(min_cosine=0.99).describe("fidelity", [("maps", "dense")]).startswith(
        "cosine similarity to FP32 >= 0.99 "
    )


def test_every_figure_carries_an_interval() -> None:
    ref = _two_outputs(n=150)
    labels = np.arange(150) % 10
    cand = {k: v.copy() for k, v in ref.items()}
    cand["scores"][:3] = np.roll(cand["scores"][:3], 1, axis=1)
    q = quality_of(ref, cand, labels, confidence=0.5)
    s, b = q.outputs
    assert s.top1_drop_pts == pytest.approx(2.0) and s.top1_drop_ci is not None
    assert s.top1_drop_ci[0] < 2.0 < s.top1_drop_ci[1]
    assert s.agreement_confident_ci is not None and s.agreement_confident_ci[1] <= 1.0
    assert s.top5_ci is not None and b.cosine_ci is not None
    assert b.cosine_ci[0] <= b.cosine <= b.cosine_ci[1]


def test_nan_outputs_count_as_wrong_and_nothing_is_nan() -> None:
    ref = _two_outputs(n=20)
    cand = {k: v.copy() for k, v in ref.items()}
    cand["scores"][0, 3] = np.nan
    cand["boxes"][1, 0, 0, 0] = np.inf
    q = quality_of(ref, cand)
    assert q.outputs[0].nonfinite == 1 and q.outputs[1].nonfinite == 1
    assert q.agreement == pytest.approx(19 / 20)
    for o in q.outputs:
        assert all(
            not (isinstance(v, float) and math.isnan(v)) for v in o.to_dict().values()
        )
    assert "output 'scores': NaN/Inf on 1 of 20 inputs" in accuracy_violations(q, Budget())
    assert math.isfinite(q.score())


def test_dense_sensitivity_is_continuous_and_never_nan() -> None:
    # Mixed precision scored every layer NaN on a dense model (no KL for maps).
    ref = {"maps": np.random.default_rng(0).random((8, 1, 16, 16))}
    base = quality_of(ref, {"maps": ref["maps"] + 0.2})
    better = quality_of(ref, {"maps": ref["maps"] + 0.05})
    assert base.mean_kl is None and error_terms(base)["maps"] > error_terms(better)["maps"]
    gain = sensitivity_score(better, base) - sensitivity_score(base, base)
    assert gain > 0 and math.isfinite(gain)
    assert sensitivity_score(base, base) == pytest.approx(-1.0)
    assert describe_quality(better).startswith("cosine 0.99")


def test_streaming_equals_one_shot() -> None:
    ref = _two_outputs(n=64)
    cand = {k: v + 0.01 for k, v in ref.items()}
    acc = QualityAccumulator(ref)
    for start in range(0, 64, 16):
        acc.update({k: v[start : start + 16] for k, v in cand.items()}, start)
    assert acc.result() == quality_of(ref, cand)


def test_reports_are_strict_json_and_read_back() -> None:
    q = Quality("fidelity", 10, cosine=float("nan"), agreement=None)
    res = OptimizeResult(
        model={"name": "m"},
        config={},
        mode="fidelity",
        data_note="",
        candidates=[CandidateResult("a", None, quality=q, ratio_vs_baseline=float("inf"))],
        notes=["x"],
    )
    data = res.to_dict()
    text = json.dumps(data, allow_nan=False)  # no bare NaN/Infinity anywhere
    assert '"cosine": null' in text and '"ratio_vs_baseline": null' in text
    back = OptimizeResult.from_dict(json.loads(text))
    assert back.candidates[0].quality is not None and back.candidates[0].quality.cosine is None


def test_a_second_2d_output_is_not_taken_for_class_scores() -> None:
    # MobileNetV2 with (logits, embedding): the 1280-d embedding is [N, C]-shaped but holds
    # no classes; judging it by agreement failed FP16 at 98.7%, whose embedding was exact.
    from edgeinfer.evaluate.metrics import output_kinds

    rng = np.random.default_rng(0)
    ref = {"logits": rng.standard_normal((50, 10)) * 4, "embedding": rng.random((50, 64))}
    cand = {k: v * 1.0001 for k, v in ref.items()}
    q = quality_of(ref, cand)
    assert [o.kind for o in q.outputs] == ["classification", "generic"]
    assert accuracy_violations(q, Budget()) == []
    shapes = {"a": (1, 10), "b": (1, 64)}
    assert output_kinds(shapes, "classification") == {"a": "classification", "b": "classification"}
    assert output_kinds(shapes, "generic") == {"a": "generic", "b": "generic"}
