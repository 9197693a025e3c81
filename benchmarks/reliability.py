#!/usr/bin/env python3
"""Reliability campaign: bad inputs, injected faults, load, and what was lost (nothing).

    python benchmarks/reliability.py --json benchmarks/results/reliability.json
    python benchmarks/reliability.py --quick      # the bounded run `make test` does

Everything happens in a fresh temp directory with its own engine cache, on the real
fashion-cnn zoo model (ONNX Runtime). Sections:

- ``bad_inputs``: every finding of issue 12 as a CLI case, absurd values in every numeric
  flag of every verb, and seeded random command lines over flags, values, special files and
  byte-mutated models; each must end in success or one error line (exit 2), within 60 s.
- ``sigkill``: ``edgeinfer build`` killed at random moments (into ``-o`` and into the
  cache); afterwards no half-written engine exists anywhere and the next run leaves no temp.
- ``full_disk``: builds, ``zoo get`` and ``--json`` under a file-size limit (EFBIG, as on a
  full disk): one line, exit 2, nothing half-written left.
- ``concurrent``: three builds at once into one ``-o`` and one cache.
- ``corruption``: random byte flips in engines and calibration caches: every change that
  alters content is refused.
- ``threads``: runners held under load from several threads (results checked against a
  reference), one runner shared by two threads (refused, never wrong), NaN inputs.
- ``lost``: user files planted around the outputs, compared before and after.

Exit 0 when every invariant held; 1 otherwise (the JSON says which).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

from edgeinfer.builder import build, load_engine
from edgeinfer.cli import main as cli_main
from edgeinfer.cli.common import NUMERIC_LIMITS
from edgeinfer.errors import EdgeInferError
from edgeinfer.zoo.fashion import asset_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header, save
from reliability_cases import finding_cases, random_cases
from reliability_load import corruption, thread_load

SRC = str(Path(__file__).resolve().parents[1] / "src")
TEMP_MARKERS = (".tmp", ".old-")


def run_cli(argv: list[str], timeout: int = 60) -> tuple[int, str]:
    """``edgeinfer ARGV`` in-process with an alarm; (exit code, stderr). -1: hang."""

    def alarm(signum: int, frame: Any) -> None:
        raise TimeoutError

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(timeout)
    err = io.StringIO()
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(err):
            code = cli_main(argv)
    except TimeoutError:
        code = -1
    except BaseException as exc:  # an exception escaping main() is itself a failure
        code, err = -2, io.StringIO(f"escaped: {type(exc).__name__}: {exc}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return code, err.getvalue()


def clean_outcome(code: int, err: str) -> bool:
    """Success, or exit 2/3 with exactly one error line (argparse: usage + error line)."""
    if code == 0:
        return "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    if code not in (2, 3) or "Traceback" in err or not lines:
        return False
    if lines[0].startswith("usage:"):
        return ": error: " in lines[-1]
    return len(lines) == 1 and lines[0].startswith("edgeinfer: error: ")


def bad_inputs(root: Path, n_random: int, seed: int) -> dict[str, Any]:
    cases = finding_cases(root) + numeric_cases(root) + random_cases(root, n_random, seed)
    bad: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    codes: dict[str, int] = {}
    t0 = time.perf_counter()
    for case in cases:
        case.get("before", lambda: None)()
        saved = {k: os.environ.get(k) for k in case.get("env", {})}
        os.environ.update(case.get("env", {}))
        code, err = run_cli(case["argv"])
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        codes[str(code)] = codes.get(str(code), 0) + 1
        ok = clean_outcome(code, err) and case.get("check", lambda c, e: True)(code, err)
        if not ok:
            bad.append({"argv": case["argv"], "code": code, "stderr": err[-400:]})
        if case.get("finding"):
            line = err.strip().splitlines()[-1] if err.strip() else ""
            findings.append({"finding": case["finding"], "code": code, "ok": ok, "line": line})
    return {
        "runs": len(cases),
        "findings": findings,
        "exit_codes": codes,
        "not_clean": bad,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def numeric_cases(root: Path) -> list[dict[str, Any]]:
    """nan, inf, negative and huge values in every numeric flag of every verb."""
    model = str(root / "model.onnx")
    verbs = {
        "bench": ["bench", model, "--iterations", "2", "--warmup", "0"],
        "eval": ["eval", model, "--data", "fashion-mnist", "--limit", "8"],
        "compare": ["compare", model, model, "--limit", "4"],
        "build": ["build", model, "-o", str(root / "outs" / "numeric")],
        "optimize": ["optimize", model, "-o", str(root / "outs" / "numeric-opt")],
    }
    flags = [*NUMERIC_LIMITS, "threads"]
    cases = []
    for base in verbs.values():
        for dest in flags:
            for value in ("nan", "inf", "-1", "1e30"):
                argv = [*base, "--" + dest.replace("_", "-"), value]
                cases.append({"argv": argv, "check": lambda code, err: code != 0})
    return cases


def _engine_dirs(where: Path) -> list[Path]:
    return [p for p in where.rglob("*") if p.is_dir() and not p.name.startswith(".")]


def _half_written(where: Path) -> list[str]:
    """Visible directories holding a manifest or a payload that do not load."""
    bad = []
    for d in _engine_dirs(where):
        if (d / "manifest.json").exists() or (d / "model.onnx").exists():
            try:
                load_engine(d)
            except EdgeInferError as exc:
                bad.append(f"{d}: {exc}")
    return bad


def _temps(where: Path) -> list[str]:
    return [str(p) for p in where.rglob(".*") if any(m in p.name for m in TEMP_MARKERS)]


def sigkill(root: Path, trials: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    base = root / "kill"
    env = {**os.environ, "PYTHONPATH": SRC, "EDGEINFER_CACHE_DIR": str(base / "cache")}
    half, left, killed = [], [], 0
    durations = [_timed_build(root, env, base / "probe")]
    for i in range(trials):
        out = base / f"eng{i % 4}"
        argv = ["build", str(root / "model.onnx"), "-o", str(out), "--force", "--threads", str(1 + i % 2)]
        if i % 3 == 0:
            argv.append("--no-cache")
        # kill anywhere in a typical run (the median of the runs seen so far: load varies)
        delay = rng.uniform(0.1, 1.0) * statistics.median(durations)
        ran = _run_until(argv, env, delay)
        if ran is None:
            killed += 1
        else:
            durations.append(ran)
        half += _half_written(base)
        build(root / "model.onnx", out=out, overwrite=True, quiet=True)  # the next run
        left += _temps(base)
    return {"trials": trials, "killed_mid_run": killed, "half_written_found": half,
            "temps_left_after_next_run": left,
            "median_build_seconds": round(statistics.median(durations), 2)}  # fmt: skip


def _run_until(argv: list[str], env: dict[str, str], delay: float) -> float | None:
    """Run ``edgeinfer ARGV``; SIGKILL it after ``delay`` s. Its duration, or None if killed."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeinfer", *argv], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    while time.perf_counter() - t0 < delay:
        if proc.poll() is not None:
            return time.perf_counter() - t0
        time.sleep(0.02)
    if proc.poll() is not None:
        return time.perf_counter() - t0
    proc.kill()
    proc.wait()
    return None


