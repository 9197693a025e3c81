"""End-to-end latency of the ROS 2 node against the same pipeline run in-process.

A publisher (this process) sends 640x480 rgb8 images of a real photo at a fixed rate over
Fast DDS to ``edgeinfer ros`` running in its own process; each image is stamped just before
``publish`` and the result (carrying the image header) is timed on arrival: end-to-end
latency = result received (middleware receive time of the result in this process) -
publish stamp. Frames published with no result are dropped frames. The node's CPU time
comes from /proc, over the publishing windows only.

The baseline is the node's own per-frame work in this process, on the same engine, image and
thread settings, paced at the same rate: decode the message buffer + preprocess into the
runner's input buffer + infer + top-k (or the text-box post-processing). The two are
**interleaved** in blocks (``--block`` seconds of publishing to the node, then as long of the
in-process pipeline, ...) so that load from other processes hits both alike. Node overhead =
e2e p99 - pipeline p99 (DDS transport both ways, (de)serialization, executor).
Targets: overhead <= 2 ms, zero drops and node CPU <= 60 % of a core at 30 Hz (MobileNetV2).

With ``--model ppocr-det`` the node runs the PP-OCR text detector (preprocessing for 480x640
frames) on a real photo with text printed at known places (:mod:`edgeinfer.ros.testimage`)
and every result's boxes are checked against those places (IoU > 0.5).

    python benchmarks/ros_node.py                    # mobilenetv2-imagenet, 30 Hz, 60 s
    python benchmarks/ros_node.py --quick            # 6 s smoke test
    python benchmarks/ros_node.py --model ppocr-det --rate 5 --json benchmarks/results/ros_node_ppocr.json
    python benchmarks/ros_node.py --engine ENGINE_DIR --rate 15 --duration 30
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import console, header, latency_stats, run_main, save, stats_row

from edgeinfer.builder import build, resolve_engine
from edgeinfer.ros.codecs import RawImage, decode_image, encode_image
from edgeinfer.ros.core import db_config
from edgeinfer.ros.outputs import parse_classification, parse_detections, top_k
from edgeinfer.ros.params import NodeParams
from edgeinfer.ros.pipeline import Pipeline
from edgeinfer.ros.testimage import iou, text_photo
from edgeinfer.ros.textboxes import db_boxes, map_to_image
from edgeinfer.ros.transport import write_fastdds_profile


def open_engine(args: argparse.Namespace) -> Any:
    if args.engine:
        return resolve_engine(args.engine)
    from edgeinfer import zoo

    model = zoo.get_model(args.model, quiet=args.quiet)
    if args.model == "ppocr-det":  # the camera's frame size, sides multiples of 32
        from edgeinfer.zoo.ppocr import ppocr_preprocess

        size = (args.height // 32 * 32, args.width // 32 * 32)
        model = model.with_meta(preprocess=ppocr_preprocess(size).to_dict())
    return build(model)


def frame(args: argparse.Namespace, kind: str) -> tuple[np.ndarray, list[Any]]:
    """The streamed image: a real photo (with text at known places for detection)."""
    if kind == "detection":
        return text_photo(args.width, args.height, "astronaut")
    from PIL import Image
    from skimage import data

    img = Image.fromarray(data.astronaut()).resize((args.width, args.height))
    return np.asarray(img), []


class Baseline:
    """The node's per-frame work in this process, same engine/threads/spinning."""

    def __init__(self, engine: Any, image: np.ndarray, args: argparse.Namespace) -> None:
        h, w, step, data = encode_image(image, "rgb8")
        self.raw = RawImage("rgb8", h, w, step, False, bytearray(data))
        self.pipe = Pipeline(engine, threads=args.threads, spinning=args.spinning).__enter__()
        self.db = db_config(NodeParams())
        for _ in range(5):  # warm-up
            self.frame()

    def frame(self) -> None:
        pipe = self.pipe
        image = decode_image(self.raw)
        pipe.preprocess(image)
        out, _ = pipe.infer()
        res = out[pipe.output_name]
        if pipe.task == "detection":
            plane = res.reshape(res.shape[-2:])
            to = map_to_image(pipe.spec, image.shape[:2], (plane.shape[0], plane.shape[1]))
            db_boxes(plane, self.db, to)
        else:
            top_k(res, pipe.labels, 5)

    def block(self, rate: float, seconds: float) -> list[int]:
        out = []
        period = 1e9 / rate
        start = time.perf_counter_ns()
        for i in range(round(rate * seconds)):
            _sleep_until(start + i * period)
            t0 = time.perf_counter_ns()
            self.frame()
            out.append(time.perf_counter_ns() - t0)
        return out


