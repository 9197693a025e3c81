"""``zoo.torch_module``: the PyTorch eager module matches the exported ONNX."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from edgeinfer import zoo

TORCH_ENTRIES = [n for n in zoo.list_models() if zoo.get_entry(n).extra == "torch"]


def test_entries_without_a_torch_source_give_none() -> None:
    for name in zoo.list_models():
        if name not in TORCH_ENTRIES:
            assert zoo.torch_module(name) is None


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
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        ref = module(torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(zoo.get_model(name).proto.SerializeToString())
    out = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(out, ref, rtol=1e-3, atol=1e-4)
