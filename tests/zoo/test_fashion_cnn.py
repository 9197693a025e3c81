"""fashion-cnn: the committed ONNX reproduces its committed accuracy on the real 10k test set."""

from __future__ import annotations

import onnx
import pytest

from edgeinfer import zoo
from edgeinfer.builder import build, load_runner
from edgeinfer.data.datasets import iter_batches, open_dataset, resolve_preprocess
from edgeinfer.zoo.fashion import FASHION_LABELS, asset_path, training_record


def test_committed_asset_shape_and_graph() -> None:
    proto = onnx.load(str(asset_path("fashion_cnn.onnx")))
    model = zoo.get_model("fashion-cnn")
    assert [s.describe() for s in model.inputs] == ["float32[batch,1,28,28]"]
    assert [(s.name, s.describe()) for s in model.outputs] == [("logits", "float32[batch,10]")]
    assert model.inputs[0].name == "input" and model.opset == 17
    ops = {n.op_type for n in proto.graph.node}
    assert "BatchNormalization" not in ops  # folded into the convolutions
    assert model.meta("labels") == list(FASHION_LABELS)


def test_preprocessing_is_the_trained_normalization() -> None:
    spec = zoo.get_model("fashion-cnn").meta("preprocess")
    norm = training_record()["normalization"]
    assert spec["color"] == "gray" and spec["resize"] == "none" and spec["size"] == [28, 28]
    assert spec["mean"] == [norm["mean"]] and spec["std"] == [norm["std"]]
    assert spec["scale"] == pytest.approx(1 / 255) and spec["layout"] == "NCHW"


def test_record_meets_the_target_and_names_its_provenance() -> None:
    record = training_record()
    acc = record["test_accuracy"]
    assert acc["n"] == 10000 and acc["top1"] == acc["correct"] / acc["n"]
    assert acc["agrees_with_plain_onnxruntime"] is True
    if record["train_config"]["train_limit"] is None:  # the committed (full) training run
        assert acc["top1"] >= 0.91
    for key in ("train_config", "date", "torch_version", "command", "normalization"):
        assert record[key]
    prov = zoo.get_model("fashion-cnn").meta("provenance")
    assert prov["test_accuracy"] == acc and prov["latency_only"] is False


def test_accuracy_reproduces_exactly_on_the_real_test_set() -> None:
    acc = training_record()["test_accuracy"]
    engine = build(zoo.get_model("fashion-cnn"))
    ds = open_dataset("fashion-mnist:test")
    spec, source = resolve_preprocess(ds, engine)
    assert source == "engine" and spec is not None
    correct = seen = 0
    with load_runner(engine) as runner:
        for x, y in iter_batches(ds, spec, acc["eval_batch"], input_shape=engine.inputs[0]):
            assert y is not None
            pred = runner.infer({"input": x})["logits"].argmax(1)
            correct += int((pred == y).sum())
            seen += len(y)
    assert seen == acc["n"] == 10000
    assert correct == acc["correct"]
    assert correct / seen == acc["top1"]
