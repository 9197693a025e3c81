"""The engine ``edgeinfer optimize`` picks vs the peers' own defaults, per zoo model.

Peers are run through their OWN APIs (not through edgeinfer): PyTorch eager FP32, ONNX
Runtime FP32 (plain ``InferenceSession``), ONNX Runtime INT8 (``quantize_static`` defaults),
OpenVINO defaults (bf16 on CPUs with AVX512-BF16/AMX) and FP32 forced, OpenVINO INT8 via
NNCF defaults. Everything at batch 1 with the same thread count, timed in interleaved
rounds; accuracy/fidelity on the same data against the same FP32 reference (ORT FP32).

    python benchmarks/optimize_vs_peers.py --quick          # smoke test (fashion-cnn, small)
    python benchmarks/optimize_vs_peers.py                  # the full run (quiet machine!)

Writes a rich table and JSON (host, date, command, every number).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeinfer.bench.stats import latency_stats
from edgeinfer.cli.console import command_console, stdout
from edgeinfer.fileio import atomic_write_json
from edgeinfer.host import current_host
from edgeinfer.search.metrics import quality
from edgeinfer.search.select import Budget, accuracy_violations

# model -> (eval data, calibration data, budget kwargs)
MODELS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "fashion-cnn": ("fashion-mnist:test", "fashion-mnist:train", {"max_accuracy_drop": 0.5}),
    "mobilenetv2-imagenet": ("photos:500", "photos:300", {}),
    "resnet50": ("photos:200", "photos:200", {}),
    "mobilenetv3-large": ("photos:200", "photos:200", {}),
}


@dataclass
class Peer:
    """One way to run the model: ``fn(batch) -> first output``."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    note: str = ""
    dynamic_batch: bool = True
    samples: list[np.ndarray] = field(default_factory=list)


def _ort_session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()  # defaults, except the thread count shared by every peer
    so.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_peer(name: str, path: Path, threads: int, note: str) -> Peer:
    sess = _ort_session(path, threads)
    inp = sess.get_inputs()[0].name
    return Peer(name, lambda x: sess.run(None, {inp: x})[0], note)


def ort_int8_peer(path: Path, calib: np.ndarray, threads: int, tmp: Path) -> Peer:
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    inp = _ort_session(path, threads).get_inputs()[0].name

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.it = iter(calib[i : i + 1] for i in range(len(calib)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self.it, None)
            return None if x is None else {inp: x}

    out = tmp / f"{path.stem}.int8.onnx"
    quantize_static(str(path), str(out), Reader())  # ONNX Runtime's own defaults
    return ort_peer("onnxruntime int8 (quantize_static)", out, threads, "QDQ, MinMax, defaults")


def ov_peer(name: str, model: Any, threads: int, extra: dict[str, Any], note: str) -> Peer:
    import openvino as ov

    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, **extra})
    req = compiled.create_infer_request()
    hint = str(compiled.get_property("INFERENCE_PRECISION_HINT"))

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(req.infer([x])[0])

    return Peer(name, run, f"{note}; runs {hint}")


def ov_nncf_peer(path: Path, calib: np.ndarray, threads: int) -> Peer:
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(path))
    qmodel = nncf.quantize(model, nncf.Dataset([calib[i : i + 1] for i in range(len(calib))]))
    return ov_peer("openvino int8 (nncf)", qmodel, threads, {}, "nncf.quantize defaults")


def torch_peer(module: Any, threads: int) -> Peer:
    import torch

    torch.set_num_threads(threads)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(x)).numpy()

    return Peer("pytorch eager fp32", run, "the starting point")


