"""After calibration, check the INT8 graph against FP32 so a broken calibration cannot pass
silently.

Both graphs run (ONNX Runtime, CPU) on a few held-out calibration-style inputs (the
calibration data drawn with another seed, through the same preprocessing); every float
output is compared. A degenerate result is refused with a message naming a better
calibrator: NaN/Inf where FP32 is finite, a constant output where FP32 varies, or an output
whose range the calibration clipped (a saturated map: FP32 values far beyond the INT8
maximum) with the cosine similarity gone. A poor but working result is kept with a loud
``WARNING`` note. The case this was made for: ONNX Runtime's entropy calibrator capped a
text detector's probability map at 0.111 (FP32 maximum 1.04; IoU 0) when its first
calibration batch held no text, and the build succeeded without a word.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.calibration.data import calibration_data
from edgeinfer.errors import BackendError, EdgeInferError, first_line

if TYPE_CHECKING:
    from edgeinfer.config import CalibrationConfig
    from edgeinfer.model import Model

__all__ = [
    "CHECK_SAMPLES",
    "OutputCheck",
    "better_calibrator",
    "check_int8",
    "compare_outputs",
    "verdict",
]

CHECK_SAMPLES = 8
SEED_OFFSET = 7919  # held-out draws differ from the calibration draw
MIN_COSINE = 0.5  # below: the output no longer resembles FP32's (degenerate)
WARN_COSINE = 0.95  # below: kept, with a WARNING note
SATURATED_RANGE = 0.5  # INT8 range below this fraction of FP32's ...
SATURATED_FRACTION = 1e-3  # ... with this fraction of FP32 values beyond it: clipped
DENSE_THRESHOLD = 0.3


def better_calibrator(method: str) -> str:
    """The calibrator to suggest instead of ``method``."""
    return {"entropy": "percentile", "percentile": "minmax"}.get(method, "percentile")


@dataclass(frozen=True)
class OutputCheck:
    """How one INT8 output compares with FP32 on the held-out inputs."""

    name: str
    cosine: float
    fp32_range: tuple[float, float]
    int8_range: tuple[float, float]
    clipped: float  # fraction of FP32 values beyond the INT8 output's range
    constant: bool
    nonfinite: int
    iou: float | None  # of maps thresholded at 0.3, for probability-like 4-D outputs

    @property
    def saturated(self) -> bool:
        """The INT8 output's range is clipped: much narrower, with FP32 values beyond it."""
        lo, hi = self.fp32_range
        span = hi - lo
        own = self.int8_range[1] - self.int8_range[0]
        return span > 0 and own < SATURATED_RANGE * span and self.clipped > SATURATED_FRACTION

    @property
    def degenerate(self) -> bool:
        """Broken beyond use: NaN/Inf, constant, saturated with the signal gone, or unrelated."""
        gone = self.cosine < WARN_COSINE or (self.iou is not None and self.iou < 0.5)
        return bool(
            self.nonfinite or self.constant or (self.saturated and gone) or self.cosine < MIN_COSINE
        )

    @property
    def poor(self) -> bool:
        """Working but far from FP32 (kept, with a warning)."""
        return self.saturated or self.cosine < WARN_COSINE

    def describe(self) -> str:
        """One phrase for messages."""
        lo, hi = self.fp32_range
        parts = []
        if self.nonfinite:
            parts.append(f"NaN/Inf on {self.nonfinite} input(s)")
        if self.constant:
            parts.append(f"constant ({self.int8_range[0]:.4g}) where FP32 spans {lo:.4g}..{hi:.4g}")
        if self.saturated:
            parts.append(
                f"saturates at {self.int8_range[0]:.4g}..{self.int8_range[1]:.4g} (FP32 spans "
                f"{lo:.4g}..{hi:.4g}; {100 * self.clipped:.1f}% of its values lie beyond)"
            )
        parts.append(f"cosine {self.cosine:.4f}")
        if self.iou is not None:
            parts.append(f"IoU at {DENSE_THRESHOLD:g} {self.iou:.2f}")
        return f"output '{self.name}': " + ", ".join(parts)


