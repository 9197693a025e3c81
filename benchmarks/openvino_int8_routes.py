"""OpenVINO INT8 routes: QDQ ONNX (edgeinfer.passes) vs NNCF ``nncf.quantize``, and the
precision OpenVINO runs by default.

Builds, from the same model and the same calibration data: OpenVINO FP32 (f32 forced),
OpenVINO defaults (``inference_precision=default``: bf16 on CPUs with AVX512-BF16/AMX),
INT8 through QDQ ONNX, INT8 through NNCF. Reports latency at batch 1 (interleaved), the
executed precision each engine recorded, build time, engine size, and fidelity to the FP32
engine on real data (top-1 agreement for classifiers, cosine/SNR for every output). A bare
``InferRequest`` row shows the Runner's own overhead.

    python benchmarks/openvino_int8_routes.py [--model mobilenetv2-imagenet] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import console, header, interleaved, latency_stats, run_main, save

from edgeinfer.builder import build, load_runner
from edgeinfer.calibration import CalibrationConfig
from edgeinfer.config import BuildConfig
from edgeinfer.engine import Engine
from edgeinfer.model import Model
from edgeinfer.progress import Progress

# Real data for each zoo model: (calibration spec, evaluation spec).
DATA = {
    "fashion-cnn": ("fashion-mnist:train", "fashion-mnist:test"),
    "mobilenetv2-imagenet": ("photos", "photos"),
}


def _load(spec: str) -> Model:
    if Path(spec).exists():
        return Model.load(spec)
    from edgeinfer import zoo

    return zoo.get_model(spec)


def variants(cal: CalibrationConfig, threads: int) -> dict[str, BuildConfig]:
    ov = {"backend": "openvino", "threads": threads}
    return {
        "OV fp32 (f32 forced)": BuildConfig(**ov, precision="fp32"),
        "OV defaults": BuildConfig(
            **ov, precision="fp32", options={"inference_precision": "default"}
        ),
        "OV int8 QDQ": BuildConfig(**ov, precision="int8", calibration=cal),
        "OV int8 NNCF": BuildConfig(
            **ov, precision="int8", calibration=cal, options={"quantizer": "nncf"}
        ),
    }


def build_all(model: Model, configs: dict[str, BuildConfig]) -> dict[str, tuple[Engine, float]]:
    out = {}
    for name, cfg in configs.items():
        t0 = time.perf_counter()
        engine = build(model, cfg, cache=False)
        out[name] = (engine, time.perf_counter() - t0)
    return out


def fidelity(engine: Engine, reference: Engine, data: str, samples: int) -> dict[str, Any]:
    from edgeinfer.data.datasets import open_dataset
    from edgeinfer.evaluate.compare import compare_engines
    from edgeinfer.evaluate.fidelity import Tolerances

    ds = open_dataset(data, limit=samples, seed=1)
    result = compare_engines(
        engine, reference, ds, tolerances=Tolerances(atol=None, rtol=None), quiet=True
    )
    o = result.outputs[0]
    return {"n": result.n, "agreement": o.agreement, "cosine": o.cosine, "snr_db": o.snr_db}


def latencies(
    engines: dict[str, Engine], model: Model, rounds: int, per_round: int, quiet: bool
) -> dict[str, Any]:
    import openvino as ov

    feed = model.random_feed(batch=1, seed=0)
    runners = {name: load_runner(e) for name, e in engines.items()}
    for r in runners.values():
        r.activate()
    fp32 = runners["OV fp32 (f32 forced)"]
    bare = fp32.compiled.create_infer_request()  # type: ignore[attr-defined]
    for i, spec in enumerate(fp32.input_specs):
        bare.set_input_tensor(i, ov.Tensor(feed[spec.name], shared_memory=True))
    fns = {name: (lambda r=r: r.infer(feed)) for name, r in runners.items()}
    fns["bare InferRequest (fp32)"] = lambda: bare.infer(share_outputs=True)
    try:
        with Progress(quiet) as prog, prog.task("latency", rounds) as task:
            samples = interleaved(
                fns, rounds=rounds, per_round=per_round, warmup=20, progress=task.advance
            )
    finally:
        for r in runners.values():
            r.deactivate()
    return {k: latency_stats(v).to_dict() for k, v in samples.items()}


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="mobilenetv2-imagenet", help="zoo name or ONNX path")
    ap.add_argument("--calib", help="calibration data spec (default: per zoo model)")
    ap.add_argument("--eval", help="fidelity data spec (default: per zoo model)")
    ap.add_argument("--calibrator", default="minmax", help="QDQ route calibrator")
    ap.add_argument("--calib-samples", type=int, default=300)
    ap.add_argument("--eval-samples", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--per-round", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="fashion-cnn, small settings")
    ap.add_argument("--json", default="benchmarks/results/openvino_int8_routes.json")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.model = "fashion-cnn" if args.model == ap.get_default("model") else args.model
        args.calib_samples, args.eval_samples, args.rounds, args.per_round = 64, 128, 4, 10
    calib, data = DATA.get(args.model, (args.calib, args.eval))
    calib, data = args.calib or calib, args.eval or data
    if not calib or not data:
        ap.error("--calib and --eval are needed for models outside the zoo table")
    model = _load(args.model)
    cal = CalibrationConfig(method=args.calibrator, samples=args.calib_samples, data=calib)
    built = build_all(model, variants(cal, args.threads))
    engines = {k: e for k, (e, _) in built.items()}
    ref = engines["OV fp32 (f32 forced)"]
    fid = {k: fidelity(e, ref, data, args.eval_samples) for k, e in engines.items() if e is not ref}
    lat = latencies(engines, model, args.rounds, args.per_round, args.quiet)
    rows = []
    for name, stats in lat.items():
        engine, seconds = built.get(name, (None, None))
        rows.append(
            {
                "variant": name,
                "executed_precision": engine.precision if engine else "fp32",
                "build_s": seconds,
                "size_mb": engine.size_bytes() / 1e6 if engine else None,
                "latency_ms": stats,
                "fidelity": fid.get(name),
                "notes": list(engine.manifest.notes) if engine else [],
            }
        )
    table = Table(
        title=f"OpenVINO INT8 routes on {model.name} (batch 1, {args.threads} threads, "
        f"calibration {cal.describe()}, fidelity vs fp32 on {data})"
    )
    for col in (
        "variant",
        "executes",
        "build s",
        "MB",
        "p50",
        "p90",
        "p99",
        "max",
        "top-1 agr",
        "SNR dB",
    ):
        table.add_column(col, justify="left" if col in ("variant", "executes") else "right")
    for r in rows:
        s, f = r["latency_ms"], r["fidelity"] or {}
        agr = f.get("agreement")
        table.add_row(
            r["variant"],
            r["executed_precision"],
            f"{r['build_s']:.1f}" if r["build_s"] is not None else "",
            f"{r['size_mb']:.2f}" if r["size_mb"] is not None else "",
            *(f"{s[k]:.3f}" for k in ("p50", "p90", "p99", "max")),
            f"{agr:.1%} ({f['n']})" if agr is not None else "",
            f"{f['snr_db']:.1f}" if f else "",
        )
    con = console()
    con.print(table)
    h = header()
    con.print(
        f"{h['date']}  {h['host']['cpu_model']} ({h['host']['cpu_count']} cpus)  {h['command']}"
    )
    save(
        args.json,
        {**h, "model": model.name, "calibration": cal.to_dict(), "eval": data, "rows": rows},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
