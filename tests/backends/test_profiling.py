"""Runner.profile on the backends with a per-layer profiler: ONNX Runtime's profiling JSON
and OpenVINO's performance counters, on a small named graph and on a real INT8 zoo model.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgeinfer.backends import list_backends
from edgeinfer.backends.base import LayerProfile
from edgeinfer.backends.onnxruntime.profiling import layer_precision, name_hints
from edgeinfer.backends.openvino.profiling import exec_precision
from edgeinfer.builder import build, load_runner
from edgeinfer.config import BuildConfig
from edgeinfer.errors import BackendError
from edgeinfer.model import Model
from edgeinfer.profile import map_to_source
from tests.profile.graphs import SOURCE_NODES, make_residual

PROFILED = [b for b in ("onnxruntime", "openvino") if b in list_backends(available_only=True)]


def _feed() -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(1).standard_normal((1, 8, 32, 32)).astype(np.float32)}


@pytest.mark.parametrize("backend", PROFILED)
def test_profile_reports_layers_and_leaves_the_runner_alone(backend: str) -> None:
    model = Model.from_proto(make_residual())
    engine = build(model, BuildConfig(backend, threads=1))
    feed = _feed()
    with load_runner(engine) as r:
        before = r.infer(feed, copy=True)["y"]
        buffer = r.infer(feed)["y"]
        prof = r.profile(feed, iterations=4)
        after = r.infer(feed)
        assert after["y"] is buffer  # the runner's own persistent buffers are still bound
        np.testing.assert_array_equal(after["y"], before)
    assert isinstance(prof, LayerProfile)
    assert prof.iterations == 4 and len(prof.iteration_ms) == 4 and len(prof.run_ms) == 4
    assert prof.layers and all(t.time_ms >= 0 for t in prof.layers)
    assert prof.total_ms == pytest.approx(float(np.mean(prof.iteration_ms)))
    assert prof.total_ms == pytest.approx(sum(t.time_ms for t in prof.layers), rel=1e-6)
    assert {e.iteration for e in prof.events} == {0, 1, 2, 3}
    convs = [t for t in prof.layers if "conv" in t.op_type.lower()]
    assert convs and all(t.precision == "fp32" for t in convs)
    mapped = map_to_source(prof.layers, model.proto.graph)
    names = [n for t in mapped for n in t.fused]
    assert sorted(names) == sorted(SOURCE_NODES)  # every ONNX node, each in one layer
    conv1 = next(t for t in mapped if "conv1" in t.fused)
    assert "relu1" in conv1.fused  # the activation runs inside the convolution's kernel


@pytest.mark.parametrize("backend", PROFILED)
def test_profile_refuses_bad_iterations_and_inactive_runners(backend: str) -> None:
    engine = build(Model.from_proto(make_residual()), BuildConfig(backend))
    runner = load_runner(engine)
    with pytest.raises(BackendError, match="runner is not active; profile inside"):
        runner.profile(_feed(), iterations=2)
    with runner as r, pytest.raises(BackendError, match="profile iterations must be >= 1, got 0"):
        r.profile(_feed(), iterations=0)


def test_onnxruntime_workspace_is_the_arena_it_reports() -> None:
    engine = build(Model.from_proto(make_residual()), BuildConfig("onnxruntime"))
    with load_runner(engine) as r:
        prof = r.profile(_feed(), iterations=2)
    # 1x8x32x32 float activations: the arena holds at least one of them
    assert prof.workspace_bytes is not None and prof.workspace_bytes >= 8 * 32 * 32 * 4


def test_every_backend_profiles_or_says_it_cannot() -> None:
    model = Model.from_proto(make_residual())
    for backend in list_backends(available_only=True):
        try:
            engine = build(model, BuildConfig(backend))
        except BackendError:
            continue  # e.g. torch without a PyTorch source for this graph
        with load_runner(engine) as r:
            try:
                prof = r.profile(_feed(), iterations=2)
            except BackendError as exc:
                assert "has no per-layer profiler" in str(exc)
                continue
        assert prof.layers and prof.iterations == 2


@pytest.mark.parametrize(
    ("op", "ins", "outs", "expected"),
    [
        ("QLinearConv", ["uint8", "float"], ["uint8"], "int8"),
        ("MatMulInteger", ["uint8", "int8"], ["int32"], "int8"),
        ("QuantizeLinear", ["float", "float"], ["uint8"], "fp32→int8"),
        ("DequantizeLinear", ["uint8"], ["float"], "int8→fp32"),
        ("Conv", ["float"], ["float"], "fp32"),
        ("Conv", ["float16"], ["float16"], "fp16"),
        ("MaxPool", ["uint8"], ["uint8"], "int8"),
        ("Shape", [], ["int64"], ""),
    ],
)
def test_onnxruntime_layer_precision(op: str, ins: list[str], outs: list[str], expected: str) -> None:
    assert layer_precision(op, ins, outs) == expected


def test_onnxruntime_name_hints() -> None:
    assert name_hints("/features/features.0/Conv_token_12") == ("/features/features.0/Conv",)
    assert name_hints("/b/Clip_output_0_nchwc") == ("/b/Clip_output_0",)
    assert name_hints("conv1") == ("conv1",)


@pytest.mark.parametrize(
    ("exec_type", "runtime", "expected"),
    [
        ("brgconv_avx512_amx_1x1_I8", "u8", "int8"),
        ("jit_avx512_f32", "f32", "fp32"),
        ("brgconv_avx512_amx_bf16", "bf16", "bf16"),
        ("gemm_mlas_f32", "", "fp32"),
        ("undef", "u8", "int8"),
        ("ref_any", "", ""),
    ],
)
def test_openvino_exec_precision(exec_type: str, runtime: str, expected: str) -> None:
    assert exec_precision(exec_type, runtime) == expected


@pytest.mark.slow
@pytest.mark.parametrize("backend", PROFILED)
def test_int8_zoo_model_layers_run_in_int8(backend: str) -> None:
    from edgeinfer import zoo
    from edgeinfer.calibration import CalibrationConfig

    model = zoo.get_model("fashion-cnn")
    cal = CalibrationConfig(method="minmax", samples=32, data="fashion-mnist:train")
    engine = build(model, BuildConfig(backend, "int8", threads=1, calibration=cal), quiet=True)
    x = np.zeros((1, 1, 28, 28), np.float32)
    with load_runner(engine) as r:
        prof = r.profile({engine.inputs[0].name: x}, iterations=3)
    mapped = map_to_source(prof.layers, model.proto.graph)
    convs = [t for t in mapped if "conv" in t.op_type.lower()]
    assert convs and all(t.precision == "int8" for t in convs), [(t.name, t.precision) for t in convs]
    conv_nodes = [n.name for n in model.proto.graph.node if n.op_type == "Conv"]
    assert all(any(c in t.fused for t in convs) for c in conv_nodes)
