"""INT8 that keeps accuracy: recipes, ISA-aware quantization, mixed INT8/BF16, vs peer defaults.

Sections (``--section``, repeatable; default all):

* ``mnv2``: MobileNetV2 (real ImageNet weights) on 2 x 500 real-photo crops (``photos:500``
  seeds 0 and 2; calibration ``photos`` 256 crops seed 1): confident flips (FP32 p1 >= 0.5, as
  the default budget says; and with a margin p1 - p2 >= 0.1), top-1-in-top-5 misses and
  all-crop agreement, for the peer defaults (ONNX Runtime's own quantizer, OpenVINO defaults,
  OpenVINO + NNCF defaults, ONNX Runtime FP32) and edgeinfer's recipes, including mixed
  INT8/FP32 (ONNX Runtime) and INT8/BF16 (OpenVINO) from ``debug precision``'s ranking;
* ``latency``: the same engines at batch 1, interleaved rounds, ratios to the fastest peer;
* ``fashion``: fashion-cnn top-1 on the 10k Fashion-MNIST test set, FP32 vs INT8;
* ``ppocr``: PP-OCRv4 detector, cosine similarity to FP32 on 30 real-photo crops at 640x640.

``--isa avx2`` reruns the sections in a child process with ``ONEDNN_MAX_CPU_ISA=AVX2`` (OpenVINO
runs oneDNN's AVX2 INT8 kernels: the saturating non-VNNI path) and ``EDGEINFER_INT8_ISA=avx2``
(edgeinfer takes the non-VNNI decisions). ONNX Runtime's kernels cannot be forced: its rows
on ``avx2`` show the non-VNNI *decisions* with this CPU's VNNI/AMX kernels and are marked so.

    python benchmarks/int8_quality.py [--section mnv2 ...] [--isa native|avx2|both] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import console, header, run_main, save
from int8_metrics import classify, dense, fmt_cls
from int8_peers import Engine, edgeinfer_engine, peer_engines

from edgeinfer.calibration import CalibrationConfig
from edgeinfer.config import BuildConfig
from edgeinfer.errors import EdgeInferError, first_line

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _arrays(model: Any, spec: str, seed: int, limit: int | None = None) -> np.ndarray:
    from edgeinfer.data.datasets import iter_batches, open_dataset
    from edgeinfer.data.specs import resolve_preprocess

    ds = open_dataset(spec, seed=seed, limit=limit)
    pre, _ = resolve_preprocess(ds, model)
    shape = model.inputs[0]
    return np.concatenate([x for x, _ in iter_batches(ds, pre, 50, input_shape=shape)])


def _labels(spec: str) -> np.ndarray:
    from edgeinfer.data.datasets import open_dataset

    ds = open_dataset(spec)
    return np.asarray([ds.label(i) for i in range(len(ds))])


def _recipes(cal: CalibrationConfig, threads: int) -> dict[str, BuildConfig]:
    ort = {"backend": "onnxruntime", "threads": threads, "precision": "int8", "calibration": cal}
    ov = {"backend": "openvino", "threads": threads}
    ae = ("act-equalize",)
    return {
        "ort": BuildConfig(**ort),
        "ort-ae": BuildConfig(**ort, passes=ae),
        "ort-ae-bc": BuildConfig(**ort, passes=ae, options={"bias_correction": True}),
        "ov-nncf": BuildConfig(
            **ov, precision="int8", calibration=cal, options={"quantizer": "nncf"}
        ),
        "ov-bf16": BuildConfig(**ov, precision="bf16"),
        "ov-nncf-first": BuildConfig(
            **ov,
            precision="int8",
            calibration=cal,
            options={"quantizer": "nncf", "overflow_fix": "first_layer"},
        ),
        "ov-nncf-enable": BuildConfig(
            **ov,
            precision="int8",
            calibration=cal,
            options={"quantizer": "nncf", "overflow_fix": "enable"},
        ),
    }


NAMES = {
    "ov-nncf-first": "edgeinfer OV int8 NNCF, overflow_fix=first_layer",
    "ov-nncf-enable": "edgeinfer OV int8 NNCF, overflow_fix=enable",
    "ort": "edgeinfer ORT int8 (percentile, outputs float)",
    "ort-ae": "edgeinfer ORT int8 + act-equalize",
    "ort-ae-bc": "edgeinfer ORT int8 + act-equalize + bias correction",
    "ov-nncf": "edgeinfer OV int8 NNCF (full bias correction)",
    "ov-bf16": "edgeinfer OV bf16",
}


def _mnv2_configs(
    recipes: dict[str, BuildConfig], ranking: dict[str, list[str]], ks: list[int]
) -> dict[str, BuildConfig]:
    out = {NAMES[k]: cfg for k, cfg in recipes.items()}
    for k in ks:
        if ranking.get("qdq"):
            base = recipes["ort-ae-bc"]
            out[f"{NAMES['ort-ae-bc']}, top {k} layers FP32"] = base.replace(
                exclude=tuple(ranking["qdq"][:k])
            )
        if ranking.get("nncf"):
            base = recipes["ov-nncf"]
            out[f"{NAMES['ov-nncf']}, top {k} layers bf16"] = base.replace(
                exclude=tuple(ranking["nncf"][:k]),
                options={**dict(base.options), "inference_precision": "bf16"},
            )
    return out


def _ranking(
    model: Any, config: BuildConfig, quantizer: str, samples: int, path: Path
) -> list[str]:
    """debug precision's ranking for ``config`` (cached in ``path``)."""
    from edgeinfer.evaluate.layerwise import diagnose_precision

    if path.exists():
        data = json.loads(path.read_text())
        if data.get("config") == config.to_dict():
            return [x["name"] for x in data["layers"] if x["gain"] > 0]
    report = diagnose_precision(model, config, samples=samples, quantizer=quantizer, quiet=True)
    save(path, {**header(), **report.to_dict(), "config": config.to_dict()})
    return report.ranking()


