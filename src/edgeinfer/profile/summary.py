"""Tables of a per-layer profile: layers by time with their share, time by operator type and
by executed precision, and merging profiles of several rounds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from edgeinfer.backends.base import LayerEvent, LayerProfile, LayerTime

__all__ = ["GroupRow", "LayerRow", "by_group", "layer_rows", "merge_profiles"]


@dataclass(frozen=True)
class LayerRow:
    """One layer in the table.

    Attributes:
        rank: 1 for the slowest layer.
        layer: the profiled layer.
        share: its fraction of the summed layer time.
        cumulative: the summed share of this and every slower layer.
    """

    rank: int
    layer: LayerTime
    share: float
    cumulative: float

    def to_dict(self) -> dict[str, Any]:
        """JSON data."""
        t = self.layer
        return {
            "rank": self.rank,
            "name": t.name,
            "op_type": t.op_type,
            "precision": t.precision,
            "time_ms": round(t.time_ms, 6),
            "share": round(self.share, 5),
            "cumulative": round(self.cumulative, 5),
            "detail": t.detail,
            "onnx_nodes": list(t.fused),
            "order": t.order,
        }


@dataclass(frozen=True)
class GroupRow:
    """Layers grouped by one key (operator type or precision).

    Attributes:
        key: the group's value.
        layers: how many layers.
        time_ms: their summed time per inference.
        share: fraction of the summed layer time.
    """

    key: str
    layers: int
    time_ms: float
    share: float

    def to_dict(self) -> dict[str, Any]:
        """JSON data."""
        return {
            "key": self.key,
            "layers": self.layers,
            "time_ms": round(self.time_ms, 6),
            "share": round(self.share, 5),
        }


def layer_rows(profile: LayerProfile) -> list[LayerRow]:
    """Every layer, slowest first, with its share and the cumulative share."""
    total = sum(t.time_ms for t in profile.layers) or 1.0
    rows, cum = [], 0.0
    ranked = sorted(profile.layers, key=lambda t: (-t.time_ms, t.order, t.name))
    for rank, t in enumerate(ranked, 1):
        cum += t.time_ms / total
        rows.append(LayerRow(rank, t, t.time_ms / total, min(cum, 1.0)))
    return rows


def by_group(profile: LayerProfile, key: str) -> list[GroupRow]:
    """Time per ``op_type`` or ``precision`` (``key``), largest first ("?" for unknown)."""
    total = sum(t.time_ms for t in profile.layers) or 1.0
    time: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for t in profile.layers:
        k = str(getattr(t, key)) or "?"
        time[k] += t.time_ms
        count[k] += 1
    return [
        GroupRow(k, count[k], time[k], time[k] / total)
        for k in sorted(time, key=lambda k: -time[k])
    ]


def merge_profiles(profiles: Sequence[LayerProfile]) -> LayerProfile:
    """One profile of every inference of ``profiles`` (rounds of the same engine): layer
    times weighted by iterations, events renumbered and shifted to follow each other.
    """
    if len(profiles) == 1:
        return profiles[0]
    total_it = sum(p.iterations for p in profiles)
    acc: dict[str, float] = defaultdict(float)
    first: dict[str, LayerTime] = {}
    events: list[LayerEvent] = []
    it_offset, t_offset = 0, 0.0
    for p in profiles:
        for t in p.layers:
            first.setdefault(t.name, t)
            acc[t.name] += t.time_ms * p.iterations
        for e in p.events:
            events.append(
                replace(e, iteration=e.iteration + it_offset, start_us=e.start_us + t_offset)
            )
        it_offset += p.iterations
        t_offset = max((e.start_us + e.dur_us for e in events), default=t_offset)
    iteration_ms = tuple(v for p in profiles for v in p.iteration_ms)
    workspace = [p.workspace_bytes for p in profiles if p.workspace_bytes is not None]
    return LayerProfile(
        layers=tuple(replace(first[n], time_ms=acc[n] / total_it) for n in first),
        iterations=total_it,
        total_ms=sum(p.total_ms * p.iterations for p in profiles) / total_it,
        source=profiles[0].source,
        events=tuple(events),
        iteration_ms=iteration_ms,
        run_ms=tuple(v for p in profiles for v in p.run_ms),
        workspace_bytes=max(workspace) if workspace else None,
        notes=profiles[0].notes,
    )