def _sleep_until(t_ns: float) -> None:
    while True:
        left = (t_ns - time.perf_counter_ns()) / 1e9
        if left <= 0:
            return
        time.sleep(left if left > 0.002 else 0)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_node(
    engine: Any, workdir: Path, env: dict[str, str], args: argparse.Namespace
) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "edgeinfer", "ros", "--engine", str(engine.path),
           "--input", "/bench/image", "--output", "/bench", "--result-format", "json",
           "--reliability", args.qos, "--threads", str(args.threads or 0),
           "--executor", args.executor, "--expected-image", f"{args.width}x{args.height} rgb8",
           "--json", str(workdir / "node.json")]  # fmt: skip
    if args.spinning:
        cmd.append("--spinning")
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


class Client:
    """Publisher of stamped images and receiver of results, in this process."""

    def __init__(self, image: np.ndarray, kind: str, regions: list[Any]) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from sensor_msgs.msg import Image
        from std_msgs.msg import String

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node("edgeinfer_bench_client", context=self.context)
        self.kind, self.regions = kind, regions
        self.received: dict[int, int] = {}  # stamp ns -> receive ns
        self.matched: list[float] = []  # detection: share of the text regions found
        self.topic = "/bench/detections" if kind == "detection" else "/bench/classification"
        self.node.create_subscription(String, self.topic, self._on_result, 50)
        self.pub = self.node.create_publisher(Image, "/bench/image", 10)
        self.msg = Image()
        self.msg.height, self.msg.width, self.msg.step, data = encode_image(image, "rgb8")
        self.msg.encoding, self.msg.data, self.msg.header.frame_id = "rgb8", data, "camera"
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except ExternalShutdownException:
            pass

    def _on_result(self, msg: Any, info: Any) -> None:
        # arrival = the middleware's receive time: this client's own executor wake-up is
        # not the node's overhead (callback time when the middleware gives none)
        now = int(info.get("received_timestamp") or 0) or time.time_ns()
        if self.kind == "detection":
            (sec, nsec, _), dets = parse_detections(msg)
            found = sum(any(iou(r.box, _bounds(d)) > 0.5 for d in dets) for r in self.regions)
            self.matched.append(found / max(1, len(self.regions)))
        else:
            (sec, nsec, _), _ = parse_classification(msg)
        self.received[sec * 1_000_000_000 + nsec] = now

    def wait_ready(self, proc: subprocess.Popen[str], timeout: float = 180.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end and proc.poll() is None:
            if self.pub.get_subscription_count() and self.node.count_publishers(self.topic):
                return
            time.sleep(0.05)
        err = proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
        raise SystemExit(f"the node did not come up: {err.strip()[-2000:]}")

    def publish_at(self, rate: float, seconds: float) -> list[int]:
        """Publish at ``rate`` for ``seconds``; the publish stamps (ns, wall clock)."""
        stamps: list[int] = []
        period = 1e9 / rate
        start = time.perf_counter_ns()
        for i in range(round(rate * seconds)):
            _sleep_until(start + i * period)
            t = time.time_ns()
            self.msg.header.stamp.sec, self.msg.header.stamp.nanosec = divmod(t, 1_000_000_000)
            self.pub.publish(self.msg)
            stamps.append(t)
        return stamps

    def close(self) -> None:
        import rclpy

        rclpy.try_shutdown(context=self.context)
        self.thread.join(timeout=2)


def _bounds(det: dict[str, Any]) -> tuple[float, float, float, float]:
    xs = [p[0] for p in det["points"]]
    ys = [p[1] for p in det["points"]]
    return min(xs), min(ys), max(xs), max(ys)


def run_interleaved(
    engine: Any, image: np.ndarray, regions: list[Any], args: argparse.Namespace
) -> dict[str, Any]:
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(args.domain)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    baseline = Baseline(engine, image, args)
    kind = baseline.pipe.task
    with tempfile.TemporaryDirectory() as tmp:
        if args.fastdds_profile:  # a well-configured camera: large shared-memory segment
            env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(
                write_fastdds_profile(Path(tmp) / "fastdds.xml")
            )
        keys = ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "FASTDDS_DEFAULT_PROFILES_FILE")
        os.environ.update({k: env[k] for k in keys if k in env})
        proc = start_node(engine, Path(tmp), env, args)
        client = Client(image, kind, regions)
        stamps: list[int] = []
        base: list[int] = []
        cpu = wall = 0.0
        try:
            client.wait_ready(proc)
            client.publish_at(args.rate, args.warmup)  # warm-up, not measured
            time.sleep(1.0)
            warm = len(client.received)
            rounds = max(1, round(args.duration / args.block))
            for _ in range(rounds):
                cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
                stamps += client.publish_at(args.rate, args.duration / rounds)
                time.sleep(0.5)  # the last results of the block
                cpu += _cpu_seconds(proc.pid) - cpu0
                wall += time.monotonic() - t0
                base += baseline.block(args.rate, args.duration / rounds)
        finally:
            client.close()
            baseline.pipe.close()
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        node_path = Path(tmp) / "node.json"
        node = json.loads(node_path.read_text()) if node_path.exists() else {}
    lat = [client.received[s] - s for s in stamps if s in client.received]
    matched = client.matched[warm:]
    return {"kind": kind, "latencies_ns": np.asarray(lat, np.int64), "published": len(stamps),
            "received": len(lat), "node_cpu_percent": 100 * cpu / max(wall, 1e-9),
            "baseline_ns": np.asarray(base, np.int64), "node": node,
            "boxes_matched": float(np.mean(matched)) if matched else None,
            "frames_all_boxes": int(sum(m == 1.0 for m in matched))}  # fmt: skip


