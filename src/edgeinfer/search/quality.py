"""Every output of a candidate against the FP32 reference's, input by input: the
:class:`Quality` the search judges (pure numpy, unit-tested).

Class-score outputs get top-1 agreement (all inputs and confident ones), top-1-in-top-5
containment, mean KL and, for the labelled output, top-1 and its drop; every output gets
its mean per-input cosine similarity. Every proportion carries its 95 % Wilson interval,
the cosine a normal interval and the drop a paired (McNemar) one. A candidate output with
NaN/Inf counts as wrong on that input (agreement false, cosine 0, a fixed KL penalty), so
no number is ever NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from edgeinfer.evaluate import metrics
from edgeinfer.search.results import OutputQuality, Quality

__all__ = ["KL_PENALTY", "QualityAccumulator", "quality", "quality_of"]

KL_PENALTY = 50.0  # nats charged for an input whose candidate output is NaN/Inf


def _pair(
    reference: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray]
) -> dict[str, str]:
    """Reference output name -> candidate output name (by name, else by position)."""
    if all(k in candidate for k in reference):
        return {k: k for k in reference}
    if len(candidate) == len(reference):
        return dict(zip(reference, candidate, strict=True))
    raise ValueError(
        f"candidate outputs {list(candidate)} do not match reference outputs {list(reference)}"
    )


class QualityAccumulator:
    """Per-input metrics of every output, batch by batch, against reference outputs held in
    memory; :meth:`result` gives the :class:`Quality`.

    Args:
        reference: the FP32 reference's outputs over all inputs, ``{name: [N, ...]}``.
        labels: ``(N,)`` class indices (None: no labels).
        mode: ``labels`` or ``fidelity`` (None: labels when given).
        confidence: reference top-1 probability that makes an input confident.
        judged: the outputs the budget applies to (None: all).
        task: the model's declared task (a hint for 3-D maps).
        subset: mark the result as measured on the quick subset.
        split: which data this is (``tune`` or ``holdout``), recorded in the result.
    """

    def __init__(
        self,
        reference: Mapping[str, np.ndarray],
        labels: np.ndarray | None = None,
        *,
        mode: str | None = None,
        confidence: float = 0.5,
        judged: Sequence[str] | None = None,
        task: str | None = None,
        subset: bool = False,
        split: str = "",
    ) -> None:
        self.reference = {k: np.asarray(v) for k, v in reference.items()}
        self.mode = mode or ("labels" if labels is not None else "fidelity")
        self.labels = None if labels is None else np.asarray(labels).reshape(-1)
        self.confidence, self.subset, self.split = confidence, subset, split
        self.kinds = metrics.output_kinds({k: v.shape for k, v in self.reference.items()}, task)
        self.judged = set(self.reference if judged is None else judged)
        classes = [k for k, kind in self.kinds.items() if kind == "classification"]
        self.label_output = classes[0] if self.labels is not None and classes else None
        self.already = {k: metrics.looks_like_probabilities(self.reference[k]) for k in classes}
        self.rows: dict[str, dict[str, list[np.ndarray]]] = {k: {} for k in self.reference}
        self._pairing: dict[str, str] | None = None

    def update(self, candidate: Mapping[str, np.ndarray], start: int) -> None:
        """Add the candidate's outputs for inputs ``start .. start + n`` (read at once).

        Raises:
            ValueError: the outputs do not pair up with the reference's or differ in shape.
        """
        if self._pairing is None:
            self._pairing = _pair(self.reference, candidate)
        for name, cand_name in self._pairing.items():
            c = np.asarray(candidate[cand_name])
            r = self.reference[name][start : start + len(c)]
            if c.shape != r.shape:
                raise ValueError(f"output shapes differ: {r.shape} vs {c.shape} ('{name}')")
            for key, value in self._row_metrics(name, r, c, start).items():
                self.rows[name].setdefault(key, []).append(value)

    def _row_metrics(
        self, name: str, r: np.ndarray, c: np.ndarray, start: int
    ) -> dict[str, np.ndarray]:
        rr, cc = metrics.as_rows(r), metrics.as_rows(c)
        finite = np.isfinite(cc).all(axis=1)
        cos = np.where(finite, metrics.cosine_rows(rr, np.where(np.isfinite(cc), cc, 0.0)), 0.0)
        out = {"finite": finite, "cos": np.nan_to_num(cos, nan=0.0)}
        if self.kinds[name] != "classification":
            return out
        already = self.already[name]
        agree = metrics.agreement(rr, cc) & finite
        kl = metrics.kl_divergence(
            metrics.log_probabilities(rr, already=already),
            metrics.log_probabilities(cc, already=already),
        )
        out["agree"] = agree
        out["conf"] = metrics.confident(metrics.probabilities(rr, already=already), self.confidence)
        out["top5"] = metrics.top_k_contains(cc, rr, 5) & finite
        out["kl"] = np.where(finite & np.isfinite(kl), kl, KL_PENALTY)
        if name == self.label_output and self.labels is not None:
            lab = self.labels[start : start + len(rr)]
            out["ref_ok"] = rr.argmax(axis=1) == lab
            out["cand_ok"] = (cc.argmax(axis=1) == lab) & finite
        return out

    def result(self) -> Quality:
        """The quality so far (per output, and the primary output's numbers on top).

        Raises:
            ValueError: nothing was added.
        """
        if self._pairing is None:
            raise ValueError("no candidate outputs were added")
        outputs = tuple(self._output(name) for name in self.reference)
        primary = _primary(outputs, self.label_output)
        return Quality(
            mode=self.mode,
            n=primary.n,
            top1=primary.top1,
            top1_drop_pts=primary.top1_drop_pts,
            agreement=primary.agreement,
            agreement_confident=primary.agreement_confident,
            n_confident=primary.n_confident,
            top5_containment=primary.top5_containment,
            mean_kl=primary.mean_kl,
            cosine=primary.cosine,
            subset=self.subset,
            outputs=outputs,
            split=self.split,
        )

    def _output(self, name: str) -> OutputQuality:
        rows = {k: np.concatenate(v) for k, v in self.rows[name].items()}
        n = len(rows["finite"])
        cos = rows["cos"]
        base = OutputQuality(
            name=name,
            kind=self.kinds[name],
            judged=name in self.judged,
            n=n,
            nonfinite=int((~rows["finite"]).sum()),
            cosine=float(cos.mean()) if n else None,
            cosine_ci=metrics.mean_interval(cos) if n else None,
        )
        if "agree" not in rows:
            return base
        agree, conf, top5 = rows["agree"], rows["conf"], rows["top5"]
        n_conf = int(conf.sum())
        top1 = drop = drop_ci = None
        if "ref_ok" in rows:
            top1 = float(rows["cand_ok"].mean())
            drop = 100.0 * (float(rows["ref_ok"].mean()) - top1)
            drop_ci = metrics.paired_drop_interval(rows["ref_ok"], rows["cand_ok"])
        return replace(
            base,
            top1=top1,
            top1_drop_pts=drop,
            top1_drop_ci=drop_ci,
            agreement=float(agree.mean()),
            agreement_ci=metrics.wilson_interval(int(agree.sum()), n),
            agreement_confident=float(agree[conf].mean()) if n_conf else None,
            agreement_confident_ci=metrics.wilson_interval(int(agree[conf].sum()), n_conf)
            if n_conf
            else None,
            n_confident=n_conf,
            top5_containment=float(top5.mean()),
            top5_ci=metrics.wilson_interval(int(top5.sum()), n),
            mean_kl=float(rows["kl"].mean()),
        )


def _primary(outputs: Sequence[OutputQuality], label_output: str | None) -> OutputQuality:
    """The output whose numbers head a :class:`Quality`: the labelled one, else the first
    judged class-score output, else the first judged output, else the first.
    """
    for o in outputs:
        if o.name == label_output:
            return o
    judged = [o for o in outputs if o.judged] or list(outputs)
    return next((o for o in judged if o.kind == "classification"), judged[0])


def quality_of(
    reference: Mapping[str, np.ndarray],
    candidate: Mapping[str, np.ndarray],
    labels: np.ndarray | None = None,
    **kwargs: object,
) -> Quality:
    """One-shot :class:`QualityAccumulator`: every output of ``candidate`` against
    ``reference`` (keyword arguments as the accumulator's).
    """
    acc = QualityAccumulator(reference, labels, **kwargs)  # type: ignore[arg-type]
    acc.update(candidate, 0)
    return acc.result()


def quality(
    reference: np.ndarray,
    candidate: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    confidence: float = 0.5,
    mode: str | None = None,
    subset: bool = False,
) -> Quality:
    """Compare one ``candidate`` output array with the ``reference``'s (and ``labels``).

    Args:
        reference: FP32 reference outputs, e.g. ``(N, classes)`` (logits or probabilities).
        candidate: candidate outputs of the same shape.
        labels: ``(N,)`` class indices, or None.
        confidence: reference top-1 probability that makes an input "confident".
        mode: ``labels`` or ``fidelity`` (None: labels when given).
        subset: mark the result as measured on the quick subset.

    Raises:
        ValueError: the two outputs have different shapes.
    """
    if reference.shape != candidate.shape:
        raise ValueError(f"output shapes differ: {reference.shape} vs {candidate.shape}")
    return quality_of(
        {"output": reference},
        {"output": candidate},
        labels,
        confidence=confidence,
        mode=mode,
        subset=subset,
    )
