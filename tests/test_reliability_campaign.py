"""The reliability campaign (benchmarks/reliability.py) in its bounded --quick form: every
finding of issue 12 as a CLI case, SIGKILL trials, a file-size limit as a full disk,
concurrent builds, corruptions, threads; every invariant must hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_campaign_holds_every_invariant(tmp_path: Path) -> None:
    out = tmp_path / "reliability.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "reliability.py"), "--quick", "--json", str(out)],
        env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )  # fmt: skip
    assert not any(ROOT.glob("x:*")), "the campaign wrote into the checkout"
    data = json.loads(out.read_text())
    assert proc.returncode == 0, (data["invariants"], data["bad_inputs"]["not_clean"])
    assert all(data["invariants"].values())
    assert all(f["ok"] for f in data["bad_inputs"]["findings"])
    assert len(data["bad_inputs"]["findings"]) >= 30
    assert data["sigkill"]["trials"] >= 4 and data["lost"] == []
