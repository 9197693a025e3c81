"""PyTorch on an NVIDIA GPU: eager FP32/FP16, torch.compile, max-autotune and the edgeinfer
torch engine, one command that builds, checks and times everything and writes JSON.

    python benchmarks/gpu.py --out DIR                 # on the GPU machine (all jobs: ~30 min; split with --jobs)
    python benchmarks/gpu.py --out DIR --jobs pytest:cuda,bf16:resnet50   # KIND:MODEL[@BATCHES] jobs
    python benchmarks/gpu.py --smoke --out DIR         # on a CPU: every code path, tiny model

Per model (ResNet-50 and MobileNetV3-Large with random weights, MobileNetV2 with real
ImageNet weights) and batch (1 and 256): CUDA-event latency p50/p90/p99 and throughput of
eager FP32, eager FP16 (channels-last, cuDNN benchmark), ``torch.compile`` (default mode),
``torch.compile(mode="max-autotune")`` and the edgeinfer engine (FP16, Inductor, CUDA graphs,
with and without kernel auto-tuning; and BF16): cold build time, the saved engine's load +
first inference in a fresh process (empty Inductor cache), each later batch size's first
inference there (its artifact loads lazily) and its p50 there, ``runner.profile`` (the
torch.profiler's kernels), NVML energy per inference, and FP16/BF16 fidelity against FP32 on
real photo crops (MobileNetV2).

Job kinds: ``peers`` (eager + torch.compile), ``engine`` (FP16 engine), ``bf16`` (BF16 engine),
``autotune`` (engine with --autotune), ``maxautotune`` (the max-autotune peer), ``pytest`` (the
torch tests, GPU tests included: ``pytest:cuda``; its log lands next to the JSON).

Each job runs in its own child process (a crash is reported, not fatal) with its own empty
TORCHINDUCTOR_CACHE_DIR; jobs run in priority order inside ``--budget-s`` and every finished
job is written to ``DIR/gpu_results.json`` at once, so a time-out keeps what was measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

MODELS = {  # name -> zoo name (GPU run)
    "resnet50": "resnet50",
    "mobilenetv2": "mobilenetv2-imagenet",
    "mobilenetv3": "mobilenetv3-large",
}
SMOKE_SOURCE = ("edgeinfer.zoo.archs:fashion_cnn", (1, 1, 28, 28))
TARGETS = {"r50_bs1_p50_ms": 0.45, "r50_bs256_img_s": 30000.0, "ready_s": 10.0,
           "fresh_p50_within": 0.05, "agreement": 0.995, "top5": 1.0}


# ----------------------------------------------------------------------------- helpers
def _sync(torch: Any) -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def time_fn(torch: Any, fn: Any, *, seconds: float = 1.0, warmup_s: float = 0.5) -> dict[str, float]:
    """Latency of ``fn`` (CUDA events per call on a GPU, host clock on a CPU) in ms, after
    ``warmup_s`` seconds of calls (at least 10), so an idle GPU's clocks have ramped up.
    """
    t_end, n = time.perf_counter() + warmup_s, 0
    while n < 10 or time.perf_counter() < t_end:
        fn()
        n += 1
        if n % 10 == 0:
            _sync(torch)
    _sync(torch)
    t0 = time.perf_counter()
    fn()
    _sync(torch)
    est = max(time.perf_counter() - t0, 1e-5)
    iters = int(min(max(seconds / est, 10), 300))
    cuda = torch.cuda.is_available()
    ts = []
    for _ in range(iters):
        if cuda:
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            e.synchronize()
            ts.append(s.elapsed_time(e))
        else:
            t = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t) * 1e3)
    a = np.sort(np.asarray(ts))
    return {"p50_ms": round(float(np.percentile(a, 50)), 4), "p90_ms": round(float(np.percentile(a, 90)), 4),
            "p99_ms": round(float(np.percentile(a, 99)), 4), "iterations": iters}


def _with_tput(stats: dict[str, float], batch: int) -> dict[str, float]:
    stats["img_per_s"] = round(batch / (stats["p50_ms"] / 1e3), 1)
    return stats


def _module(args: argparse.Namespace, name: str) -> Any:
    if args.smoke and name == "smoke":
        from edgeinfer.source import TorchSource

        return TorchSource(SMOKE_SOURCE[0], input_shape=SMOKE_SOURCE[1]).load()
    from edgeinfer.zoo.entries import torch_module

    return torch_module(MODELS[name]).eval()


def _shape(args: argparse.Namespace, name: str) -> tuple[int, ...]:
    return SMOKE_SOURCE[1][1:] if name == "smoke" else (3, 224, 224)


def _photos(n: int) -> np.ndarray:
    from edgeinfer.data.datasets import iter_batches, open_dataset
    from edgeinfer.preprocess import PreprocessSpec

    ds = open_dataset(f"photos:{n}", seed=1)
    return np.concatenate([b for b, _ in iter_batches(ds, PreprocessSpec.imagenet(), 64)])


def fidelity(ref: np.ndarray, cand: np.ndarray) -> dict[str, float]:
    """Top-1 agreement on confident inputs (ref top-1 prob >= 0.5) and top-1-in-top-5."""
    from edgeinfer.evaluate import metrics

    conf = metrics.confident(metrics.probabilities(ref), 0.5)
    agree = metrics.agreement(ref, cand)
    top5 = metrics.top_k_contains(cand, ref, 5)
    return {"n": len(ref), "confident": int(conf.sum()),
            "agreement_confident": round(float(agree[conf].mean()) if conf.any() else float("nan"), 5),
            "agreement_all": round(float(agree.mean()), 5), "top1_in_top5": round(float(top5.mean()), 5),
            "max_abs": round(float(np.abs(ref - cand).max()), 5)}


def _run_batched(fn: Any, x: np.ndarray, batch: int) -> np.ndarray:
    outs = []
    for i in range(0, len(x), batch):
        chunk = x[i:i + batch]
        n = len(chunk)
        if n < batch:
            chunk = np.concatenate([chunk, np.zeros((batch - n, *chunk.shape[1:]), chunk.dtype)])
        outs.append(np.array(fn(np.ascontiguousarray(chunk)), copy=True)[:n])
    return np.concatenate(outs)


# ----------------------------------------------------------------------------- jobs
def job_peers(args: argparse.Namespace, name: str, modes: list[str] | None = None) -> dict[str, Any]:
    """Eager FP32, eager FP16/BF16 and torch.compile peers (only ``modes`` when given)."""
    import torch

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    low = torch.float16 if dev == "cuda" else torch.bfloat16
    cl = torch.channels_last
    m32 = _module(args, name).to(dev)
    mlo = _module(args, name).to(dev, low).to(memory_format=cl)
    torch.backends.cudnn.benchmark = True
    out: dict[str, Any] = {"low_precision": str(low).removeprefix("torch.")}
    for b in args.batches:
        x = torch.randn(b, *_shape(args, name), device=dev)
        xl = x.to(low).contiguous(memory_format=cl)
        r: dict[str, Any] = {}
        with torch.inference_mode():
            if modes is None:
                r["eager_fp32"] = _with_tput(time_fn(torch, lambda x=x: m32(x)), b)
                r["eager_low"] = _with_tput(time_fn(torch, lambda xl=xl: mlo(xl)), b)
            for mode in modes or args.compile_modes:
                torch._dynamo.reset()
                cm = torch.compile(mlo, mode=None if mode == "default" else mode, dynamic=False)
                t0 = time.perf_counter()
                cm(xl)
                _sync(torch)
                c = time.perf_counter() - t0
                r[f"compile_{mode}"] = {**_with_tput(time_fn(torch, lambda cm=cm, xl=xl: cm(xl)), b), "compile_s": round(c, 1)}
        out[f"b{b}"] = r
        _save_partial(args, out)
    if modes is None and name in ("mobilenetv2", "smoke") and args.photos:
        out["fidelity_eager"] = _fidelity_eager(args, torch, dev)
    return out


def _fidelity_eager(args: argparse.Namespace, torch: Any, dev: str) -> dict[str, Any]:
    x = _photos(args.photos)
    m = _module(args, "mobilenetv2").to(dev)
    res = {}
    with torch.inference_mode():
        ref = _run_batched(lambda a: m(torch.from_numpy(a).to(dev)).float().cpu().numpy(), x, 64)
        for p in (["float16", "bfloat16"] if dev == "cuda" else ["bfloat16"]):
            dt = getattr(torch, p)
            ml = _module(args, "mobilenetv2").to(dev, dt)
            cand = _run_batched(lambda a, ml=ml, dt=dt: ml(torch.from_numpy(a).to(dev, dt)).float().cpu().numpy(), x, 64)
            res[p] = fidelity(ref, cand)
    np.save(Path(args.work) / "mnv2_ref.npy", ref)
    return res


def _edgeinfer_model(args: argparse.Namespace, name: str) -> Any:
    from edgeinfer.builder import resolve_model
    from edgeinfer.model import Model
    from edgeinfer.source import TorchSource

    if name == "smoke":
        return Model.from_torch(TorchSource(SMOKE_SOURCE[0], input_shape=SMOKE_SOURCE[1]))
    return resolve_model(f"zoo:{MODELS[name]}").model


def _reference_logits(args: argparse.Namespace, torch: Any, dev: str) -> np.ndarray:
    """Eager FP32 MobileNetV2 logits on the photo crops (computed once per run)."""
    ref_path = Path(args.work) / "mnv2_ref.npy"
    if not ref_path.exists():
        m = _module(args, "mobilenetv2").to(dev)
        with torch.inference_mode():
            ref = _run_batched(lambda a: m(torch.from_numpy(a).to(dev)).float().cpu().numpy(), _photos(args.photos), 64)
        np.save(ref_path, ref)
    return np.load(ref_path)


def _profile_summary(r: Any, feed: dict[str, Any]) -> dict[str, Any]:
    """``runner.profile`` (torch.profiler) of 20 inferences: the top 10 layers."""
    prof = r.profile(feed, iterations=20)
    kinds: dict[str, int] = {}
    for layer in prof.layers:
        kinds[layer.detail] = kinds.get(layer.detail, 0) + 1
    return {"source": prof.source, "total_ms": prof.total_ms, "layers": len(prof.layers), "by_detail": kinds,
            "top": [{"name": t.name[:90], "ms": round(t.time_ms, 4), "detail": t.detail} for t in prof.layers[:10]]}


def job_engine(args: argparse.Namespace, name: str, autotune: bool, precision: str = "") -> dict[str, Any]:
    import torch

    from edgeinfer import BuildConfig, build
    from edgeinfer.bench.energy import runner_energy
    from edgeinfer.builder import load_runner

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    prec = precision or ("fp16" if dev == "cuda" else "fp32")
    model = _edgeinfer_model(args, name)
    opts = {"device": dev, "compile": "inductor", "batch": ",".join(map(str, args.batches)), "autotune": autotune}
    t0 = time.perf_counter()
    where = Path(args.work) / f"engine_{name}_{prec}_{int(autotune)}_{'-'.join(map(str, args.batches))}"
    engine = build(model, BuildConfig("torch", prec, options=opts), where, overwrite=True)
    out: dict[str, Any] = {"build_s": round(time.perf_counter() - t0, 1), "notes": list(engine.manifest.notes),
                           "engine": str(engine.path), "size_mb": round(engine.size_bytes() / 2**20, 1), "precision": prec}
    _save_partial(args, out)
    iname = engine.inputs[0].name
    with load_runner(engine) as r:
        for b in args.batches:
            rec: dict[str, Any] = {}
            x = np.random.default_rng(0).standard_normal((b, *_shape(args, name))).astype(np.float32)
            t = time.perf_counter()
            r.infer({iname: x})
            rec["first_infer_s"] = round(time.perf_counter() - t, 3)  # buffers + CUDA graph capture
            xt = torch.from_numpy(x).to(dev)
            rec["device_tensors"] = _with_tput(time_fn(torch, lambda xt=xt: r.infer({iname: xt})), b)
            rec["numpy_end_to_end"] = _with_tput(time_fn(torch, lambda x=x: r.infer({iname: x})), b)
            rec["energy"] = runner_energy(r, {iname: xt}, seconds=2.0 if dev == "cuda" else 1.0).to_dict()
            out[f"b{b}"] = rec
            _save_partial(args, out)
        x1 = np.random.default_rng(0).standard_normal((args.batches[0], *_shape(args, name))).astype(np.float32)
        out[f"profile_b{args.batches[0]}"] = _profile_summary(r, {iname: x1})
        if name == "mobilenetv2" and args.photos:
            x = _photos(args.photos)
            cand = _run_batched(lambda a: r.infer({iname: a})[engine.outputs[0].name], x, args.batches[-1] if dev == "cuda" else args.batches[0])
            out["fidelity_vs_eager_fp32"] = fidelity(_reference_logits(args, torch, dev), cand)
    out["fresh_process"] = _fresh(args, engine.path)
    return out


def _fresh(args: argparse.Namespace, engine: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child-load", str(engine), "--batches", ",".join(map(str, args.batches))]
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": tempfile.mkdtemp(prefix="inductor-fresh-")}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if p.returncode != 0:
        return {"error": f"exit {p.returncode}: {p.stderr.strip()[-600:]}"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def child_load(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    import torch

    from edgeinfer.builder import load_runner

    t1 = time.perf_counter()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    runner = load_runner(args.child_load)
    iname = runner.input_specs[0].name
    shape = tuple(int(d) for d in runner.input_specs[0].shape[1:])
    res: dict[str, Any] = {"import_s": round(t1 - t0, 2)}
    with runner as r:
        res["activate_s"] = round(time.perf_counter() - t1, 3)
        for i, b in enumerate(args.batches):
            x = np.random.default_rng(0).standard_normal((b, *shape)).astype(np.float32)
            t = time.perf_counter()
            r.infer({iname: x})  # later sizes: lazy load of their artifact + CUDA graph capture
            first = round(time.perf_counter() - t, 3)
            if i == 0:
                res["ready_s"] = round(time.perf_counter() - t1, 3)  # load + first inference
            xt = torch.from_numpy(x).to(dev)
            res[f"b{b}"] = {**_with_tput(time_fn(torch, lambda xt=xt: r.infer({iname: xt})), b), "first_infer_s": first}
    print(json.dumps(res))


CUDA_TESTS = ["tests/backends/test_torch_cuda.py", "tests/backends/test_torch.py", "tests/cli/test_torch_cli.py"]


def job_pytest(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """edgeinfer's torch tests on this machine (``name`` cuda: the GPU tests and the torch
    backend's fast tests); the log goes next to the JSON.
    """
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *CUDA_TESTS]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=max(args.job_timeout, 30))
    log = p.stdout + p.stderr
    (Path(args.out) / f"pytest_{name}.log").write_text(log)
    lines = [ln for ln in log.splitlines() if ln.strip()]
    return {"rc": p.returncode, "seconds": round(time.perf_counter() - t0, 1), "summary": lines[-1] if lines else "",
            "failed": [ln for ln in lines if ln.startswith(("FAILED", "ERROR"))][:20],
            "skipped": [ln for ln in lines if ln.startswith("SKIPPED")][:20]}


def _save_partial(args: argparse.Namespace, data: dict[str, Any]) -> None:
    Path(args.partial).write_text(json.dumps(data, default=str))


JOBS = {  # job -> (function, minimum seconds it needs to be worth starting)
    "peers": (job_peers, 60),
    "engine": (lambda a, n: job_engine(a, n, False), 90),
    "bf16": (lambda a, n: job_engine(a, n, False, "bf16"), 90),
    "autotune": (lambda a, n: job_engine(a, n, True), 200),
    "maxautotune": (lambda a, n: job_peers(a, n, ["max-autotune"]), 60),
    "pytest": (job_pytest, 60),
}
# Jobs that share one Inductor cache dir per model (the max-autotune peer reuses what the
# auto-tuned engine build benchmarked; its compile time is then reported as warm).
SHARED_CACHE = ("autotune", "maxautotune")


def run_job(args: argparse.Namespace) -> None:
    kind, name = args.job.split("@")[0].split(":")
    res = JOBS[kind][0](args, name)
    Path(args.partial).write_text(json.dumps(res, default=str))


def _job_list(args: argparse.Namespace) -> list[str]:
    if args.jobs:
        return args.jobs.split(",")
    if args.smoke:
        return ["peers:smoke", "engine:smoke", "bf16:smoke", "autotune:smoke", "maxautotune:smoke"]
    return ["peers:mobilenetv2", "engine:resnet50", "peers:resnet50", "engine:mobilenetv2",
            "engine:mobilenetv3", "peers:mobilenetv3", "bf16:resnet50", "bf16:mobilenetv2",
            "autotune:resnet50", "maxautotune:resnet50", "maxautotune:mobilenetv2", "maxautotune:mobilenetv3"]


def _spawn(args: argparse.Namespace, job: str, timeout: float) -> dict[str, Any]:
    """Run ``KIND:MODEL[@B1,B2]`` in a child process (``@``: its own batch sizes)."""
    partial = Path(args.work) / f"{job.replace(':', '_').replace('@', '_b').replace(',', '-')}.json"
    batches = job.split("@")[1] if "@" in job else ",".join(map(str, args.batches))
    job = job.split("@")[0]
    cmd = [sys.executable, "-X", "faulthandler", __file__, "--job", job, "--partial", str(partial),
           "--work", args.work, "--batches", batches, "--out", args.out, "--job-timeout", str(int(timeout - 10)),
           "--photos", str(args.photos), "--compile-modes", ",".join(args.compile_modes)]
    cmd += ["--smoke"] if args.smoke else []
    kind, model = job.split(":")
    cache = Path(args.work) / (f"inductor-tuned-{model}" if kind in SHARED_CACHE else f"inductor-{kind}-{model}")
    cache.mkdir(parents=True, exist_ok=True)
    warm = any(cache.iterdir())
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache)}
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        status = "ok" if p.returncode == 0 else f"failed (exit {p.returncode})"
        err = p.stderr.strip()[-1500:] if p.returncode else ""
    except subprocess.TimeoutExpired:
        status, err = f"timeout after {timeout:.0f} s (partial results kept)", ""
    data = json.loads(partial.read_text()) if partial.exists() else {}
    return {"status": status, "wall_s": round(time.perf_counter() - t0, 1), "result": data,
            "inductor_cache": "warm (shared with the auto-tuned engine build)" if warm else "cold (empty)",
            "stderr_tail": err}


def _env() -> dict[str, Any]:
    import torch

    from edgeinfer.host import current_gpu, current_host

    gpu = current_gpu()
    try:
        import triton

        tv = triton.__version__
    except ImportError:
        tv = None
    return {"torch": torch.__version__, "cuda": torch.version.cuda, "triton": tv,
            "gpu": None if gpu is None else gpu.to_dict(), "host": current_host().to_dict(),
            "python": sys.version.split()[0], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def _get(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def targets(results: dict[str, Any], batches: list[int]) -> dict[str, Any]:
    """The issue's targets, checked on what was measured (None: not measured)."""
    b1, bn = f"b{batches[0]}", f"b{batches[-1]}"
    best = {}
    for job in [j for j in results if j.split("@")[0] in ("engine:resnet50", "autotune:resnet50")]:
        r = _get(results, job, "result") or {}
        for b in (b1, bn):
            v = _get(r, b, "device_tensors")
            if v and (b not in best or v["p50_ms"] < best[b]["p50_ms"]):
                best[b] = {**v, "job": job}
    out: dict[str, Any] = {"resnet50_fp16_b1": best.get(b1), "resnet50_fp16_bN": best.get(bn)}
    if best.get(b1):
        out["b1_p50_ok"] = best[b1]["p50_ms"] <= TARGETS["r50_bs1_p50_ms"]
    if best.get(bn):
        out["bN_throughput_ok"] = best[bn]["img_per_s"] >= TARGETS["r50_bs256_img_s"]
    fresh = {}
    for job, r in results.items():
        f = _get(r, "result", "fresh_process")
        if isinstance(f, dict) and "ready_s" in f:
            within = {b: round(f[b]["p50_ms"] / r["result"][b]["device_tensors"]["p50_ms"] - 1, 4)
                      for b in (b1, bn) if b in f and _get(r, "result", b, "device_tensors")}
            fresh[job] = {"ready_s": f["ready_s"], "ready_ok": f["ready_s"] <= TARGETS["ready_s"],
                          "p50_change": within, "p50_ok": all(abs(v) <= TARGETS["fresh_p50_within"] for v in within.values())}
    out["fresh_load"] = fresh
    fid = dict(_get(results, "peers:mobilenetv2", "result", "fidelity_eager") or {})
    for job, label in (("engine:mobilenetv2", "engine_fp16"), ("bf16:mobilenetv2", "engine_bf16")):
        eng = _get(results, job, "result", "fidelity_vs_eager_fp32")
        if eng:
            fid[label] = eng
    out["fidelity"] = {k: {**v, "ok": v["agreement_confident"] >= TARGETS["agreement"] and v["top1_in_top5"] >= TARGETS["top5"]}
                       for k, v in fid.items()}
    return out


