"""Runner overhead: edgeinfer's ``Runner.infer`` vs a bare ``InferenceSession.run``.

Both load the same optimized payload with the same session options (2 threads) in the same
process; they are timed interleaved. Target (issue 2): edgeinfer's p50 within 3% (or 20 µs)
of bare ONNX Runtime and no slower at p99.

    python benchmarks/runner_overhead.py [--model PATH|zoo-name] [--rounds 30] [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import console, header, interleaved, latency_stats, run_main, save

from edgeinfer.backends.onnxruntime import PAYLOAD, session_options
from edgeinfer.builder import build, load_runner
from edgeinfer.config import BuildConfig
from edgeinfer.model import Model
from edgeinfer.progress import Progress


def _tiny_model() -> Model:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32), "W"
    )
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "tiny_matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [w],
    )
    return Model.from_proto(
        helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    )


def _load(spec: str) -> Model:
    if Path(spec).exists():
        return Model.load(spec)
    from edgeinfer import zoo  # type: ignore[attr-defined]

    return zoo.get_model(spec)


def measure(model: Model, threads: int, rounds: int, per_round: int, quiet: bool) -> dict[str, Any]:
    import onnxruntime as ort

    engine = build(model, BuildConfig(threads=threads))
    feed = model.random_feed(batch=1, seed=0)
    so = session_options(threads, "disable")
    session = ort.InferenceSession(
        str(engine.path / PAYLOAD), so, providers=["CPUExecutionProvider"]
    )
    with (
        load_runner(engine) as runner,
        Progress(quiet) as prog,
        prog.task(model.name, rounds) as task,
    ):
        ref = session.run(None, feed)
        ours = runner.infer(feed)
        for spec, value in zip(runner.output_specs, ref, strict=True):
            np.testing.assert_allclose(ours[spec.name], value, rtol=1e-5, atol=1e-5)
        samples = interleaved(
            {
                "bare session.run": lambda: session.run(None, feed),
                "edgeinfer Runner.infer": lambda: runner.infer(feed),
            },
            rounds=rounds,
            per_round=per_round,
            warmup=20,
            pause_s=0.02,
            progress=task.advance,
        )
    stats = {k: latency_stats(v) for k, v in samples.items()}
    bare, ours_s = stats["bare session.run"], stats["edgeinfer Runner.infer"]
    return {
        "model": model.name,
        "threads": threads,
        "iterations_each": rounds * per_round,
        "stats_ms": {k: v.to_dict() for k, v in stats.items()},
        "p50_ratio": ours_s.p50 / bare.p50,
        "p50_diff_us": (ours_s.p50 - bare.p50) * 1e3,
        "p99_ratio": ours_s.p99 / bare.p99,
        "p99_diff_us": (ours_s.p99 - bare.p99) * 1e3,
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="resnet18", help="ONNX path or zoo name (default resnet18)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--per-round", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="few iterations (smoke test)")
    ap.add_argument("--json", default="benchmarks/results/runner_overhead.json")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.per_round = 6, 5
    results = [
        measure(_tiny_model(), args.threads, args.rounds, args.per_round * 5, args.quiet),
        measure(_load(args.model), args.threads, args.rounds, args.per_round, args.quiet),
    ]
    con = console()
    table = Table(
        title="Runner overhead: edgeinfer Runner.infer vs bare InferenceSession.run "
        f"(batch 1, {args.threads} threads, interleaved)"
    )
    for col in ("model", "variant", "p50 ms", "p90 ms", "p99 ms", "max ms", "n"):
        table.add_column(col, justify="right" if "ms" in col or col == "n" else "left")
    for r in results:
        for name, s in r["stats_ms"].items():
            table.add_row(
                r["model"],
                name,
                f"{s['p50']:.4f}",
                f"{s['p90']:.4f}",
                f"{s['p99']:.4f}",
                f"{s['max']:.4f}",
                str(s["n"]),
            )
        table.add_row(
            "",
            "[bold]edgeinfer / bare[/]",
            f"{r['p50_ratio']:.3f} ({r['p50_diff_us']:+.1f} µs)",
            "",
            f"{r['p99_ratio']:.3f} ({r['p99_diff_us']:+.1f} µs)",
            "",
            "",
        )
    con.print(table)
    h = header()
    con.print(
        f"{h['date']}  {h['host']['cpu_model']} ({h['host']['cpu_count']} cpus)  {h['command']}"
    )
    target = results[-1]
    ok = (target["p50_ratio"] <= 1.03 or target["p50_diff_us"] <= 20) and target[
        "p99_ratio"
    ] <= 1.0 + 0.03
    con.print(f"target (p50 within 3% or 20 µs, p99 not slower): {'MET' if ok else 'NOT MET'}")
    save(args.json, {**h, "results": results, "target_met": ok})
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
