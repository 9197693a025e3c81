from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgeinfer.errors import ModelError
from edgeinfer.model import Model
from edgeinfer.tensors import TensorSpec
from tests.conftest import make_conv_relu, make_matmul


def test_load_exposes_specs_opset_and_symbolic_batch(conv_relu_path: Path) -> None:
    model = Model.load(conv_relu_path)
    assert model.inputs == (TensorSpec("x", "float32", ("batch", 3, 16, 16)),)
    assert model.outputs == (TensorSpec("y", "float32", ("batch", 8, 16, 16)),)
    assert model.opset == 17
    assert model.inputs[0].is_dynamic
    assert model.inputs[0].concrete_shape(batch=4) == (4, 3, 16, 16)
    assert model.name == "conv_relu"


def test_hash_is_stable_and_content_sensitive() -> None:
    a = Model.from_proto(make_conv_relu(seed=0))
    b = Model.from_proto(make_conv_relu(seed=0))
    c = Model.from_proto(make_conv_relu(seed=1))
    assert a.hash == b.hash
    assert a.hash != c.hash
    assert len(a.hash) == 64


def test_hash_covers_external_data(tmp_path: Path) -> None:
    proto = make_matmul()
    path = tmp_path / "ext.onnx"
    onnx.save_model(
        proto,
        str(path),
        save_as_external_data=True,
        location="ext.data",
        all_tensors_to_one_file=True,
        size_threshold=0,
    )
    assert (tmp_path / "ext.data").exists()
    first = Model.load(path)
    data = bytearray((tmp_path / "ext.data").read_bytes())
    data[0] ^= 0xFF
    (tmp_path / "ext.data").write_bytes(bytes(data))
    second = Model.load(path)
    assert first.hash != second.hash
    assert first.hash == Model.from_proto(make_matmul()).hash


def test_metadata_round_trip(tmp_path: Path) -> None:
    model = Model.from_proto(make_matmul()).with_meta(labels=["a", "b", "c"], task="classification")
    path = model.save(tmp_path / "m.onnx")
    loaded = Model.load(path)
    assert loaded.meta("labels") == ["a", "b", "c"]
    assert loaded.meta("task") == "classification"
    assert loaded.meta("missing") is None


def test_random_feed_matches_specs_and_is_not_zero() -> None:
    model = Model.from_proto(make_conv_relu())
    feed = model.random_feed(batch=2, seed=3)
    assert feed["x"].shape == (2, 3, 16, 16)
    assert feed["x"].dtype == np.float32
    assert np.count_nonzero(feed["x"]) > 0
    np.testing.assert_array_equal(feed["x"], model.random_feed(batch=2, seed=3)["x"])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(
        ModelError, match=r"model file '.*nope.onnx' does not exist; check the path"
    ):
        Model.load(tmp_path / "nope.onnx")


def test_not_onnx(tmp_path: Path) -> None:
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"\x00\x01this is not a protobuf at all\xff\xfe" * 10)
    with pytest.raises(ModelError, match="is not (a readable ONNX model|an ONNX model)"):
        Model.load(path)


def test_invalid_graph(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["undefined_tensor"], ["y"])],
        "bad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ModelError, match=r"is not a valid ONNX graph: .*undefined_tensor"):
        Model.load(path)


def test_directory_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="is a directory, not an ONNX file"):
        Model.load(tmp_path)


def test_symbolic_inner_dim_needs_a_value() -> None:
    spec = TensorSpec("img", "float32", ("n", 3, "h", "w"))
    assert spec.concrete_shape(batch=2, dims={"h": 8, "w": 9}) == (2, 3, 8, 9)
    with pytest.raises(ModelError, match="symbolic dim 'h' at axis 2 with no value"):
        spec.concrete_shape()
