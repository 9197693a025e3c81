"""``edgeinfer meta``, ``info`` showing the stored spec, and ``build --preprocess``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeinfer.cli import main
from edgeinfer.model import Model
from edgeinfer.preprocess import PreprocessSpec

from ..search.issue_models import write_images

SPEC = "size=16x16,color=bgr,mean=0.4/0.5/0.6,std=0.2/0.25/0.3"  # as format_preprocess writes it


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_meta_stores_spec_labels_and_task_in_a_new_file(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"class{i}" for i in range(8)))
    out = tmp_path / "with_spec.onnx"
    before = conv_relu_path.read_bytes()
    code, text, err = run(
        capsys, "meta", str(conv_relu_path), "--preprocess", SPEC, "--labels", str(labels),
        "--task", "dense", "-o", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert text.splitlines()[:2] == [f"wrote {out}", f"preprocess: {SPEC}"]
    assert conv_relu_path.read_bytes() == before  # the input is never changed
    model = Model.load(out)
    assert PreprocessSpec.from_dict(model.meta("preprocess")).mean == (0.4, 0.5, 0.6)
    assert model.meta("labels")[7] == "class7" and model.meta("task") == "dense"
    code, text, _ = run(capsys, "info", str(out))
    assert code == 0 and f"preprocess: {SPEC}" in text and "task: dense" in text
    code, text, _ = run(capsys, "info", str(conv_relu_path))
    assert "preprocess: none stored (image data needs --preprocess;" in text


def test_meta_refuses_what_would_lose_or_break_something(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "meta", str(conv_relu_path), "--task", "dense", "-o", str(conv_relu_path))
    assert code == 2 and "edgeinfer meta never changes its input: write to a new file" in err
    out = tmp_path / "b.onnx"
    out.write_text("mine")
    code, _, err = run(capsys, "meta", str(conv_relu_path), "--task", "dense", "-o", str(out))
    assert code == 2 and err.strip().endswith(f"'{out}' already exists; pass --force to replace it")
    assert out.read_text() == "mine"
    code, _, err = run(capsys, "meta", str(conv_relu_path), "--preprocess", "size=32x32", "-o", str(tmp_path / "c.onnx"))
    assert code == 2 and err.strip() == (
        "edgeinfer: error: --preprocess gives 32x32 (HxW) but input 'x' is "
        "float32[batch,3,16,16]; fix the spec's size, color or layout"
    )
    code, _, err = run(capsys, "meta", str(conv_relu_path), "-o", str(tmp_path / "d.onnx"))
    assert code == 2 and "nothing to store; give --preprocess SPEC" in err
    assert not (tmp_path / "c.onnx").exists() and not (tmp_path / "d.onnx").exists()


def test_labels_must_match_the_class_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ..search.tiny import write_classifier

    model, _ = write_classifier(tmp_path)  # y: [batch, 10]
    code, _, err = run(capsys, "meta", str(model), "--labels", "a,b,c", "-o", str(tmp_path / "m.onnx"))
    assert code == 2 and err.strip().endswith(
        "--labels gives 3 class names but the model's class-score output has 10 classes; "
        "give one name per class"
    )


def test_calibrating_on_images_without_a_spec_is_refused_and_build_preprocess_fixes_it(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = write_images(tmp_path / "imgs", n=20)
    calib = ["--precision", "int8", "--calib", f"images:{images}", "--calib-samples", "16",
             "--calibrator", "minmax"]  # fmt: skip
    code, _, err = run(capsys, "build", str(conv_relu_path), "-o", str(tmp_path / "e"), *calib)
    assert code == 2
    assert "holds images but there is no preprocessing spec and model 'conv_relu' stores none; " \
        "edgeinfer does not guess one" in err  # fmt: skip
    assert "pass --preprocess size=16x16,mean=M1/M2/M3,std=S1/S2/S3" in err
    assert not (tmp_path / "e").exists()
    eng = tmp_path / "eng"
    code, out, err = run(
        capsys, "build", str(conv_relu_path), "-o", str(eng), *calib, "--preprocess", SPEC,
        "--json", str(tmp_path / "b.json"),
    )  # fmt: skip
    assert code == 0, err
    assert f"preprocessing: {SPEC}" in out
    manifest = json.loads((eng / "manifest.json").read_text())
    assert PreprocessSpec.from_dict(manifest["metadata"]["preprocess"]).color == "bgr"
    # the guardrail finds the FP32 twin of the model (the spec was stored in memory)
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["guardrail"] is not None and report["guardrail"]["ratios"]
    code, out, _ = run(capsys, "info", str(eng))
    assert code == 0 and f"preprocess: {SPEC}" in out