def _timed_build(root: Path, env: dict[str, str], out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "edgeinfer", "build", str(root / "model.onnx"), "-o", str(out)],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - t0


def _limited(limit: int) -> Any:
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def full_disk(root: Path, trials: int) -> dict[str, Any]:
    base = root / "full"
    model = str(root / "model.onnx")
    results = []
    for i in range(trials):
        limit = [4096, 20_000, 60_000, 150_000][i % 4]
        env = {**os.environ, "PYTHONPATH": SRC, "EDGEINFER_CACHE_DIR": str(base / f"cache{i}")}
        argv = [
            ["build", model, "-o", str(base / f"eng{i}")],
            ["zoo", "get", "fashion-cnn", "-o", str(base / f"zoo{i}")],
            ["bench", model, "--iterations", "2", "--json", str(base / f"b{i}.json")],
        ][i % 3]
        proc = subprocess.run(
            [sys.executable, "-m", "edgeinfer", *argv], env=env, capture_output=True,
            text=True, preexec_fn=_limited(limit), timeout=300,
        )  # fmt: skip
        results.append({"argv": argv[:1], "limit": limit, "code": proc.returncode,
                        "clean": clean_outcome(proc.returncode, proc.stderr),
                        "line": proc.stderr.strip()[-200:]})  # fmt: skip
    return {
        "trials": trials,
        "failed_cleanly": sum(r["clean"] and r["code"] == 2 for r in results),
        "succeeded": sum(r["code"] == 0 for r in results),
        "not_clean": [r for r in results if not r["clean"]],
        "half_written_found": _half_written(base),
        "temps_left": _temps(base),
        "example": next((r["line"] for r in results if r["code"] == 2), ""),
    }


