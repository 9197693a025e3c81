"""Mixed precision from a layer ranking: the fewest top-ranked layers that meet the budget.

``edgeinfer debug precision`` (:func:`edgeinfer.evaluate.layerwise.diagnose_precision`) ranks
the layers by how much of the INT8 output error each removes when it runs in float, in one
diagnosis (no build per layer). Keeping the top ``k`` in float improves the output roughly
monotonically in ``k``, so the smallest ``k`` that meets the budget is found by probing
``k = 1, 2, 4, …`` until one meets it, then bisecting between the last miss and the first
hit: about ``2 log2(k)`` builds instead of one per layer. The caller supplies
``evaluate(exclude) -> Quality`` (a build judged on the tuning data) and ``meets``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from edgeinfer.evaluate.layerwise import QUANTIZERS, diagnose_precision
from edgeinfer.search.candidates import int8_route
from edgeinfer.search.mixed import MixedOutcome
from edgeinfer.search.results import Quality

if TYPE_CHECKING:
    from edgeinfer.config import BuildConfig
    from edgeinfer.model import Model

__all__ = ["diagnosis_ranking", "fewest_layers"]


def diagnosis_ranking(
    model: Model, config: BuildConfig, *, samples: int = 32, max_layers: int | None = None
) -> list[tuple[str, float]]:
    """``(node, gain)`` of the layers whose float fallback lowers the INT8 output error, most
    harmful first: ``debug precision``'s ranking for the quantizer of ``config``'s INT8 route
    (``nncf`` for NNCF routes, else edgeinfer's QDQ pass).

    Raises:
        EdgeInferError: the model cannot be diagnosed (no calibration data, several inputs …).
    """
    route = int8_route(config).name
    quantizer = route if route in QUANTIZERS else "qdq"
    report = diagnose_precision(
        model, config, samples=samples, quantizer=quantizer, max_layers=max_layers, quiet=True
    )
    return [(x.name, x.gain) for x in report.layers if x.gain > 0]


def _doubling(n: int) -> list[int]:
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return [*ks, n] if n else []


def fewest_layers(
    ranking: Sequence[str],
    evaluate: Callable[[tuple[str, ...]], Quality | None],
    meets: Callable[[Quality], bool],
    score: Callable[[Quality], float],
    *,
    late: Callable[[], bool] | None = None,
) -> MixedOutcome:
    """The smallest ``k`` whose top-``k`` layers of ``ranking`` in float meet the budget.

    Args:
        ranking: node names, most harmful first (the diagnosis' positive gains).
        evaluate: quality of the INT8 build with those nodes kept in float (None: failed).
        meets: whether a quality meets the accuracy budget.
        score: higher is better (for the step log).
        late: says when to stop (time budget).

    Returns:
        The outcome: ``excluded`` the chosen nodes (``meets`` False: the best tried, and why).
    """
    stop = late or (lambda: False)
    steps: list[tuple[int, float, bool]] = []
    results: dict[int, Quality | None] = {}

    def probe(k: int) -> bool:
        q = evaluate(tuple(ranking[:k]))
        results[k] = q
        ok = q is not None and meets(q)
        if q is not None:
            steps.append((k, round(score(q), 6), ok))
        return ok

    miss, hit = 0, None
    for k in _doubling(len(ranking)):
        if stop():
            return _outcome(ranking, results, None, steps, "time budget ran out")
        if probe(k):
            hit = k
            break
        miss = k
    if hit is None:
        why = (
            "keeping every ranked layer in float still misses the budget"
            if ranking
            else ("the diagnosis ranked no layer as harmful")
        )
        return _outcome(ranking, results, None, steps, why)
    while hit - miss > 1 and not stop():
        mid = (miss + hit) // 2
        if probe(mid):
            hit = mid
        else:
            miss = mid
    return _outcome(ranking, results, hit, steps, "")


def _outcome(
    ranking: Sequence[str],
    results: dict[int, Quality | None],
    hit: int | None,
    steps: list[tuple[int, float, bool]],
    note: str,
) -> MixedOutcome:
    if hit is not None:
        return MixedOutcome(tuple(ranking[:hit]), results[hit], True, [], steps, note)
    tried = [k for k, q in results.items() if q is not None]
    best = max(tried, default=0)
    return MixedOutcome(tuple(ranking[:best]), results.get(best), False, [], steps, note)
