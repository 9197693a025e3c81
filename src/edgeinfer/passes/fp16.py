"""FP16 pass: weights and compute in float16, graph inputs/outputs stay float32.

Every node that can run in FP16 gets FP16 weights and FP16 tensors; Casts are inserted where
an FP16 region meets FP32 (graph inputs and outputs, blocked or excluded nodes, ops whose
types are fixed, nodes whose weights do not fit FP16's ±65504). Nodes in the block list (numerically unsafe or FP32-only ops) and nodes
excluded by name or op type stay FP32.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from edgeinfer import serde
from edgeinfer.errors import ConfigError
from edgeinfer.model import Model
from edgeinfer.passes.base import Pass, PassResult, check_exclude, copy_proto, node_names

if TYPE_CHECKING:
    import onnx

FP16_MAX = 65504.0
FP16_CONFIG_VERSION = 1

# Kept in FP32 by default. Sources: onnxconverter-common's float16 DEFAULT_OP_BLOCK_LIST
# (TopK, NonMaxSuppression, RoiAlign, Range, CumSum, Resize, Upsample, Min, Max: ops with
# index/shape math or missing FP16 kernels) and PyTorch autocast's "float32" list (exp, log,
# pow, softmax, log_softmax, sum/prod reductions, norms) for ops that overflow or lose
# precision in FP16.
DEFAULT_BLOCK_OPS: tuple[str, ...] = (
    "CumSum",
    "Exp",
    "GroupNormalization",
    "LayerNormalization",
    "Log",
    "LogSoftmax",
    "NonMaxSuppression",
    "Pow",
    "Range",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
    "RoiAlign",
    "Softmax",
    "TopK",
)

# Ops whose float types are fixed by attributes or by FP32-only inputs: never converted.
_FIXED_OPS = frozenset(
    {
        "Bernoulli",
        "Cast",
        "CastLike",
        "ConstantOfShape",
        "DequantizeLinear",
        "DynamicQuantizeLinear",
        "EyeLike",
        "Multinomial",
        "QuantizeLinear",
        "RandomNormal",
        "RandomNormalLike",
        "RandomUniform",
        "RandomUniformLike",
        "Resize",
        "Upsample",
    }
)


@dataclass(frozen=True)
class Fp16Config:
    """Settings of :class:`Fp16Pass`.

    Attributes:
        block_ops: op types kept in FP32 (default :data:`DEFAULT_BLOCK_OPS`).
        exclude: node names or op types additionally kept in FP32.
        version: format version of this config.
    """

    WHAT: ClassVar[str] = "fp16"

    block_ops: tuple[str, ...] = DEFAULT_BLOCK_OPS
    exclude: tuple[str, ...] = ()
    version: int = FP16_CONFIG_VERSION

    def __post_init__(self) -> None:
        for name in ("block_ops", "exclude"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"fp16 {name} must be a list of op types / node names")
            object.__setattr__(self, name, tuple(value))
        serde.check_version(self.WHAT, self.version, FP16_CONFIG_VERSION)

    def to_dict(self) -> dict[str, Any]:
        """JSON data (see :mod:`edgeinfer.serde`)."""
        return serde.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fp16Config:
        """Parse :meth:`to_dict` data.

        Raises:
            ConfigError: unknown keys, wrong types, invalid values or a newer version.
        """
        return serde.from_dict(cls, data)


def _float_types(proto: onnx.ModelProto) -> dict[str, int]:
    """Element type of every typed tensor (inputs, outputs, value_info, initializers)."""
    types: dict[str, int] = {}
    g = proto.graph
    for vi in [*g.input, *g.output, *g.value_info]:
        if vi.type.HasField("tensor_type"):
            types[vi.name] = vi.type.tensor_type.elem_type
    for init in g.initializer:
        types[init.name] = init.data_type
    return types


class _Converter:
    """One conversion of a graph (state for a single :meth:`Fp16Pass.call`)."""

    def __init__(self, proto: onnx.ModelProto, config: Fp16Config) -> None:
        from onnx import TensorProto

        self.proto = proto
        self.graph = proto.graph
        self.f32, self.f16 = TensorProto.FLOAT, TensorProto.FLOAT16
        self.types = _float_types(proto)
        names, ops = check_exclude(proto, config.exclude)
        self.blocked_names = names
        self.blocked_ops = set(config.block_ops) | ops
        self.inits = {i.name: i for i in self.graph.initializer}
        self.half: set[str] = set()  # tensors that are FP16 after conversion
        self.casts: dict[tuple[str, int], str] = {}
        self.half_inits: dict[str, str] = {}
        self.constants = {
            n.output[0]: a.t
            for n in self.graph.node
            if n.op_type == "Constant"
            for a in n.attribute
            if a.name == "value" and a.t.data_type == self.f32
        }
        self._maxima: dict[str, float] = {}
        self.kept: dict[str, int] = {}
        self.out_of_range: dict[str, int] = {}
        self._range_kept: set[int] = set()

    def _float_io(self, node: onnx.NodeProto) -> list[str] | None:
        """The node's float tensors, or None if a tensor has an unknown or non-FP32 float type."""
        out = []
        for name in [*node.input, *node.output]:
            if not name:
                continue
            t = self.types.get(name)
            if t is None:
                return None
            if t in (self.f16, 11, 16):  # float16, double, bfloat16: leave the node alone
                return None
            if t == self.f32:
                out.append(name)
        return out

    def convertible(self, node: onnx.NodeProto) -> bool:
        if node.domain not in ("", "ai.onnx") or node.op_type in _FIXED_OPS:
            return False
        if any(a.type in (5, 10) for a in node.attribute):  # GRAPH / GRAPHS: subgraphs
            return False
        if node.op_type == "Constant":
            value = next((a for a in node.attribute if a.name == "value"), None)
            if value is None or value.t.data_type != self.f32:
                return False
        floats = self._float_io(node)
        if not floats:
            return False
        names = node.output if node.op_type == "Constant" else node.input
        if any(self._const_max(x) > FP16_MAX for x in names if x):
            # e.g. a BatchNormalization variance of 1e8: clipping it would change the model
            self.out_of_range[node.op_type] = self.out_of_range.get(node.op_type, 0) + 1
            self._range_kept.add(id(node))
            return False
        return True

    def _const_max(self, name: str) -> float:
        """Largest |value| of an FP32 initializer or Constant output (0 for other tensors)."""
        from onnx import numpy_helper

        if name not in self._maxima:
            if name in self.inits and self.inits[name].data_type == self.f32:
                arr = numpy_helper.to_array(self.inits[name])
            elif name in self.constants:
                arr = numpy_helper.to_array(self.constants[name])
            else:
                arr = np.zeros(0, np.float32)
            self._maxima[name] = float(np.abs(arr).max()) if arr.size else 0.0
        return self._maxima[name]

    def keep(self, node: onnx.NodeProto, name: str) -> bool:
        """Whether ``node`` (named ``name`` by :func:`node_names`) stays FP32 by block list
        or ``--exclude``.
        """
        return name in self.blocked_names or node.op_type in self.blocked_ops

    # -- rewriting ---------------------------------------------------------------------------
    def _half_init(self, name: str) -> str:
        from onnx import numpy_helper

        if name not in self.half_inits:
            half = numpy_helper.to_array(self.inits[name]).astype(np.float16)
            new = f"{name}__fp16"
            self.graph.initializer.append(numpy_helper.from_array(half, new))
            self.half_inits[name] = new
        return self.half_inits[name]

    def _cast(self, name: str, to: int, out: list[onnx.NodeProto]) -> str:
        from onnx import helper

        key = (name, to)
        if key not in self.casts:
            suffix = "fp16" if to == self.f16 else "fp32"
            new = f"{name}__to_{suffix}"
            out.append(helper.make_node("Cast", [name], [new], to=to, name=f"Cast_{new}"))
            self.casts[key] = new
        return self.casts[key]

    def _rename_outputs(self, plan: list[tuple[onnx.NodeProto, bool]]) -> dict[str, str]:
        outputs = {o.name for o in self.graph.output}
        renames: dict[str, str] = {}
        for node, conv in plan:
            for i, o in enumerate(node.output):
                if conv and o in outputs and self.types.get(o) == self.f32:
                    renames[o] = f"{o}__fp16"
                    node.output[i] = renames[o]
                    self.types[renames[o]] = self.f32
        for node, _ in plan:
            for i, x in enumerate(node.input):
                if x in renames:
                    node.input[i] = renames[x]
        return renames

    def _convert_node(self, node: onnx.NodeProto, out: list[onnx.NodeProto]) -> None:
        from onnx import numpy_helper

        for i, x in enumerate(node.input):
            if not x or self.types.get(x) != self.f32 or x in self.half:
                continue
            node.input[i] = self._half_init(x) if x in self.inits else self._cast(x, self.f16, out)
        for o in node.output:
            if self.types.get(o) == self.f32:
                self.half.add(o)
        if node.op_type == "Constant":
            attr = next(a for a in node.attribute if a.name == "value")
            arr = numpy_helper.to_array(attr.t).astype(np.float16)
            attr.t.CopyFrom(numpy_helper.from_array(arr, attr.t.name))
        out.append(node)

    def _keep_node(self, node: onnx.NodeProto, out: list[onnx.NodeProto]) -> None:
        if self._float_io(node) and id(node) not in self._range_kept:
            self.kept[node.op_type] = self.kept.get(node.op_type, 0) + 1
        for i, x in enumerate(node.input):
            if x in self.half:
                node.input[i] = self._cast(x, self.f32, out)
        out.append(node)

    def run(self) -> int:
        """Rewrite the graph in place; returns the number of nodes converted to FP16."""
        from onnx import helper

        names = node_names(self.proto)
        plan = [
            (n, self.convertible(n) and not self.keep(n, name))
            for n, name in zip(self.graph.node, names, strict=True)
        ]
        renames = self._rename_outputs(plan)
        new_nodes: list[onnx.NodeProto] = []
        for node, conv in plan:
            (self._convert_node if conv else self._keep_node)(node, new_nodes)
        for orig, half in renames.items():
            new_nodes.append(
                helper.make_node("Cast", [half], [orig], to=self.f32, name=f"Cast_{orig}")
            )
        del self.graph.node[:]
        self.graph.node.extend(new_nodes)
        self._drop_unused_initializers()
        del self.graph.value_info[:]
        return sum(1 for _, conv in plan if conv)

    def _drop_unused_initializers(self) -> None:
        used = {x for n in self.graph.node for x in n.input} | {o.name for o in self.graph.output}
        keep = [i for i in self.graph.initializer if i.name in used]
        del self.graph.initializer[:]
        self.graph.initializer.extend(keep)
        inputs = [i for i in self.graph.input if i.name in used or i.name not in self.inits]
        del self.graph.input[:]
        self.graph.input.extend(inputs)


