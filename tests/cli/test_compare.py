"""``edgeinfer compare``: pass (0), fail (1), usage errors (2), exact messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgeinfer.cli import main
from edgeinfer.engine import MANIFEST_NAME
from tests.conftest import make_conv_relu, make_matmul
from tests.evaluate.helpers import centroid_classifier, centroid_weights, nan_model


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _save(proto: onnx.ModelProto, path: Path) -> str:
    onnx.save(proto, str(path))
    return str(path)


def test_engine_against_itself_passes(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eng = tmp_path / "eng"
    assert main(["build", str(conv_relu_path), "-o", str(eng)]) == 0
    assert (eng / MANIFEST_NAME).exists()
    capsys.readouterr()
    report = tmp_path / "c.json"
    code, out, _ = run(
        capsys, "compare", str(eng), str(conv_relu_path), "--limit", "8", "--json", str(report)
    )
    assert code == 0
    assert out.strip().endswith("PASSED: 8 inputs within tolerances")
    data = json.loads(report.read_text())
    assert data["passed"] is True and data["outputs"][0]["max_abs"] == 0.0
    assert data["command"].startswith("edgeinfer compare ")


def test_perturbed_model_fails_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = _save(make_matmul(seed=0), tmp_path / "ref.onnx")
    cand = _save(make_matmul(seed=1), tmp_path / "cand.onnx")
    code, out, err = run(
        capsys, "compare", cand, ref, "--min-agreement", "0.95", "--json", str(tmp_path / "r.json")
    )
    assert code == 1 and err.endswith(f"wrote {tmp_path / 'r.json'}\n")
    data = json.loads((tmp_path / "r.json").read_text())
    agreement = data["outputs"][0]["agreement"]
    lines = out.strip().splitlines()
    # only --min-agreement given: the element-wise check is off
    assert lines[-2:] == [
        f"FAIL: output 'y': top-1 agreement {100 * agreement:.2f}% < min 95.00%",
        "FAILED: 1 check(s) failed over 32 inputs",
    ]
    code, out, _ = run(capsys, "compare", cand, ref, "--atol", "0.01")
    assert code == 1 and "exceed atol=0.01 + rtol=0.001*|ref|" in out


def test_dataset_inputs_use_the_reference_preprocessing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w, b = centroid_weights()
    ref = tmp_path / "ref.onnx"
    centroid_classifier(metadata=True, w=w, b=b).save(ref)
    cand = tmp_path / "cand.onnx"
    centroid_classifier(w=w * 1.0001, b=b).save(cand)
    report = tmp_path / "d.json"
    code, out, _ = run(
        capsys,
        "compare",
        str(cand),
        str(ref),
        "--dataset",
        "fashion-mnist",
        "--limit",
        "64",
        "--min-agreement",
        "0.99",
        "--json",
        str(report),
    )
    assert code == 0
    data = json.loads(report.read_text())
    assert data["inputs"] == "fashion-mnist:test (64 samples, preprocessing: engine)"
    assert "top-1 agreement" in out and "100.00%" in out


def test_nan_candidate_fails_naming_the_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cand = _save(nan_model(at=0.0), tmp_path / "nan.onnx")
    ref = _save(nan_model(at=-100.0), tmp_path / "ok.onnx")
    code, out, _ = run(
        capsys, "compare", cand, ref, "--atol", "1e9", "--limit", "4", "--batch", "1"
    )
    assert code == 1
    assert "FAIL: candidate output 'y' has NaN/Inf at input 0 (4 of 4 inputs affected)" in out


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _save(make_conv_relu(), tmp_path / "a.onnx")
    m = _save(make_matmul(), tmp_path / "m.onnx")
    code, _, err = run(capsys, "compare", a, a, "--min-agreement", "0.9", "--limit", "2")
    assert code == 2
    assert (
        err
        == "edgeinfer: error: min_agreement needs a classifier output ([N, classes]); outputs are y (dense)\n"
    )
    code, _, err = run(capsys, "compare", a, m)
    assert code == 2 and err == (
        "edgeinfer: error: candidate input x: float32[batch,3,16,16] does not match reference "
        "input a: float32[batch,4]; compare engines of the same model\n"
    )
    code, _, err = run(capsys, "compare", a, a, "--shape", "q:1x2")
    assert code == 2 and err.startswith(
        "edgeinfer: error: --shape 'q:1x2' must be NAME:DIMS with NAME one of x"
    )
    code, _, err = run(capsys, "compare", a, a, "--min-agreement", "95")
    assert code == 2
    assert err == "edgeinfer: error: min_agreement is a fraction in [0, 1] (e.g. 0.99), got 95.0\n"


def test_shape_gives_symbolic_dims_for_random_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.evaluate.helpers import identity_model

    path = _save(identity_model(["N", 3, "H", "W"]), tmp_path / "id.onnx")
    code, _, err = run(capsys, "compare", path, path)
    assert code == 2 and "has symbolic dim 'H' at axis 2 with no value" in err
    code, _out, _ = run(
        capsys,
        "compare",
        path,
        path,
        "--shape",
        "x:2x3x8x10",
        "--limit",
        "4",
        "--json",
        str(tmp_path / "j.json"),
    )
    assert code == 0
    data = json.loads((tmp_path / "j.json").read_text())
    assert data["outputs"][0]["elements"] == 4 * 3 * 8 * 10
    assert np.isclose(data["outputs"][0]["cosine"], 1.0)


def test_every_output_is_compared_or_the_ones_chosen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnx

    from ..search.issue_models import two_output_detector

    path = tmp_path / "det.onnx"
    onnx.save(two_output_detector(batch=1), str(path))
    report = tmp_path / "c.json"
    code = main(["-q", "compare", str(path), str(path), "--json", str(report)])
    capsys.readouterr()
    assert code == 0
    names = [o["name"] for o in json.loads(report.read_text())["outputs"]]
    assert names == ["scores", "boxes"]
    code = main(
        ["-q", "compare", str(path), str(path), "--outputs", "boxes", "--json", str(report)]
    )
    assert code == 0, capsys.readouterr().err
    assert [o["name"] for o in json.loads(report.read_text())["outputs"]] == ["boxes"]
