from __future__ import annotations

import pytest

from edgeinfer.errors import ModelError
from edgeinfer.model import Model
from edgeinfer.passes import Fp16Pass, Pass, PassManager, PassResult
from edgeinfer.passes.base import check_exclude, copy_proto, ensure_node_names

from ..conftest import make_conv_relu


class _Identity(Pass):
    name = "identity"

    def call(self, model: Model) -> PassResult:
        return PassResult(model, False)


def test_unmodified_result_is_the_same_object() -> None:
    m = Model.from_proto(make_conv_relu())
    result = _Identity()(m)
    assert result.model is m and result.modified is False


def test_pass_manager_is_a_pass_and_ors_modified() -> None:
    m = Model.from_proto(make_conv_relu())
    pm = PassManager([_Identity(), Fp16Pass(), _Identity()])
    assert isinstance(pm, Pass)
    result = pm(m)
    assert result.modified is True
    assert result.model is not m
    assert any(n.startswith("fp16:") for n in result.notes)
    assert PassManager([_Identity()])(m).modified is False


def test_empty_graph_fails_the_precondition() -> None:
    proto = copy_proto(Model.from_proto(make_conv_relu()))
    del proto.graph.node[:]
    del proto.graph.output[:]
    m = Model(proto)
    with pytest.raises(ModelError, match="got a model with no nodes"):
        Fp16Pass()(m)


def test_ensure_node_names_names_only_unnamed_nodes() -> None:
    proto = make_conv_relu()
    proto.graph.node[1].name = "act"
    assert ensure_node_names(proto) == 1
    assert [n.name for n in proto.graph.node] == ["Conv_0", "act"]


def test_check_exclude_splits_names_and_op_types_and_rejects_typos() -> None:
    proto = make_conv_relu()
    ensure_node_names(proto)
    names, ops = check_exclude(proto, ["Conv_0", "Relu", "Softmax"])
    assert names == {"Conv_0"} and ops == {"Relu", "Softmax"}
    with pytest.raises(ModelError, match="--exclude Conv_7: no node or op type of that name"):
        check_exclude(proto, ["Conv_7"])
