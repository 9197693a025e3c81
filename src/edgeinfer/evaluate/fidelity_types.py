"""Typed configuration and results of fidelity checks (see :mod:`edgeinfer.evaluate.fidelity`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from edgeinfer import serde
from edgeinfer.errors import ConfigError

__all__ = ["FidelityResult", "OutputFidelity", "Tolerances"]

TOLERANCES_VERSION = 1


@dataclass(frozen=True)
class Tolerances:
    """Pass/fail thresholds. None disables a check.

    Attributes:
        atol, rtol: element-wise check ``|cand - ref| <= atol + rtol * |ref|`` (numpy
            ``allclose`` semantics); both None disables it.
        min_agreement: minimum top-1 agreement (fraction) of classifier outputs.
        min_cosine: minimum cosine similarity of every output.
        min_snr_db: minimum signal-to-noise ratio (dB) of every output.
        min_iou: minimum IoU of thresholded dense maps.
        min_confident_agreement: minimum top-1 agreement on inputs where the reference's
            top-1 softmax probability is >= ``confidence``.
        min_top5_containment: minimum fraction of inputs whose reference top-1 is in the
            candidate's top-5.
        max_kl: maximum mean KL(reference || candidate) of class distributions.
        confidence: probability that makes a reference prediction confident.
        dense_threshold: threshold for the IoU of dense maps (0.3: DBNet probability maps).
        version: format version of these tolerances.
    """

    WHAT: ClassVar[str] = "tolerance"

    atol: float | None = 1e-4
    rtol: float | None = 1e-3
    min_agreement: float | None = None
    min_cosine: float | None = None
    min_snr_db: float | None = None
    min_iou: float | None = None
    min_confident_agreement: float | None = None
    min_top5_containment: float | None = None
    max_kl: float | None = None
    confidence: float = 0.5
    dense_threshold: float = 0.3
    version: int = TOLERANCES_VERSION

    def __post_init__(self) -> None:
        for name in ("atol", "rtol", "max_kl"):
            v = getattr(self, name)
            if v is not None and (math.isnan(v) or v < 0):
                raise ConfigError(f"{name} must be >= 0, got {v}")
        for name in ("min_agreement", "min_confident_agreement", "min_top5_containment", "min_iou"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v <= 1.0:
                raise ConfigError(f"{name} is a fraction in [0, 1] (e.g. 0.99), got {v}")
        if self.min_cosine is not None and not -1.0 <= self.min_cosine <= 1.0:
            raise ConfigError(f"min_cosine must be in [-1, 1], got {self.min_cosine}")
        if not 0.0 < self.confidence <= 1.0:
            raise ConfigError(f"confidence must be in (0, 1], got {self.confidence}")
        serde.check_version(self.WHAT, self.version, TOLERANCES_VERSION)

    @property
    def elementwise(self) -> bool:
        """Whether the element-wise check ``|cand-ref| <= atol + rtol*|ref|`` is on."""
        return self.atol is not None or self.rtol is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON data (see :mod:`edgeinfer.serde`)."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tolerances:
        """Parse :meth:`to_dict` data.

        Raises:
            ConfigError: unknown keys, wrong types, invalid values or a newer version.
        """
        return serde.from_dict(cls, data)


def _num(x: float | None) -> float | str | None:
    """JSON-safe float: inf -> "inf", nan -> None."""
    if x is None or math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(x)


@dataclass
class OutputFidelity:
    """Fidelity of one output over all inputs; proportions carry 95 % Wilson intervals
    (``*_ci``) and the mean per-input cosine a normal one.
    """

    name: str
    kind: str  # classification | dense | generic
    n: int
    elements: int
    max_abs: float
    mean_abs: float
    max_rel: float
    mean_rel: float
    cosine: float
    min_cosine: float
    snr_db: float
    violations: int = 0
    worst_input: int | None = None
    candidate_nonfinite: int = 0
    first_candidate_nonfinite: int | None = None
    reference_nonfinite: int = 0
    first_reference_nonfinite: int | None = None
    agreement: float | None = None
    top5_overlap: float | None = None
    top1_in_top5: float | None = None
    confident_n: int | None = None
    confident_agreement: float | None = None
    kl_mean: float | None = None
    probabilities: bool | None = None
    iou: float | None = None
    mean_cosine: float | None = None
    mean_cosine_ci: tuple[float, float] | None = None
    agreement_ci: tuple[float, float] | None = None
    top1_in_top5_ci: tuple[float, float] | None = None
    confident_agreement_ci: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON data of every field (inf as ``"inf"``, NaN as null, intervals as lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                out[f.name] = [_num(x) for x in v]
            else:
                out[f.name] = _num(v) if isinstance(v, float) else v
        return out


@dataclass
class FidelityResult:
    """Fidelity of a candidate against a reference, and the pass/fail verdict."""

    n: int
    outputs: list[OutputFidelity]
    tolerances: Tolerances
    failures: list[str]
    notes: list[str] = field(default_factory=list)
    candidate: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)
    inputs: str = ""
    seconds: float = 0.0
    command: str | None = None

    @property
    def passed(self) -> bool:
        """Whether every check passed (no failures)."""
        return not self.failures

    def output(self, name: str) -> OutputFidelity:
        """The fidelity of output ``name``.

        Raises:
            KeyError: no output of that name was compared.
        """
        for o in self.outputs:
            if o.name == name:
                return o
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON data: verdict, failures, tolerances and per-output statistics."""
        return {
            "passed": self.passed,
            "failures": self.failures,
            "notes": self.notes,
            "n": self.n,
            "inputs": self.inputs,
            "candidate": self.candidate,
            "reference": self.reference,
            "tolerances": self.tolerances.to_dict(),
            "outputs": [o.to_dict() for o in self.outputs],
            "seconds": self.seconds,
            "command": self.command,
        }