def section_mnv2(args: argparse.Namespace, isa: str) -> dict[str, Any]:
    from edgeinfer import zoo

    model = zoo.get_model("mobilenetv2-imagenet")
    n_cal, n_eval = (64, 100) if args.quick else (256, 500)
    cal = CalibrationConfig(method="percentile", samples=n_cal, data="photos", seed=1)
    calib = _arrays(model, f"photos:{n_cal}", 1)
    sets = {f"s{s}": _arrays(model, f"photos:{n_eval}", s) for s in (0, 2)}
    recipes = _recipes(cal, args.threads)
    # ov-nncf's overflow_fix is auto: first_layer here, enable where the kernels saturate
    recipes.pop("ov-nncf-first" if isa == "native" else "ov-nncf-enable")
    for key in args.skip:
        recipes.pop(key, None)
    ranking = {}
    if not args.quick:
        tag = isa.split()[0]
        for q, key in (("qdq", "ort-ae-bc"), ("nncf", "ov-nncf")):
            path = RESULTS / f"int8_quality_ranking_{q}_{tag}.json"
            ranking[q] = _ranking(model, recipes[key], q, 32, path)
    engines: dict[str, Engine] = peer_engines(model, calib, args.threads)
    ks = [] if args.quick else args.mixed_k
    rows: list[dict[str, Any]] = []
    for name, cfg in _mnv2_configs(recipes, ranking, ks).items():
        engine = _try_engine(model, cfg, name, rows)
        if engine is not None:
            engines[name] = engine
    reference = {k: engines["ORT FP32 (peer)"].run(x) for k, x in sets.items()}
    for name, engine in list(engines.items()):
        t0 = time.perf_counter()
        try:
            outs = {k: engine.run(x) for k, x in sets.items()}
        except (RuntimeError, EdgeInferError) as exc:
            # e.g. bf16 under ONEDNN_MAX_CPU_ISA=AVX2: the plugin still reports this CPU's
            # BF16, oneDNN's AVX2 kernels cannot run it (an emulation artefact)
            rows.append({"engine": name, "kind": engine.kind, "error": first_line(exc)})
            console().print(f"{name}: failed to run: {first_line(exc)}")
            del engines[name]
            continue
        per_set = {k: classify(reference[k], outs[k]) for k in sets}
        rows.append(
            {
                "engine": name,
                "kind": engine.kind,
                "executes": engine.executes,
                "notes": engine.notes,
                "sets": per_set,
                "eval_s": time.perf_counter() - t0,
            }
        )
        console().print(f"{name}: " + " | ".join(fmt_cls(v) for v in per_set.values()))
    engines_out = {"engines": engines}
    return {"rows": rows, "ranking": ranking, "calibration": cal.to_dict(), **engines_out}


