"""OpenVINO backend specifics: honest precision, options, INT8 routes, the async path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeinfer.builder import build, load_engine, load_runner
from edgeinfer.calibration import CalibrationConfig
from edgeinfer.config import BuildConfig
from edgeinfer.engine import manifest_digest
from edgeinfer.errors import (
    BackendError,
    ConfigError,
    DataError,
    EngineError,
    FeedError,
    ModelError,
)
from edgeinfer.model import Model
from tests.conftest import conv_relu_reference, make_conv_relu

ov = pytest.importorskip("openvino")

CAPS = [str(c) for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")]
CPU = str(ov.Core().get_property("CPU", "FULL_DEVICE_NAME"))
needs_bf16 = pytest.mark.skipif("BF16" not in CAPS, reason="CPU plugin reports no BF16")


def _model() -> Model:
    return Model.from_proto(make_conv_relu())


def _x(batch: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, 16, 16)).astype(np.float32)


def _cfg(precision: str = "fp32", **options: str | int | bool) -> BuildConfig:
    return BuildConfig(backend="openvino", precision=precision, options=options)


def _run(engine: object, x: np.ndarray, **opts: object) -> np.ndarray:
    with load_runner(engine, **opts) as r:  # type: ignore[arg-type]
        return r.infer({"x": x}, copy=True)["y"]


@pytest.fixture(scope="module")
def calib_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("calib") / "calib.npz"
    np.savez(path, x=_x(64, seed=11))
    return path


def _int8(calib: Path, **options: str | int | bool) -> BuildConfig:
    cal = CalibrationConfig(method="minmax", samples=64, data=f"npz:{calib}")
    return BuildConfig(
        backend="openvino", precision="int8", calibration=cal, options=options
    )


def test_importing_the_backend_does_not_import_openvino() -> None:
    code = (
        "import sys, edgeinfer, edgeinfer.backends.openvino, edgeinfer.backends.openvino.nncf;"
        "print([m for m in ('openvino', 'nncf') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_fp32_executes_f32_and_matches_onnxruntime() -> None:
    engine = build(_model(), _cfg("fp32"))
    assert engine.precision == "fp32"
    info = engine.metadata["openvino"]
    assert info["inference_precision"] == "f32"
    assert info["requested_hint"] == "f32"
    assert set(info["layer_precisions"]) == {"f32"}
    x = _x()
    ort = build(_model(), BuildConfig(backend="onnxruntime"))
    np.testing.assert_allclose(_run(engine, x), _run(ort, x), atol=1e-4, rtol=0)
    np.testing.assert_allclose(_run(engine, x), conv_relu_reference(x, make_conv_relu()), atol=1e-4)


def test_fp32_ir_keeps_fp32_weights() -> None:
    engine = build(_model(), _cfg("fp32"))
    xml = (engine.path / "model.xml").read_text()
    assert 'element_type="f16"' not in xml
    assert 'element_type="f32"' in xml


def test_manifest_notes_record_version_hint_streams_threads() -> None:
    engine = build(_model(), BuildConfig(backend="openvino", threads=1))
    notes = "\n".join(engine.manifest.notes)
    assert f"OpenVINO {ov.get_version()} on CPU" in notes
    assert "executed precision fp32: INFERENCE_PRECISION_HINT f32 (requested)" in notes
    assert "performance hint LATENCY, streams 1, threads 1" in notes
    assert engine.manifest.backend_version == engine.manifest.to_dict()["backend_version"]
    info = engine.metadata["openvino"]
    assert (info["performance_hint"], info["streams"], info["threads"]) == ("LATENCY", 1, 1)


@needs_bf16
def test_bf16_engine_records_bf16_and_stays_close() -> None:
    engine = build(_model(), _cfg("bf16"))
    assert engine.precision == "bf16"
    assert engine.metadata["openvino"]["inference_precision"] == "bf16"
    assert "bf16" in engine.metadata["openvino"]["layer_precisions"]
    x = _x()
    ref = conv_relu_reference(x, make_conv_relu())
    got = _run(engine, x)
    assert np.abs(got - ref).max() <= 1e-2 * np.abs(ref).max()  # bf16: 8-bit mantissa


def test_inference_precision_default_records_what_the_plugin_runs() -> None:
    engine = build(_model(), _cfg("fp32", inference_precision="default"))
    plugin = ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()
    expected = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}[plugin]
    assert engine.precision == expected
    assert engine.metadata["openvino"]["requested_hint"] == "default"
    assert engine.metadata["openvino"]["inference_precision"] == plugin
    assert (
        f"executed precision {expected}: INFERENCE_PRECISION_HINT {plugin} (plugin default)"
        in engine.manifest.notes
    )
    if expected != "fp32":
        assert any("drop the option to force fp32" in n for n in engine.manifest.notes)


@pytest.mark.skipif("FP16" in CAPS, reason="this CPU plugin reports FP16 support")
def test_fp16_is_refused_where_the_cpu_lacks_it() -> None:
    alternatives = "bf16 or fp32" if "BF16" in CAPS else "fp32"
    message = (
        f"backend 'openvino' cannot run precision 'fp16' on this CPU ({CPU}): its CPU plugin "
        f"reports capabilities {', '.join(CAPS)}, without FP16; use --precision "
        f"{alternatives} instead"
    )
    with pytest.raises(BackendError) as info:
        build(_model(), _cfg("fp16"))
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("precision", "options", "error", "message"),
    [
        (
            "fp32",
            {"inference_precision": "bf16"},
            ConfigError,
            "openvino inference_precision=bf16 contradicts --precision fp32 (allowed: f32, "
            "default); use --precision bf16 instead",
        ),
        (
            "bf16",
            {"inference_precision": "f32"},
            ConfigError,
            "openvino inference_precision=f32 contradicts --precision bf16 (allowed: bf16); "
            "use --precision fp32 instead",
        ),
        (
            "fp32",
            {"colour": "red"},
            ConfigError,
            "unknown openvino option(s) ['colour']; valid: performance_hint, streams, "
            "inference_precision, quantizer, nncf_preset, fast_bias_correction, overflow_fix, "
            "reduce_range, quantize_outputs",
        ),
        (
            "fp32",
            {"performance_hint": "fastest"},
            ConfigError,
            "unknown openvino performance_hint 'fastest'; choose one of LATENCY, THROUGHPUT",
        ),
        (
            "fp32",
            {"streams": 0},
            ConfigError,
            "openvino streams must be a positive integer or AUTO, got 0",
        ),
        (
            "fp32",
            {"inference_precision": "fp8"},
            ConfigError,
            "unknown openvino inference_precision 'fp8'; choose one of f32, bf16, f16, default",
        ),
    ],
)
def test_bad_options_have_exact_messages(
    precision: str, options: dict[str, str | int], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        build(_model(), _cfg(precision, **options))
    assert str(info.value) == message


def test_engine_from_another_openvino_version_is_refused(tmp_path: Path) -> None:
    build(_model(), _cfg("fp32"), tmp_path / "e")
    manifest = json.loads((tmp_path / "e" / "manifest.json").read_text())
    manifest["backend_version"] = "2020.1.0"
    manifest["digest"] = manifest_digest(manifest)  # resealed: the checks behind it
    (tmp_path / "e" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        EngineError, match=r"was built with openvino 2020\.1\.0 but .* is installed"
    ):
        load_engine(tmp_path / "e")


def test_throughput_hint_async_pool_matches_sync() -> None:
    engine = build(_model(), _cfg("fp32", performance_hint="THROUGHPUT", streams=2))
    assert engine.metadata["openvino"]["performance_hint"] == "THROUGHPUT"
    assert engine.metadata["openvino"]["streams"] == 2
    feeds = [{"x": _x(1, seed=s)} for s in range(12)]
    with load_runner(engine) as r:
        sync = [r.infer(f, copy=True)["y"] for f in feeds]
        many = r.infer_many(feeds)
        again = r.infer_many(feeds, jobs=3)
    assert len(many) == len(feeds)
    for s, a, b in zip(sync, many, again, strict=True):
        np.testing.assert_array_equal(a["y"], s)
        np.testing.assert_array_equal(b["y"], s)


def test_infer_many_validates_feeds_and_state() -> None:
    engine = build(_model(), _cfg("fp32"))
    runner = load_runner(engine)
    with pytest.raises(BackendError, match=r"^runner is not active; use it as a context manager"):
        runner.infer_many([{"x": _x(1)}])  # type: ignore[attr-defined]
    with runner as r, pytest.raises(FeedError, match=r"^input 'x' expects float32"):
        r.infer_many([{"x": _x(1)}, {"x": np.zeros((1, 3, 8, 8), np.float32)}])  # type: ignore[attr-defined]


def test_runner_overrides_threads_and_hint() -> None:
    engine = build(_model(), _cfg("fp32"))
    with load_runner(engine, threads=1, performance_hint="THROUGHPUT") as r:
        assert r.properties["threads"] == 1  # type: ignore[attr-defined]
        assert r.properties["performance_hint"] == "THROUGHPUT"  # type: ignore[attr-defined]
        assert r.properties["inference_precision"] == "f32"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="unknown openvino performance_hint 'SLOW'"):
        load_runner(engine, performance_hint="SLOW")


def test_int8_nncf_builds_runs_and_respects_exclude(calib_npz: Path) -> None:
    engine = build(_model(), _int8(calib_npz, quantizer="nncf"))
    assert engine.precision == "int8"
    assert {"u8", "i8"} & set(engine.metadata["openvino"]["layer_precisions"])
    assert any(n.startswith("int8 route: NNCF") for n in engine.manifest.notes)
    x = _x(4, seed=3)
    ref = conv_relu_reference(x, make_conv_relu())
    assert np.abs(_run(engine, x) - ref).max() <= 0.1 * np.abs(ref).max()
    kept = build(_model(), _int8(calib_npz, quantizer="nncf").replace(exclude=("Conv",)))
    assert kept.precision == "fp32"  # the only quantizable layer stays fp32: said so
    assert any(n.startswith("no layer runs in int8") for n in kept.manifest.notes)
    with pytest.raises(ModelError, match=r"^--exclude Nope: no node or op type"):
        build(_model(), _int8(calib_npz, quantizer="nncf").replace(exclude=("Nope",)))


def test_int8_qdq_route_runs_int8(calib_npz: Path) -> None:
    engine = build(_model(), _int8(calib_npz))
    assert engine.precision == "int8"
    assert any(n.startswith("int8 route: QDQ ONNX") for n in engine.manifest.notes)
    x = _x(4, seed=3)
    ref = conv_relu_reference(x, make_conv_relu())
    assert np.abs(_run(engine, x) - ref).max() <= 0.1 * np.abs(ref).max()


@needs_bf16
def test_int8_with_plugin_default_rest_is_recorded(calib_npz: Path) -> None:
    engine = build(_model(), _int8(calib_npz, inference_precision="default"))
    assert engine.precision == "int8+bf16"


def test_int8_without_calibration_data_is_refused() -> None:
    with pytest.raises(DataError, match=r"^int8 needs calibration data; pass --calib DATA"):
        build(
            _model(),
            BuildConfig(backend="openvino", precision="int8", options={"quantizer": "nncf"}),
        )


def test_runner_refuses_an_engine_whose_precision_changed(tmp_path: Path) -> None:
    build(_model(), _cfg("fp32"), tmp_path / "e")
    manifest = json.loads((tmp_path / "e" / "manifest.json").read_text())
    manifest["metadata"]["openvino"]["inference_precision"] = "bf16"
    manifest["digest"] = manifest_digest(manifest)  # resealed: the checks behind it
    (tmp_path / "e" / "manifest.json").write_text(json.dumps(manifest))
    runner = load_runner(tmp_path / "e")
    with pytest.raises(
        BackendError,
        match=r"was built to run bf16 but OpenVINO now runs f32; rebuild the engine$",
    ):
        runner.activate()
    assert not runner.is_active


def test_dynamic_batch_through_the_async_pool() -> None:
    engine = build(_model(), _cfg("fp32"))
    feeds = [{"x": _x(n, seed=n)} for n in (1, 3, 2)]
    with load_runner(engine) as r:
        outs = r.infer_many(feeds)  # type: ignore[attr-defined]
    for feed, out in zip(feeds, outs, strict=True):
        np.testing.assert_allclose(
            out["y"], conv_relu_reference(feed["x"], make_conv_relu()), atol=1e-4
        )


def test_int8_only_options_are_ignored_with_a_note_on_other_precisions() -> None:
    """So an FP32 baseline can be derived from an int8 config by changing the precision."""
    engine = build(_model(), _cfg("fp32", quantizer="nncf", fast_bias_correction=False))
    assert engine.precision == "fp32"
    assert (
        "option(s) fast_bias_correction, quantizer ignored: they apply only to --precision int8"
        in engine.manifest.notes
    )
