"""The torch backend without compilation: options, host rules, eager engines, tensors in and
out, the profiler, GPU fingerprints and refusals, energy, candidates. Compiled engines:
test_torch_compiled.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from edgeinfer import BuildConfig, build
from edgeinfer.backends import backend_class, get_backend
from edgeinfer.backends.torch.compiled import output_close
from edgeinfer.backends.torch.executors import EngineInfo
from edgeinfer.backends.torch.freshload import _describe_exit
from edgeinfer.backends.torch.settings import BatchProfile, TorchSettings, parse_batch
from edgeinfer.bench.energy import measure_energy, runner_energy
from edgeinfer.builder import engine_key, load_runner
from edgeinfer.engine import Engine
from edgeinfer.errors import BackendError, ConfigError, EngineError, FeedError
from edgeinfer.host import GpuInfo, HostInfo, gpu_mismatches
from edgeinfer.model import Model
from edgeinfer.search.candidates import enumerate_candidates

from ..conftest import make_conv_relu

torch = pytest.importorskip("torch")
from tests.torch_models import with_torch  # noqa: E402

H200 = GpuInfo("NVIDIA H200", "9.0", 143771, "580.159", "13.0", "3.6.0", "2.11.0+cu130")


def _model() -> Model:
    return with_torch(Model.from_proto(make_conv_relu()), "conv_relu")


def _x(batch: int = 1) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((batch, 3, 16, 16)).astype(np.float32)


def _reference(x: np.ndarray) -> np.ndarray:
    from tests.torch_models import conv_relu

    with torch.no_grad():
        return conv_relu()(torch.from_numpy(x)).numpy()


# -- options ----------------------------------------------------------------------------------
def test_settings_defaults_and_derived_values() -> None:
    s = TorchSettings()
    assert (s.device, s.compile, s.artifact_kind, s.compiled) == ("cpu", "none", "eager", False)
    tuned = TorchSettings(autotune=True)
    assert tuned.compile == "inductor" and tuned.artifact_kind == "aoti"  # autotune compiles
    assert TorchSettings(device="cuda", compile="inductor").artifact_kind == "inductor"
    assert TorchSettings(device="cuda").use_channels_last("fp16", 4)
    assert not TorchSettings(device="cuda").use_channels_last("fp32", 4)
    assert not TorchSettings(channels_last=True).use_channels_last("fp16", 2)
    assert TorchSettings(compile="max-autotune") == TorchSettings(compile="inductor", autotune=True)
    assert TorchSettings(compile="default") == TorchSettings(compile="inductor")
    with pytest.raises(ConfigError, match=r"unknown torch compile 'jit'; choose one of none, inductor \(or a torch.compile mode: default, "):
        TorchSettings(compile="jit")


def test_batch_profiles_are_static_sizes_or_a_range() -> None:
    assert parse_batch("", 4) == BatchProfile(sizes=(4,))
    p = parse_batch("32,1,8,8", 1)
    assert p.sizes == (1, 8, 32) and not p.dynamic and p.accepts(8) and not p.accepts(2)
    r = parse_batch("1-64", 1)
    assert r.dynamic and r.accepts(64) and not r.accepts(65) and r.describe() == "1-64"
    assert r.example_batch() == 2  # torch.export specializes a batch of 1
    with pytest.raises(ConfigError, match=r"torch option batch='x' is not a batch profile; use"):
        parse_batch("x", 1)
    with pytest.raises(ConfigError, match=r"must be MIN-MAX with 1 <= MIN < MAX <= 65536"):
        parse_batch("8-2", 1)
    with pytest.raises(ConfigError, match=r"must be sizes in 1..65536"):
        parse_batch("0,4", 1)


def test_options_are_parsed_once_and_refused_with_the_valid_names() -> None:
    backend = get_backend("torch")
    cfg = BuildConfig("torch", options={"compile": "inductor", "batch": 8, "autotune": "yes"})
    s = backend.options(cfg)
    assert s.batch == "8" and s.autotune is True and s.compile == "inductor"
    with pytest.raises(ConfigError, match=r"unknown torch device 'tpu'; choose one of cpu, cuda"):
        backend.options(BuildConfig("torch", options={"device": "tpu"}))
    with pytest.raises(ConfigError, match=r"unknown torch option\(s\) \['mode'\]; valid: device"):
        backend.options(BuildConfig("torch", options={"mode": "x"}))


# -- host rules -------------------------------------------------------------------------------
def test_int8_is_refused_with_the_reason() -> None:
    with pytest.raises(BackendError, match=r"PyTorch's INT8/FP8 inference \(torchao\) quantizes Linear layers only"):
        get_backend("torch").check_config(BuildConfig("torch", "int8"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused() -> None:
    with pytest.raises(BackendError, match=r"^--option device=cuda needs an NVIDIA GPU visible to a CUDA build of torch, and this machine has none"):
        get_backend("torch").check_config(BuildConfig("torch", "fp16", options={"device": "cuda"}))


def test_half_precisions_need_native_cpu_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    avx2 = HostInfo("x86_64", "AVX2 CPU", 2, ("avx", "avx2", "fma"))
    monkeypatch.setattr("edgeinfer.backends.torch.backend.current_host", lambda: avx2)
    backend = get_backend("torch")
    with pytest.raises(BackendError, match=r"this CPU has no native bf16 kernels \(avx512_bf16 or amx_bf16\)"):
        backend.check_config(BuildConfig("torch", "bf16"))
    with pytest.raises(BackendError, match=r"no native fp16 kernels"):
        backend.check_config(BuildConfig("torch", "fp16"))
    backend.check_config(BuildConfig("torch", "fp32"))


def test_a_batch_range_needs_aoti() -> None:
    with pytest.raises(ConfigError, match=r"a batch range needs --option artifact=aoti"):
        get_backend("torch").check_config(
            BuildConfig("torch", options={"compile": "inductor", "artifact": "inductor", "batch": "1-8"})
        )


def test_exclusions_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"the torch backend converts the whole module: drop --exclude"):
        get_backend("torch").check_config(BuildConfig("torch", exclude=("Conv",)))


# -- eager engines ----------------------------------------------------------------------------
def test_eager_engine_matches_the_module_and_takes_tensors() -> None:
    engine = build(_model(), BuildConfig("torch"))
    info = EngineInfo.from_dict(engine.metadata["torch"])
    assert (info.artifact, info.device, info.precision) == ("eager", "cpu", "fp32")
    x = _x(2)
    with load_runner(engine) as r:
        out = r.infer({"x": x})["y"]
        np.testing.assert_allclose(out, _reference(x), rtol=1e-5, atol=1e-5)
        t = r.infer({"x": torch.from_numpy(x)})["y"]
        assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
        np.testing.assert_array_equal(t.numpy(), out)
        with pytest.raises(FeedError, match=r"input 'x' expects float32\[batch,3,16,16\], got tensor float64\[2, 3, 16, 16\]"):
            r.infer({"x": torch.from_numpy(x.astype(np.float64))})
        with pytest.raises(FeedError, match=r"feed has inputs \['z'\]; the engine's inputs are x: "):
            r.infer({"z": torch.from_numpy(x)})


@pytest.mark.skipif(
    not {"avx512_bf16", "amx_bf16"} & set(__import__("edgeinfer.host").host.current_host().isa_flags),
    reason="no native bf16 on this CPU",
)
def test_eager_bf16_engine_holds_converted_weights() -> None:
    engine = build(_model(), BuildConfig("torch", "bf16"))
    assert engine.precision == "bf16"
    state = torch.load(engine.payload_path("weights.pt"), weights_only=True)
    assert all(t.dtype == torch.bfloat16 for t in state.values())
    x = _x()
    with load_runner(engine) as r:
        out = r.infer({"x": x})["y"]
    assert out.dtype == np.float32
    assert output_close([out], [_reference(x)], "bf16") is None


def test_runner_options_come_from_the_typed_settings() -> None:
    engine = build(_model(), BuildConfig("torch", options={"cuda_graphs": "false"}))
    assert load_runner(engine).cuda_graphs is False
    assert load_runner(engine, cuda_graphs=True).cuda_graphs is True


def test_profile_names_the_operators() -> None:
    engine = build(_model(), BuildConfig("torch"))
    with load_runner(engine) as r:
        prof = r.profile({"x": _x()}, iterations=3)
    assert prof.iterations == 3 and prof.source.startswith("torch.profiler (CPU operators")
    names = {layer.name for layer in prof.layers}
    assert any("conv" in n for n in names), names
    assert prof.total_ms > 0 and all(layer.time_ms > 0 for layer in prof.layers)


# -- GPU engines on a machine without one -----------------------------------------------------
def _as_cuda_engine(engine: Engine, gpu: GpuInfo) -> Engine:
    meta = dict(engine.metadata)
    meta["torch"] = {**meta["torch"], "device": "cuda", "device_index": 0, "gpu": gpu.to_dict()}
    return Engine(engine.path, dataclasses.replace(engine.manifest, metadata=meta))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_engine_is_refused_without_a_gpu() -> None:
    engine = _as_cuda_engine(build(_model(), BuildConfig("torch")), H200)
    runner = load_runner(engine)
    with pytest.raises(EngineError, match=r"runs on a CUDA GPU and this machine has none .* rebuild it with --option device=cpu"):
        runner.activate()


def test_gpu_fingerprints_name_what_differs() -> None:
    h100 = dataclasses.replace(H200, name="NVIDIA H100 80GB HBM3", memory_mib=81559)
    assert gpu_mismatches(H200, h100) == []  # same compute capability and software
    a100 = dataclasses.replace(H200, name="NVIDIA A100", compute_capability="8.0")
    assert gpu_mismatches(H200, a100) == ["compute capability 9.0 (this machine: 8.0)"]
    newer = dataclasses.replace(H200, torch="2.13.0+cu130", triton="3.7.0")
    assert gpu_mismatches(H200, newer) == [
        "triton 3.6.0 (this machine: 3.7.0)",
        "torch 2.11.0+cu130 (this machine: 2.13.0+cu130)",
    ]
    assert gpu_mismatches(H200, None) == ["no CUDA GPU"]
    assert H200.describe() == (
        "NVIDIA H200 (sm_90, 143771 MiB), CUDA 13.0, torch 2.11.0+cu130, Triton 3.6.0, driver 580.159"
    )
    assert GpuInfo.from_dict({**H200.to_dict(), "future_field": 1}) == H200


def test_cuda_engines_are_cached_per_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    backend, model = get_backend("torch"), _model()
    cuda = BuildConfig("torch", "fp16", options={"device": "cuda"})
    gpu = [H200]
    monkeypatch.setattr("edgeinfer.backends.torch.backend.current_gpu", lambda index=None: gpu[0])
    assert backend.target_fingerprint(cuda) == "NVIDIA H200|9.0|13.0|3.6.0|2.11.0+cu130"
    on_h200 = engine_key(model, cuda, "1", backend.target_fingerprint(cuda))
    assert on_h200 == engine_key(model, cuda, "1", backend.target_fingerprint(cuda))
    gpu[0] = dataclasses.replace(H200, name="NVIDIA H100 80GB HBM3", memory_mib=81559)
    assert engine_key(model, cuda, "1", backend.target_fingerprint(cuda)) != on_h200
    gpu[0] = dataclasses.replace(H200, driver="590.1", memory_mib=1)  # not compiled against
    assert engine_key(model, cuda, "1", backend.target_fingerprint(cuda)) == on_h200
    cpu = BuildConfig("torch")
    assert backend.target_fingerprint(cpu) == ""
    assert engine_key(model, cpu, "1", "") == engine_key(model, cpu, "1")  # CPU keys unchanged


def test_the_engine_cache_rebuilds_for_another_target(monkeypatch: pytest.MonkeyPatch) -> None:
    target = ["gpu A"]
    monkeypatch.setattr(type(get_backend("torch")), "target_fingerprint", lambda self, config: target[0])
    model = _model()
    first = build(model, BuildConfig("torch"))
    assert build(model, BuildConfig("torch")).from_cache
    target[0] = "gpu B"
    second = build(model, BuildConfig("torch"))
    assert not second.from_cache and second.path != first.path
    target[0] = "gpu A"
    assert build(model, BuildConfig("torch")).path == first.path


def test_engine_info_round_trips_and_refuses_other_batches() -> None:
    info = EngineInfo("aoti", "cuda", "fp16", True, BatchProfile(sizes=(1, 8)), {1: "a", 8: "b"}, 0, H200, None, "2.11")
    assert EngineInfo.from_dict(info.to_dict()) == info
    info.check_batch(8)
    with pytest.raises(FeedError, match=r"^this torch engine is compiled for batch 1,8, got batch 3; rebuild with --option batch="):
        info.check_batch(3)
    with pytest.raises(BackendError, match=r"the torch engine's metadata is malformed"):
        EngineInfo.from_dict({"batch": {"low": "x"}})


# -- energy -----------------------------------------------------------------------------------
def test_energy_says_not_available_on_the_cpu() -> None:
    res = measure_energy(lambda: None, lambda: None, gpu_index=None)
    assert not res.available
    assert res.describe() == "energy: not available (the engine runs on the CPU; CPU energy (RAPL) is not read yet)"
    with pytest.raises(ConfigError, match=r"energy window must be >= 1 s"):
        measure_energy(lambda: None, lambda: None, gpu_index=0, seconds=0.5)
    engine = build(_model(), BuildConfig("torch"))
    with load_runner(engine) as r:
        assert not runner_energy(r, {"x": _x()}).available


# -- helpers ----------------------------------------------------------------------------------
def test_output_tolerance_and_exit_descriptions() -> None:
    ref = [np.array([[10.0, -2.0]], np.float32)]
    assert output_close([ref[0] + 0.001], ref, "fp32") is None
    assert output_close([ref[0] + 0.5], ref, "fp32") == "output 0 differs by 0.5 (largest value 10)"
    assert output_close([ref[0] + 0.2], ref, "fp16") is None
    assert output_close([np.full((1, 2), np.nan, np.float32)], ref, "fp16") is not None
    assert output_close([], ref, "fp32") == "0 outputs instead of 1"
    assert _describe_exit(-11) == "crashed with SIGSEGV"
    assert _describe_exit(3) == "exited with code 3"


# -- the search -------------------------------------------------------------------------------
def test_the_compiled_variants_are_candidates() -> None:
    assert backend_class("torch").capabilities.searched_by_default
    cands, left_out = enumerate_candidates(("torch",), ("fp32",))
    names = [c.name for c in cands]
    assert "torch/fp32[compile=inductor]" in names
    assert "torch/fp32" not in names  # the eager module is the starting point, not a candidate
    if not torch.cuda.is_available():
        assert any(
            what == "torch/fp32[compile=inductor,device=cuda]" and "needs an NVIDIA GPU" in why
            for what, why in left_out
        )
    cands, left_out = enumerate_candidates(("torch",), ("fp32",), torch_source=False)
    assert cands == [] and left_out == [("torch", "it builds from a PyTorch source and the model has none")]


def test_a_saved_eager_engine_reloads(tmp_path: Path) -> None:
    engine = build(_model(), BuildConfig("torch"), tmp_path / "eng")
    with load_runner(tmp_path / "eng") as r:
        np.testing.assert_allclose(r.infer({"x": _x()})["y"], _reference(_x()), rtol=1e-5, atol=1e-5)
    assert engine.manifest.notes[0].startswith("PyTorch ") and "eager fp32 on CPU" in engine.manifest.notes[0]
