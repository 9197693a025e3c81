"""Map profiled layers back to the source model's ONNX node names.

Backends report layers by their own names: ONNX Runtime keeps a rewritten node's name with a
``_token_N`` suffix and names NCHWc kernels after their output tensor (``<tensor>_nchwc``);
OpenVINO lists the original layers it fused into each kernel (``originalLayersNames``), some
split into parts (``<node>/WithoutBiases``) or named after a tensor
(``<tensor>_DequantizeLinear``). Each backend puts those names in :attr:`LayerTime.fused`;
this module resolves them against the source graph (a node name, a tensor's producer,
``<node>_output_N``, a parent path) and then attributes the source nodes no layer names
(see :func:`map_to_source`), so the table names every ONNX node a kernel computes. Unnamed
source nodes are left out (an ONNX node name is optional).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

import onnx

from edgeinfer.backends.base import LayerTime

__all__ = ["SourceGraph", "map_to_source"]

_OUTPUT = re.compile(r"^(.*)_output_\d+$")
_TENSOR_SUFFIX = re.compile(r"_(DequantizeLinear|QuantizeLinear|quantized)$")
MAX_ROUNDS = 64  # attribution passes (each one grows chains by at least a node)
# Compute kernels: a runtime fuses element-wise and layout ops into them, never one into another.
ANCHORS = frozenset(
    {
        "Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "MatMul", "MatMulInteger",
        "QLinearMatMul", "Gemm", "Attention", "LSTM", "GRU", "RNN", "Einsum",
    }
)  # fmt: skip


class SourceGraph:
    """Names, producers and consumers of an ONNX graph's nodes."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        named = [n for n in graph.node if n.name and n.op_type != "Constant"]
        self.order = {n.name: i for i, n in enumerate(named)}
        self.nodes = {n.name: n for n in named}
        self.constants = {i.name for i in graph.initializer}
        self.producer: dict[str, str] = {}
        self.consumers: dict[str, set[str]] = defaultdict(set)
        for n in graph.node:
            if n.op_type == "Constant":
                self.constants.update(n.output)
            if not n.name or n.op_type == "Constant":
                continue
            for t in n.output:
                self.producer[t] = n.name
            for t in n.input:
                self.consumers[t].add(n.name)

    def resolve(self, hint: str) -> str | None:
        """The source node a backend's name points to, or None."""
        candidates = [hint, _TENSOR_SUFFIX.sub("", hint)]
        for name in candidates:
            if name in self.nodes:
                return name
            if name in self.producer:
                return self.producer[name]
            m = _OUTPUT.match(name)
            if m and m.group(1) in self.nodes:
                return m.group(1)
        parts = hint.split("/")
        for k in range(len(parts) - 1, 1, -1):  # "/a/b/Conv/WithoutBiases" -> "/a/b/Conv"
            if "/".join(parts[:k]) in self.nodes:
                return "/".join(parts[:k])
        return None

    def data_inputs(self, name: str) -> list[str]:
        """Inputs of node ``name`` that are computed (not weights or constants)."""
        return [t for t in self.nodes[name].input if t and t not in self.constants]

    def consumers_of(self, name: str) -> set[str]:
        """Nodes reading any output of node ``name``."""
        return {c for t in self.nodes[name].output for c in self.consumers.get(t, ())}

    def producers_of(self, name: str) -> list[str]:
        """Nodes computing the data inputs of node ``name``."""
        return [self.producer[t] for t in self.data_inputs(name) if t in self.producer]


def _absorb_back(g: SourceGraph, owner: dict[str, int], anchors_only: bool) -> bool:
    """Give an unowned node whose outputs all feed one layer to that layer."""
    changed = False
    for name in sorted(g.nodes, key=lambda n: -g.order[n]):  # consumers first: chains grow
        if name in owner or (anchors_only and g.nodes[name].op_type not in ANCHORS):
            continue
        users = {owner.get(c) for c in g.consumers_of(name)}
        if len(users) == 1 and None not in users:
            owner[name] = users.pop()  # type: ignore[assignment]
            changed = True
    return changed


def _absorb_forward(g: SourceGraph, owner: dict[str, int]) -> bool:
    """Give an unowned non-anchor node whose inputs are all computed by owned nodes to the
    layer of its latest producer (runtimes fuse element-wise ops into the op before them).
    """
    changed = False
    for name in sorted(g.nodes, key=lambda n: g.order[n]):
        if name in owner or g.nodes[name].op_type in ANCHORS:
            continue
        producers = g.producers_of(name)
        if producers and all(p in owner for p in producers):
            owner[name] = owner[max(producers, key=lambda p: g.order[p])]
            changed = True
    return changed


def map_to_source(layers: Sequence[LayerTime], graph: onnx.GraphProto) -> tuple[LayerTime, ...]:
    """``layers`` with :attr:`LayerTime.fused` replaced by the source graph's node names
    (in graph order); layers whose names resolve to nothing keep an empty tuple.

    Nodes no layer names are attributed in three steps: an unnamed compute op (Conv,
    MatMul …) whose outputs only feed one layer joins it (a Conv whose ReLU named the
    kernel); an element-wise or layout node whose inputs all come from attributed nodes
    joins the layer of its latest input (a fused activation, a residual Add); what is left
    joins the one layer it feeds (a leading Transpose or QuantizeLinear).
    """
    g = SourceGraph(graph)
    owner: dict[str, int] = {}
    for i, layer in enumerate(layers):
        for hint in layer.fused or (layer.name,):
            node = g.resolve(hint)
            if node is not None:
                owner.setdefault(node, i)
    for _ in range(MAX_ROUNDS):
        changed = _absorb_back(g, owner, anchors_only=True)
        changed |= _absorb_forward(g, owner)
        if not changed and not _absorb_back(g, owner, anchors_only=False):
            break
    groups: dict[int, list[str]] = defaultdict(list)
    for name in sorted(owner, key=lambda n: g.order[n]):
        groups[owner[name]].append(name)
    return tuple(replace(layer, fused=tuple(groups.get(i, ()))) for i, layer in enumerate(layers))
