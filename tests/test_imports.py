"""`import edgeinfer` (and building the whole CLI parser) must stay lean."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "openvino", "rclpy", "tensorrt", "nncf", "matplotlib")


def test_import_edgeinfer_loads_no_heavy_package() -> None:
    code = (
        "import sys, edgeinfer, edgeinfer.engine, edgeinfer.backends;"
        "from edgeinfer.cli import build_parser; build_parser();"
        "import edgeinfer.backends.onnxruntime;"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
