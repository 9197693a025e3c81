from __future__ import annotations

from pathlib import Path

from edgeinfer.bench.guardrail import LatencyComparison, compare_latency, guardrail
from edgeinfer.builder import build
from edgeinfer.config import BuildConfig, CalibrationConfig

from ..passes.helpers import write_calib


def _cmp(
    cand: float,
    base: float,
    backend: str = "onnxruntime",
    ratios: tuple[float, ...] = (),
    executed: str | None = None,
) -> LatencyComparison:
    return LatencyComparison(
        "int8", "fp32", cand, base, cand, base, 30, 2, backend, ratios, executed or "int8"
    )


def test_message_says_plainly_when_not_faster() -> None:
    slow = _cmp(1.85, 1.76, ratios=(0.93, 0.95, 0.97))
    assert not slow.faster
    assert slow.message() == (
        "int8 is not faster than fp32 on this host (0.95x, median of 3 interleaved rounds, "
        "range 0.93-0.97x; p50 1.85 ms vs 1.76 ms); keep fp32 or try --backend openvino"
    )
    assert "--backend onnxruntime" in _cmp(1.0, 1.0, "openvino").message()
    assert not _cmp(1.0, 1.02).faster  # within the noise margin is not "faster"


def test_message_when_faster() -> None:
    fast = _cmp(6.1, 18.3, ratios=(2.9, 3.0, 3.1))
    assert fast.faster and round(fast.speedup, 2) == 3.0
    assert fast.message() == (
        "int8 is 3.00x faster than fp32 on this host (3.00x, median of 3 interleaved rounds, "
        "range 2.90-3.10x; p50 6.10 ms vs 18.30 ms)"
    )
    data = fast.to_dict()
    assert data["faster"] is True and data["spread"] == [2.9, 3.1]


def test_a_claim_needs_agreeing_rounds_and_an_executed_precision() -> None:
    # a pooled p50 that looks 1.21x faster, from rounds that disagree: no claim
    noisy = _cmp(1.0, 1.21, ratios=(1.4, 1.3, 0.8, 0.85, 1.21))
    assert noisy.speedup == 1.21 and not noisy.faster
    assert noisy.message().startswith(
        "int8 may be faster than fp32 but the rounds disagree (1.21x, median of 5 interleaved "
        "rounds, range 0.80-1.40x"
    )
    # FP16 that executes FP32 (ONNX Runtime's CPU provider) is never "faster"
    fp16 = LatencyComparison(
        "fp16", "fp32", 1.0, 1.21, 1.0, 1.21, 30, 2, "onnxruntime", (1.2, 1.25, 1.21), "fp32"
    )
    assert fp16.executes_baseline and not fp16.faster
    assert fp16.message().startswith(
        "fp16 executes fp32 on this host, so it is not faster than fp32 (measured 1.21x"
    )


def test_compare_latency_measures_both_engines_interleaved(conv_relu_path: Path) -> None:
    a = build(conv_relu_path, BuildConfig(threads=1))
    b = build(conv_relu_path, BuildConfig(threads=1, options={"optimization_level": "basic"}))
    result = compare_latency(a, b, iterations=10, warmup=2)
    assert result.iterations == 10 and result.threads == 1
    assert result.candidate_p50 > 0 and result.baseline_p50 > 0
    assert result.candidate_p50 <= result.candidate_p99
    assert len(result.ratios) == 2 and all(r > 0 for r in result.ratios)  # 2 rounds of 5
    assert result.spread[0] <= result.speedup <= result.spread[1]


def test_guardrail_builds_the_fp32_baseline_from_the_source_model(
    conv_relu_path: Path, tmp_path: Path
) -> None:
    fp32 = build(conv_relu_path)
    assert guardrail(fp32) is None
    cal = CalibrationConfig(data=write_calib(tmp_path / "c.npz"), method="minmax", samples=32)
    int8 = build(conv_relu_path, BuildConfig(precision="int8", calibration=cal))
    result = guardrail(int8, iterations=5)
    assert result is not None and result.candidate == "int8" and result.baseline == "fp32"
    conv_relu_path.unlink()  # the source is gone: nothing to compare with
    assert guardrail(int8) is None


def test_symbolic_image_size_comes_from_the_stored_preprocessing(tmp_path: Path) -> None:
    import onnx

    from edgeinfer.bench.guardrail import feed_dims
    from edgeinfer.model import Model
    from edgeinfer.preprocess import PreprocessSpec

    from ..conftest import make_conv_relu

    proto = make_conv_relu()
    for vi in (*proto.graph.input, *proto.graph.output):
        dims = vi.type.tensor_type.shape.dim
        dims[2].dim_param, dims[3].dim_param = "height", "width"
    path = tmp_path / "dyn.onnx"
    onnx.save(proto, str(path))
    cal = CalibrationConfig(data=write_calib(tmp_path / "c.npz"), method="minmax", samples=32)
    bare = build(path, BuildConfig(precision="int8", calibration=cal))
    assert feed_dims(bare) == {} and guardrail(bare) is None  # no size known: skipped
    spec = PreprocessSpec(size=(16, 16), resize="direct")
    Model.load(path).with_meta(preprocess=spec.to_dict()).save(path)
    sized = build(path, BuildConfig(precision="int8", calibration=cal))
    assert feed_dims(sized) == {"height": 16, "width": 16}
    result = guardrail(sized, iterations=5)
    assert result is not None and result.iterations == 5
