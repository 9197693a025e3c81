"""``zoo.torch_module``: the PyTorch eager module matches the exported ONNX."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from edgeinfer import zoo

TORCH_ENTRIES = [n for n in zoo.list_models() if zoo.get_entry(n).pytorch]


def test_entries_without_a_torch_source_give_none() -> None:
    assert "fashion-cnn" in TORCH_ENTRIES and "ppocr-det" not in TORCH_ENTRIES
    for name in zoo.list_models():
        if name not in TORCH_ENTRIES:
            assert zoo.torch_module(name) is None
            assert zoo.get_model(name).torch_source is None


def _input(name: str) -> np.ndarray:
    shape = [2 if isinstance(d, str) else d for d in zoo.get_entry(name).input_shape]
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n == "resnet50" else n for n in TORCH_ENTRIES],
)
def test_eager_module_matches_the_export(name: str) -> None:
    torch = pytest.importorskip("torch")
    for module in zoo.get_entry(name).needs:
        pytest.importorskip(module)
    module = zoo.torch_module(name)
    assert module is not None and not module.training
    x = _input(name)
    with torch.no_grad():
        ref = module(torch.from_numpy(x)).numpy()
    model = zoo.get_model(name)
    session = ort.InferenceSession(model.proto.SerializeToString())
    out = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(out, ref, rtol=1e-3, atol=1e-4)
    source = model.torch_source
    assert source is not None and source.input_shape == (1, *x.shape[1:])


def test_fashion_module_keeps_batchnorm_and_the_committed_accuracy() -> None:
    """FashionCNN carrying the ONNX weights: BatchNorm layers pass the folded bias through,
    and the module classifies the real 10k test set exactly as the committed ONNX does."""
    torch = pytest.importorskip("torch")
    from edgeinfer.data.datasets import iter_batches, open_dataset, resolve_preprocess
    from edgeinfer.zoo.fashion import training_record

    module = zoo.torch_module("fashion-cnn")
    bns = [m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 5 and all(float(bn.running_var.min()) == 1.0 for bn in bns)
    assert module.features[0][0].out_channels == 20
    model = zoo.get_model("fashion-cnn")
    ds = open_dataset("fashion-mnist:test")
    spec, _ = resolve_preprocess(ds, model)
    correct = 0
    with torch.no_grad():
        for x, y in iter_batches(ds, spec, 1000, input_shape=model.inputs[0]):
            correct += int((module(torch.from_numpy(x)).argmax(1).numpy() == y).sum())
    assert correct == training_record()["test_accuracy"]["correct"]
