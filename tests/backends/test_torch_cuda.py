"""The torch backend on a CUDA GPU: eager and Inductor engines, persistent device buffers,
pinned staging, CUDA graphs, tensor feeds, the profiler, NVML energy and the engine cache
per GPU. Skipped without a CUDA GPU (they ran on an NVIDIA H200: docs/PERFORMANCE.md).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from edgeinfer import BuildConfig, build
from edgeinfer.backends import get_backend
from edgeinfer.backends.torch.compiled import output_close
from edgeinfer.backends.torch.executors import EngineInfo
from edgeinfer.bench.energy import runner_energy
from edgeinfer.builder import load_runner
from edgeinfer.engine import Engine
from edgeinfer.errors import EngineError, FeedError
from edgeinfer.host import current_gpu
from edgeinfer.model import Model

from ..conftest import make_conv_relu

torch = pytest.importorskip("torch")
from tests.torch_models import with_torch  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _model() -> Model:
    return with_torch(Model.from_proto(make_conv_relu()), "conv_relu")


def _x(batch: int = 1) -> np.ndarray:
    return np.random.default_rng(batch).standard_normal((batch, 3, 16, 16)).astype(np.float32)


def _reference(x: np.ndarray) -> np.ndarray:
    from tests.torch_models import conv_relu

    with torch.no_grad():
        return conv_relu()(torch.from_numpy(x)).numpy()


def _cuda(precision: str = "fp16", **options: str) -> BuildConfig:
    return BuildConfig("torch", precision, options={"device": "cuda", **options})


def test_eager_fp16_engine_keeps_its_buffers_and_takes_device_tensors() -> None:
    engine = build(_model(), _cuda())
    info = EngineInfo.from_dict(engine.metadata["torch"])
    assert (info.artifact, info.device, info.precision) == ("eager", "cuda", "fp16")
    assert info.gpu == current_gpu(0)
    x = _x(2)
    with load_runner(engine) as r:
        assert r.cuda_device_index == 0
        out = r.infer({"x": x})["y"]
        assert output_close([out], [_reference(x)], "fp16") is None
        first = out.copy()
        assert r.infer({"x": x})["y"] is out  # the persistent pinned output
        buf = r.input_buffer("x", (2, 3, 16, 16))
        buf[:] = _x(2) * 2
        from_buffer = r.infer({"x": buf}, copy=True)["y"]
        assert output_close([from_buffer], [_reference(_x(2) * 2)], "fp16") is None
        t = r.infer({"x": torch.from_numpy(x).cuda()})["y"]
        assert t.is_cuda and t.dtype == torch.float32
        r.synchronize()
        np.testing.assert_array_equal(t.cpu().numpy(), first)
        assert r.timed_infer({"x": x}) > 0


def test_inductor_engine_replays_graphs_per_batch_and_matches_without_them() -> None:
    engine = build(_model(), _cuda(compile="inductor", batch="1,2"))
    info = EngineInfo.from_dict(engine.metadata["torch"])
    assert info.artifact == "inductor" and info.files == {1: "graph_b1.inductor", 2: "graph_b2.inductor"}
    assert any(n.startswith("loads in a fresh process in ") for n in engine.manifest.notes)
    with load_runner(engine) as r, load_runner(engine, cuda_graphs=False) as plain:
        assert r.cuda_graphs and not plain.cuda_graphs
        for b in (1, 2):
            out = r.infer({"x": _x(b)}, copy=True)["y"]
            assert output_close([out], [_reference(_x(b))], "fp16") is None
            np.testing.assert_allclose(plain.infer({"x": _x(b)})["y"], out, rtol=1e-3, atol=1e-3)
        assert all(s.graph is not None for s in r._slots.values())
        with pytest.raises(FeedError, match=r"compiled for batch 1,2, got batch 3; rebuild with --option batch="):
            r.infer({"x": _x(3)})


def test_bf16_runs_on_this_gpu() -> None:
    engine = build(_model(), _cuda("bf16"))
    with load_runner(engine) as r:
        out = r.infer({"x": _x()})["y"]
    assert output_close([out], [_reference(_x())], "bf16") is None


def test_profile_names_the_cuda_kernels() -> None:
    engine = build(_model(), _cuda(compile="inductor", batch="1"))
    with load_runner(engine) as r:
        prof = r.profile({"x": _x()}, iterations=5)
    assert prof.source == "torch.profiler (CUDA kernels, self time)"
    kernels = [layer for layer in prof.layers if layer.detail == "cuda kernel"]
    assert kernels, [layer.name for layer in prof.layers]
    assert prof.total_ms > 0 and all(layer.time_ms > 0 for layer in prof.layers)


def test_energy_is_read_from_nvml() -> None:
    pytest.importorskip("pynvml")
    engine = build(_model(), _cuda())
    with load_runner(engine) as r:
        res = runner_energy(r, {"x": _x()}, seconds=1.0)
    assert res.available, res.reason
    assert res.inferences > 0 and res.joules_per_inference and res.joules_per_inference > 0
    assert res.avg_power_w and 1 < res.avg_power_w < 2000


def test_the_cache_is_keyed_by_this_gpu_and_other_gpus_are_refused() -> None:
    gpu = current_gpu(0)
    assert gpu is not None
    assert get_backend("torch").target_fingerprint(_cuda()) == gpu.fingerprint()
    engine = build(_model(), _cuda())
    assert build(_model(), _cuda()).path == engine.path
    other = dataclasses.replace(gpu, compute_capability="7.0", name="Tesla V100")
    meta = dict(engine.metadata)
    meta["torch"] = {**meta["torch"], "gpu": other.to_dict()}
    moved = Engine(engine.path, dataclasses.replace(engine.manifest, metadata=meta))
    with pytest.raises(EngineError, match=r"was compiled for Tesla V100 \(sm_70.*compute capability 7.0 \(this machine: .*rebuild the engine on this machine"):
        load_runner(moved).activate()


def test_cli_builds_for_the_gpu_and_bench_reports_energy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pynvml")
    from edgeinfer.cli import main

    eng = tmp_path / "eng"
    code = main(["build", "tests.torch_models:conv_relu", "--input-shape", "1x3x16x16", "--backend", "torch",
                 "--device", "cuda", "--precision", "fp16", "-o", str(eng)])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "eager fp16 on NVIDIA" in " ".join(out.split())
    code = main(["bench", str(eng), "--iterations", "20", "--energy-s", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert re.search(r"energy: \d+\.\d+ mJ/inference, average \d+\.\d W", " ".join(out.split())), out
