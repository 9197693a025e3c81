"""Engine manifests: every byte under the digest, plain payload names, regular files only,
--force replaces only edgeinfer's engines, concurrent builds, old formats ask for a rebuild."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeinfer.builder import build, engine_key, load_engine
from edgeinfer.config import BuildConfig
from edgeinfer.engine import MANIFEST_NAME, manifest_digest
from edgeinfer.errors import EngineError
from edgeinfer.fileio import cache_dir
from edgeinfer.host import HostInfo, isa_flags, missing_features
from edgeinfer.model import Model

ROOT = Path(__file__).resolve().parents[1]


def _edit(engine_dir: Path, change: object, *, reseal: bool) -> None:
    path = engine_dir / MANIFEST_NAME
    data = json.loads(path.read_text())
    change(data)  # type: ignore[operator]
    if reseal:
        data["digest"] = manifest_digest(data)
    path.write_text(json.dumps(data))


def _set(*keys: str, value: object) -> object:
    def apply(data: dict) -> None:  # type: ignore[type-arg]
        for key in keys[:-1]:
            data = data.setdefault(key, {})
        data[keys[-1]] = value

    return apply


@pytest.mark.parametrize(
    "change",
    [
        _set("executed_precision", value="int8"),
        _set("metadata", "labels", value=["cat", "dog"]),
        _set("metadata", "preprocess", value={"size": [8, 8]}),
        _set("outputs", value=[{"name": "y", "dtype": "float32", "shape": [1]}]),
        _set("host", "isa_flags", value=[]),
        _set("build_config", "threads", value=64),
        _set("notes", value=["edited"]),
        _set("added_by_someone", value=1),
    ],
)
def test_any_manifest_edit_is_refused(conv_relu_path: Path, tmp_path: Path, change: object) -> None:
    build(conv_relu_path, out=tmp_path / "eng")
    _edit(tmp_path / "eng", change, reseal=False)
    with pytest.raises(
        EngineError,
        match=r"manifest.json does not match its digest \(edited or corrupted\); rebuild the "
        r"engine with edgeinfer build",
    ):
        load_engine(tmp_path / "eng")


def test_edited_cache_entry_is_rebuilt_not_served(conv_relu_path: Path, tmp_path: Path) -> None:
    first = build(conv_relu_path, BuildConfig(threads=1))
    _edit(first.path, _set("executed_precision", value="int8"), reseal=False)
    again = build(conv_relu_path, BuildConfig(threads=1))
    assert not again.from_cache and again.precision == "fp32"


def _poison(engine_dir: Path, name: str) -> None:
    def apply(data: dict) -> None:  # type: ignore[type-arg]
        data["payload"][name] = hashlib.sha256(b"owned").hexdigest()

    _edit(engine_dir, apply, reseal=True)  # an attacker recomputes any unkeyed digest


@pytest.mark.parametrize("name", ["../../../PWNED.txt", "/etc/hostname", "sub/x", ".hidden"])
def test_payload_names_must_be_plain(conv_relu_path: Path, tmp_path: Path, name: str) -> None:
    build(conv_relu_path, out=tmp_path / "eng")
    _poison(tmp_path / "eng", name)
    with pytest.raises(
        EngineError, match=r"which is not a plain file name inside the engine directory"
    ):
        load_engine(tmp_path / "eng")


def test_poisoned_cache_writes_nothing_outside_out(conv_relu_path: Path, tmp_path: Path) -> None:
    config = BuildConfig(threads=2)
    cached = build(conv_relu_path, config)
    _poison(cached.path, "../../../PWNED.txt")
    out = tmp_path / "a" / "b" / "c" / "eng"
    engine = build(conv_relu_path, config, out)
    assert not engine.from_cache  # the poisoned entry was refused and rebuilt
    assert not list(tmp_path.rglob("PWNED.txt"))
    assert not list(cache_dir().parent.rglob("PWNED.txt"))
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.onnx"]


def test_payload_link_and_fifo_are_refused(conv_relu_path: Path, tmp_path: Path) -> None:
    build(conv_relu_path, out=tmp_path / "eng")
    payload = tmp_path / "eng" / "model.onnx"
    real = tmp_path / "elsewhere.onnx"
    payload.rename(real)
    payload.symlink_to(real)
    with pytest.raises(EngineError, match="is a symbolic link; edgeinfer reads only regular"):
        load_engine(tmp_path / "eng")
    payload.unlink()
    os.mkfifo(payload)
    with pytest.raises(EngineError, match=r"payload file '.*model.onnx' is a FIFO"):
        load_engine(tmp_path / "eng")  # refused at once, no blocking open


def test_manifest_fifo_is_refused(tmp_path: Path) -> None:
    (tmp_path / "eng").mkdir()
    os.mkfifo(tmp_path / "eng" / MANIFEST_NAME)
    with pytest.raises(EngineError, match="is a FIFO"):
        load_engine(tmp_path / "eng")


def test_format_1_engine_asks_for_a_rebuild(conv_relu_path: Path, tmp_path: Path) -> None:
    build(conv_relu_path, out=tmp_path / "eng")
    _edit(tmp_path / "eng", _set("format_version", value=1), reseal=True)
    with pytest.raises(
        EngineError,
        match=r"uses manifest format 1 of an older edgeinfer, without a whole-manifest "
        r"integrity digest; rebuild the engine with edgeinfer build",
    ):
        load_engine(tmp_path / "eng")


def test_cache_key_is_stable() -> None:
    model = Model.load(ROOT / "src/edgeinfer/zoo/assets/fashion_cnn.onnx")
    a = engine_key(model, BuildConfig(threads=1), "1.0")
    assert a == engine_key(model, BuildConfig(threads=1), "1.0")
    assert len(a) == 32


def test_force_replaces_only_an_engine(conv_relu_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "eng"
    build(conv_relu_path, out=out)
    build(conv_relu_path, BuildConfig(threads=1), out=out, overwrite=True)  # ours: replaced
    assert load_engine(out).config.threads == 1
    (out / "calibration-notes.txt").write_text("user data")
    with pytest.raises(EngineError, match="it holds 'calibration-notes.txt', which edgeinfer"):
        build(conv_relu_path, out=out, overwrite=True)
    assert (out / "calibration-notes.txt").read_text() == "user data"
    user_dir = tmp_path / "photos"
    user_dir.mkdir()
    (user_dir / "a.jpg").write_bytes(b"x")
    with pytest.raises(EngineError, match="is not an edgeinfer engine directory"):
        build(conv_relu_path, out=user_dir, overwrite=True)
    assert (user_dir / "a.jpg").exists()
    user_file = tmp_path / "thesis.txt"
    user_file.write_text("years of work")
    with pytest.raises(EngineError, match="exists and is not an edgeinfer engine directory"):
        build(conv_relu_path, out=user_file, overwrite=True)
    assert user_file.read_text() == "years of work"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing hidden


@pytest.mark.slow
def test_concurrent_builds_into_one_output(conv_relu_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "eng"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "edgeinfer", "build", str(conv_relu_path), "-o", str(out)]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    assert any(rc == 0 for rc, _ in results)
    for rc, err in results:
        assert rc in (0, 2) and "Traceback" not in err
        if rc == 2:
            assert err.count("\n") == 1 and err.startswith("edgeinfer: error: '")
    load_engine(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conv_relu.onnx", "eng"] or all(
        p.name in ("eng",) or p.suffix == ".onnx" for p in tmp_path.iterdir()
    )


def test_kernel_flags_are_not_isa_flags() -> None:
    assert isa_flags({"smep", "smap", "sme", "sme2", "smef64f64", "avx2"}) == (
        "avx2",
        "sme",
        "sme2",
        "smef64f64",
    )
    old = HostInfo("x86_64", "cpu", 2, ("avx2", "smep"))
    here = HostInfo("x86_64", "cpu", 2, ("avx2",))
    assert missing_features(old, here) == []  # engines recorded before the fix still load