def _try_engine(model: Any, cfg: BuildConfig, name: str, rows: list[dict[str, Any]]) -> Any:
    """The engine, or None with a row saying why it could not be built (e.g. bf16 refused
    on a CPU without BF16)."""
    try:
        return edgeinfer_engine(model, cfg)
    except EdgeInferError as exc:
        rows.append({"engine": name, "kind": "edgeinfer", "error": str(exc)})
        console().print(f"{name}: not built: {exc}")
        return None


def section_latency(
    args: argparse.Namespace, engines: dict[str, Engine], model_input: np.ndarray
) -> dict[str, Any]:
    from _common import interleaved, latency_stats

    feed = np.ascontiguousarray(model_input[:1])
    fns = {name: e.timer(feed) for name, e in engines.items() if e.timer(feed) is not None}
    rounds, per_round = (4, 10) if args.quick else (args.rounds, args.per_round)
    samples = interleaved(fns, rounds=rounds, per_round=per_round, warmup=20, pause_s=0.05)  # type: ignore[arg-type]
    stats = {k: latency_stats(v).to_dict() for k, v in samples.items()}
    for name, s in stats.items():
        console().print(f"{name}: p50 {s['p50']:.3f} ms  p90 {s['p90']:.3f}  p99 {s['p99']:.3f}")
    return stats


def section_fashion(args: argparse.Namespace) -> dict[str, Any]:
    from edgeinfer import zoo

    model = zoo.get_model("fashion-cnn")
    x = _arrays(model, "fashion-mnist:test", 0)
    y = _labels("fashion-mnist:test")
    cal = CalibrationConfig(method="percentile", samples=256, data="fashion-mnist:train", seed=1)
    configs = {
        "ORT FP32": BuildConfig(),
        "edgeinfer ORT int8": BuildConfig(precision="int8", calibration=cal),
        "edgeinfer OV int8 NNCF": BuildConfig(
            backend="openvino", precision="int8", calibration=cal, options={"quantizer": "nncf"}
        ),
        "edgeinfer OV int8 QDQ": BuildConfig(backend="openvino", precision="int8", calibration=cal),
    }
    rows = []
    for name, cfg in configs.items():
        e = _try_engine(model, cfg.replace(threads=args.threads), name, rows)
        if e is None:
            continue
        out = e.run(x)
        top1 = float(np.mean(out.argmax(1) == y))
        rows.append({"engine": name, "top1": top1, "executes": e.executes, "notes": e.notes})
        console().print(f"{name}: top-1 {100 * top1:.2f}%")
    base = rows[0]["top1"]
    for r in rows:
        if "top1" in r:
            r["drop_pts"] = 100 * (base - r["top1"])
    return {"rows": rows, "n": len(y)}


