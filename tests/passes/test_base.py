from __future__ import annotations

import onnx
import pytest
from onnx import helper

from edgeinfer.errors import ModelError
from edgeinfer.model import Model
from edgeinfer.passes import Fp16Pass, Pass, PassManager, PassResult
from edgeinfer.passes.base import check_exclude, copy_proto, ensure_node_names, node_names

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


def _colliding_names() -> onnx.ModelProto:
    """Unnamed Conv (index 0) and Relu (index 1) whose default names, Conv_0 and Relu_1, are
    taken by two named Relu nodes further down."""
    proto = make_conv_relu()
    graph = proto.graph
    graph.node[1].output[0] = "r1"
    graph.node.extend(
        [
            helper.make_node("Relu", ["r1"], ["r2"], name="Relu_1"),
            helper.make_node("Relu", ["r2"], ["y"], name="Conv_0"),
        ]
    )
    return proto


def test_one_naming_rule_for_exclude_int8_fp16_mixed_and_nncf() -> None:
    from edgeinfer.backends.openvino.nncf import named_model
    from edgeinfer.passes.fp16 import Fp16Config
    from edgeinfer.passes.int8 import prepare_for_quantization
    from edgeinfer.search.mixed import quantizable_layers

    proto = _colliding_names()
    expected = ["Conv_0_", "Relu_1_", "Relu_1", "Conv_0"]
    assert node_names(proto) == expected
    assert [n.name for n in proto.graph.node] == ["", "", "Relu_1", "Conv_0"]  # not renamed
    assert quantizable_layers(proto, quantizable=("Relu",)) == [tuple(expected)]
    model = Model.from_proto(proto)
    assert [n.name for n in named_model(model).proto.graph.node] == expected
    prepared, _ = prepare_for_quantization(model, preprocess=False)
    assert [n.name for n in prepared.proto.graph.node] == expected
    assert check_exclude(proto, ["Relu_1_", "Conv_0"]) == ({"Relu_1_", "Conv_0"}, set())
    kept = Fp16Pass(Fp16Config(exclude=("Relu_1_",)))(model).notes
    assert "fp16: kept in FP32 (block list/--exclude/fixed types): Relu x1" in kept
    named = copy_proto(model)
    assert ensure_node_names(named) == 2 and node_names(named) == expected
