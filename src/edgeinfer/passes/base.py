"""Pass infrastructure (onnx-ir style): a pass maps a Model to a PassResult.

    result = Fp16Pass(Fp16Config())(model)
    result.model, result.modified, result.notes

:meth:`Pass.__call__` checks the pass's pre-conditions, runs :meth:`Pass.call`, then checks
its post-conditions on the new model. A :class:`PassManager` is itself a pass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from edgeinfer.errors import ModelError

if TYPE_CHECKING:
    import onnx

    from edgeinfer.model import Model


@dataclass(frozen=True)
class PassResult:
    """What a pass produced.

    Attributes:
        model: the output model (the input object itself when nothing changed).
        modified: whether the pass changed anything.
        notes: human-readable facts for the engine manifest (what was converted/kept).
    """

    model: Model
    modified: bool
    notes: tuple[str, ...] = ()


class Pass(ABC):
    """One ONNX -> ONNX transform with pre/post-condition checks."""

    name: ClassVar[str] = "pass"

    def requires(self, model: Model) -> None:
        """Pre-condition; raise an EdgeInferError naming the fix when ``model`` is unusable."""
        if not model.proto.graph.node:
            raise ModelError(
                f"pass '{self.name}' got a model with no nodes ('{model.name}'); export the "
                "model's graph first"
            )

    def ensures(self, model: Model) -> None:
        """Post-condition on the output model (default: it is a valid ONNX graph)."""
        import onnx

        try:
            onnx.checker.check_model(model.proto)
        except Exception as exc:
            raise ModelError(
                f"pass '{self.name}' produced an invalid model ({exc}); exclude the offending "
                "nodes with --exclude or report the model"
            ) from exc

    @abstractmethod
    def call(self, model: Model) -> PassResult:
        """Transform ``model``; never mutate it in place."""

    def __call__(self, model: Model) -> PassResult:
        """Run the pass between its checks: :meth:`requires`, :meth:`call`, :meth:`ensures`.

        :meth:`ensures` runs only when the pass modified the model.
        """
        self.requires(model)
        result = self.call(model)
        if result.modified:
            self.ensures(result.model)
        return result


class PassManager(Pass):
    """Run passes in order; itself a pass (modified if any pass modified the model)."""

    name = "pass-manager"

    def __init__(self, passes: Sequence[Pass]) -> None:
        self.passes = tuple(passes)

    def call(self, model: Model) -> PassResult:
        """Run each pass on the previous one's output; collect their notes."""
        modified = False
        notes: list[str] = []
        for p in self.passes:
            result = p(model)
            model = result.model
            modified = modified or result.modified
            notes.extend(result.notes)
        return PassResult(model, modified, tuple(notes))


def copy_proto(model: Model) -> onnx.ModelProto:
    """A deep copy of ``model``'s proto to edit."""
    import onnx

    proto = onnx.ModelProto()
    proto.CopyFrom(model.proto)
    return proto


def node_names(proto: onnx.ModelProto) -> list[str]:
    """The name of every node, in graph order: the node's own name, or ``<OpType>_<index>``
    for an unnamed node (``_`` appended until it differs from every other node's name).

    The one naming rule: ``--exclude``, the INT8 and FP16 passes, mixed precision and the NNCF
    ignored scope all name nodes with it, so a name means the same node everywhere.
    """
    used = {n.name for n in proto.graph.node if n.name}
    names = []
    for i, node in enumerate(proto.graph.node):
        name = node.name
        if not name:
            name = f"{node.op_type}_{i}"
            while name in used:
                name += "_"
            used.add(name)
        names.append(name)
    return names


def ensure_node_names(proto: onnx.ModelProto) -> int:
    """Give unnamed nodes their :func:`node_names` name (in place) so they can be excluded by
    name; returns how many were named.
    """
    count = 0
    for node, name in zip(proto.graph.node, node_names(proto), strict=True):
        if node.name != name:
            node.name = name
            count += 1
    return count


def check_exclude(proto: onnx.ModelProto, exclude: Sequence[str]) -> tuple[set[str], set[str]]:
    """Split ``exclude`` into (node names, op types) present in the graph.

    Node names are those of :func:`node_names` (unnamed nodes included). An ONNX op type
    absent from this graph is accepted (nothing to exclude).

    Raises:
        ModelError: an entry is neither a node name of the graph nor an ONNX op type.
    """
    import onnx

    names = set(node_names(proto))
    ops = {n.op_type for n in proto.graph.node}
    unknown = [e for e in exclude if e not in names and e not in ops and not onnx.defs.has(e)]
    if unknown:
        sample = ", ".join(sorted(names)[:5])
        raise ModelError(
            f"--exclude {', '.join(unknown)}: no node or op type of that name in the model; "
            f"op types here: {', '.join(sorted(ops))}; node names look like: {sample}"
        )
    return {e for e in exclude if e in names}, {e for e in exclude if e not in names}
