from __future__ import annotations

import pytest

from edgeinfer.config import BuildConfig
from edgeinfer.errors import BackendError, ConfigError
from edgeinfer.search.candidates import (
    candidate_name,
    enumerate_candidates,
    mixed_variant,
    reference_candidate,
    thread_variant,
)


def test_names_say_backend_precision_calibrator_route_exclusions_threads() -> None:
    cal = {"method": "percentile"}
    assert candidate_name(BuildConfig("onnxruntime", "int8", calibration=cal)) == (
        "onnxruntime/int8(percentile)"
    )
    nncf = BuildConfig("openvino", "int8", options={"quantizer": "nncf"}, calibration=cal)
    assert candidate_name(nncf) == "openvino/int8[nncf]"
    ref = reference_candidate(2)
    assert ref.name == "onnxruntime/fp32" and ref.role == "reference"
    assert thread_variant(ref, 1).name == "onnxruntime/fp32 t1"
    mixed = mixed_variant(thread_variant(ref, 1), ["conv1", "conv2"])
    assert mixed.name == "onnxruntime/fp32+2fp32" and mixed.config.exclude == ("conv1", "conv2")


def test_enumeration_onnxruntime() -> None:
    cands, left_out = enumerate_candidates(
        ["onnxruntime"],
        None,
        ["minmax", "entropy"],
        threads=2,
        calib_data="photos:50",
        calib_samples=32,
    )
    names = [c.name for c in cands]
    assert names == [
        "onnxruntime/fp32",
        "onnxruntime/fp16",
        "onnxruntime/int8(minmax)",
        "onnxruntime/int8(entropy)",
        "onnxruntime/int8(minmax)[bias_correction=True]",  # the bc route: one calibrator
    ]
    assert all(c.config.threads == 2 for c in cands)
    int8 = cands[2].config.calibration.to_dict()
    assert int8["method"] == "minmax" and int8["data"] == "photos:50" and int8["samples"] == 32
    assert left_out == []
    _, left_out = enumerate_candidates(["onnxruntime"], ["bf16"])
    assert left_out == [("onnxruntime/bf16", "onnxruntime has no bf16")]


def test_enumeration_errors() -> None:
    with pytest.raises(BackendError, match="unknown backend 'nope'"):
        enumerate_candidates(["nope"])
    with pytest.raises(ConfigError, match="unknown precision 'int4'"):
        enumerate_candidates(["onnxruntime"], ["int4"])


def test_openvino_adds_the_nncf_route() -> None:
    pytest.importorskip("openvino")
    cands, _ = enumerate_candidates(["openvino"], ["int8"], ["minmax"], calib_data="photos")
    assert [c.name for c in cands] == ["openvino/int8(minmax)", "openvino/int8[nncf]"]


def test_the_bias_correction_route_is_left_out_without_nncf(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "nncf" else real(name, *a)
    )
    cands, left_out = enumerate_candidates(["onnxruntime"], ["int8"], ["minmax"])
    assert [c.name for c in cands] == ["onnxruntime/int8(minmax)"]
    assert left_out == [
        (
            "onnxruntime/int8(minmax)[bias_correction=True]",
            "onnxruntime option bias_correction needs NNCF (its sequential bias correction); "
            "install the extra: pip install 'edgeinfer[openvino]'",
        )
    ]
