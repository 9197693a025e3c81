"""The HTML report in a real headless browser (Chromium from the system packages;
scripts/setup_system.sh installs it): the page renders and both plots show.

The screenshot of the report must hold the plots' colours (the green Pareto front, a
backend's blue); the same page with the images removed must not, so the colours come from
the plots and not from the page's own styles.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from .test_html import _result

pytest.importorskip("matplotlib")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

FRONT_GREEN = (0x2C, 0xA0, 0x2C)
BACKEND_BLUE = (0x1F, 0x77, 0xB4)


def _screenshot(page: Path, out: Path) -> np.ndarray:
    from PIL import Image

    assert CHROMIUM is not None
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        f"--user-data-dir={out.parent / 'profile'}", f"--screenshot={out}",
        "--window-size=1280,2200", page.as_uri(),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and out.exists(), proc.stderr[-2000:]
    return np.asarray(Image.open(out).convert("RGB"), dtype=np.int16)


def _pixels(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 12) -> int:
    return int((np.abs(img - np.array(rgb)).max(axis=2) <= tol).sum())


def test_report_renders_with_both_plots(tmp_path: Path) -> None:
    from edgeinfer.report.html import write_html

    page = write_html(_result(), tmp_path / "report.html")
    img = _screenshot(page, tmp_path / "report.png")
    assert img.shape[0] >= 2000 and img.shape[1] >= 1200
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50  # not a blank page
    green, blue = _pixels(img, FRONT_GREEN), _pixels(img, BACKEND_BLUE)
    assert green > 100 and blue > 50, (green, blue)

    bare = tmp_path / "bare.html"
    bare.write_text(re.sub(r"<img [^>]+>", "", page.read_text()))
    img = _screenshot(bare, tmp_path / "bare.png")
    assert _pixels(img, FRONT_GREEN) < 20 and _pixels(img, BACKEND_BLUE) < 20
