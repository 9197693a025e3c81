"""``edgeinfer zoo list`` / ``edgeinfer zoo get``: exit codes, output and exact errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeinfer import zoo
from edgeinfer.cli import main
from edgeinfer.model import Model


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_entry(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "zoo", "list")
    assert code == 0
    for name in zoo.list_models():
        assert name in out
    assert "LATENCY ONLY" in out and "Apache-2.0" in out


def test_list_json_carries_provenance_and_latency_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "zoo", "list", "--json", "-")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == set(zoo.list_models())
    assert rows["resnet50"]["latency_only"] is True
    assert rows["mobilenetv2-imagenet"]["latency_only"] is False
    assert rows["fashion-cnn"]["availability"]["state"] == "ready"
    for row in rows.values():
        assert row["licence"] and row["source"] and row["how"]
        assert row["availability"]["state"] in ("ready", "buildable", "missing")


def test_get_unknown_name(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "zoo", "get", "nope", "-o", str(tmp_path / "m"))
    assert code == 2 and out == ""
    assert err == (
        "edgeinfer: error: unknown zoo model 'nope'; available: "
        f"{', '.join(zoo.list_models())} (see: edgeinfer zoo list)\n"
    )
    assert not (tmp_path / "m").exists()


def test_get_writes_model_and_info(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_dir = tmp_path / "fashion"
    code, out, _ = run(capsys, "zoo", "get", "fashion-cnn", "-o", str(out_dir))
    assert code == 0
    assert "fashion-cnn" in out and "test top-1" in out and "Apache-2.0" in out
    model = Model.load(out_dir / "model.onnx")
    assert model.meta("task") == "classification" and len(model.meta("labels")) == 10
    assert model.meta("provenance")["zoo_name"] == "fashion-cnn"
    info = json.loads((out_dir / "zoo.json").read_text())
    assert info["name"] == "fashion-cnn" and info["model"]["sha256"] == model.hash
    assert info["preprocess"] == model.meta("preprocess")
    assert sorted(p.name for p in out_dir.iterdir()) == ["model.onnx", "zoo.json"]


def test_get_refuses_existing_dir_without_force(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_dir = tmp_path / "m"
    assert run(capsys, "zoo", "get", "fashion-cnn", "-o", str(out_dir))[0] == 0
    code, _, err = run(capsys, "zoo", "get", "fashion-cnn", "-o", str(out_dir))
    assert code == 2
    assert err == f"edgeinfer: error: '{out_dir}' already exists; pass --force to replace it\n"
    code, _, _ = run(capsys, "zoo", "get", "fashion-cnn", "-o", str(out_dir), "--force")
    assert code == 0 and (out_dir / "model.onnx").exists()


def test_get_random_model_says_latency_only(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    code, out, _ = run(capsys, "zoo", "get", "resnet18", "-o", str(tmp_path / "r"))
    assert code == 0 and "LATENCY ONLY" in out
    info = json.loads((tmp_path / "r" / "zoo.json").read_text())
    assert info["latency_only"] is True and info["provenance"]["latency_only"] is True


def test_zoo_without_subcommand_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "zoo")
    assert code == 2 and "list" in out and "get" in out
