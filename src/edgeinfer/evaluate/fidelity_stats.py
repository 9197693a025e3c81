"""Running per-output statistics behind :class:`~edgeinfer.evaluate.fidelity.FidelityAccumulator`."""

from __future__ import annotations

import math

import numpy as np

from edgeinfer.evaluate import metrics
from edgeinfer.evaluate.fidelity_types import OutputFidelity, Tolerances

REL_FLOOR = 1e-6  # relative error divides by max(|ref|, REL_FLOOR)


class _OutputStats:
    """Running sums for one output (float64)."""

    def __init__(self, name: str, kind: str, tol: Tolerances) -> None:
        self.name, self.kind, self.tol = name, kind, tol
        self.n = self.finite_n = self.elements = self.violations = self.classes = 0
        self.sum_abs = self.sum_rel = self.max_abs = self.max_rel = 0.0
        self.dot = self.cc = self.rr = self.err2 = 0.0
        self.min_cos = math.inf
        self.row_cos_sum = self.row_cos_sq = 0.0
        self.worst_input: int | None = None
        self.worst_excess = -math.inf
        self.cand_bad = self.ref_bad = 0
        self.first_cand_bad: int | None = None
        self.first_ref_bad: int | None = None
        self.agree = self.overlap = self.contained = self.conf_n = self.conf_agree = 0
        self.kl_sum = 0.0
        self.probabilities: bool | None = None
        self.inter = self.union = 0

    def update(self, cand: np.ndarray, ref: np.ndarray, start: int) -> None:
        c = cand.reshape(len(cand), -1).astype(np.float64)
        r = ref.reshape(len(ref), -1).astype(np.float64)
        c_ok: np.ndarray = np.asarray(np.isfinite(c).all(axis=1))
        r_ok: np.ndarray = np.asarray(np.isfinite(r).all(axis=1))
        self._nonfinite(c_ok, r_ok, start)
        ok = c_ok & r_ok
        if not ok.all():
            c, r, idx = c[ok], r[ok], np.flatnonzero(ok) + start
        else:
            idx = np.arange(start, start + len(c))
        self.n += len(cand)
        self.finite_n += len(c)
        if not len(c):
            return
        self._errors(c, r, idx)
        if self.kind == "classification":
            self._classification(c, r)
        elif self.kind == "dense":
            t = self.tol.dense_threshold
            self.inter += int(((c >= t) & (r >= t)).sum())
            self.union += int(((c >= t) | (r >= t)).sum())

    def _nonfinite(self, c_ok: np.ndarray, r_ok: np.ndarray, start: int) -> None:
        if not c_ok.all():
            self.cand_bad += int((~c_ok).sum())
            if self.first_cand_bad is None:
                self.first_cand_bad = start + int(np.flatnonzero(~c_ok)[0])
        if not r_ok.all():
            self.ref_bad += int((~r_ok).sum())
            if self.first_ref_bad is None:
                self.first_ref_bad = start + int(np.flatnonzero(~r_ok)[0])

    def _errors(self, c: np.ndarray, r: np.ndarray, idx: np.ndarray) -> None:
        diff = np.abs(c - r)
        rel = diff / np.maximum(np.abs(r), REL_FLOOR)
        self.elements += diff.size
        self.sum_abs += float(diff.sum())
        self.sum_rel += float(rel.sum())
        self.max_abs = max(self.max_abs, float(diff.max(initial=0.0)))
        self.max_rel = max(self.max_rel, float(rel.max(initial=0.0)))
        self.dot += float((c * r).sum())
        self.cc += float((c * c).sum())
        self.rr += float((r * r).sum())
        self.err2 += float(((c - r) ** 2).sum())
        row_cos = metrics.cosine_rows(c, r)
        self.min_cos = min(self.min_cos, float(row_cos.min()))
        self.row_cos_sum += float(row_cos.sum())
        self.row_cos_sq += float((row_cos * row_cos).sum())
        if self.tol.elementwise:
            allowed = (self.tol.atol or 0.0) + (self.tol.rtol or 0.0) * np.abs(r)
            excess = diff - allowed
            self.violations += int((excess > 0).sum())
            row_worst = excess.max(axis=1)
            k = int(row_worst.argmax())
            if row_worst[k] > 0 and row_worst[k] > self.worst_excess:
                self.worst_excess = float(row_worst[k])
                self.worst_input = int(idx[k])

    def _classification(self, c: np.ndarray, r: np.ndarray) -> None:
        if self.probabilities is None:  # decided once, from the reference, for both
            self.probabilities = metrics.looks_like_probabilities(r)
        self.classes = c.shape[1]
        k = min(5, c.shape[1])
        top_c, top_r = metrics.top_k(c, k), metrics.top_k(r, k)
        agree = metrics.agreement(r, c)
        self.agree += int(agree.sum())
        self.contained += int(metrics.top_k_contains(c, r, k).sum())
        self.overlap += sum(len(np.intersect1d(a, b)) for a, b in zip(top_c, top_r, strict=True))
        lr = metrics.log_probabilities(r, already=self.probabilities)
        lc = metrics.log_probabilities(c, already=self.probabilities)
        self.kl_sum += float(metrics.kl_divergence(lr, lc).sum())
        confident = metrics.confident(np.exp(lr), self.tol.confidence)
        self.conf_n += int(confident.sum())
        self.conf_agree += int(agree[confident].sum())

    def _row_cosine(self, n: int) -> tuple[float, tuple[float, float]]:
        """Mean per-input cosine and its 95 % normal interval."""
        mean = self.row_cos_sum / n
        var = max(self.row_cos_sq / n - mean * mean, 0.0) * n / max(n - 1, 1)
        half = metrics.Z95 * math.sqrt(var / n)
        return mean, (mean - half, mean + half)

    def result(self) -> OutputFidelity:
        finite_n = self.finite_n
        cosine, snr = math.nan, math.nan  # nothing finite was compared
        if self.elements:
            both_zero = self.cc == 0 and self.rr == 0
            norm = math.sqrt(self.cc * self.rr)
            cosine = 1.0 if both_zero else (min(1.0, self.dot / norm) if norm > 0 else 0.0)
            snr = (
                math.inf
                if self.err2 == 0
                else (10 * math.log10(self.rr / self.err2) if self.rr > 0 else -math.inf)
            )
        out = OutputFidelity(
            name=self.name,
            kind=self.kind,
            n=self.n,
            elements=self.elements,
            max_abs=self.max_abs,
            mean_abs=self.sum_abs / self.elements if self.elements else math.nan,
            max_rel=self.max_rel,
            mean_rel=self.sum_rel / self.elements if self.elements else math.nan,
            cosine=cosine,
            min_cosine=self.min_cos if self.elements else math.nan,
            snr_db=snr,
            violations=self.violations,
            worst_input=self.worst_input,
            candidate_nonfinite=self.cand_bad,
            first_candidate_nonfinite=self.first_cand_bad,
            reference_nonfinite=self.ref_bad,
            first_reference_nonfinite=self.first_ref_bad,
        )
        if finite_n:
            out.mean_cosine, out.mean_cosine_ci = self._row_cosine(finite_n)
        if self.kind == "classification" and finite_n:
            out.agreement = self.agree / finite_n
            out.agreement_ci = metrics.wilson_interval(self.agree, finite_n)
            out.top5_overlap = self.overlap / (finite_n * min(5, self.classes))
            out.top1_in_top5 = self.contained / finite_n
            out.top1_in_top5_ci = metrics.wilson_interval(self.contained, finite_n)
            out.confident_n = self.conf_n
            out.confident_agreement = self.conf_agree / self.conf_n if self.conf_n else None
            if self.conf_n:
                out.confident_agreement_ci = metrics.wilson_interval(self.conf_agree, self.conf_n)
            out.kl_mean = self.kl_sum / finite_n
            out.probabilities = self.probabilities
        if self.kind == "dense" and self.elements:
            out.iou = self.inter / self.union if self.union else 1.0
        return out
