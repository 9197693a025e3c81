"""Accuracy metrics of the INT8 quality benchmark: flips on confident inputs (as the default
budget defines them, and with a margin), top-1-in-top-5 misses, cosine for dense maps."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeinfer.evaluate import metrics


def classify(reference: np.ndarray, candidate: np.ndarray) -> dict[str, Any]:
    p = metrics.probabilities(reference.astype(np.float64))
    top = np.sort(p, axis=1)
    r1, c1 = reference.argmax(1), candidate.argmax(1)
    agree = r1 == c1
    confident = top[:, -1] >= 0.5
    margin = confident & (top[:, -1] - top[:, -2] >= 0.1)
    in5 = metrics.top_k_contains(candidate, reference, 5)
    return {
        "n": len(r1),
        "agreement": float(agree.mean()),
        "n_confident": int(confident.sum()),
        "flips": int((~agree & confident).sum()),
        "confident_agreement": float(agree[confident].mean()),
        "n_margin": int(margin.sum()),
        "flips_margin": int((~agree & margin).sum()),
        "top5_misses": int((~in5).sum()),
        "meets_budget": bool(agree[confident].mean() >= 0.995 and in5.all()),
        "meets_margin_budget": bool(agree[margin].mean() >= 0.995 and in5.all()),
    }


def fmt_cls(m: dict[str, Any]) -> str:
    return (
        f"{m['flips']}/{m['n_confident']} flips (margin {m['flips_margin']}/{m['n_margin']}), "
        f"{m['top5_misses']} top-5 misses, agree {100 * m['agreement']:.1f}%"
    )


def dense(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    r = reference.reshape(-1).astype(np.float64)
    c = candidate.reshape(-1).astype(np.float64)
    cos = float(r @ c / max(np.sqrt((r @ r) * (c @ c)), 1e-30))
    snr = float(10 * np.log10((r @ r) / max(float(((r - c) ** 2).sum()), 1e-30)))
    return {"cosine": cos, "snr_db": snr}
