"""PyTorch model sources: TorchSource, Model.from_torch and the model resolver."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from edgeinfer.builder import build, load_runner, resolve_model
from edgeinfer.config import BuildConfig
from edgeinfer.errors import BackendError, ConfigError, ModelError
from edgeinfer.model import Model
from edgeinfer.source import TorchSource, is_factory_ref
from tests.conftest import conv_relu_reference, make_conv_relu

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("tests.torch_models:conv_relu", True),
        ("pkg:make.model", True),
        ("zoo:resnet18", False),
        ("model.onnx", False),
        ("C:\\models\\x.onnx", False),
        ("a b:c", False),
    ],
)
def test_factory_refs(text: str, ok: bool) -> None:
    assert is_factory_ref(text) is ok


def test_source_round_trips_and_loads() -> None:
    src = TorchSource("tests.torch_models:conv_relu", {"seed": 1}, input_shape=(1, 3, 16, 16))
    assert TorchSource.from_dict(src.to_dict()) == src
    assert src.describe() == "tests.torch_models:conv_relu(seed=1)"
    module = src.load()
    assert isinstance(module, torch.nn.Module) and not module.training


def test_bad_sources_say_how_to_fix_them() -> None:
    with pytest.raises(ConfigError, match="must be 'package.module:callable'"):
        TorchSource("not a factory")
    with pytest.raises(ConfigError, match="e.g. --input-shape 1x3x224x224"):
        TorchSource("a:b", input_shape=(1, 0, 3))
    with pytest.raises(ModelError, match="cannot import the PyTorch source 'tests.nope:f'"):
        TorchSource("tests.nope:f").load()
    with pytest.raises(ModelError, match=r"returned dict, not a torch.nn.Module"):
        TorchSource("builtins:dict").load()
    with pytest.raises(ModelError, match="needs an input shape to export"):
        Model.from_torch(TorchSource("tests.torch_models:conv_relu"))


def test_from_torch_exports_the_same_function_and_caches() -> None:
    src = TorchSource("tests.torch_models:conv_relu", input_shape=(1, 3, 16, 16))
    model = Model.from_torch(src)
    assert model.torch_source == src
    assert [s.shape for s in model.inputs] == [("batch", 3, 16, 16)]
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    session = ort.InferenceSession(model.proto.SerializeToString())
    out = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(out, conv_relu_reference(x, make_conv_relu()), atol=1e-4)
    again = Model.from_torch(src)
    assert again.path == model.path and again.hash == model.hash


def test_resolver_takes_a_factory_and_the_torch_backend_builds_it() -> None:
    resolved = resolve_model("tests.torch_models:conv_relu", input_shape=(1, 3, 16, 16))
    assert (resolved.kind, resolved.name) == ("torch", "conv_relu")
    engine = build(resolved.model, BuildConfig("torch"))
    assert engine.manifest.metadata["torch"]["source"]["factory"] == "tests.torch_models:conv_relu"
    x = np.ones((1, 3, 16, 16), np.float32)
    with load_runner(engine) as r:
        np.testing.assert_allclose(
            r.infer({"input": x})["logits"], conv_relu_reference(x, make_conv_relu()), atol=1e-4
        )


def test_unknown_names_list_what_is_accepted() -> None:
    with pytest.raises(ModelError, match="neither an ONNX file, a zoo model nor a PyTorch source"):
        resolve_model("no-such-model")


def test_torch_backend_refuses_an_onnx_only_model() -> None:
    with pytest.raises(
        BackendError,
        match=r"backend 'torch' builds from the PyTorch module, and 'conv_relu' has none; use a "
        r"zoo model with a PyTorch definition",
    ):
        build(Model.from_proto(make_conv_relu()), BuildConfig("torch"))


def test_torch_engine_refuses_options_and_exclusions() -> None:
    model = resolve_model("tests.torch_models:conv_relu", input_shape=(1, 3, 16, 16)).model
    with pytest.raises(ConfigError, match="unknown torch option"):
        build(model, BuildConfig("torch", options=(("mode", "x"),)))
