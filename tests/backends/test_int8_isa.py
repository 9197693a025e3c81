"""ISA-aware INT8: the CPU's INT8 class, the saturation fix each backend applies, both paths.

The non-VNNI path is forced on this (VNNI/AMX) machine: OpenVINO's kernels with
``ONEDNN_MAX_CPU_ISA=AVX2`` in a subprocess (set before openvino is imported), ONNX Runtime's
decisions with ``EDGEINFER_INT8_ISA=avx2`` (its kernels cannot be forced).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgeinfer.backends.int8_isa import Int8Isa, host_int8_isa, onednn_int8_isa
from edgeinfer.builder import build, engine_key
from edgeinfer.calibration import CalibrationConfig
from edgeinfer.config import BuildConfig
from edgeinfer.errors import ConfigError
from edgeinfer.host import HostInfo, current_host, int8_isa
from edgeinfer.model import Model
from tests.conftest import make_conv_relu

from ..passes.helpers import write_calib

ROOT = Path(__file__).resolve().parents[2]


def _host(*flags: str, machine: str = "x86_64") -> HostInfo:
    return HostInfo(machine=machine, cpu_model="test", cpu_count=1, isa_flags=tuple(flags))


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (_host("avx2", "avx512f", "avx512_vnni", "amx_int8", "amx_tile"), "amx"),
        (_host("avx2", "avx512f", "avx512_vnni"), "vnni"),
        (_host("avx2", "avx_vnni"), "vnni"),
        (_host("avx2", "avx512f", "avx512bw"), "avx2"),  # Skylake-SP: AVX-512 without VNNI
        (_host("avx2", "fma"), "avx2"),
        (_host("sse4_2"), "sse"),
        (_host("asimd", "asimddp", machine="aarch64"), "arm-dot"),
        (_host("asimd", machine="aarch64"), "arm"),
    ],
)
def test_int8_isa_classes(host: HostInfo, expected: str) -> None:
    assert int8_isa(host) == expected
    assert Int8Isa(expected).saturates == (expected in ("avx2", "sse"))


def test_override_changes_the_decision_and_the_fingerprint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EDGEINFER_INT8_ISA", raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    plain = current_host().fingerprint()
    model = Model.from_proto(make_conv_relu())
    key = engine_key(model, BuildConfig(), "1")
    monkeypatch.setenv("EDGEINFER_INT8_ISA", "avx2")
    assert host_int8_isa() == Int8Isa("avx2", "EDGEINFER_INT8_ISA")
    assert current_host().fingerprint() == plain + "|EDGEINFER_INT8_ISA=avx2"
    assert engine_key(model, BuildConfig(), "1") != key
    monkeypatch.setenv("EDGEINFER_INT8_ISA", "avx3")
    with pytest.raises(ConfigError) as info:
        host_int8_isa()
    assert str(info.value) == (
        "EDGEINFER_INT8_ISA='avx3' is not an INT8 ISA class; use one of amx, vnni, avx2, sse, "
        "arm-dot, arm, other (or unset it)"
    )


def test_onednn_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGEINFER_INT8_ISA", raising=False)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    if int8_isa() in ("amx", "vnni", "avx2"):
        assert onednn_int8_isa() == Int8Isa("avx2", "ONEDNN_MAX_CPU_ISA")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx9")
    with pytest.raises(ConfigError, match="ONEDNN_MAX_CPU_ISA='AVX9' is not a oneDNN ISA name"):
        onednn_int8_isa()


def _weights(engine_dir: Path) -> list[np.ndarray]:
    proto = onnx.load(str(engine_dir / "model.onnx"))
    return [
        numpy_helper.to_array(t)
        for t in proto.graph.initializer
        if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4
    ]


def _int8(data: str, **options: object) -> BuildConfig:
    cal = CalibrationConfig(method="minmax", samples=32, data=data)
    opts = {"quantize_outputs": True, **options}
    return BuildConfig(precision="int8", calibration=cal, options=opts)  # type: ignore[arg-type]


def test_onnxruntime_applies_reduce_range_without_vnni(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_calib(tmp_path / "c.npz")
    model = Model.from_proto(make_conv_relu())
    monkeypatch.delenv("EDGEINFER_INT8_ISA", raising=False)
    native = build(model, _int8(data))
    isa = native.metadata["int8_isa"]
    if isa["isa"] in ("amx", "vnni"):
        assert isa["fix"] == "none" and not isa["saturates"]
        assert max(int(np.abs(w.astype(int)).max()) for w in _weights(native.path)) == 127
    monkeypatch.setenv("EDGEINFER_INT8_ISA", "avx2")
    forced = build(model, _int8(data))
    assert forced.path != native.path  # another engine: the fingerprint holds the override
    assert forced.metadata["int8_isa"] == {
        "isa": "avx2",
        "source": "EDGEINFER_INT8_ISA",
        "saturates": True,
        "fix": "reduce_range (7-bit weights)",
    }
    assert forced.manifest.notes[0] == (
        "int8 ISA avx2 (no VNNI: 16-bit saturating pair sums; from EDGEINFER_INT8_ISA): "
        "saturation fix reduce_range (7-bit weights) (auto); ONNX Runtime picks its kernels "
        "from CPUID, so they are this CPU's"
    )
    assert max(int(np.abs(w.astype(int)).max()) for w in _weights(forced.path)) <= 64
    off = build(model, _int8(data, reduce_range=False))
    assert off.metadata["int8_isa"]["fix"] == "none"
    assert "saturation fix none (option)" in off.manifest.notes[0]


_OV_SCRIPT = """
import json, sys
from edgeinfer.builder import build
from edgeinfer.calibration import CalibrationConfig
from edgeinfer.config import BuildConfig
from edgeinfer.model import Model
model = Model.load(sys.argv[1])
cal = CalibrationConfig(method="minmax", samples=32, data=sys.argv[2])
engine = build(model, BuildConfig(backend="openvino", precision="int8", calibration=cal,
               options={"quantizer": "nncf"}), cache=False)