def section_ppocr(args: argparse.Namespace) -> dict[str, Any]:
    from edgeinfer import zoo

    model = zoo.get_model("ppocr-det")
    x = _arrays(model, "photos:30", 0)
    cal = CalibrationConfig(method="percentile", samples=32, data="photos", seed=1, batch_size=4)
    mm = CalibrationConfig(method="minmax", samples=32, data="photos", seed=1, batch_size=4)
    configs = {
        "ORT FP32": BuildConfig(),
        "OV bf16": BuildConfig(backend="openvino", precision="bf16"),
        "edgeinfer ORT int8 (percentile)": BuildConfig(precision="int8", calibration=cal),
        "edgeinfer ORT int8 (minmax)": BuildConfig(precision="int8", calibration=mm),
        "edgeinfer ORT int8 (minmax) + bias correction": BuildConfig(
            precision="int8", calibration=mm, options={"bias_correction": True}
        ),
        "edgeinfer OV int8 NNCF": BuildConfig(
            backend="openvino", precision="int8", calibration=cal, options={"quantizer": "nncf"}
        ),
    }
    ref = None
    rows = []
    for name, cfg in configs.items():
        e = _try_engine(model, cfg.replace(threads=args.threads), name, rows)
        if e is None:
            continue
        out = e.run(x, batch=2)
        ref = out if ref is None else ref
        rows.append({"engine": name, **dense(ref, out), "executes": e.executes, "notes": e.notes})
        console().print(f"{name}: cosine {rows[-1]['cosine']:.4f} SNR {rows[-1]['snr_db']:.1f} dB")
    return {"rows": rows, "n": len(x)}


def _child(args: argparse.Namespace) -> dict[str, Any]:
    """Run this script for the forced-AVX2 path in a child process (env set before import)."""
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "EDGEINFER_INT8_ISA": "avx2"}
    out = RESULTS / "int8_quality_avx2.json"
    cmd = [
        sys.executable,
        __file__,
        "--isa",
        "avx2-child",
        "--json",
        str(out),
        "--threads",
        str(args.threads),
    ]
    cmd += [a for s in args.section for a in ("--section", s)] + (["--quick"] if args.quick else [])
    cmd += ["--mixed-k", *map(str, args.mixed_k), "--rounds", str(args.rounds)]
    cmd += ["--skip", *args.skip] if args.skip else []
    subprocess.run(cmd, env=env, check=True)
    return json.loads(out.read_text())


def run_sections(args: argparse.Namespace, isa: str) -> dict[str, Any]:
    results: dict[str, Any] = {"isa": isa, **header(), "loadavg_start": os.getloadavg()}
    sections = args.section or ["mnv2", "latency", "fashion", "ppocr"]
    if "mnv2" in sections or "latency" in sections:
        mnv2 = section_mnv2(args, isa)
        engines = mnv2.pop("engines")
        results["mnv2"] = mnv2
        if "latency" in sections:
            from edgeinfer import zoo

            x = _arrays(zoo.get_model("mobilenetv2-imagenet"), "photos:1", 0)
            results["latency"] = section_latency(args, engines, x)
    if "fashion" in sections:
        results["fashion"] = section_fashion(args)
    if "ppocr" in sections:
        results["ppocr"] = section_ppocr(args)
    # the 1-minute load average: above the core count, other work shared the CPU (latency)
    results["loadavg_end"] = os.getloadavg()
    return results


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--section", action="append", default=[], choices=["mnv2", "latency", "fashion", "ppocr"]
    )
    ap.add_argument("--isa", default="native", choices=["native", "avx2", "both", "avx2-child"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--per-round", type=int, default=20)
    ap.add_argument("--mixed-k", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--quick", action="store_true", help="small sets, no mixed precision")
    ap.add_argument(
        "--skip", nargs="+", default=[], choices=sorted(NAMES), help="recipes to leave out"
    )
    ap.add_argument("--json", default=str(RESULTS / "int8_quality.json"))
    args = ap.parse_args()
    if args.isa == "avx2-child":
        save(args.json, run_sections(args, "avx2 (forced: ONEDNN_MAX_CPU_ISA=AVX2)"))
        return 0
    out: dict[str, Any] = {}
    if args.isa in ("native", "both"):
        out["native"] = run_sections(args, "native")
    if args.isa in ("avx2", "both"):
        out["avx2"] = _child(args)
    save(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
