"""The library leaves process-global state alone: the root logger, the third-party loggers and
``sys.stdout``/``sys.stderr`` stay as the caller set them, also while ONNX Runtime's quantizer
and calibrator and NNCF run inside an INT8 build."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeinfer.builder import build
from edgeinfer.calibration import CalibrationConfig
from edgeinfer.config import BuildConfig
from edgeinfer.model import Model
from tests.conftest import make_conv_relu


def _state() -> tuple[Any, ...]:
    nncf = logging.Logger.manager.loggerDict.get("nncf")  # never create it (NNCF's class)
    return (
        logging.getLogger().level,
        nncf.level if isinstance(nncf, logging.Logger) else None,
        sys.stdout,
        sys.stderr,
    )


def _spy(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, seen: list[Any]) -> None:
    """Record :func:`_state` whenever ``owner.name`` is called."""
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        seen.append(_state())
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)


def _config(tmp_path: Path, backend: str, **options: str) -> BuildConfig:
    data = tmp_path / "calib.npz"
    rng = np.random.default_rng(4321)  # data no other test uses: the calibrator really runs
    np.savez(data, x=rng.standard_normal((32, 3, 16, 16)).astype(np.float32))
    cal = CalibrationConfig(method="entropy", samples=32, data=f"npz:{data}")
    return BuildConfig(
        backend=backend, precision="int8", calibration=cal, options=options
    )


def test_ort_int8_build_leaves_root_logger_and_stdout_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnxruntime.quantization as q

    monkeypatch.setenv("EDGEINFER_CACHE_DIR", str(tmp_path / "cache"))
    seen: list[Any] = []
    _spy(monkeypatch, q, "quantize_static", seen)
    create = q.create_calibrator

    def create_spied(*args: Any, **kwargs: Any) -> Any:
        calibrator = create(*args, **kwargs)
        for method in ("collect_data", "compute_data"):
            _spy(monkeypatch, calibrator, method, seen)
        return calibrator

    monkeypatch.setattr(q, "create_calibrator", create_spied)
    before = _state()
    build(Model.from_proto(make_conv_relu()), _config(tmp_path, "onnxruntime"), cache=False)
    assert len(seen) >= 3  # calibrator collect + compute, quantize_static
    assert all(s == before for s in seen) and _state() == before


def test_nncf_int8_build_leaves_loggers_and_stdout_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openvino")
    nncf = pytest.importorskip("nncf")
    monkeypatch.setenv("EDGEINFER_CACHE_DIR", str(tmp_path / "cache"))
    seen: list[Any] = []
    _spy(monkeypatch, nncf, "quantize", seen)
    before = _state()
    config = _config(tmp_path, "openvino", quantizer="nncf")
    build(Model.from_proto(make_conv_relu()), config, cache=False)
    assert len(seen) == 1 and seen[0] == before and _state() == before
