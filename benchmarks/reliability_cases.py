"""Command lines for benchmarks/reliability.py: issue 12's findings, and seeded random ones.

Each case is ``{"argv": [...], "finding": str, "check": f(code, stderr) -> bool}``; files a
case needs are made here, under the campaign's temp directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper
from PIL import Image

from edgeinfer.builder import build
from edgeinfer.config import BuildConfig
from edgeinfer.engine import manifest_digest

Case = dict[str, Any]


def refused(text: str) -> Callable[[int, str], bool]:
    return lambda code, err: code == 2 and text in err


def succeeds(code: int, err: str) -> bool:
    return code == 0


def _edit_manifest(engine: Path, change: Callable[[dict[str, Any]], None], reseal: bool) -> None:
    path = engine / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    if reseal:
        data["digest"] = manifest_digest(data)
    path.write_text(json.dumps(data))


def _tiny(path: Path, shape: list[int], outputs: tuple[str, ...] = ("y",)) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, shape) for o in outputs],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _engine(root: Path, name: str, **config: Any) -> Path:
    return build(root / "model.onnx", BuildConfig(**config), root / "cases" / name, quiet=True).path


def path_cases(root: Path) -> list[Case]:
    model = str(root / "model.onnx")
    cases = root / "cases"
    cached = build(root / "model.onnx", BuildConfig(threads=3), quiet=True).path

    def pwn(data: dict[str, Any]) -> None:
        data["payload"]["../../../PWNED.txt"] = hashlib.sha256(b"x").hexdigest()

    _edit_manifest(cached, pwn, reseal=True)
    absolute = _engine(root, "absolute")
    _edit_manifest(absolute, lambda d: d["payload"].update({"/etc/hostname": "0" * 64}), True)
    fifo_payload = _engine(root, "fifo-payload")
    (fifo_payload / "model.onnx").unlink()
    os.mkfifo(fifo_payload / "model.onnx")
    zero = _engine(root, "dev-zero")
    _edit_manifest(zero, lambda d: d["payload"].update({"/dev/zero": "0" * 64}), True)
    os.mkfifo(cases / "fifo.onnx")
    return [
        {"finding": "write outside -o (poisoned cache)", "check": succeeds,
         "argv": ["build", model, "-o", str(cases / "a" / "b" / "c" / "eng"), "--threads", "3"]},
        {"finding": "absolute payload name", "argv": ["info", str(absolute)],
         "check": refused("not a plain file name")},
        {"finding": "FIFO payload", "argv": ["info", str(fifo_payload)], "check": refused("FIFO")},
        {"finding": "payload /dev/zero", "argv": ["info", str(zero)],
         "check": refused("not a plain file name")},
        {"finding": "FIFO model", "argv": ["info", str(cases / "fifo.onnx")],
         "check": refused("is a FIFO")},
        {"finding": "info /dev/zero", "argv": ["info", "/dev/zero"], "check": refused("device")},
    ]  # fmt: skip


def deletion_cases(root: Path) -> list[Case]:
    model = str(root / "model.onnx")
    cases = root / "cases"
    opt = cases / "opt"
    (opt / "engine").mkdir(parents=True)
    (opt / "engine" / "mine.txt").write_text("user data")
    userdir = root / "user" / "engine-like"
    userfile = root / "user" / "notes.txt"
    return [
        {"finding": "optimize -o removes DIR/engine", "check": refused("did not write"),
         "argv": ["optimize", model, "-o", str(opt), "--force"]},
        {"finding": "build --force deletes any directory", "check": refused("did not write"),
         "argv": ["build", model, "-o", str(userdir), "--force"]},
        {"finding": "zoo get --force deletes any directory", "check": refused("did not write"),
         "argv": ["zoo", "get", "fashion-cnn", "-o", str(userdir), "--force"]},
        {"finding": "--force hides a regular file", "check": refused("is not an edgeinfer"),
         "argv": ["build", model, "-o", str(userfile), "--force"]},
    ]  # fmt: skip


def integrity_cases(root: Path) -> list[Case]:
    model = str(root / "model.onnx")
    cases = root / "cases"
    edited = _engine(root, "edited")
    _edit_manifest(edited, lambda d: d.update(executed_precision="int8"), reseal=False)
    flags = _engine(root, "flags")
    _edit_manifest(flags, lambda d: d["host"].update(isa_flags=[]), reseal=False)
    threads = _engine(root, "threads")
    _edit_manifest(threads, lambda d: d["build_config"].update(threads=100000), reseal=True)
    calib = cases / "calib.json"

    def calib_argv(out: str) -> list[str]:
        return ["build", model, "-o", str(cases / out), "--precision", "int8", "--calib",
                "fashion-mnist:train", "--calib-samples", "32", "--calibrator", "minmax",
                "--calib-cache", str(calib), "--no-guardrail"]  # fmt: skip

    return [
        {"finding": "edited executed_precision", "argv": ["info", str(edited)],
         "check": refused("does not match its digest")},
        {"finding": "emptied ISA flags", "argv": ["info", str(flags)],
         "check": refused("does not match its digest")},
        {"finding": "manifest threads 100000", "check": succeeds,
         "argv": ["bench", str(threads), "--iterations", "2", "--warmup", "0"]},
        {"finding": "calibration cache (written)", "argv": calib_argv("int8"), "check": succeeds},
        {"finding": "calibration cache edited ranges", "argv": [*calib_argv("int8-edited"),
                                                                "--no-cache"],
         "check": refused("integrity"), "before": lambda: _edit_ranges(calib)},
    ]  # fmt: skip


def _edit_ranges(calib: Path) -> None:
    data = json.loads(calib.read_text())
    for name in data["ranges"]:
        data["ranges"][name] = [-1000.0, 1000.0]
    calib.write_text(json.dumps(data))


def resource_cases(root: Path) -> list[Case]:
    model = str(root / "model.onnx")
    cases = root / "cases"
    huge = _tiny(cases / "huge.onnx", [1, 3, 20000, 20000])
    bomb = cases / "bomb.npz"
    np.savez_compressed(bomb, x=np.zeros((64, 1024, 1024), np.uint8))
    return [
        {"finding": "--threads 100000", "argv": ["bench", model, "--threads", "100000"],
         "check": refused("--threads must be an integer from 1 to")},
        {"finding": "97-byte model declaring [1,3,20000,20000]", "argv": ["bench", str(huge)],
         "check": refused("over the memory budget")},
        {"finding": "--rate 1e9", "argv": ["bench", model, "--rate", "1e9"],
         "check": refused("--rate must be <=")},
        {"finding": "--batch 2000000", "argv": ["bench", model, "--batch", "2000000"],
         "check": refused("--batch must be <=")},
        {"finding": "zip-bomb npz", "argv": ["eval", model, "--data", f"npz:{bomb}"],
         "check": refused("over the memory budget"), "env": {"EDGEINFER_MEMORY_BUDGET": "16M"}},
        {"finding": "ros --duration 0", "argv": ["ros", "--engine", model, "--duration", "0"],
         "check": refused("duration must be a positive number of seconds")},
        {"finding": "ros --duration nan", "argv": ["ros", "--engine", model, "--duration", "nan"],
         "check": refused("duration must be a positive number of seconds")},
    ]  # fmt: skip


def data_cases(root: Path) -> list[Case]:
    model = str(root / "model.onnx")
    cases = root / "cases"
    names = cases / "names"
    names.mkdir()
    for i in range(4):
        Image.fromarray(np.full((28, 28), 40 * i, np.uint8)).save(names / f"{i}.png")
    (names / "labels.csv").write_text("".join(f"{i}.png,{n}\n" for i, n in enumerate("abcd")))
    deep = cases / "deep"
    deep.mkdir()
    for i in range(4):
        Image.fromarray(np.full((28, 28), 9000 * i, np.uint16)).save(deep / f"{i}.png")
    (deep / "labels.csv").write_text("".join(f"{i}.png,{i}\n" for i in range(4)))
    bomb = cases / "bombimg"
    bomb.mkdir()
    Image.new("1", (15000, 15000)).save(bomb / "big.png")
    (bomb / "labels.csv").write_text("big.png,0\n")
    return [
        {"finding": "labels.csv names the model does not know", "check": refused("does not know"),
         "argv": ["eval", model, "--data", f"images:{names}"]},
        {"finding": "16-bit PNG handled like the ROS node", "check": succeeds,
         "argv": ["eval", model, "--data", f"images:{deep}"]},
        {"finding": "PIL decompression bomb", "check": refused("too large"),
         "argv": ["eval", model, "--data", f"images:{bomb}"]},
    ]  # fmt: skip


def error_cases(root: Path) -> list[Case]:
    model = str(root / "model.onnx")
    cases = root / "cases"
    proto = onnx.load(model)
    for entry in proto.metadata_props:
        if entry.key == "edgeinfer.preprocess":
            entry.value = "{not json"
    onnx.save(proto, cases / "meta.onnx")
    passthrough = _tiny(cases / "passthrough.onnx", [1, 4], outputs=("x", "y"))
    return [
        {"finding": "--calib-samples 0", "check": refused("--calib-samples must be >= 1"),
         "argv": ["build", model, "-o", str(cases / "cs0"), "--precision", "int8",
                  "--calib", "photos:8", "--calib-samples", "0"]},
        {"finding": "--json creates parents", "check": refused("does not exist; create it"),
         "argv": ["bench", model, "--iterations", "2", "--json", str(cases / "no/dir/b.json")]},
        {"finding": "name too long (OSError)", "check": refused("use a shorter name"),
         "argv": ["build", model, "-o", str(cases / ("x" * 300))]},
        {"finding": "non-JSON model metadata", "argv": ["eval", str(cases / "meta.onnx"),
         "--data", "fashion-mnist", "--limit", "16"], "check": lambda c, e: c in (0, 2)},
        {"finding": "pass-through output (compare M M)", "check": succeeds,
         "argv": ["compare", str(passthrough), str(passthrough), "--limit", "4"]},
    ]  # fmt: skip


def finding_cases(root: Path) -> list[Case]:
    """One CLI case per finding of issue 12 that a command line can show."""
    (root / "cases").mkdir(exist_ok=True)
    out: list[Case] = []
    for make in (path_cases, deletion_cases, integrity_cases, resource_cases, data_cases,
                 error_cases):  # fmt: skip
        out += make(root)
    for case in out:
        case["finding"] = case.get("finding", "")
    return out


_VALUES = ["nan", "inf", "-inf", "-1", "0", "1", "2", "1e9", "1e308", "99999999999999999999",
           "abc", "", "3.5"]  # fmt: skip
_FLAGS = {
    "bench": ["--threads", "--batch", "--rate", "--deadline-ms", "--seed", "--shape", "--backend",
              "--option", "--json", "--warmup"],
    "build": ["--threads", "--precision", "--calib", "--calib-samples", "--percentile",
              "--calibrator", "--exclude", "--pass", "--option", "--backend"],
    "info": [],
}  # fmt: skip
_WORDS = ["fp16", "int8", "bf16", "photos:4", "minmax", "x:1x1x28x28", "a=b", "openvino",
          "nope", "npz:/dev/zero", "simplify", "/nonexistent/x.json", "input:0x1"]  # fmt: skip


def _mutant(root: Path, rng: random.Random, i: int) -> str:
    blob = bytearray((root / "model.onnx").read_bytes())
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(min(len(blob), 4096)) if rng.random() < 0.5 else rng.randrange(len(blob))
        blob[pos] = rng.randrange(256)
    if rng.random() < 0.2:
        del blob[rng.randrange(len(blob)) :]
    path = root / "cases" / f"mutant{i}.onnx"
    path.write_bytes(bytes(blob))
    return str(path)


def random_cases(root: Path, n: int, seed: int) -> list[Case]:
    """Seeded random command lines: verbs, flags, values, special files, mutated models."""
    rng = random.Random(seed)
    targets = [str(root / "model.onnx"), "/dev/zero", str(root / "cases" / "fifo.onnx"),
               str(root / "missing.onnx"), str(root / "cases"), str(root / "cases" / "edited")]
    cases: list[Case] = []
    for i in range(n):
        verb = rng.choice(sorted(_FLAGS))
        target = _mutant(root, rng, i) if rng.random() < 0.3 else rng.choice(targets)
        argv = [verb, target]
        if verb == "build":
            argv += ["-o", str(root / "outs" / f"r{i}")]
        for flag in rng.sample(_FLAGS[verb], k=min(len(_FLAGS[verb]), rng.randint(0, 3))):
            argv += [flag, rng.choice(_VALUES + _WORDS)]
        if verb == "bench":
            argv += ["--iterations", "2", "--warmup", "0", "--no-guardrail"]
        elif verb == "build":
            argv += ["--no-guardrail"]
        cases.append({"argv": argv})
    return cases