def report(engine: Any, e2e: dict[str, Any], args: argparse.Namespace, load: list[float]) -> dict[str, Any]:
    e2e_stats = latency_stats(e2e["latencies_ns"])
    base_stats = latency_stats(e2e["baseline_ns"])
    dropped = e2e["published"] - e2e["received"]
    overhead = e2e_stats.p99 - base_stats.p99
    table = Table(title=f"ROS 2 node: {engine.describe()}, {args.width}x{args.height} rgb8 "
                  f"at {args.rate:g} Hz for {args.duration:g} s ({e2e['kind']})")  # fmt: skip
    for col in ("path", "p50 ms", "p90 ms", "p99 ms", "max ms", "frames"):
        table.add_column(col, justify="left" if col == "path" else "right")
    table.add_row("end-to-end (publish -> result)", *stats_row(e2e_stats), str(e2e["received"]))
    table.add_row("pipeline in-process (interleaved)", *stats_row(base_stats),
                  str(e2e["baseline_ns"].size))  # fmt: skip
    out = console()
    out.print(table)
    cpu = e2e["node_cpu_percent"]
    ok = overhead <= 2.0 and dropped == 0 and (e2e["kind"] != "classification" or cpu <= 60)
    node = {k: v for k, v in e2e["node"].items() if k != "params"}
    out.print(
        f"node overhead (e2e p99 - pipeline p99): {overhead:.3f} ms; dropped {dropped}/"
        f"{e2e['published']} (node: {node.get('dropped', '?')} dropped, {node.get('lost', '?')} "
        f"lost in transport, warm-up included); node CPU {cpu:.0f}% of one core; load "
        f"average {load[0]:.1f} -> {load[1]:.1f}{' (loaded machine)' if max(load) > 2 else ''}"
        f" -> {'meets' if ok else 'misses'} the targets (overhead <= 2 ms, zero drops, CPU <= 60%)"
    )
    if e2e["boxes_matched"] is not None:
        out.print(f"text boxes: {100 * e2e['boxes_matched']:.1f}% of the printed lines found per "
                  f"result (IoU > 0.5); {e2e['frames_all_boxes']} results with all of them")  # fmt: skip
    return {**header(), "engine": engine.describe(), "kind": e2e["kind"], "rate_hz": args.rate,
            "duration_s": args.duration, "block_s": args.block, "executor": args.executor,
            "spinning": args.spinning, "image": [args.height, args.width, 3],
            "e2e": e2e_stats.to_dict(), "pipeline": base_stats.to_dict(),
            "overhead_p99_ms": overhead, "published": e2e["published"],
            "received": e2e["received"], "dropped": dropped, "node_cpu_percent": cpu,
            "boxes_matched": e2e["boxes_matched"], "frames_all_boxes": e2e["frames_all_boxes"],
            "load_average": load, "loaded_machine": max(load) > 2, "node_stats": node,
            "meets_target": ok}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--engine", default=None, help="engine directory (default: build --model)")
    ap.add_argument("--model", default="mobilenetv2-imagenet", help="zoo model (default)")
    ap.add_argument("--rate", type=float, default=30.0, help="publish rate, Hz (default 30)")
    ap.add_argument("--duration", type=float, default=60.0, help="measured seconds (default 60)")
    ap.add_argument("--block", type=float, default=10.0, help="interleaving block, s (default 10)")
    ap.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--quick", action="store_true", help="6 s in 2 blocks, 1 s warm-up (smoke)")
    ap.add_argument("--domain", type=int, default=100 + os.getpid() % 100, help="ROS_DOMAIN_ID")
    ap.add_argument(
        "--no-fastdds-profile",
        dest="fastdds_profile",
        action="store_false",
        help="publish with Fast DDS defaults (large best-effort images are then mostly lost)",
    )
    ap.add_argument("--qos", choices=("best_effort", "reliable"), default="best_effort")
    ap.add_argument("--threads", type=int, default=None, help="inference threads (both paths)")
    ap.add_argument("--spinning", action="store_true", help="spinning inference threads (both)")
    ap.add_argument(
        "--executor", choices=("single", "events"), default="events", help="the node's executor"
    )
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--json", default="benchmarks/results/ros_node.json")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.warmup, args.block = 6.0, 1.0, 3.0
    engine = open_engine(args)
    kind = Pipeline(engine).task
    image, regions = frame(args, kind)
    load0 = os.getloadavg()[0]
    e2e = run_interleaved(engine, image, regions, args)
    if not e2e["received"]:
        raise SystemExit(f"no results came back from the node; its statistics: {e2e['node']}")
    data = report(engine, e2e, args, [load0, os.getloadavg()[0]])
    save(args.json, data)
    console().print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
