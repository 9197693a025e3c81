"""The pass registry and the build-time pipeline: a new pass enters through a door."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeinfer.builder import build, load_runner
from edgeinfer.config import BuildConfig
from edgeinfer.errors import ConfigError
from edgeinfer.model import Model
from edgeinfer.passes import (
    Pass,
    PassContext,
    PassResult,
    build_pipeline,
    list_passes,
    register_pass,
    run_pipeline,
)
from edgeinfer.passes.base import copy_proto
from tests.conftest import make_conv_relu


class _RenameOutput(Pass):
    """A test pass: adds an Identity after the output (changes the graph, not the values)."""

    name = "test-identity"

    def call(self, model: Model) -> PassResult:
        proto = copy_proto(model)
        out = proto.graph.output[0].name
        for node in proto.graph.node:
            node.output[:] = [f"{o}_pre" if o == out else o for o in node.output]
        proto.graph.node.append(helper.make_node("Identity", [f"{out}_pre"], [out]))
        return PassResult(Model.from_proto(proto), True, ("test-identity: added",))


@register_pass("test-identity", summary="test pass")
def _make(config: BuildConfig, context: PassContext) -> Pass:
    return _RenameOutput()


def test_registry_lists_the_built_in_and_registered_passes() -> None:
    passes = list_passes()
    assert {"fp16", "int8", "simplify", "test-identity"} <= set(passes)
    assert passes["test-identity"] == "test pass"


def test_pipeline_order_named_passes_then_precision() -> None:
    cfg = BuildConfig(precision="fp16", passes=("test-identity",))
    assert [p.name for p in build_pipeline(cfg).passes] == ["test-identity", "fp16"]
    assert [p.name for p in build_pipeline(cfg, lower=False).passes] == ["test-identity"]
    assert build_pipeline(BuildConfig()).passes == ()


@pytest.mark.parametrize(
    ("passes", "message"),
    [
        (("nope",), "unknown pass 'nope'; registered passes: "),
        (("int8",), "pass 'int8' runs from --precision int8; drop --pass int8"),
    ],
)
def test_bad_pass_names(passes: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(Model.from_proto(make_conv_relu()), BuildConfig(passes=passes))


def test_a_registered_pass_runs_in_every_onnx_backend_build() -> None:
    cfg = BuildConfig(passes=("test-identity",))
    engine = build(Model.from_proto(make_conv_relu()), cfg)
    assert "test-identity: added" in engine.manifest.notes
    assert engine.config.passes == ("test-identity",)
    assert cfg.key() != BuildConfig().key()  # a different engine in the cache
    x = np.ones((1, 3, 16, 16), np.float32)
    with load_runner(engine) as r, load_runner(build(Model.from_proto(make_conv_relu()))) as ref:
        np.testing.assert_allclose(r.infer({"x": x})["y"], ref.infer({"x": x})["y"])


def test_simplify_folds_constants() -> None:
    pytest.importorskip("onnxscript")
    w = numpy_helper.from_array(np.full((2, 2), 2.0, np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["w", "w"], ["w2"]),  # constant: folded
            helper.make_node("MatMul", ["x", "w2"], ["y"]),
        ],
        "fold",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [w],
    )
    model = Model.from_proto(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    out, notes = run_pipeline(model, BuildConfig(passes=("simplify",)))
    assert [n.op_type for n in out.proto.graph.node] == ["MatMul"]
    assert notes == ["simplify: 2 -> 1 nodes"]
    onnx.checker.check_model(out.proto)