print(json.dumps({"isa": engine.metadata["int8_isa"],
                  "kernels": engine.metadata["openvino"]["kernels"],
                  "notes": list(engine.manifest.notes)}))
"""


def _ov_build(tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    model = tmp_path / "m.onnx"
    onnx.save(make_conv_relu(), str(model))
    data = write_calib(tmp_path / "c.npz")
    full_env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **env}
    full_env.pop("EDGEINFER_INT8_ISA", None)
    if not env:
        full_env.pop("ONEDNN_MAX_CPU_ISA", None)
    proc = subprocess.run(
        [sys.executable, "-c", _OV_SCRIPT, str(model), data],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_openvino_nncf_on_forced_avx2_kernels_uses_the_overflow_fix(tmp_path: Path) -> None:
    if int8_isa(current_host()) not in ("amx", "vnni", "avx2"):
        pytest.skip("needs an x86 CPU with AVX2")
    out = _ov_build(tmp_path, {"ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert out["isa"] == {
        "isa": "avx2",
        "source": "ONEDNN_MAX_CPU_ISA",
        "saturates": True,
        "fix": "overflow_fix=enable",
    }
    kernels = out["kernels"]
    assert kernels and all("avx2" in k for k in kernels), kernels  # type: ignore[union-attr]
    assert any("overflow fix enable" in n for n in out["notes"])  # type: ignore[union-attr]


@pytest.mark.slow
def test_openvino_nncf_on_this_cpu(tmp_path: Path) -> None:
    out = _ov_build(tmp_path, {})
    native = host_int8_isa()
    expected = "enable" if native.saturates else "first_layer"
    assert out["isa"]["fix"] == f"overflow_fix={expected}"  # type: ignore[index]
    if native.isa in ("amx", "vnni"):
        assert not any("jit_avx2" in k for k in out["kernels"])  # type: ignore[union-attr]
