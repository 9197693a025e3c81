"""Keep chosen tensors or nodes of a QDQ model in float, by graph surgery.

A QDQ model (ONNX Runtime's ``quantize_static`` or NNCF's) computes in float between
``DequantizeLinear`` and ``QuantizeLinear`` nodes; the integer kernels come from fusing those
groups. Keeping a *tensor* in float removes its ``QuantizeLinear -> DequantizeLinear`` pair
(every consumer reads the float value); keeping a *node* in float makes it read float
activations and its FP32 weights (the Q/DQ pairs stay for other consumers).

Why not ``quantize_static(nodes_to_exclude=…)``: ONNX Runtime folds ReLU/ReLU6 (``Relu``,
``Clip``) into the quantization range of their input (the Conv's output is renamed to the
activation's output and quantized with range [0, 6]); excluding a consumer of such a tensor
quantizes the *pre-activation* output with its full range instead (measured on MobileNetV2:
excluding the depthwise Convs made INT8 worse). The surgery here re-inserts the folded
activation, so a float consumer sees exactly the FP32 model's value there.

Both models must come from the same prepared FP32 model (same tensor and node names).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edgeinfer.errors import ModelError

if TYPE_CHECKING:
    import onnx

__all__ = ["FloatEdit", "QdqGraph", "float_nodes", "float_tensors", "quantized_units"]

FOLDABLE = ("Relu", "Clip", "Min")
"""Activations ONNX Runtime folds into the quantization range of their input (``Min`` with a
constant: the per-channel ReLU6 bound of an equalized layer, dropped by the INT8 pass where
the quantization range already clips below it)."""


@dataclass(frozen=True)
class QdqPair:
    """One activation ``QuantizeLinear -> DequantizeLinear`` pair.

    Attributes:
        source: the float tensor that is quantized (the Q node's input).
        original: its name in the FP32 model (``source`` or, for a graph output, the DQ's).
        dq_outputs: outputs of the DequantizeLinear nodes reading the Q node.
        q_node: the QuantizeLinear node's name.
    """

    source: str
    original: str
    dq_outputs: tuple[str, ...]
    q_node: str


@dataclass
class FloatEdit:
    """What a surgery changed (for notes)."""

    tensors: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    reinserted: list[str] = field(default_factory=list)


class QdqGraph:
    """Index of a QDQ model and the FP32 model it was made from."""

    def __init__(self, qdq: onnx.ModelProto, fp32: onnx.ModelProto) -> None:
        self.q = qdq
        self.f = fp32
        self.q_init = {t.name for t in qdq.graph.initializer}
        self.f_init = {t.name: t for t in fp32.graph.initializer}
        self.f_const = {n.output[0]: n for n in fp32.graph.node if n.op_type == "Constant"}
        self.f_prod = {o: n for n in fp32.graph.node for o in n.output}
        self.f_nodes = {n.name: n for n in fp32.graph.node if n.name}
        self.f_tensors = set(self.f_prod) | {i.name for i in fp32.graph.input} | set(self.f_init)
        self.q_prod = {o: n for n in qdq.graph.node for o in n.output}
        self.q_names = {n.name for n in qdq.graph.node}
        self.pairs = self._pairs()
        self.by_dq = {dq: p for p in self.pairs for dq in p.dq_outputs}
        self.by_name = {p.original: p for p in self.pairs}

    def _pairs(self) -> list[QdqPair]:
        dqs: dict[str, list[str]] = {}
        for n in self.q.graph.node:
            if n.op_type == "DequantizeLinear" and n.input[0] not in self.q_init:
                dqs.setdefault(n.input[0], []).append(n.output[0])
        pairs = []
        for n in self.q.graph.node:
            if n.op_type != "QuantizeLinear" or n.output[0] not in dqs:
                continue
            src, outs = n.input[0], tuple(dqs[n.output[0]])
            original = (
                src
                if src in self.f_tensors
                else next((o for o in outs if o in self.f_tensors), src)
            )
            pairs.append(QdqPair(src, original, outs, n.name))
        return pairs

    def folded(self, pair: QdqPair) -> list[onnx.NodeProto]:
        """The FP32 activation nodes (in order) folded into ``pair``'s range: e.g. the ReLU6
        ONNX Runtime removed, or an equalized layer's Relu and per-channel Min.
        """
        chain: list[onnx.NodeProto] = []
        node = self.f_prod.get(pair.original)
        producer = self.q_prod.get(pair.source)
        while node is not None and node.op_type in FOLDABLE and node.name not in self.q_names:
            if producer is not None and producer.name == node.name:
                break  # still in the graph (not folded)
            if node.op_type == "Min" and not all(i in self.f_init for i in node.input[1:]):
                break
            chain.insert(0, node)
            node = self.f_prod.get(node.input[0])
        return chain

    def weight_dq(self, tensor: str) -> bool:
        """Whether ``tensor`` is the output of a DequantizeLinear of an initializer."""
        node = self.q_prod.get(tensor)
        return (
            node is not None
            and node.op_type == "DequantizeLinear"
            and (node.input[0] in self.q_init)
        )


def quantized_units(qdq: onnx.ModelProto, fp32: onnx.ModelProto) -> list[tuple[str, str]]:
    """``(node name, op type)`` of every node of ``qdq`` that reads a dequantized activation
    or weight and exists in ``fp32``, in graph order: what :func:`float_nodes` can keep in
    float (the "layers" of a mixed-precision search).
    """
    g = QdqGraph(qdq, fp32)
    out = []
    for n in qdq.graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear") or n.name not in g.f_nodes:
            continue
        if any(i in g.by_dq or g.weight_dq(i) for i in n.input):
            out.append((n.name, n.op_type))
    return out


class _Surgery:
    """Accumulates the edits of one float surgery on a copy of the QDQ model."""

    def __init__(self, qdq: onnx.ModelProto, fp32: onnx.ModelProto) -> None:
        import onnx

        self.out = onnx.ModelProto()
        self.out.CopyFrom(qdq)
        self.g = QdqGraph(self.out, fp32)
        self.after: dict[str, list[onnx.NodeProto]] = {}  # producer output -> nodes to insert
        self.floats: dict[str, str] = {}  # pair source -> its float replacement
        self.edit = FloatEdit()

    def float_of(self, pair: QdqPair) -> str:
        """The float tensor equal to the FP32 model's ``pair.original`` (re-inserting a folded
        activation when needed).
        """
        if pair.source in self.floats:
            return self.floats[pair.source]
        name = pair.source
        for k, act in enumerate(self.g.folded(pair)):
            output = f"{pair.source}__float{k or ''}"
            self._copy_activation(act, name, output, pair.source)
            self.edit.reinserted.append(act.name)
            name = output
        self.floats[pair.source] = name
        return name

    def _copy_activation(self, act: onnx.NodeProto, source: str, output: str, anchor: str) -> None:
        import onnx

        node = onnx.NodeProto()
        node.CopyFrom(act)
        node.name = f"{act.name}__float"
        node.input[0] = source
        node.output[0] = output
        for extra in list(node.input)[1:]:
            if extra:
                self._copy_constant(extra)
        self.after.setdefault(anchor, []).append(node)

    def _copy_constant(self, name: str) -> None:
        import onnx

        if name in self.g.q_init or name in self.g.q_prod:
            return
        if name in self.g.f_init:
            self.out.graph.initializer.append(self.g.f_init[name])
            self.g.q_init.add(name)
        elif name in self.g.f_const:
            const = onnx.NodeProto()
            const.CopyFrom(self.g.f_const[name])
            self.out.graph.node.insert(0, const)
            self.g.q_prod[name] = const
        else:
            raise ModelError(f"cannot keep a folded activation in float: input '{name}' unknown")

    def float_weight(self, node: onnx.NodeProto, index: int) -> str | None:
        """The FP32 initializer for ``node``'s ``index``-th input (copied in), if any."""
        f_node = self.g.f_nodes.get(node.name)
        if f_node is None or index >= len(f_node.input):
            return None
        src = f_node.input[index]
        if src not in self.g.f_init:
            return None
        name = src if src not in self.g.q_prod and src not in self.g.q_init else f"{src}__fp32"
        if name not in self.g.q_init:
            tensor = type(self.g.f_init[src])()
            tensor.CopyFrom(self.g.f_init[src])
            tensor.name = name
            self.out.graph.initializer.append(tensor)
            self.g.q_init.add(name)
        return name

    def finish(self) -> onnx.ModelProto:
        """Insert the new nodes in topological order and drop dead Q/DQ nodes."""
        nodes = list(self.out.graph.node)
        graph_inputs = {i.name for i in self.out.graph.input}
        first = [n for src in graph_inputs for n in self.after.get(src, [])]
        ordered = list(first)
        for n in nodes:
            ordered.append(n)
            for o in n.output:
                ordered.extend(self.after.get(o, []))
        _drop_dead(ordered, {o.name for o in self.out.graph.output})
        del self.out.graph.node[:]
        self.out.graph.node.extend(ordered)
        used = {i for n in self.out.graph.node for i in n.input}
        keep = [t for t in self.out.graph.initializer if t.name in used]
        del self.out.graph.initializer[:]
        self.out.graph.initializer.extend(keep)
        return self.out


def _drop_dead(nodes: list[onnx.NodeProto], outputs: set[str]) -> None:
    """Remove Q/DQ nodes (in place) whose outputs nobody reads."""
    while True:
        used = {i for n in nodes for i in n.input} | outputs
        dead = [
            n
            for n in nodes
            if n.op_type in ("QuantizeLinear", "DequantizeLinear")
            and not any(o in used for o in n.output)
        ]
        if not dead:
            return
        for n in dead:
            nodes.remove(n)


def float_tensors(
    qdq: onnx.ModelProto, fp32: onnx.ModelProto, tensors: Iterable[str], *, strict: bool = True
) -> tuple[onnx.ModelProto, FloatEdit]:
    """A copy of ``qdq`` where the activation tensors ``tensors`` (FP32 model names) are not
    quantized: every reader, and a graph output, gets the float value.

    Args:
        qdq: the quantized model.
        fp32: the FP32 model it was made from.
        tensors: FP32 tensor names.
        strict: a tensor that is not quantized is an error (else it is skipped).

    Raises:
        ModelError: (``strict``) a tensor is not quantized in ``qdq``.
    """
    s = _Surgery(qdq, fp32)
    outputs = {o.name for o in s.out.graph.output}
    for name in tensors:
        pair = s.g.by_name.get(name)
        if pair is None and not strict:
            continue
        if pair is None:
            raise ModelError(f"tensor '{name}' is not quantized in the model; nothing to keep")
        value = s.float_of(pair)
        s.edit.tensors.append(name)
        for n in s.out.graph.node:
            n.input[:] = [value if i in pair.dq_outputs else i for i in n.input]
        for dq in pair.dq_outputs:
            if dq in outputs:
                _rename_output(s, value, dq)
    return s.finish(), s.edit


def _rename_output(s: _Surgery, value: str, output: str) -> None:
    """Make the float tensor ``value`` the graph output ``output`` (the DQ that produced it
    is renamed away and dropped as dead).
    """
    for n in s.out.graph.node:
        if output in n.output:  # the old DequantizeLinear
            n.output[:] = [f"{output}__dequantized" if o == output else o for o in n.output]
    for n in [*s.out.graph.node, *(x for xs in s.after.values() for x in xs)]:
        n.output[:] = [output if o == value else o for o in n.output]
        n.input[:] = [output if i == value else i for i in n.input]
    for xs in list(s.after):
        if xs == value:
            s.after[output] = s.after.pop(xs)


def float_nodes(
    qdq: onnx.ModelProto, fp32: onnx.ModelProto, names: Iterable[str]
) -> tuple[onnx.ModelProto, FloatEdit]:
    """A copy of ``qdq`` where the nodes ``names`` read float activations and their FP32
    weights (their outputs stay quantized for quantized readers).

    Raises:
        ModelError: a name is not a node of ``qdq``.
    """
    s = _Surgery(qdq, fp32)
    wanted = set(names)
    missing = wanted - s.g.q_names
    if missing:
        raise ModelError(
            f"node(s) {', '.join(sorted(missing))} not in the quantized model; use names from "
            "edgeinfer debug precision or the FP32 model"
        )
    for n in s.out.graph.node:
        if n.name not in wanted:
            continue
        for k, i in enumerate(list(n.input)):
            if i in s.g.by_dq:
                n.input[k] = s.float_of(s.g.by_dq[i])
            elif s.g.weight_dq(i):
                n.input[k] = s.float_weight(n, k) or i
        s.edit.nodes.append(n.name)
    return s.finish(), s.edit
