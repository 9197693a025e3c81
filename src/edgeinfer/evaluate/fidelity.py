"""Numerical fidelity of a candidate's outputs against a reference's (Polygraphy-style).

Feed output pairs into a :class:`FidelityAccumulator` batch by batch (``compare_engines``
does it for two engines; the optimizer feeds outputs it already has), then read a
:class:`FidelityResult`: per output max/mean absolute and relative error, cosine similarity
and SNR; for classifiers top-1 agreement, top-5 overlap, top-1-in-top-5 containment,
agreement where the reference is confident, and mean KL divergence; for dense maps the IoU of
thresholded maps. Pass/fail is checked against :class:`Tolerances`; NaN/Inf always fails.

Example::

    acc = FidelityAccumulator(Tolerances(atol=None, rtol=None, min_agreement=0.99))
    for feed in feeds:
        acc.update(int8_runner.infer(feed), fp32_runner.infer(feed))
    result = acc.result()
    print(result.passed, result.failures)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from edgeinfer.errors import ConfigError, DataError
from edgeinfer.evaluate.fidelity_stats import REL_FLOOR, _OutputStats
from edgeinfer.evaluate.fidelity_types import FidelityResult, OutputFidelity, Tolerances
from edgeinfer.evaluate.metrics import Z95, inputs_needed, output_kinds

__all__ = [
    "REL_FLOOR",
    "FidelityAccumulator",
    "FidelityResult",
    "OutputFidelity",
    "Tolerances",
    "check_tolerances",
    "resolution_notes",
]


class FidelityAccumulator:
    """Accumulates candidate/reference output pairs; :meth:`result` gives the verdict.

    Args:
        tolerances: pass/fail thresholds (None: defaults, atol 1e-4 / rtol 1e-3).
        task: the model's task metadata ("classification", "dense", ...) used to classify
            outputs; None decides from shapes alone.
        outputs: compare only these reference output names (None: all).
    """

    def __init__(
        self,
        tolerances: Tolerances | None = None,
        *,
        task: str | None = None,
        outputs: tuple[str, ...] | None = None,
    ) -> None:
        self.tolerances = tolerances or Tolerances()
        self.task = task
        self.only = outputs
        self.n = 0
        self.notes: list[str] = []
        self._stats: dict[str, _OutputStats] = {}
        self._pairing: dict[str, str] | None = None
        self._kinds: dict[str, str] | None = None

    def update(
        self, candidate: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]
    ) -> None:
        """Add one batch: outputs of both for the same ``N`` inputs (``[N, ...]`` arrays).

        The arrays are read immediately (runners' persistent buffers may be passed as is).

        Raises:
            DataError: the outputs do not pair up or their shapes differ.
        """
        pairing = self._pair(candidate, reference)
        if self._kinds is None:
            shapes = {k: np.shape(reference[k]) for k in pairing}
            self._kinds = output_kinds(shapes, self.task)
        n_batch: int | None = None
        for ref_name, cand_name in pairing.items():
            c = np.asarray(candidate[cand_name])
            r = np.asarray(reference[ref_name])
            if c.shape != r.shape:
                raise DataError(
                    f"output '{ref_name}' has shape {list(c.shape)} in the candidate but "
                    f"{list(r.shape)} in the reference; compare engines of the same model"
                )
            if r.ndim == 0:
                c, r = c.reshape(1, 1), r.reshape(1, 1)
            n_batch = len(r) if n_batch is None else n_batch
            if len(r) != n_batch:  # an output without a batch dim: one sample
                c, r = c[None], r[None]
            stats = self._stats.get(ref_name)
            if stats is None:
                stats = _OutputStats(ref_name, self._kinds[ref_name], self.tolerances)
                self._stats[ref_name] = stats
            stats.update(c, r, self.n)
        self.n += n_batch or 0

    def _pair(
        self, candidate: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]
    ) -> dict[str, str]:
        if self._pairing is not None:
            return self._pairing
        ref_names = [k for k in reference if self.only is None or k in self.only]
        if self.only is not None and set(self.only) - set(reference):
            missing = sorted(set(self.only) - set(reference))
            raise DataError(f"reference has no output(s) {missing}; its outputs: {list(reference)}")
        if all(k in candidate for k in ref_names):
            pairing = {k: k for k in ref_names}
        elif len(candidate) == len(reference):
            pairing = {r: c for r, c in zip(reference, candidate, strict=True) if r in ref_names}
            self.notes.append(
                "output names differ; paired by position: "
                + ", ".join(f"{c} ~ {r}" for r, c in pairing.items())
            )
        else:
            raise DataError(
                f"candidate outputs {list(candidate)} do not match reference outputs "
                f"{list(reference)}; compare engines of the same model"
            )
        self._pairing = pairing
        return pairing

    def result(self, **info: Any) -> FidelityResult:
        """The metrics so far and the verdict; ``info`` fills FidelityResult's other fields.

        Raises:
            DataError: nothing was compared.
            ConfigError: a threshold was set that no output can be checked against.
        """
        if not self._stats:
            raise DataError("no outputs were compared (no inputs?)")
        outputs = [s.result() for s in self._stats.values()]
        failures = check_tolerances(outputs, self.tolerances)
        notes = list(self.notes) + list(info.pop("notes", []))
        notes += resolution_notes(outputs, self.tolerances)
        return FidelityResult(
            n=self.n,
            outputs=outputs,
            tolerances=self.tolerances,
            failures=failures,
            notes=notes,
            **info,
        )


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _nonfinite_failures(o: OutputFidelity) -> list[str]:
    out = []
    if o.candidate_nonfinite:
        out.append(
            f"candidate output '{o.name}' has NaN/Inf at input {o.first_candidate_nonfinite} "
            f"({o.candidate_nonfinite} of {o.n} inputs affected)"
        )
    if o.reference_nonfinite:
        out.append(
            f"reference output '{o.name}' has NaN/Inf at input {o.first_reference_nonfinite} "
            f"({o.reference_nonfinite} of {o.n} inputs affected); the reference itself is broken"
        )
    return out


def check_tolerances(outputs: list[OutputFidelity], tol: Tolerances) -> list[str]:
    """Failure messages of ``outputs`` against ``tol`` (empty: passed)."""
    failures: list[str] = []
    for o in outputs:
        failures += _nonfinite_failures(o)
        if tol.elementwise and o.violations:
            failures.append(
                f"output '{o.name}': {o.violations} of {o.elements} elements "
                f"({_pct(o.violations / max(o.elements, 1))}) exceed atol={tol.atol or 0:g} + "
                f"rtol={tol.rtol or 0:g}*|ref| (max abs error {o.max_abs:.4g}; worst at input "
                f"{o.worst_input})"
            )
        for value, bound, what in (
            (o.cosine, tol.min_cosine, "cosine similarity"),
            (o.snr_db, tol.min_snr_db, "SNR (dB)"),
        ):
            if bound is not None and o.elements and not value >= bound:
                failures.append(f"output '{o.name}': {what} {value:.6g} < min {bound:g}")
        failures += _task_failures(o, tol)
    _check_applicable(outputs, tol)
    return failures


def _task_failures(o: OutputFidelity, tol: Tolerances) -> list[str]:
    failures: list[str] = []
    for value, bound, what in (
        (o.agreement, tol.min_agreement, "top-1 agreement"),
        (o.confident_agreement, tol.min_confident_agreement, "confident top-1 agreement"),
        (o.top1_in_top5, tol.min_top5_containment, "top-1-in-top-5 containment"),
        (o.iou, tol.min_iou, f"IoU at {tol.dense_threshold:g}"),
    ):
        if bound is not None and value is not None and value < bound:
            failures.append(f"output '{o.name}': {what} {_pct(value)} < min {_pct(bound)}")
    if tol.max_kl is not None and o.kl_mean is not None and o.kl_mean > tol.max_kl:
        failures.append(
            f"output '{o.name}': mean KL divergence {o.kl_mean:.4g} > max {tol.max_kl:g}"
        )
    return failures


_PROPORTIONS = (
    ("min_agreement", "top-1 agreement", "agreement", "agreement_ci", "n"),
    (
        "min_confident_agreement",
        "confident top-1 agreement",
        "confident_agreement",
        "confident_agreement_ci",
        "confident_n",
    ),
    ("min_top5_containment", "top-1-in-top-5 containment", "top1_in_top5", "top1_in_top5_ci", "n"),
)


def resolution_notes(outputs: list[OutputFidelity], tol: Tolerances) -> list[str]:
    """Thresholds the inputs cannot resolve, and verdicts within the noise: a proportion
    threshold that even a perfect result on this many inputs cannot show (with the number
    of inputs it takes), or a pass whose 95 % interval reaches below the threshold.
    """
    notes: list[str] = []
    for o in outputs:
        if o.kind != "classification":
            continue
        for key, what, attr, ci_attr, n_attr in _PROPORTIONS:
            bound = getattr(tol, key)
            value, ci, n = getattr(o, attr), getattr(o, ci_attr), getattr(o, n_attr) or 0
            if bound is None or value is None or ci is None:
                continue
            need = inputs_needed(bound)
            flag = "--" + key.replace("_", "-")
            if need is not None and n < need:
                notes.append(
                    f"output '{o.name}': {flag} {bound:g} cannot be resolved by {n} inputs: "
                    f"even {n}/{n} only shows >= {n / (n + Z95 * Z95):.4f} at 95% confidence; "
                    f"it takes >= {need:,}"
                )
            elif value >= bound > ci[0]:
                notes.append(
                    f"output '{o.name}': {what} {_pct(value)} passes {flag} {bound:g} within the "
                    f"noise (95% CI {_pct(ci[0])}-{_pct(ci[1])} on {n} inputs)"
                )
    return notes


def _check_applicable(outputs: list[OutputFidelity], tol: Tolerances) -> None:
    kinds = {o.kind for o in outputs}
    cls_checks = {
        "min_agreement": tol.min_agreement,
        "min_confident_agreement": tol.min_confident_agreement,
        "min_top5_containment": tol.min_top5_containment,
        "max_kl": tol.max_kl,
    }
    for name, value in cls_checks.items():
        if value is not None and "classification" not in kinds:
            raise ConfigError(
                f"{name} needs a classifier output ([N, classes]); outputs are "
                + ", ".join(f"{o.name} ({o.kind})" for o in outputs)
            )
    if tol.min_iou is not None and "dense" not in kinds:
        raise ConfigError(
            "min_iou needs a dense (4-D) output; outputs are "
            + ", ".join(f"{o.name} ({o.kind})" for o in outputs)
        )