def concurrent(root: Path, rounds: int) -> dict[str, Any]:
    base = root / "conc"
    env = {**os.environ, "PYTHONPATH": SRC, "EDGEINFER_CACHE_DIR": str(base / "cache")}
    outcomes: dict[str, int] = {}
    not_clean = []
    for r in range(rounds):
        out = base / f"eng{r}"
        cmd = [sys.executable, "-m", "edgeinfer", "build", str(root / "model.onnx"), "-o", str(out),
               "--threads", str(1 + r % 3)]  # fmt: skip
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]  # fmt: skip
        for p in procs:
            _, err = p.communicate(timeout=300)
            outcomes[str(p.returncode)] = outcomes.get(str(p.returncode), 0) + 1
            if not clean_outcome(p.returncode, err):
                not_clean.append(err[-300:])
        load_engine(out)
    return {"rounds": rounds, "builds": 3 * rounds, "exit_codes": outcomes,
            "not_clean": not_clean, "half_written_found": _half_written(base),
            "temps_left": _temps(base)}  # fmt: skip


def plant(root: Path) -> dict[str, str]:
    """User files beside and inside the places the campaign writes to."""
    files = {
        "user/notes.txt": "years of work",
        "user/photos/a.jpg": "jpeg bytes",
        "user/engine-like/manifest.txt": "not ours",
        "outs/keep.txt": "user file next to outputs",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return {rel: hashlib.sha256(text.encode()).hexdigest() for rel, text in files.items()}


def lost(root: Path, planted: dict[str, str]) -> list[str]:
    gone = []
    for rel, digest in planted.items():
        p = root / rel
        if not p.is_file() or hashlib.sha256(p.read_bytes()).hexdigest() != digest:
            gone.append(rel)
    gone += [str(p) for p in root.rglob("PWNED*")]
    return gone


def invariants(r: dict[str, Any]) -> dict[str, bool]:
    return {
        "every bad input ended cleanly": not r["bad_inputs"]["not_clean"],
        "no half-written engine after SIGKILL": not r["sigkill"]["half_written_found"],
        "no temp left after the next run": not r["sigkill"]["temps_left_after_next_run"],
        "full disk: one line, nothing half-written": not r["full_disk"]["not_clean"]
        and not r["full_disk"]["half_written_found"] and not r["full_disk"]["temps_left"],
        "concurrent builds: clean": not r["concurrent"]["not_clean"]
        and not r["concurrent"]["half_written_found"],
        "every content change refused": not r["corruption"]["missed"],
        "no wrong result under load": r["threads"]["wrong"] == 0
        and r["threads"]["shared_runner"]["wrong"] == 0,
        "every NaN input refused": r["threads"]["nan_inputs"]["refused"] == 100,
        "nothing lost": not r["lost"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small counts (the make test run)")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args()
    n = (dict(random=40, kills=4, disk=3, rounds=1, flips=30, seconds=2.0) if args.quick
         else dict(random=500, kills=60, disk=24, rounds=10, flips=300, seconds=60.0))  # fmt: skip
    json_path = Path(args.json).resolve() if args.json else None
    # Random command lines name relative paths (e.g. `--json x:1x1x28x28`): run them inside the
    # campaign's own directory so nothing lands where the script was started.
    with (
        tempfile.TemporaryDirectory(prefix="edgeinfer-reliability-") as tmp,
        contextlib.chdir(tmp),
    ):
        root = Path(tmp)
        os.environ["EDGEINFER_CACHE_DIR"] = str(root / "cache")
        (root / "model.onnx").write_bytes(asset_path("fashion_cnn.onnx").read_bytes())
        planted = plant(root)
        r: dict[str, Any] = {"header": header(), "quick": args.quick}
        r["bad_inputs"] = bad_inputs(root, n["random"], args.seed)
        r["sigkill"] = sigkill(root, n["kills"], args.seed)
        r["full_disk"] = full_disk(root, n["disk"])
        r["concurrent"] = concurrent(root, n["rounds"])
        r["corruption"] = corruption(root, n["flips"], args.seed)
        r["threads"] = thread_load(root, n["seconds"])
        r["lost"] = lost(root, planted)
    r["invariants"] = invariants(r)
    print(json.dumps({k: v for k, v in r.items() if k != "header"}, indent=1)[:20000])
    if json_path is not None:
        save(str(json_path), r)
    return 0 if all(r["invariants"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
