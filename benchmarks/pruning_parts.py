"""Helpers of benchmarks/pruning.py: pruned models (cached), engines, quality and the rows."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from _common import console, interleaved

from edgeinfer.backends import find_backends
from edgeinfer.builder import build, load_runner
from edgeinfer.config import BuildConfig, CalibrationConfig
from edgeinfer.data.datasets import iter_engine_batches, open_dataset
from edgeinfer.errors import EdgeInferError
from edgeinfer.model import Model
from edgeinfer.prune import PruneConfig, PruneRecord

LATENCY_REPS = 6


# -- pruned models, made once --------------------------------------------------------------
def made(
    source: str, tag: str, cfg: PruneConfig, args: Any, *, eval_data: str | None
) -> tuple[Model, PruneRecord]:
    """The pruned model of ``source`` under ``args.work`` (pruned now unless an earlier run
    made it with the same recipe); the record keeps the original fine-tuning time.
    """
    from edgeinfer.prune.run import MODEL_FILE, MODULE_FILE, RECORD_FILE, prune
    from edgeinfer.prune.saved import pruned_source

    out = args.work / re.sub(r"[^A-Za-z0-9.]+", "-", f"{source}-{tag}").strip("-")
    record_path = out / RECORD_FILE
    if record_path.exists():
        record = PruneRecord.from_dict(json.loads(record_path.read_text()))
        if _recipe(record.config) == _recipe(cfg.to_dict()):
            console().print(f"reusing {out} ({record.summary()})")
            model = Model.load(out / MODEL_FILE)
            model.torch_source = pruned_source(out / MODULE_FILE, tuple(record.input_shape))
            return model, record
    console().print(f"pruning {source}: {tag} -> {out}")
    result = prune(
        source, cfg, out, eval_data=eval_data, eval_limit=args.eval_limit, overwrite=True,
        quiet=False, log=console().print,
    )  # fmt: skip
    return result.model, result.record


def _recipe(config: dict[str, Any]) -> dict[str, Any]:
    """A pruning config without what changes only the speed of fine-tuning (threads, device)."""
    finetune = {k: v for k, v in config["finetune"].items() if k not in ("threads", "device")}
    return {**config, "finetune": finetune}


# -- engines -------------------------------------------------------------------------------
@dataclass
class Row:
    name: str
    model: str
    record: PruneRecord | None
    quality: float | None
    p50: list[float]
    speedups: list[float]
    extra: dict[str, Any] | None = None
    drop: float | None = None

    @property
    def speedup(self) -> float:
        return float(np.median(self.speedups))

    def cells(self) -> list[str]:
        rec = self.record
        macs = f"{rec.macs_after / 1e6:.2f}M" if rec else "dense"
        params = f"{rec.params_after:,}" if rec else "dense"
        if rec and rec.method == "l1-unstructured":
            params = f"{rec.nonzero_params_after:,} non-zero"
        tune = "-"
        if rec and rec.history:
            tune = f"{len(rec.history)} ep, {rec.finetune_seconds / 60:.0f} min"
        q = "-" if self.quality is None else f"{100 * self.quality:.2f}%"
        if self.extra and "confident" in self.extra:
            q += f" (conf {100 * self.extra['confident']:.2f}%, top5 {100 * self.extra['top5']:.1f}%)"
        drop = "-" if self.drop is None else f"{self.drop:+.2f}"
        p50 = float(np.median(self.p50))
        lo, hi = min(self.speedups), max(self.speedups)
        engine = self.name[len(self.model) + 1 :]
        return [
            self.model,
            engine,
            macs,
            params,
            tune,
            q,
            drop,
            f"{p50:.4f}",
            f"{np.percentile(self.p50, 90):.4f}",
            f"{self.speedup:.2f}x ({lo:.2f}-{hi:.2f})",
        ]

    def to_dict(self) -> dict[str, Any]:
        rec = self.record
        return {
            "name": self.name, "model": self.model, "quality": self.quality, "drop_points": self.drop,
            "p50_ms_per_rep": self.p50, "speedup_per_rep": self.speedups, "speedup_median": self.speedup,
            "extra": self.extra,
            "pruning": None if rec is None else {
                "widths": rec.widths(), "macs": rec.macs_after, "macs_before": rec.macs_before,
                "params": rec.params_after, "nonzero_params": rec.nonzero_params_after,
                "epochs": len(rec.history), "finetune_seconds": rec.finetune_seconds,
                "quality": None if rec.quality is None else rec.quality.__dict__,
            },
        }  # fmt: skip


@dataclass
class Engine:
    name: str
    model: str
    backend: str
    precision: str
    engine: Any
    feed: dict[str, np.ndarray]
    record: PruneRecord | None = None
    quality: float | None = None
    extra: dict[str, Any] | None = field(default=None)

    @property
    def config_key(self) -> str:
        return f"{self.backend} {self.precision}"

    def row(self, p50: list[float], speedups: list[float]) -> Row:
        return Row(self.name, self.model, self.record, self.quality, p50, speedups, self.extra)


def build_engines(
    models: dict[str, tuple[Model, PruneRecord | None]],
    calib: str,
    threads: int,
    *,
    int8: bool,
    torch: bool = False,
    calib_samples: int = 128,
) -> list[Engine]:
    """FP32 (and INT8: QDQ, percentile) engines of every model on ONNX Runtime and OpenVINO
    (and PyTorch eager FP32 with ``torch``), where installed.
    """
    available = set(find_backends())
    cal = CalibrationConfig(method="percentile", samples=calib_samples, data=calib)
    configs = []
    for backend in ("onnxruntime", "openvino", "torch"):
        if backend not in available or (backend == "torch" and not torch):
            continue
        configs.append(BuildConfig(backend, "fp32", threads))
        if int8 and backend != "torch":
            configs.append(BuildConfig(backend, "int8", threads, calibration=cal))
    out = []
    for label, (model, record) in models.items():
        feed = model.random_feed(batch=1)
        for cfg in configs:
            try:
                engine = build(model, cfg, quiet=True)
            except EdgeInferError as exc:
                console().print(f"[yellow]skipped[/] {label} {cfg.backend} {cfg.precision}: {exc}")
                continue
            name = f"{label} {cfg.backend} {cfg.precision}"
            out.append(Engine(name, label, cfg.backend, cfg.precision, engine, feed, record))
    return out


# -- quality -------------------------------------------------------------------------------
def outputs(engine: Any, spec: str, limit: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    ds = open_dataset(spec, limit=limit, seed=0)
    outs, labels = [], []
    with load_runner(engine) as runner:
        name = engine.inputs[0].name
        for x, y in iter_engine_batches(engine, ds, 50):
            outs.append(runner.infer({name: x}, copy=True)[engine.outputs[0].name])
            if y is not None:
                labels.append(y)
    return np.concatenate(outs), (np.concatenate(labels) if labels else None)


def top1_of(engine: Any, spec: str, limit: int | None) -> float:
    out, y = outputs(engine, spec, limit)
    assert y is not None
    return float((out.argmax(1) == y).mean())


_REFERENCE: dict[str, np.ndarray] = {}


def agreement_of(engine: Any, reference: Any, spec: str) -> tuple[float, dict[str, Any]]:
    """Top-1 agreement with ``reference`` (all, confident p >= 0.5, top-1-in-top-5)."""
    key = f"{reference.path}|{spec}"
    if key not in _REFERENCE:
        _REFERENCE[key] = outputs(reference, spec, None)[0]
    ref = _REFERENCE[key]
    out = outputs(engine, spec, None)[0]
    e = np.exp(ref - ref.max(1, keepdims=True))
    conf = (e / e.sum(1, keepdims=True)).max(1) >= 0.5
    same = out.argmax(1) == ref.argmax(1)
    top5 = (np.argsort(-out, 1)[:, :5] == ref.argmax(1)[:, None]).any(1)
    confident = float(same[conf].mean()) if conf.any() else float("nan")
    extra = {"confident": confident, "n_confident": int(conf.sum()), "top5": float(top5.mean())}
    extra["meets_budget"] = bool(confident >= 0.995 and top5.mean() == 1.0)
    return float(same.mean()), extra


# -- OpenVINO sparse weights decompression -------------------------------------------------
def mlp() -> Any:
    """3 x Linear(1024, 1024) + ReLU: FullyConnected layers whose both dims are multiples of
    64, the only shape OpenVINO's sparse-weights kernels take (seeded weights)."""
    import torch
    from torch import nn

    with torch.random.fork_rng():
        torch.manual_seed(0)
        layers: list[nn.Module] = []
        for _ in range(3):
            layers += [nn.Linear(1024, 1024), nn.ReLU()]
        return nn.Sequential(*layers).eval()