def compare_outputs(name: str, fp32: np.ndarray, int8: np.ndarray) -> OutputCheck:
    """Compare one output's FP32 and INT8 values (``[N, ...]``, float)."""
    r = np.asarray(fp32, dtype=np.float64).reshape(len(fp32), -1)
    c = np.asarray(int8, dtype=np.float64).reshape(len(int8), -1)
    bad_rows = ~np.isfinite(c).all(axis=1) & np.isfinite(r).all(axis=1)
    c = np.where(np.isfinite(c), c, 0.0)
    norms = np.linalg.norm(r, axis=1) * np.linalg.norm(c, axis=1)
    both_zero = (np.linalg.norm(r, axis=1) == 0) & (np.linalg.norm(c, axis=1) == 0)
    cos = np.where(both_zero, 1.0, (r * c).sum(axis=1) / np.where(norms > 0, norms, 1.0))
    lo, hi = float(r.min()), float(r.max())
    clo, chi = float(c.min()), float(c.max())
    tol = 1e-3 * max(hi - lo, 1e-12)
    clipped = float(((r > chi + tol) | (r < clo - tol)).mean())
    scale = max(abs(lo), abs(hi), 1e-12)
    constant = (chi - clo) <= 1e-6 * scale < (hi - lo)
    iou = None
    if np.ndim(fp32) == 4 and lo >= -0.05 and hi <= 1.5 and (r >= DENSE_THRESHOLD).any():
        inter = ((r >= DENSE_THRESHOLD) & (c >= DENSE_THRESHOLD)).sum()
        union = ((r >= DENSE_THRESHOLD) | (c >= DENSE_THRESHOLD)).sum()
        iou = float(inter / union) if union else 1.0
    return OutputCheck(
        name,
        float(np.mean(cos)),
        (lo, hi),
        (clo, chi),
        clipped,
        bool(constant),
        int(bad_rows.sum()),
        iou,
    )


def _session(model: Model) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(
        model.proto.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )


def _held_out(model: Model, cal: CalibrationConfig) -> list[dict[str, np.ndarray]]:
    """A few calibration-style inputs drawn with another seed (same data, same preprocessing)."""
    draw = replace(
        cal,
        seed=cal.seed + SEED_OFFSET,
        samples=CHECK_SAMPLES,
        min_samples=1,
        batch_size=min(cal.batch_size, CHECK_SAMPLES),
        cache=None,
        data_fingerprint=None,
    )
    return calibration_data(model, draw, quiet=True).feeds


def check_int8(
    fp32: Model, int8: Model, cal: CalibrationConfig
) -> tuple[list[OutputCheck], int, str | None]:
    """Run ``fp32`` and ``int8`` on held-out calibration-style inputs and compare every
    float output.

    Returns:
        (the checks, the number of inputs, None) or ([], 0, why the check could not run).
    """
    if cal.data is None:
        return [], 0, "no calibration data to draw held-out inputs from"
    try:
        feeds = _held_out(fp32, cal)
        s32, s8 = _session(fp32), _session(int8)
        names = [o.name for o in s32.get_outputs()]
        ref: dict[str, list[np.ndarray]] = {n: [] for n in names}
        got: dict[str, list[np.ndarray]] = {n: [] for n in names}
        for feed in feeds:
            for n, a, b in zip(names, s32.run(None, feed), s8.run(names, feed), strict=True):
                ref[n].append(np.asarray(a))
                got[n].append(np.asarray(b))
    except (EdgeInferError, RuntimeError, ValueError) as exc:
        return [], 0, first_line(exc)
    except Exception as exc:  # onnxruntime's own errors (Fail, InvalidArgument, ...)
        return [], 0, first_line(exc)
    checks = []
    for n in names:
        a, b = np.concatenate(ref[n]), np.concatenate(got[n])
        if a.dtype.kind == "f" and a.shape == b.shape and a.size:
            checks.append(compare_outputs(n, a, b))
    samples = sum(len(next(iter(f.values()))) for f in feeds)
    return checks, samples, None


def verdict(model_name: str, checks: list[OutputCheck], method: str, samples: int) -> list[str]:
    """Notes for the manifest: one line per output, ``WARNING`` lines for poor outputs.

    Raises:
        BackendError: an output is degenerate (the message names a better calibrator).
    """
    bad = [c for c in checks if c.degenerate]
    fix = better_calibrator(method)
    if bad:
        raise BackendError(
            f"the INT8 build of '{model_name}' is degenerate on {samples} held-out "
            f"calibration-style inputs: {'; '.join(c.describe() for c in bad)}; the {method} "
            f"calibrator's ranges broke it: build with --calibrator {fix}, or keep the last "
            "layers in FP32 with --exclude (`edgeinfer debug precision MODEL --calib DATA` "
            "ranks them), or use --precision bf16 if INT8 cannot hold this model"
        )
    notes = [
        f"int8 check vs FP32 on {samples} held-out calibration-style inputs: "
        + "; ".join(c.describe() for c in checks)
    ]
    for c in checks:
        if c.poor:
            notes.append(
                f"WARNING: int8 {c.describe()} is far from FP32; try --calibrator {fix} "
                "(or compare on your data: edgeinfer compare ENGINE MODEL --data ...)"
            )
    return notes
