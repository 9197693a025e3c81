"""Corruption and load sections of benchmarks/reliability.py: random byte flips in engines and
calibration caches (every change refused), runners under load from several threads (results
checked against a reference), one runner shared by two threads, NaN inputs.
"""

from __future__ import annotations

import json
import random
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgeinfer.builder import build, load_engine, load_runner
from edgeinfer.errors import BackendError, EdgeInferError, NonFiniteError


def corruption(root: Path, trials: int, seed: int) -> dict[str, Any]:
    from edgeinfer.calibration import CalibrationConfig, CalibrationTable, calibrate
    from edgeinfer.model import Model

    rng = random.Random(seed)
    engine = build(root / "model.onnx", out=root / "corrupt" / "engine", quiet=True)
    cache = root / "corrupt" / "calib.json"
    calibrate(Model.load(root / "model.onnx"), CalibrationConfig(data="fashion-mnist:train",
              samples=32, method="minmax"), cache=cache, quiet=True)  # fmt: skip
    counts = {"trials": trials, "changed": 0, "refused": 0, "unchanged_harmless": 0, "missed": []}
    for i in range(trials):
        work = root / "corrupt" / f"t{i}"
        if i % 3 == 2:
            target = work / "calib.json"
            work.mkdir()
            shutil.copy(cache, target)
        else:
            shutil.copytree(engine.path, work)
            target = work / rng.choice(["manifest.json", "model.onnx"])
        before = target.read_bytes()
        data = bytearray(before)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] ^= rng.randint(1, 255)
        target.write_bytes(bytes(data))
        _classify(counts, target, before, bytes(data), CalibrationTable)
    return counts


def _classify(counts: dict[str, Any], target: Path, before: bytes, after: bytes, table: Any) -> None:
    try:
        if target.name == "calib.json":
            table.load(target)
        else:
            load_engine(target.parent)
        loaded = True
    except EdgeInferError:
        loaded = False
    same = False
    if target.suffix == ".json":
        try:
            same = json.loads(after) == json.loads(before)
        except ValueError:
            same = False
    if same:
        counts["unchanged_harmless"] += 1
        return
    counts["changed"] += 1
    if loaded:
        counts["missed"].append(str(target))
    else:
        counts["refused"] += 1


def thread_load(root: Path, seconds: float) -> dict[str, Any]:
    engine = build(root / "model.onnx", quiet=True)
    rng = np.random.default_rng(0)
    feeds = [rng.standard_normal((1, 1, 28, 28)).astype(np.float32) for _ in range(4)]
    name = engine.inputs[0].name
    with load_runner(engine) as r:
        refs = [r.infer({name: f}, copy=True) for f in feeds]
    stats = {"threads": 2, "seconds": seconds, "inferences": 0, "wrong": 0}
    lock = threading.Lock()

    def worker(k: int) -> None:
        n = wrong = 0
        with load_runner(engine) as runner:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                i = (n + k) % len(feeds)
                out = runner.infer({name: feeds[i]})
                wrong += any(not np.array_equal(out[o], refs[i][o]) for o in out)
                n += 1
        with lock:
            stats["inferences"] += n
            stats["wrong"] += wrong

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats["shared_runner"] = _shared_runner(engine, name, feeds)
    stats["nan_inputs"] = _nan_inputs(engine, name, feeds[0])
    return stats


def _shared_runner(engine: Any, name: str, feeds: list[np.ndarray]) -> dict[str, int]:
    result = {"calls_from_second_thread": 0, "refused": 0, "wrong": 0}
    with load_runner(engine) as runner:
        ref = runner.infer({name: feeds[0]}, copy=True)

        def other() -> None:
            for _ in range(50):
                result["calls_from_second_thread"] += 1
                try:
                    runner.infer({name: feeds[1]})
                except BackendError:
                    result["refused"] += 1

        t = threading.Thread(target=other)
        t.start()
        for _ in range(200):
            out = runner.infer({name: feeds[0]})
            result["wrong"] += any(not np.array_equal(out[o], ref[o]) for o in out)
        t.join()
    return result


def _nan_inputs(engine: Any, name: str, feed: np.ndarray) -> dict[str, int]:
    bad = feed.copy()
    bad.flat[::7] = np.nan
    result = {"sent": 100, "refused": 0}
    with load_runner(engine, check_finite=True) as runner:
        for _ in range(100):
            try:
                runner.infer({name: bad})
            except NonFiniteError:
                result["refused"] += 1
    return result