class Fp16Pass(Pass):
    """Convert a model's weights and compute to FP16, keeping FP32 inputs/outputs."""

    name = "fp16"

    def __init__(self, config: Fp16Config | None = None) -> None:
        self.config = config or Fp16Config()

    def call(self, model: Model) -> PassResult:
        """Convert the model to FP16; blocked ops, excluded nodes and ops whose weights exceed
        the FP16 range stay FP32.
        """
        proto = copy_proto(model)
        conv = _Converter(proto, self.config)
        converted = conv.run()
        if converted == 0:
            return PassResult(
                model, False, ("fp16: no node could be converted; the model stays FP32",)
            )
        notes = [
            f"fp16: {converted} nodes converted to FP16, inputs/outputs stay FP32 (Cast at the boundary)"
        ]
        if conv.kept:
            kept = ", ".join(f"{op} x{n}" for op, n in sorted(conv.kept.items()))
            notes.append(f"fp16: kept in FP32 (block list/--exclude/fixed types): {kept}")
        if conv.out_of_range:
            kept = ", ".join(f"{op} x{n}" for op, n in sorted(conv.out_of_range.items()))
            notes.append(f"fp16: kept in FP32, weights beyond ±{FP16_MAX:g}: {kept}")
        return PassResult(Model.from_proto(proto, model.path), True, tuple(notes))
