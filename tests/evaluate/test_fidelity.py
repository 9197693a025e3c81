"""Fidelity metrics against numpy, NaN detection, and compare_engines on real engines."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinfer.builder import build
from edgeinfer.data import open_dataset
from edgeinfer.errors import ConfigError, DataError
from edgeinfer.evaluate import FidelityAccumulator, Tolerances, compare_engines
from edgeinfer.evaluate.fidelity import REL_FLOOR
from edgeinfer.model import Model
from edgeinfer.tensors import random_feed
from tests.conftest import make_conv_relu
from tests.evaluate.helpers import (
    centroid_classifier,
    centroid_weights,
    nan_model,
    numpy_predictions,
)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _classification_reference(c: np.ndarray, r: np.ndarray, confidence: float) -> dict[str, float]:
    c, r = c.astype(np.float64), r.astype(np.float64)
    pc, pr = c.argmax(1), r.argmax(1)
    top_c = np.argsort(-c, 1, kind="stable")[:, :5]
    top_r = np.argsort(-r, 1, kind="stable")[:, :5]
    p, q = _softmax(r), _softmax(c)
    conf = p.max(1) >= confidence
    return {
        "agreement": float((pc == pr).mean()),
        "top5_overlap": float(
            np.mean([len(set(a) & set(b)) / 5 for a, b in zip(top_c, top_r, strict=True)])
        ),
        "top1_in_top5": float((top_c == pr[:, None]).any(1).mean()),
        "confident_agreement": float((pc == pr)[conf].mean()),
        "confident_n": int(conf.sum()),
        "kl_mean": float((p * (np.log(p) - np.log(q))).sum(1).mean()),
    }


def test_accumulator_matches_numpy_over_batches() -> None:
    rng = np.random.default_rng(0)
    r = rng.standard_normal((50, 10)).astype(np.float32) * 3
    c = r + rng.standard_normal((50, 10)).astype(np.float32) * 0.8
    acc = FidelityAccumulator(Tolerances(atol=0.5, rtol=0.1))
    for s in range(0, 50, 16):  # batches of 16, 16, 16, 2
        acc.update({"logits": c[s : s + 16]}, {"logits": r[s : s + 16]})
    res = acc.result()
    o = res.output("logits")
    d = np.abs(c.astype(np.float64) - r)
    rel = d / np.maximum(np.abs(r.astype(np.float64)), REL_FLOOR)
    assert res.n == 50 and o.kind == "classification" and o.elements == 500
    assert o.max_abs == pytest.approx(d.max()) and o.mean_abs == pytest.approx(d.mean())
    assert o.max_rel == pytest.approx(rel.max()) and o.mean_rel == pytest.approx(rel.mean())
    cf, rf = c.astype(np.float64).ravel(), r.astype(np.float64).ravel()
    assert o.cosine == pytest.approx(cf @ rf / np.linalg.norm(cf) / np.linalg.norm(rf))
    assert o.snr_db == pytest.approx(10 * np.log10((rf**2).sum() / ((cf - rf) ** 2).sum()))
    per_row = (c * r).sum(1) / np.linalg.norm(c, axis=1) / np.linalg.norm(r, axis=1)
    assert o.min_cosine == pytest.approx(per_row.min(), rel=1e-5)
    ref = _classification_reference(c, r, 0.5)
    for key, value in ref.items():
        assert getattr(o, key) == pytest.approx(value), key
    assert o.probabilities is False
    violations = int((d > 0.5 + 0.1 * np.abs(r)).sum())
    assert o.violations == violations > 0
    worst = int((d - (0.5 + 0.1 * np.abs(r))).max(1).argmax())
    assert o.worst_input == worst
    assert res.failures == [
        f"output 'logits': {violations} of 500 elements ({100 * violations / 500:.2f}%) exceed "
        f"atol=0.5 + rtol=0.1*|ref| (max abs error {d.max():.4g}; worst at input {worst})"
    ]
    assert not res.passed


def test_probability_outputs_are_detected_for_kl() -> None:
    rng = np.random.default_rng(1)
    r = _softmax(rng.standard_normal((20, 6)) * 2).astype(np.float32)
    c = _softmax(rng.standard_normal((20, 6)) * 2).astype(np.float32)
    acc = FidelityAccumulator(Tolerances(atol=None, rtol=None, max_kl=0.01))
    acc.update({"p": c}, {"p": r})
    o = acc.result().output("p")
    p, q = r.astype(np.float64), c.astype(np.float64)
    p, q = p / p.sum(1, keepdims=True), q / q.sum(1, keepdims=True)
    assert o.probabilities is True
    assert o.kl_mean == pytest.approx((p * np.log(p / q)).sum(1).mean(), rel=1e-5)
    assert o.confident_n == int((r.max(1) >= 0.5).sum())


def test_dense_iou_of_thresholded_maps() -> None:
    rng = np.random.default_rng(2)
    r = rng.random((3, 1, 8, 8)).astype(np.float32)
    c = np.clip(r + rng.normal(0, 0.2, r.shape), 0, 1).astype(np.float32)
    acc = FidelityAccumulator(Tolerances(atol=None, rtol=None, min_iou=0.99, dense_threshold=0.3))
    acc.update({"maps": c[:2]}, {"maps": r[:2]})
    acc.update({"maps": c[2:]}, {"maps": r[2:]})
    res = acc.result()
    inter = ((c >= 0.3) & (r >= 0.3)).sum()
    union = ((c >= 0.3) | (r >= 0.3)).sum()
    o = res.output("maps")
    assert o.kind == "dense" and o.iou == pytest.approx(inter / union)
    assert res.failures == [f"output 'maps': IoU at 0.3 {100 * inter / union:.2f}% < min 99.00%"]


def test_nan_in_candidate_always_fails_naming_first_input() -> None:
    r = np.ones((4, 3), np.float32)
    c = r.copy()
    acc = FidelityAccumulator(Tolerances(atol=None, rtol=None))  # even with no thresholds
    acc.update({"y": c}, {"y": r})
    c2 = r.copy()
    c2[1, 2] = np.nan
    c2[3, 0] = np.inf
    acc.update({"y": c2}, {"y": r})
    res = acc.result()
    assert res.failures == ["candidate output 'y' has NaN/Inf at input 5 (2 of 8 inputs affected)"]
    o = res.output("y")
    assert o.max_abs == 0.0 and o.first_candidate_nonfinite == 5
    bad_ref = FidelityAccumulator()
    bad_ref.update({"y": r}, {"y": c2})
    assert bad_ref.result().failures == [
        "reference output 'y' has NaN/Inf at input 1 (2 of 4 inputs affected); the reference itself is broken"
    ]


def test_pairing_shapes_and_threshold_applicability() -> None:
    x = np.zeros((2, 4), np.float32)
    acc = FidelityAccumulator()
    acc.update({"out": x}, {"y": x})
    assert acc.result().notes == ["output names differ; paired by position: out ~ y"]
    with pytest.raises(
        DataError, match=r"output 'y' has shape \[2, 5\] in the candidate but \[2, 4\]"
    ):
        FidelityAccumulator().update({"y": np.zeros((2, 5))}, {"y": x})
    dense = FidelityAccumulator(Tolerances(min_agreement=0.9))
    dense.update({"y": np.zeros((1, 2, 3, 3))}, {"y": np.zeros((1, 2, 3, 3))})
    with pytest.raises(
        ConfigError,
        match=r"min_agreement needs a classifier output \(\[N, classes\]\); outputs are y \(dense\)",
    ):
        dense.result()
    with pytest.raises(
        ConfigError, match=r"min_agreement is a fraction in \[0, 1\] \(e.g. 0.99\), got 99.0"
    ):
        Tolerances(min_agreement=99.0)
    with pytest.raises(DataError, match="no outputs were compared"):
        FidelityAccumulator().result()
    assert Tolerances.from_dict(Tolerances(min_cosine=0.9).to_dict()) == Tolerances(min_cosine=0.9)


def test_engine_against_itself_passes_with_zero_error() -> None:
    eng = build(Model.from_proto(make_conv_relu()))
    res = compare_engines(eng, eng, quiet=True)
    assert res.passed and res.n == 32 and res.inputs == "random (seed 0)"
    o = res.output("y")
    assert (o.max_abs, o.mean_abs, o.max_rel, o.violations) == (0.0, 0.0, 0.0, 0)
    assert o.snr_db == float("inf") and o.cosine == pytest.approx(1.0) and o.iou == 1.0
    assert res.to_dict()["outputs"][0]["snr_db"] == "inf"


def test_perturbed_classifier_fails_with_numpy_numbers() -> None:
    w, b = centroid_weights()
    noise = np.random.default_rng(3).normal(0, 0.02, w.shape).astype(np.float32)
    ref = build(centroid_classifier(metadata=True, w=w, b=b))
    cand = build(centroid_classifier(metadata=True, w=w + noise, b=b))
    ds = open_dataset("fashion-mnist", limit=500)
    tol = Tolerances(min_agreement=0.99, min_cosine=0.5)
    res = compare_engines(cand, ref, ds, tolerances=tol, batch_size=128, quiet=True)
    images = ds.images(range(500))
    lr = numpy_predictions(images, w, b)
    lc = numpy_predictions(images, w + noise, b)
    o = res.output("logits")
    assert res.n == 500 and o.kind == "classification"
    assert o.max_abs == pytest.approx(np.abs(lc - lr).max(), rel=1e-3)
    expect = _classification_reference(lc, lr, 0.5)
    assert o.agreement == pytest.approx(expect["agreement"])
    assert o.agreement < 0.99
    assert (
        res.failures[1] == f"output 'logits': top-1 agreement {100 * o.agreement:.2f}% < min 99.00%"
    )
    assert "preprocessing: engine" in res.inputs
    same = compare_engines(ref, ref, ds, tolerances=tol, quiet=True)
    assert same.passed and same.output("logits").agreement == 1.0


def test_nan_model_reports_first_offending_random_input() -> None:
    eng = build(Model.from_proto(nan_model(at=-2.0)))  # sqrt(x + 2): NaN where some x < -2
    ref = build(Model.from_proto(nan_model(at=-100.0)))
    res = compare_engines(eng, ref, batch_size=4, limit=64, seed=0, quiet=True)
    xs = np.concatenate([random_feed(eng.inputs, batch=4, seed=k)["x"] for k in range(16)])
    bad = np.flatnonzero((xs < -2.0).any(axis=1))
    assert len(bad) > 0
    assert res.failures[0] == (
        f"candidate output 'y' has NaN/Inf at input {bad[0]} ({len(bad)} of 64 inputs affected)"
    )


def test_all_nan_candidate_reports_no_misleading_metrics() -> None:
    acc = FidelityAccumulator()
    acc.update({"y": np.full((2, 3), np.nan, np.float32)}, {"y": np.ones((2, 3), np.float32)})
    res = acc.result()
    o = res.output("y")
    assert np.isnan(o.cosine) and np.isnan(o.snr_db) and o.agreement is None
    assert res.to_dict()["outputs"][0]["cosine"] is None
    assert res.failures == ["candidate output 'y' has NaN/Inf at input 0 (2 of 2 inputs affected)"]


def test_proportions_carry_intervals_and_unresolvable_thresholds_are_noted() -> None:
    ref = np.eye(10)[np.arange(150) % 10] * 6.0
    cand = ref.copy()
    cand[0] = np.roll(cand[0], 1)
    acc = FidelityAccumulator(
        Tolerances(atol=None, rtol=None, min_confident_agreement=0.995, min_agreement=0.9)
    )
    acc.update({"y": cand}, {"y": ref})
    res = acc.result()
    o = res.output("y")
    assert o.confident_agreement == pytest.approx(149 / 150)
    assert o.confident_agreement_ci is not None
    assert o.confident_agreement_ci[0] < o.confident_agreement < o.confident_agreement_ci[1]
    assert o.top1_in_top5_ci is not None and o.mean_cosine_ci is not None
    assert (
        "output 'y': --min-confident-agreement 0.995 cannot be resolved by 150 inputs: even "
        "150/150 only shows >= 0.9750 at 95% confidence; it takes >= 765"
    ) in res.notes
    assert not [n for n in res.notes if "--min-agreement" in n]  # 0.9 is resolvable
    data = res.to_dict()["outputs"][0]
    assert len(data["confident_agreement_ci"]) == 2


def test_a_pass_within_the_noise_is_noted() -> None:
    ref = np.eye(10)[np.arange(2000) % 10] * 6.0
    cand = ref.copy()
    cand[:5] = np.roll(cand[:5], 1, axis=1)  # 99.75% agreement: passes 0.995, CI below it
    acc = FidelityAccumulator(Tolerances(atol=None, rtol=None, min_agreement=0.995))
    acc.update({"y": cand}, {"y": ref})
    res = acc.result()
    assert res.passed
    (note,) = res.notes
    assert note.startswith(
        "output 'y': top-1 agreement 99.75% passes --min-agreement 0.995 within the noise "
        "(95% CI 99."
    )
