from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from edgeinfer.builder import build, load_engine, load_runner
from edgeinfer.config import BuildConfig
from edgeinfer.engine import MANIFEST_NAME, manifest_digest
from edgeinfer.errors import EngineError
from edgeinfer.fileio import cache_dir
from edgeinfer.model import Model
from tests.conftest import conv_relu_reference, make_conv_relu


def _rewrite_manifest(engine_dir: Path, *, reseal: bool = True, **changes: object) -> None:
    """Edit manifest fields; ``reseal`` recomputes the digest (as someone with write access to
    the engine can), so that the checks behind the digest are what is tested.
    """
    path = engine_dir / MANIFEST_NAME
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    if reseal:
        data["digest"] = manifest_digest(data)
    path.write_text(json.dumps(data))


def test_build_load_infer_matches_numpy(conv_relu_path: Path, tmp_path: Path) -> None:
    engine = build(conv_relu_path, out=tmp_path / "eng")
    assert (tmp_path / "eng" / MANIFEST_NAME).exists()
    loaded = load_engine(tmp_path / "eng")
    x = np.random.default_rng(1).standard_normal((2, 3, 16, 16)).astype(np.float32)
    with load_runner(loaded) as runner:
        y = runner.infer({"x": x})["y"]
    np.testing.assert_allclose(y, conv_relu_reference(x, make_conv_relu()), rtol=1e-4, atol=1e-4)
    assert engine.manifest.payload == loaded.manifest.payload


def test_manifest_records_everything(conv_relu_path: Path, tmp_path: Path) -> None:
    build(conv_relu_path, BuildConfig(threads=1), out=tmp_path / "eng")
    data = json.loads((tmp_path / "eng" / MANIFEST_NAME).read_text())
    for key in (
        "format_version",
        "backend",
        "backend_version",
        "precision",
        "executed_precision",
        "build_config",
        "inputs",
        "outputs",
        "source_model",
        "payload",
        "digest",
        "host",
        "created",
        "build_seconds",
        "edgeinfer_version",
    ):
        assert key in data, key
    assert data["backend"] == "onnxruntime"
    assert data["build_config"]["threads"] == 1
    assert data["source_model"]["hash"] == Model.load(conv_relu_path).hash
    assert set(data["host"]) >= {"cpu_model", "isa_flags", "os", "python", "machine"}
    assert data["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["batch", 3, 16, 16]}]


def test_second_build_is_a_cache_hit(
    conv_relu_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEINFER_CACHE_DIR", str(tmp_path / "fresh-cache"))
    first = build(conv_relu_path, BuildConfig(threads=2))
    second = build(conv_relu_path, BuildConfig(threads=2))
    third = build(conv_relu_path, BuildConfig(threads=1))
    assert not first.from_cache
    assert second.from_cache and second.path == first.path
    assert not third.from_cache and third.path != first.path
    assert first.path.is_relative_to(cache_dir())
    out = build(conv_relu_path, BuildConfig(threads=2), out=tmp_path / "copy")
    assert out.from_cache and out.path == tmp_path / "copy"


def test_corrupted_cache_entry_is_rebuilt(conv_relu_path: Path) -> None:
    cfg = BuildConfig(options={"optimization_level": "basic"})
    first = build(conv_relu_path, cfg)
    (first.path / "model.onnx").write_bytes(b"corrupt")
    again = build(conv_relu_path, cfg)
    assert not again.from_cache
    load_engine(again.path)


def test_failed_build_leaves_no_engine(
    conv_relu_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgeinfer.backends.onnxruntime import OnnxRuntimeBackend

    original = OnnxRuntimeBackend.build

    def half_build(self, model, config, directory, **kwargs):  # type: ignore[no-untyped-def]
        original(self, model, config, directory, **kwargs)
        raise RuntimeError("simulated crash mid-build")

    monkeypatch.setattr(OnnxRuntimeBackend, "build", half_build)
    with pytest.raises(RuntimeError, match="simulated crash"):
        build(conv_relu_path, out=tmp_path / "eng", cache=False)
    assert not (tmp_path / "eng").exists()
    assert list(tmp_path.glob(".eng*")) == []


def test_killed_build_leaves_no_engine(conv_relu_path: Path, tmp_path: Path) -> None:
    """SIGKILL in the middle of a build: the engine path never holds a half engine."""
    out = tmp_path / "eng"
    script = textwrap.dedent(f"""
        import time
        from edgeinfer.backends import register_backend
        from edgeinfer.backends.onnxruntime import OnnxRuntimeBackend
        from edgeinfer.config import BuildConfig
        from edgeinfer.builder import build

        @register_backend
        class Slow(OnnxRuntimeBackend):
            name = "slow-test"
            def build(self, model, config, directory, **kwargs):
                result = super().build(model, config, directory, **kwargs)
                print("payload written", flush=True)
                time.sleep(60)
                return result

        build({str(conv_relu_path)!r}, BuildConfig(backend="slow-test"), out={str(out)!r}, cache=False)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "payload written"
    assert any(tmp_path.glob(".eng.*.tmp"))  # the half-written engine exists only as a temp dir
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(0.1)
    assert not out.exists()
    with pytest.raises(EngineError, match="does not exist"):
        load_engine(out)


def test_payload_hash_mismatch_is_refused(conv_relu_path: Path, tmp_path: Path) -> None:
    engine = build(conv_relu_path, out=tmp_path / "eng")
    payload = engine.path / "model.onnx"
    data = bytearray(payload.read_bytes())
    data[-1] ^= 0x01
    payload.write_bytes(bytes(data))
    with pytest.raises(
        EngineError,
        match=r"payload file 'model.onnx' does not match its hash in manifest.json \(corrupted or "
        r"modified\); rebuild the engine with edgeinfer build",
    ):
        load_engine(tmp_path / "eng")


def test_other_backend_version_is_refused(conv_relu_path: Path, tmp_path: Path) -> None:
    build(conv_relu_path, out=tmp_path / "eng")
    _rewrite_manifest(tmp_path / "eng", backend_version="0.0.1")
    with pytest.raises(
        EngineError,
        match=r"was built with onnxruntime 0.0.1 but .* is installed; "
        r"rebuild the engine on this machine",
    ):
        load_engine(tmp_path / "eng")


def test_incompatible_host_is_refused(conv_relu_path: Path, tmp_path: Path) -> None:
    build(conv_relu_path, out=tmp_path / "eng")
    manifest = json.loads((tmp_path / "eng" / MANIFEST_NAME).read_text())
    flags = [*manifest["host"]["isa_flags"], "avx512_imaginary"]
    _rewrite_manifest(tmp_path / "eng", host={"isa_flags": flags})
    with pytest.raises(
        EngineError,
        match=r"built on a host with avx512_imaginary, which this host "
        r"lacks; rebuild the engine on this host",
    ):
        load_engine(tmp_path / "eng")


def test_corrupted_manifest_is_refused(conv_relu_path: Path, tmp_path: Path) -> None:
    build(conv_relu_path, out=tmp_path / "eng")
    (tmp_path / "eng" / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(EngineError, match="has a corrupted manifest.json"):
        load_engine(tmp_path / "eng")


def test_not_an_engine_dir(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"is not an engine directory \(no manifest.json\)"):
        load_engine(tmp_path)


def test_existing_output_needs_overwrite(conv_relu_path: Path, tmp_path: Path) -> None:
    build(conv_relu_path, out=tmp_path / "eng")
    with pytest.raises(EngineError, match="already exists; pass --force"):
        build(conv_relu_path, out=tmp_path / "eng")
    build(conv_relu_path, out=tmp_path / "eng", overwrite=True)
