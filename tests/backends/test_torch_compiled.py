"""Compiled torch engines on the CPU: AOTInductor packages and standalone Inductor artifacts,
each loaded in a fresh process at build time (so a crash fails the build, not the caller).

Slow: every build runs TorchInductor's C++ compiler (about 30-90 s on 2 shared cores).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeinfer import BuildConfig, build
from edgeinfer.backends.torch.executors import EngineInfo
from edgeinfer.backends.torch.freshload import fresh_load
from edgeinfer.backends.torch.settings import BatchProfile
from edgeinfer.builder import load_runner
from edgeinfer.errors import BackendError, FeedError
from edgeinfer.model import Model

from ..conftest import make_conv_relu

torch = pytest.importorskip("torch")
from tests.torch_models import with_torch  # noqa: E402

pytestmark = pytest.mark.slow


def _model() -> Model:
    return with_torch(Model.from_proto(make_conv_relu()), "conv_relu")


def _x(batch: int) -> np.ndarray:
    return np.random.default_rng(batch).standard_normal((batch, 3, 16, 16)).astype(np.float32)


def _reference(x: np.ndarray) -> np.ndarray:
    from tests.torch_models import conv_relu

    with torch.no_grad():
        return conv_relu()(torch.from_numpy(x)).numpy()


def test_aoti_engine_loads_without_compiling_and_matches_eager(tmp_path: Path) -> None:
    engine = build(_model(), BuildConfig("torch", threads=1, options={"compile": "inductor"}), tmp_path / "e")
    info = EngineInfo.from_dict(engine.metadata["torch"])
    assert (info.artifact, info.files, info.compile_threads) == ("aoti", {1: "model_b1.pt2"}, 1)
    assert list(engine.manifest.payload) == ["model_b1.pt2"]
    assert engine.inputs[0].shape == (1, 3, 16, 16)  # one static size: measurements feed batch 1
    assert any(n.startswith("loads in a fresh process in ") for n in engine.manifest.notes)
    x = _x(1)
    with load_runner(tmp_path / "e") as r:
        assert r.threads == 1  # the count the weights were pre-packed for
        np.testing.assert_allclose(r.infer({"x": x})["y"], _reference(x), rtol=1e-4, atol=1e-4)
        t = r.infer({"x": torch.from_numpy(x)})["y"]
        np.testing.assert_allclose(t.numpy(), _reference(x), rtol=1e-4, atol=1e-4)
        with pytest.raises(FeedError, match=r"input 'x' expects float32\[1,3,16,16\], got float32\[2,3,16,16\]"):
            r.infer({"x": _x(2)})


def test_a_batch_range_compiles_one_dynamic_package() -> None:
    engine = build(_model(), BuildConfig("torch", options={"compile": "inductor", "batch": "1-4"}))
    info = EngineInfo.from_dict(engine.metadata["torch"])
    assert info.batch.dynamic and info.files == {0: "model_dyn.pt2"}
    assert engine.inputs[0].shape[0] == "batch"
    with load_runner(engine) as r:
        for b in (1, 3, 4):
            np.testing.assert_allclose(r.infer({"x": _x(b)})["y"], _reference(_x(b)), rtol=1e-4, atol=1e-4)
        with pytest.raises(FeedError, match=r"compiled for batch 1-4, got batch 5; rebuild with --option batch="):
            r.infer({"x": _x(5)})


def test_inductor_artifacts_take_their_weights_in_order() -> None:
    cfg = BuildConfig("torch", options={"compile": "inductor", "artifact": "inductor", "batch": "1,2"})
    engine = build(_model(), cfg)
    info = EngineInfo.from_dict(engine.metadata["torch"])
    assert info.files == {1: "graph_b1.inductor", 2: "graph_b2.inductor"}
    assert set(engine.manifest.payload) == {"graph_b1.inductor", "graph_b2.inductor", "weights.pt"}
    saved = torch.load(engine.payload_path("weights.pt"), weights_only=True)
    assert len(saved["names"]) == len(saved["tensors"]) == 2  # conv weight and bias
    with load_runner(engine) as r:
        for b in (1, 2):
            np.testing.assert_allclose(r.infer({"x": _x(b)})["y"], _reference(_x(b)), rtol=1e-4, atol=1e-4)


def test_a_module_that_cannot_be_exported_fails_the_build_in_one_line() -> None:
    model = with_torch(Model.from_proto(make_conv_relu()), "data_dependent")
    with pytest.raises(BackendError) as err:
        build(model, BuildConfig("torch", options={"compile": "inductor"}))
    text = str(err.value)
    assert text.startswith("the module cannot be compiled: torch.export failed (") and "\n" not in text
    assert text.endswith("make forward() traceable (no data-dependent Python control flow) or build with --option compile=none")


def test_a_payload_that_does_not_load_fails_in_the_child(tmp_path: Path) -> None:
    (tmp_path / "model_b1.pt2").write_bytes(b"not a package")
    info = EngineInfo("aoti", files={1: "model_b1.pt2"}, batch=BatchProfile(sizes=(1,)))
    with pytest.raises(BackendError) as err:
        fresh_load(tmp_path, info.to_dict(), [_x(1)])
    assert str(err.value).startswith("loading the saved torch engine in a fresh process exited with code 1 (")
    assert "build with another --option artifact=..." in str(err.value)
    assert not (tmp_path / ".freshload").exists()  # the scratch files are gone
    assert json.loads(json.dumps(info.to_dict()))["artifact"] == "aoti"