def table(results: dict[str, Any], batches: list[int]) -> str:
    lines = [f"{'job':24} {'variant':26} " + " ".join(f"{'b' + str(b) + ' p50 ms':>12} {'img/s':>10}" for b in batches)]
    for job, r in results.items():
        res = r.get("result") or {}
        variants: dict[str, dict[str, Any]] = {}
        for b in batches:
            for v, stats in (res.get(f"b{b}") or {}).items():
                if isinstance(stats, dict) and "p50_ms" in stats:
                    variants.setdefault(v, {})[b] = stats
        fresh = res.get("fresh_process") or {}
        if isinstance(fresh, dict):
            for b in batches:
                if f"b{b}" in fresh:
                    variants.setdefault("fresh process", {})[b] = fresh[f"b{b}"]
        for v, per in variants.items():
            cells = " ".join(f"{per[b]['p50_ms']:12.3f} {per[b]['img_per_s']:10.0f}" if b in per else f"{'-':>12} {'-':>10}" for b in batches)
            lines.append(f"{job:24} {v:26} {cells}")
        lines.append(f"{job:24} status: {r['status']} ({r['wall_s']} s)" + (f", build {res['build_s']} s" if "build_s" in res else ""))
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="CPU smoke run: tiny model, every code path")
    p.add_argument("--out", default=os.environ.get("OUT", "benchmarks/results"), help="where gpu_results.json goes")
    p.add_argument("--jobs", default="", help="comma-separated KIND:MODEL jobs (default: all, in priority order)")
    p.add_argument("--batches", default="", help="batch sizes (default 1,256; smoke 1,2)")
    p.add_argument("--photos", type=int, default=None, help="photo crops for fidelity (default 500; smoke 32)")
    p.add_argument("--compile-modes", default="default", help="torch.compile modes of the peers job")
    p.add_argument("--budget-s", type=float, default=540.0, help="stop starting jobs after this")
    p.add_argument("--work", default="", help=argparse.SUPPRESS)
    p.add_argument("--job", default="", help=argparse.SUPPRESS)
    p.add_argument("--partial", default="", help=argparse.SUPPRESS)
    p.add_argument("--job-timeout", type=float, default=300.0, help=argparse.SUPPRESS)
    p.add_argument("--child-load", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.batches = [int(b) for b in (args.batches or ("1,2" if args.smoke else "1,256")).split(",")]
    args.photos = args.photos if args.photos is not None else (32 if args.smoke else 500)
    args.compile_modes = [m for m in args.compile_modes.split(",") if m]
    if args.child_load:
        return child_load(args)
    if args.job:
        return run_job(args)
    t_start = time.monotonic()
    args.work = args.work or tempfile.mkdtemp(prefix="edgeinfer-gpu-")
    os.environ.setdefault("EDGEINFER_CACHE_DIR", str(Path(args.work) / "edgeinfer-cache"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "env": _env(), "jobs": {}}
    for job in _job_list(args):
        left = args.budget_s - (time.monotonic() - t_start)
        if left < JOBS[job.split(":")[0]][1]:
            doc["jobs"][job] = {"status": f"skipped ({left:.0f} s of budget left)", "wall_s": 0, "result": {}}
            continue
        print(f"[{time.monotonic() - t_start:6.0f} s] {job} (budget left {left:.0f} s)", flush=True)
        doc["jobs"][job] = _spawn(args, job, left - 5)
        print(f"         -> {doc['jobs'][job]['status']} in {doc['jobs'][job]['wall_s']} s", flush=True)
        doc["targets"] = targets(doc["jobs"], args.batches)
        (out / ("gpu_smoke.json" if args.smoke else "gpu_results.json")).write_text(json.dumps(doc, indent=1, default=str))
    print(table(doc["jobs"], args.batches))
    print(json.dumps(doc.get("targets"), indent=1, default=str))


if __name__ == "__main__":
    main()
