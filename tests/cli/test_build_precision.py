"""``edgeinfer build --precision``, calibration flags, the guardrail and ``calib inspect``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeinfer.builder import load_engine
from edgeinfer.cli import main

from ..passes.helpers import write_calib


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, " ".join(out.split()), " ".join(err.split())


def test_int8_build_records_calibration_executed_precision_and_guardrail(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_calib(tmp_path / "c.npz")
    cache = tmp_path / "calib.json"
    report = tmp_path / "build.json"
    args = ["build", str(conv_relu_path), "--precision", "int8", "--calib", data]
    args += ["--calibrator", "minmax", "--calib-samples", "32", "--calib-cache", str(cache)]
    # a one-layer model: with its output float (the default) nothing would run in int8
    args += ["--option", "quantize_outputs=true"]
    code, out, err = run(capsys, *args, "-o", str(tmp_path / "e1"), "--json", str(report))
    assert code == 0, err
    assert "precision: int8" in out and "calibration: ran minmax on 32 samples" in out
    engine = load_engine(tmp_path / "e1")
    assert engine.precision == "int8" and engine.manifest.precision == "int8"
    assert engine.config.calibration.method == "minmax"
    g = json.loads(report.read_text())["guardrail"]
    assert g["candidate"] == "int8" and g["baseline"] == "fp32" and g["iterations"] == 35
    assert len(g["ratios"]) == 7 and g["spread"][0] <= g["speedup"] <= g["spread"][1]
    assert g["message"] in out
    # a second build (another engine: per-tensor weights) reuses the calibration cache
    code, out, _ = run(capsys, *args, "--per-tensor", "-o", str(tmp_path / "e2"), "--no-guardrail")
    assert code == 0 and f"calibration: reused cache ({cache})" in out
    assert "faster" not in out


def test_fp16_build_says_what_actually_executes(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "build", str(conv_relu_path), "--precision", "fp16", "-o", str(tmp_path / "e")
    )
    assert code == 0
    engine = load_engine(tmp_path / "e")
    assert engine.manifest.precision == "fp16"
    assert engine.precision in ("fp16", "fp32")
    if engine.precision == "fp32":
        assert "precision: requested fp16, executes fp32" in out
        assert "ONNX Runtime's CPU provider has no FP16 kernels for Conv" in out
        # never "faster" when it runs FP32 anyway: the difference is noise
        assert "fp16 executes fp32 on this host, so it is not faster than fp32" in " ".join(
            out.split()
        )
    else:
        assert "fp16 is" in out or "fp16 may be" in out  # guardrail verdict


def test_exclude_flag_reaches_the_int8_pass(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_calib(tmp_path / "c.npz")
    code, out, err = run(
        capsys, "build", str(conv_relu_path), "--precision", "int8", "--calib", data,
        "--calib-samples", "32", "--exclude", "Conv", "-o", str(tmp_path / "e"), "--no-guardrail",
    )  # fmt: skip
    assert code == 0, err
    assert "int8: kept in FP32 by --exclude: Conv" in out
    assert load_engine(tmp_path / "e").config.exclude == ("Conv",)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--precision", "bf16"],
            "edgeinfer: error: backend 'onnxruntime' does not support precision 'bf16': its CPU "
            "provider has no bfloat16 kernels (MatMul, Conv); use --backend openvino",
        ),
        (
            ["--precision", "int8"],
            "edgeinfer: error: int8 needs calibration data; pass --calib DATA",
        ),
        (
            ["--precision", "fp16", "--calibrator", "entropy"],
            "edgeinfer: error: calibration flags (method) only apply to --precision int8",
        ),
        (
            ["--precision", "int8", "--calib", "photos", "--calib-samples", "4"],
            "edgeinfer: error: calibration samples (4) is below the minimum (16); use "
            "--calib-samples 16 or more",
        ),
        (
            ["--precision", "fp16", "--exclude", "Cnov"],
            "edgeinfer: error: --exclude Cnov: no node or op type of that name in the model",
        ),
    ],
)
def test_bad_precision_input_fails_cleanly_and_writes_nothing(
    conv_relu_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    out_dir = tmp_path / "e"
    code, _, err = run(capsys, "build", str(conv_relu_path), "-o", str(out_dir), *extra)
    assert code == 2
    assert err.startswith(message), err
    assert not out_dir.exists()


def test_too_small_calibration_set_is_a_data_error(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_calib(tmp_path / "c.npz", n=10)
    code, _, err = run(
        capsys, "build", str(conv_relu_path), "--precision", "int8", "--calib", data,
        "-o", str(tmp_path / "e"),
    )  # fmt: skip
    assert code == 2
    assert "has 10 samples, fewer than the minimum 16; add more samples" in err
    assert not (tmp_path / "e").exists()


def test_cache_from_another_model_is_refused(
    conv_relu_path: Path, matmul_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "calib.json"
    args = ["--precision", "int8", "--calibrator", "minmax", "--calib-cache", str(cache)]
    data = write_calib(tmp_path / "c.npz")
    code, _, err = run(
        capsys, "build", str(conv_relu_path), "-o", str(tmp_path / "a"), "--no-guardrail",
        "--calib", data, *args,
    )  # fmt: skip
    assert code == 0, err
    mm = write_calib(tmp_path / "m.npz", shape=(4,))
    code, _, err = run(
        capsys, "build", str(matmul_path), "-o", str(tmp_path / "b"), "--calib", mm, *args
    )
    assert code == 2
    assert f"edgeinfer: error: calibration cache '{cache}' was made for another model" in err
    assert not (tmp_path / "b").exists()


def test_calib_inspect_prints_key_and_ranges(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "calib.json"
    data = write_calib(tmp_path / "c.npz")
    run(
        capsys, "build", str(conv_relu_path), "-o", str(tmp_path / "e"), "--precision", "int8",
        "--calib", data, "--calibrator", "percentile", "--calib-cache", str(cache), "--no-guardrail",
    )  # fmt: skip
    code, out, _ = run(capsys, "calib", "inspect", str(cache))
    assert code == 0
    for text in ("method", "percentile", "data fingerprint", "key digest", "tensor", "min", "max"):
        assert text in out
    code, out, _ = run(capsys, "calib", "inspect", str(cache), "--json", "-")
    assert json.loads(out)[str(cache)]["key"]["method"] == "percentile"
    code, _, err = run(capsys, "calib", "inspect", str(tmp_path / "missing.json"))
    assert code == 2 and "calibration cache" in err and "does not exist" in err


def test_bench_of_a_lower_precision_engine_runs_the_guardrail(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eng = tmp_path / "e"
    code, _, _ = run(
        capsys,
        "build",
        str(conv_relu_path),
        "--precision",
        "fp16",
        "-o",
        str(eng),
        "--no-guardrail",
    )
    assert code == 0
    report = tmp_path / "b.json"
    code, out, _ = run(capsys, "bench", str(eng), "--iterations", "10", "--json", str(report))
    assert code == 0 and "median of 7 interleaved rounds" in out
    assert json.loads(report.read_text())["guardrail"]["baseline"] == "fp32"
    code, out, _ = run(capsys, "bench", str(eng), "--iterations", "10", "--no-guardrail")
    assert code == 0 and "interleaved rounds" not in out


def test_changed_calibration_files_rebuild_the_engine(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_calib(tmp_path / "c.npz")
    args = ["build", str(conv_relu_path), "--precision", "int8", "--calib", data]
    args += ["--calibrator", "minmax", "--no-guardrail", "--force", "-o", str(tmp_path / "e")]
    assert run(capsys, *args)[0] == 0
    code, out, _ = run(capsys, *args)
    assert code == 0 and "cache hit" in out  # same data: the engine cache serves it
    write_calib(tmp_path / "c.npz", seed=7)  # same spec, new arrays
    code, out, _ = run(capsys, *args)
    assert code == 0 and "cache hit" not in out and "calibration: ran minmax" in out


def test_calib_cache_file_is_written_when_the_engine_comes_from_the_cache(
    conv_relu_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The same relative --calib-cache name in two directories: the same engine key, so the
    # second build is an engine-cache hit; its calibration file must still be written.
    data = write_calib(tmp_path / "c.npz")
    flags = ["--precision", "int8", "--calib", data, "--calibrator", "minmax", "--no-guardrail",
             "--calib-cache", "calib.json"]  # fmt: skip
    for sub in ("one", "two"):
        (tmp_path / sub).mkdir()
        monkeypatch.chdir(tmp_path / sub)
        code, out, err = run(capsys, "build", str(conv_relu_path), "-o", "eng", *flags)
        assert code == 0 and (tmp_path / sub / "calib.json").exists(), err
    first, second = (str(tmp_path / d / "calib.json") for d in ("one", "two"))
    code, out, _ = run(capsys, "calib", "inspect", first, second, "--json", "-")
    both = json.loads(out)
    assert both[first]["ranges"] == both[second]["ranges"]
