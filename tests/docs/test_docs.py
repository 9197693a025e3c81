"""Docs are tests: every shell and Python block of README.md and docs/*.md runs as written.

Each runnable block runs in its own copy of a workspace holding the files the docs name
(see :func:`workspace`), with the data and time limits of ``blocks.LIMITS``, ``edgeinfer``
on PATH, and a private HOME (so ``~/.cache/edgeinfer`` is the test's). A block that cannot
run offline is marked ``<!-- notest: reason -->`` in the doc; the test counts them so the
number can only grow on purpose.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeinfer.model import Model
from edgeinfer.preprocess import PreprocessSpec

from ..search.issue_models import two_output_detector
from .blocks import NOT_RUN, ROOT, RUN, Block, all_blocks, limited

BLOCKS = all_blocks()
RUNNABLE = [b for b in BLOCKS if b.lang in RUN and b.notest is None]
# Blocks that stay out, each with its reason in the doc. Raise only with a reason there.
MAX_NOTEST = 9
# Blocks that build, measure or search take more than ~20 s on 2 shared cores.
SLOW_WORDS = re.compile(r"\b(build|bench|eval|compare|optimize|load_runner|calibrate)\b")
TIMEOUT_S = 900
# Documented verdicts, not failures of the command: `optimize` exits 3 when nothing meets the
# budgets and `compare` 1 when the candidate misses a tolerance (both likely with the small
# limits on a loaded machine). Every other non-zero exit fails the block.
OPTIMIZE_MAY_MISS = """edgeinfer() {
  local rc=0; command edgeinfer "$@" || rc=$?
  if [ "$rc" -eq 3 ] && [ "$1" = optimize ]; then return 0; fi
  if [ "$rc" -eq 1 ] && [ "$1" = compare ]; then return 0; fi
  return "$rc"
}
"""


def test_every_block_has_a_language_and_every_notest_a_reason() -> None:
    unlabelled = [b.id for b in BLOCKS if b.lang not in RUN + NOT_RUN]
    assert not unlabelled, f"label these blocks ({', '.join(RUN + NOT_RUN)}): {unlabelled}"
    skipped = [b for b in BLOCKS if b.notest is not None]
    assert all(len(b.notest or "") > 10 for b in skipped)
    assert len(skipped) <= MAX_NOTEST, [b.id for b in skipped]
    assert len(RUNNABLE) >= 18


def _write_images(folder: Path, n: int, seed: int) -> None:
    from PIL import Image
    from skimage import data as skdata

    folder.mkdir(parents=True)
    photos = [skdata.astronaut(), skdata.coffee(), skdata.chelsea(), skdata.rocket()]
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = photos[i % len(photos)]
        y, x = rng.integers(0, 64, 2)
        Image.fromarray(img[y : y + 256, x : x + 256]).save(folder / f"img{i:02d}.jpg")


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the docs name: zoo models under the docs' file names, images, labels."""
    pytest.importorskip("skimage")
    return make_workspace(tmp_path_factory.mktemp("docs-ws"))


def make_workspace(ws: Path) -> Path:
    """Write the workspace of :func:`workspace` into ``ws``."""
    from edgeinfer import zoo

    mnv2 = zoo.get_model("mobilenetv2-imagenet")
    fashion = zoo.get_model("fashion-cnn")
    for name in ("model.onnx", "mobilenetv2.onnx", "my.onnx"):
        mnv2.save(ws / name)
    for name in ("fashion_cnn.onnx", "fashion.onnx"):
        fashion.save(ws / name)
    spec = PreprocessSpec.from_dict({"size": [16, 16], "resize": "direct"})
    Model.from_proto(two_output_detector(batch="batch", opset=17)).with_meta(
        preprocess=spec.to_dict()
    ).save(ws / "detector.onnx")
    (ws / "labels.txt").write_text("\n".join(mnv2.meta("labels")) + "\n")
    _write_images(ws / "calib", 40, 0)
    _write_images(ws / "val", 20, 1)
    return ws


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDGEINFER_", "XDG_"))}
    env["HOME"] = str(home)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT / "src")
    env["COLUMNS"] = "100"
    return env


def run_block(block: Block, workspace: Path, tmp_path: Path, home: Path) -> None:
    """Run one block in a copy of the workspace; fail with its output when it fails."""
    cwd = tmp_path / "ws"
    shutil.copytree(workspace, cwd)
    script = limited(block.script())
    if block.lang == "python":
        (cwd / "snippet.py").write_text(script)
        cmd = [sys.executable, "snippet.py"]
    else:
        cmd = ["bash", "-euo", "pipefail", "-c", OPTIMIZE_MAY_MISS + script]
    proc = subprocess.run(
        cmd, cwd=cwd, env=_env(home), capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert proc.returncode == 0, (
        f"{block.id} failed (exit {proc.returncode}):\n{script}\n--- stdout\n"
        f"{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    )


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One HOME for every block (its ~/.cache/edgeinfer keeps zoo exports between blocks)."""
    return tmp_path_factory.mktemp("docs-home")


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(b, id=b.id, marks=[pytest.mark.slow] if SLOW_WORDS.search(b.script()) else [])
        for b in RUNNABLE
    ],
)
def test_block_runs_as_written(block: Block, workspace: Path, tmp_path: Path, home: Path) -> None:
    run_block(block, workspace, tmp_path, home)