def edgeinfer_peer(engine_dir: str, name: str, threads: int) -> Peer:
    from edgeinfer.builder import load_runner

    runner = load_runner(engine_dir, threads=threads)
    runner.activate()
    inp = runner.input_specs[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return next(iter(runner.infer({inp: x}).values()))

    return Peer(f"edgeinfer optimize: {name}", run, "the engine optimize picked")


def outputs(peer: Peer, x: np.ndarray, batch: int = 64) -> np.ndarray:
    step = batch if peer.dynamic_batch else 1
    return np.concatenate([np.array(peer.fn(x[i : i + step])) for i in range(0, len(x), step)])


def interleave(peers: list[Peer], x1: np.ndarray, rounds: int, round_s: float) -> None:
    """Time every peer at batch 1 in interleaved rounds (warm-up apart)."""
    clock = time.perf_counter_ns
    iters = {}
    for p in peers:
        for _ in range(10):
            p.fn(x1)
        t0 = clock()
        for _ in range(5):
            p.fn(x1)
        iters[p.name] = int(min(max(round_s * 5e9 / max(clock() - t0, 1), 10), 5000))
    for r in range(rounds):
        for p in peers[r % len(peers) :] + peers[: r % len(peers)]:
            time.sleep(0.05)  # let the previous runtime's spinning threads park
            for _ in range(3):
                p.fn(x1)
            lat = np.empty(iters[p.name], dtype=np.int64)
            for i in range(lat.size):
                t0 = clock()
                p.fn(x1)
                lat[i] = clock() - t0
            p.samples.append(lat)


def bench_model(name: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from edgeinfer.api import optimize
    from edgeinfer.builder import build, resolve_model
    from edgeinfer.search import OptimizeConfig
    from edgeinfer.search.candidates import reference_candidate
    from edgeinfer.search.measure import load_data

    eval_spec, calib_spec, budget_kw = MODELS[name]
    budget = Budget(**budget_kw)
    src = resolve_model(name, quiet=True)
    path = tmp / f"{name}.onnx"
    src.model.save(path)
    ref_engine = build(src.model, reference_candidate(args.threads).config)
    data, _ = load_data(eval_spec, ref_engine, limit=args.eval_limit, seed=1)
    calib = load_data(calib_spec, ref_engine, limit=args.calib_samples, seed=0)[0].x
    cfg = OptimizeConfig(
        eval=eval_spec,
        calib=calib_spec,
        budget=budget,
        threads=args.threads,
        time_budget_min=args.time_budget,
        eval_limit=args.eval_limit,
        calib_samples=args.calib_samples,
        rounds=args.rounds,
        quiet=True,
        out_dir=str(tmp / f"{name}-optimize"),
    )
    result = optimize(src.model if src.kind != "zoo" else name, cfg)
    module = src.model.torch_source.load() if src.model.torch_source else None
    peers = _peers(src, path, calib, args, module)
    if result.engine_dir:
        peers.append(edgeinfer_peer(result.engine_dir, str(result.winner), args.threads))
    ref_out = outputs(peers[0], data.x) if peers[0].name.startswith("onnxruntime fp32") else None
    interleave(peers, np.ascontiguousarray(data.x[:1]), args.rounds, args.round_s)
    return _rows(name, peers, data, ref_out, budget, result)


def _peers(
    src: Any, path: Path, calib: np.ndarray, args: argparse.Namespace, module: Any
) -> list[Peer]:
    import openvino as ov

    t = args.threads
    peers = [ort_peer("onnxruntime fp32 (defaults)", path, t, "plain InferenceSession")]
    peers.append(ort_int8_peer(path, calib, t, path.parent))
    ov_model = ov.Core().read_model(str(path))
    peers.append(ov_peer("openvino defaults", ov_model, t, {}, "compile_model defaults"))
    peers.append(
        ov_peer(
            "openvino fp32 forced",
            ov_model,
            t,
            {"INFERENCE_PRECISION_HINT": "f32"},
            "INFERENCE_PRECISION_HINT=f32",
        )
    )
    peers.append(ov_nncf_peer(path, calib, t))
    if module is not None:
        peers.append(torch_peer(module, t))
    return peers


def _rows(
    name: str, peers: list[Peer], data: Any, ref_out: np.ndarray | None, budget: Budget, result: Any
) -> dict[str, Any]:
    labels = data.labels if budget.max_accuracy_drop is not None else None
    rows = []
    for p in peers:
        stats = latency_stats(np.concatenate(p.samples))
        q = (
            quality(ref_out, outputs(p, data.x), labels, confidence=budget.confidence)
            if ref_out is not None
            else None
        )
        rows.append(
            {
                "peer": p.name,
                "note": p.note,
                "latency_ms": stats.to_dict(),
                "round_p50_ms": [float(np.median(s) / 1e6) for s in p.samples],
                "quality": q.to_dict() if q else None,
                "meets_budget": bool(q is not None and not accuracy_violations(q, budget)),
            }
        )
    _ratios(rows)
    return {
        "model": name,
        "budget": budget.describe("labels" if labels is not None else "fidelity"),
        "optimize": {
            "winner": result.winner,
            "budget_met": result.budget_met,
            "wall_s": result.wall_s,
        },
        "rows": rows,
    }


def _ratios(rows: list[dict[str, Any]]) -> None:
    """Per-round ratios (interleaved): vs the fastest peer meeting the budget, vs PyTorch."""

    def med_ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
        return float(np.median(np.array(a["round_p50_ms"]) / np.array(b["round_p50_ms"])))

    pick = next((r for r in rows if r["peer"].startswith("edgeinfer")), None)
    peers_ok = [r for r in rows if r["meets_budget"] and not r["peer"].startswith("edgeinfer")]
    fastest = min(peers_ok, key=lambda r: r["latency_ms"]["p50"], default=None)
    eager = next((r for r in rows if r["peer"].startswith("pytorch")), None)
    for r in rows:
        r["ratio_vs_fastest_peer_meeting_budget"] = med_ratio(r, fastest) if fastest else None
        r["speedup_vs_pytorch_eager"] = med_ratio(eager, r) if eager else None
    if pick is not None and fastest is not None:
        pick["fastest_peer_meeting_budget"] = fastest["peer"]


def print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(file=stdout(), width=200)
    for m in report["models"]:
        t = Table(
            title=f"{m['model']} — budget: {m['budget']}; batch 1, "
            f"{report['threads']} threads, interleaved"
        )
        for c in (
            "peer",
            "p50",
            "p90",
            "p99",
            "max",
            "vs fastest ok peer",
            "vs eager",
            "top-1 %",
            "agree conf/all",
            "top5",
            "meets",
        ):
            t.add_column(c, justify="left" if c == "peer" else "right")
        for r in m["rows"]:
            lat, q = r["latency_ms"], r["quality"] or {}
            ratio, sp = r["ratio_vs_fastest_peer_meeting_budget"], r["speedup_vs_pytorch_eager"]
            t.add_row(
                r["peer"],
                *(f"{lat[k]:.3f}" for k in ("p50", "p90", "p99", "max")),
                f"{ratio:.2f}" if ratio else "",
                f"{sp:.2f}x" if sp else "",
                f"{100 * q['top1']:.2f}" if q.get("top1") is not None else "",
                f"{q.get('agreement_confident') or 0:.4f}/{q.get('agreement') or 0:.4f}",
                f"{q.get('top5_containment') or 0:.4f}",
                "yes" if r["meets_budget"] else "no",
            )
        con.print(t)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=None, choices=sorted(MODELS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--round-s", type=float, default=0.5)
    p.add_argument("--eval-limit", type=int, default=None)
    p.add_argument("--calib-samples", type=int, default=128)
    p.add_argument("--time-budget", type=float, default=10.0, help="optimize's, minutes")
    p.add_argument("--quick", action="store_true", help="smoke test: fashion-cnn, small data")
    p.add_argument("--json", default="benchmarks/results/optimize_vs_peers.json")
    args = p.parse_args(argv)
    if args.quick:
        args.models = args.models or ["fashion-cnn"]
        args.rounds, args.round_s, args.eval_limit = 2, 0.1, args.eval_limit or 500
        args.calib_samples, args.time_budget = 32, 2.0
    models = args.models or list(MODELS)
    with tempfile.TemporaryDirectory(prefix="edgeinfer-peers-") as tmp:
        results = [bench_model(m, args, Path(tmp)) for m in models]
    report = {
        "host": current_host().to_dict(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, *sys.argv]),
        "threads": args.threads,
        "rounds": args.rounds,
        "quick": args.quick,
        "models": results,
    }
    print_table(report)
    atomic_write_json(args.json, report)
    print(f"wrote {args.json}", file=stdout())
    return 0


if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):  # argparse prints the help to sys.stdout
        raise SystemExit(main())
    with command_console(debug="--debug" in sys.argv):
        raise SystemExit(main())