def ov_sparse(args: Any, out: dict[str, Any], print_rows: Any) -> list[str]:
    """An 80%-sparse INT8 MLP compiled by OpenVINO with the sparse rate off (1.0) and 0.5."""
    import openvino as ov

    from edgeinfer.host import current_host

    cfg = PruneConfig(method="l1-unstructured", ratio=0.8)
    model, record = _mlp(args, cfg)
    cal = CalibrationConfig(method="minmax", samples=32, data="npz:" + str(_mlp_calib(args)))
    engine = build(
        model, BuildConfig("openvino", "int8", args.threads, calibration=cal), quiet=True
    )
    core = ov.Core()
    feed = np.random.default_rng(0).standard_normal((1, 1024)).astype(np.float32)
    compiled, kernels = {}, {}
    for rate in (1.0, 0.5):
        props = {"INFERENCE_NUM_THREADS": args.threads, "PERFORMANCE_HINT": "LATENCY", "PERF_COUNT": True,
                 "CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE": rate}  # fmt: skip
        c = core.compile_model(str(engine.payload_path("model.xml")), "CPU", props)
        req = c.create_infer_request()
        req.infer({0: feed})
        kernels[rate] = sorted(
            {
                p.exec_type
                for p in req.get_profiling_info()
                if "FullyConnected" in p.node_type
                or "MatMul" in p.node_type
                or "brgemm" in p.exec_type
            }
        )
        compiled[f"sparse rate {rate}"] = req
    samples = interleaved(
        {k: (lambda r=r: r.infer({0: feed})) for k, r in compiled.items()},
        rounds=10 if not args.quick else 2, per_round=200 if not args.quick else 20, warmup=50, pause_s=0.02,
    )  # fmt: skip
    isa = current_host().isa_flags
    res = {
        "amx": any("amx" in f for f in isa),
        "layer": "3 x FullyConnected 1024x1024, INT8 (QDQ minmax), 80% zero weights (L1 unstructured)",
        "kernels": {str(k): v for k, v in kernels.items()},
        "p50_ms": {k: float(np.median(v)) / 1e6 for k, v in samples.items()},
        "sparsity": [round(layer.sparsity, 3) for layer in record.layers],
    }
    out["ov_sparse"] = res
    p = res["p50_ms"]
    text = (
        f"OpenVINO sparse weights decompression ({res['layer']}; AMX: {res['amx']}): kernels "
        f"rate 1.0 {kernels[1.0]}, rate 0.5 {kernels[0.5]}; p50 {p['sparse rate 1.0']:.4f} ms -> "
        f"{p['sparse rate 0.5']:.4f} ms ({p['sparse rate 1.0'] / p['sparse rate 0.5']:.2f}x)"
    )
    console().print(text)
    return ["**OpenVINO sparse weights decompression**", "", text, ""]


def _mlp_calib(args: Any) -> Any:
    path = args.work / "mlp-calib.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, x=np.random.default_rng(1).standard_normal((64, 1024)).astype(np.float32))
    return path


def _mlp(args: Any, cfg: PruneConfig) -> tuple[Model, PruneRecord]:
    from edgeinfer.prune.run import prune

    result = prune("pruning_parts:mlp", cfg, input_shape=(1, 1024), quiet=True)
    return result.model, result.record
