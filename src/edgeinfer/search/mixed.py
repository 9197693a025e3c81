"""Accuracy-aware mixed precision: keep the most sensitive layers in FP32 until the budget holds.

Sensitivity is measured, not guessed: for each layer (or, in big models, each group of
consecutive layers) an INT8 engine is built with just that unit kept in FP32
(``BuildConfig.exclude``) and its accuracy/fidelity measured on a small subset; the gain over
the all-INT8 engine ranks the units. Units are then added most-sensitive-first until the
budget holds. The caller supplies ``evaluate(exclude) -> Quality`` (which builds through the
engine and calibration caches), so this module is pure control flow and is unit-tested.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edgeinfer.passes.base import node_names
from edgeinfer.search.results import Quality

if TYPE_CHECKING:
    import onnx

WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")

Layer = tuple[str, ...]  # a weighted node and the quantizable nodes after it


def ort_quantizable_ops() -> frozenset[str]:
    """Op types ONNX Runtime's QDQ quantizer can quantize (what the int8 pass touches)."""
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    return frozenset(QDQRegistry) | frozenset(QLinearOpsRegistry)


def quantizable_layers(
    proto: onnx.ModelProto,
    weighted: Sequence[str] = WEIGHTED_OPS,
    quantizable: Sequence[str] | frozenset[str] | None = None,
) -> list[Layer]:
    """The model's layers in graph order: each weighted node (Conv, Gemm, …) with the
    quantizable nodes that follow it (activation, Add, pooling …) up to the next weighted
    node, so keeping a layer in FP32 also removes the Q/DQ pairs between its nodes.

    Nodes are named by :func:`edgeinfer.passes.base.node_names` (what ``--exclude`` and the
    precision passes use). ``quantizable`` None: every op type ONNX Runtime quantizes.
    """
    ops = set(ort_quantizable_ops() if quantizable is None else quantizable) | set(weighted)
    layers: list[list[str]] = []
    pending: list[str] = []  # quantizable nodes before the first weighted one
    for node, name in zip(proto.graph.node, node_names(proto), strict=True):
        if node.op_type not in ops:
            continue
        if node.op_type in weighted:
            layers.append([*pending, name])
            pending = []
        elif layers:
            layers[-1].append(name)
        else:
            pending.append(name)
    return [tuple(layer) for layer in layers]


def layer_units(layers: Sequence[Layer], max_units: int) -> list[Layer]:
    """Single layers when there are at most ``max_units``, else that many contiguous groups."""
    if max_units < 1:
        raise ValueError("max_units must be >= 1")
    if len(layers) <= max_units:
        return list(layers)
    size, extra = divmod(len(layers), max_units)
    units: list[Layer] = []
    start = 0
    for i in range(max_units):
        end = start + size + (1 if i < extra else 0)
        units.append(tuple(name for layer in layers[start:end] for name in layer))
        start = end
    return units


def unit_label(unit: Layer, layers: Sequence[Layer]) -> str:
    """``conv1`` for one layer, ``conv1..conv7 (7 layers)`` for a group."""
    heads = [layer[0] for layer in layers if layer[0] in unit]
    if len(heads) <= 1:
        return unit[0]
    return f"{heads[0]}..{heads[-1]} ({len(heads)} layers)"


@dataclass
class MixedOutcome:
    """What the search found (``meets`` False: budget not reached within the limits)."""

    excluded: tuple[str, ...]
    quality: Quality | None
    meets: bool
    sensitivity: list[tuple[str, float]] = field(default_factory=list)
    steps: list[tuple[int, float, bool]] = field(default_factory=list)
    note: str = ""


def mixed_precision_search(
    layers: Sequence[Layer],
    evaluate: Callable[[tuple[str, ...]], Quality | None],
    meets: Callable[[Quality], bool],
    score: Callable[[Quality], float],
    base: Quality,
    *,
    max_units: int = 12,
    deadline: float | None = None,
    late: Callable[[], bool] | None = None,
) -> MixedOutcome:
    """Rank layer units by sensitivity, then exclude them greedily until ``meets`` holds.

    Args:
        layers: the model's layers in graph order (:func:`quantizable_layers`).
        evaluate: quality of the INT8 build with ``exclude`` kept in FP32 (None: failed).
        meets: whether a quality meets the accuracy budget.
        score: higher is better (used for ranking and the step log).
        base: quality of the all-INT8 build.
        max_units: at most this many sensitivity probes (layers are grouped beyond it).
        deadline: ``time.monotonic()`` value to stop at.
        late: says when to stop instead of ``deadline`` (e.g. when the next build would
            not finish in time).
    """
    units = layer_units(layers, max_units) if layers else []
    if not units:
        return MixedOutcome((), None, False, note="no quantizable named layers to keep in FP32")

    def past_deadline() -> bool:
        return deadline is not None and time.monotonic() > deadline

    stop = late or past_deadline

    gains, complete = _rank_units(units, evaluate, score, score(base), stop)
    sensitivity = [(unit_label(u, layers), round(g, 6)) for g, u in gains]
    helpful = [u for g, u in gains if g > 0]
    out = _greedy(helpful, evaluate, meets, score, stop)
    out.sensitivity = sensitivity
    if not out.meets and not out.note:
        out.note = (
            "time budget ran out while ranking layers"
            if not complete
            else "keeping every layer that helps in FP32 still misses the budget"
        )
    return out


def _rank_units(
    units: Sequence[tuple[str, ...]],
    evaluate: Callable[[tuple[str, ...]], Quality | None],
    score: Callable[[Quality], float],
    base_score: float,
    late: Callable[[], bool],
) -> tuple[list[tuple[float, tuple[str, ...]]], bool]:
    """(gain, unit) most sensitive first (stable), and whether every unit was measured."""
    gains: list[tuple[float, int, tuple[str, ...]]] = []
    for i, unit in enumerate(units):
        if late():
            return [(g, u) for g, _, u in sorted(gains, key=lambda x: (-x[0], x[1]))], False
        q = evaluate(unit)
        if q is not None:
            gains.append((score(q) - base_score, i, unit))
    return [(g, u) for g, _, u in sorted(gains, key=lambda x: (-x[0], x[1]))], True


def _greedy(
    ranked: Sequence[Layer],
    evaluate: Callable[[tuple[str, ...]], Quality | None],
    meets: Callable[[Quality], bool],
    score: Callable[[Quality], float],
    late: Callable[[], bool],
) -> MixedOutcome:
    """Keep units in FP32 in ``ranked`` order until ``meets`` holds, then try to give
    back each unit but the last (a unit that is not needed any more returns to INT8).
    """
    chosen: list[Layer] = []
    steps: list[tuple[int, float, bool]] = []
    last: Quality | None = None

    def flat(units: Sequence[Layer]) -> tuple[str, ...]:
        return tuple(n for u in units for n in u)

    for unit in ranked:
        if late():
            note = "time budget ran out during the greedy pass"
            return MixedOutcome(flat(chosen), last, False, [], steps, note)
        chosen.append(unit)
        q = evaluate(flat(chosen))
        if q is None:
            continue
        last, ok = q, meets(q)
        steps.append((len(flat(chosen)), round(score(q), 6), ok))
        if ok:
            break
    else:
        return MixedOutcome(flat(chosen), last, False, [], steps)
    for unit in reversed(chosen[:-1]):
        if late():
            break
        trial = [u for u in chosen if u is not unit]
        q = evaluate(flat(trial))
        if q is not None and meets(q):
            chosen, last = trial, q
            steps.append((len(flat(chosen)), round(score(q), 6), True))
    return MixedOutcome(flat(chosen), last, True, [], steps)
