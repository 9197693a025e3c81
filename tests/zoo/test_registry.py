"""Every registered zoo entry loads and runs one real input (parametrized over the registry)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeinfer import zoo
from edgeinfer.builder import build, load_runner
from edgeinfer.errors import ConfigError, EdgeInferError
from edgeinfer.model import Model
from edgeinfer.preprocess import spec_from_metadata
from edgeinfer.zoo.registry import ZooEntry, count_params

ALL = zoo.list_models()
SLOW = {"resnet50"}  # its first export takes tens of seconds on 2 cores


def _params() -> list[object]:
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in ALL]


def _require(entry: ZooEntry) -> None:
    """Skip only when the extra (or package) that provides the entry is absent."""
    if entry.extra == "torch":
        pytest.importorskip("torch")
    for module in entry.needs:
        pytest.importorskip(module)


def _real_image(resize: str, color: str) -> np.ndarray:
    """A Fashion-MNIST test image for fixed-size gray models, else a real photo."""
    if resize == "none" and color == "gray":
        from edgeinfer.data.datasets import open_dataset

        return open_dataset("fashion-mnist:test")[0].image
    skdata = pytest.importorskip("skimage.data")
    return np.asarray(skdata.chelsea())


@pytest.fixture(scope="module")
def models() -> dict[str, Model]:
    return {}


def _get(models: dict[str, Model], name: str) -> Model:
    if name not in models:
        models[name] = zoo.get_model(name)
    return models[name]


def test_registry_lists_the_issue_entries() -> None:
    expected = {"fashion-cnn", "mobilenetv2-imagenet", "ppocr-det"}
    expected |= {"resnet18", "resnet50", "mobilenetv3-large"}
    assert expected <= set(ALL)
    assert sorted(ALL) == ALL


@pytest.mark.parametrize("name", _params())
def test_entry_metadata(name: str, models: dict[str, Model]) -> None:
    entry = zoo.get_entry(name)
    _require(entry)
    model = _get(models, name)
    assert model.name == name
    assert model.meta("task") == entry.task
    assert model.inputs[0].shape == entry.input_shape
    prov = model.meta("provenance")
    assert prov["zoo_name"] == name
    assert prov["licence"] == entry.licence and prov["source"] == entry.source
    assert prov["latency_only"] is entry.latency_only
    assert spec_from_metadata({"preprocess": model.meta("preprocess")}) is not None
    labels = model.meta("labels")
    if entry.latency_only or entry.task != "classification":
        assert labels is None
    else:
        assert len(labels) == model.outputs[0].shape[1] and len(set(labels)) == len(labels)


@pytest.mark.parametrize("name", _params())
def test_entry_runs_one_real_input(name: str, models: dict[str, Model]) -> None:
    entry = zoo.get_entry(name)
    _require(entry)
    engine = build(_get(models, name))
    spec = spec_from_metadata(engine.metadata)
    assert spec is not None
    x = spec.apply_batch([_real_image(spec.resize, spec.color)])
    with load_runner(engine) as runner:
        out = runner.infer({engine.inputs[0].name: x}, copy=True)[engine.outputs[0].name]
    assert np.isfinite(out).all()
    if entry.task == "classification":
        assert out.shape == (1, engine.outputs[0].shape[1])
    else:
        assert spec.size is not None
        assert out.shape == (1, 1, *spec.size)


@pytest.mark.parametrize("name", _params())
def test_availability_after_get_is_ready(name: str, models: dict[str, Model]) -> None:
    entry = zoo.get_entry(name)
    _require(entry)
    _get(models, name)
    avail = zoo.availability(name)
    assert avail.state == "ready"
    assert avail.params == count_params(Path(avail.detail)) and avail.params > 1000


def test_unknown_name_lists_the_names() -> None:
    with pytest.raises(EdgeInferError) as exc:
        zoo.get_model("resnet-9000")
    assert str(exc.value) == (
        f"unknown zoo model 'resnet-9000'; available: {', '.join(ALL)} (see: edgeinfer zoo list)"
    )


def test_entry_validates_task() -> None:
    with pytest.raises(ConfigError, match="task must be one of classification, dense, generic"):
        ZooEntry("x", "detection", (1,), "d", "MIT", "s", "h")


def test_register_twice_is_refused() -> None:
    entry = zoo.get_entry("fashion-cnn")
    with pytest.raises(ConfigError, match="registered twice"):
        zoo.register_model(entry, locate=lambda: None)(lambda quiet: None)  # type: ignore[arg-type,return-value]


def _python(code: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {"EDGEINFER_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )


def test_import_zoo_is_lean_and_fashion_needs_no_torch(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from edgeinfer import zoo\n"
        "m = zoo.get_model('fashion-cnn')\n"
        "print(m.inputs[0].describe(), m.meta('task'))\n"
    )
    proc = _python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "float32[batch,1,28,28] classification"


def test_missing_torch_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from edgeinfer import zoo\n"
        "from edgeinfer.errors import MissingExtraError\n"
        "a = zoo.availability('resnet18'); print(a.state, a.detail)\n"
        "try:\n    zoo.get_model('resnet18')\n"
        "except MissingExtraError as e:\n    print(e)\n"
    )
    proc = _python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    avail, error = proc.stdout.strip().splitlines()
    assert avail.startswith("missing needs torch") and avail.endswith(
        "pip install 'edgeinfer[torch]'"
    )
    assert error.startswith("zoo model 'resnet18' is exported from PyTorch and needs torch")
    assert error.endswith("install the extra: pip install 'edgeinfer[torch]'")
