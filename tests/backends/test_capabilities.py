"""Backends declare what they can do; the search, guardrail and report ask the registry."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinfer.backends import backend_class, find_backends, list_backends
from edgeinfer.backends.base import Capabilities
from edgeinfer.builder import build, load_runner
from edgeinfer.config import BuildConfig
from edgeinfer.errors import BackendError
from edgeinfer.model import Model
from edgeinfer.search.candidates import (
    default_backends,
    enumerate_candidates,
    reference_backend,
    sensitivity_config,
)
from tests.conftest import make_conv_relu


@pytest.mark.parametrize("name", list_backends())
def test_every_backend_declares_capabilities(name: str) -> None:
    caps = backend_class(name).capabilities
    assert isinstance(caps, Capabilities)
    assert "fp32" in caps.precisions
    assert ("int8" in caps.precisions) == bool(caps.int8_routes)
    for route in caps.int8_routes:
        assert route.proxy_backend is None or route.proxy_backend in list_backends()


def test_the_registry_answers_what_was_hard_coded() -> None:
    assert reference_backend() == "onnxruntime"
    assert set(default_backends()) >= {"onnxruntime", "openvino"}
    assert "torch" in default_backends()  # its compiled variants (the eager one is the start)
    assert find_backends(available_only=False, baseline=True) == ["torch"]


def test_int8_routes_become_candidates() -> None:
    pytest.importorskip("openvino")
    cands, _ = enumerate_candidates(("openvino",), ("int8",), ("minmax", "entropy"))
    assert [c.name for c in cands] == [
        "openvino/int8(minmax)",
        "openvino/int8(entropy)",
        "openvino/int8[nncf]",
    ]
    qdq, nncf = cands[0].config, cands[2].config
    assert sensitivity_config(qdq).backend == "onnxruntime"  # the declared proxy
    assert sensitivity_config(nncf) == nncf


def test_fp32_twin_drops_only_precision_options() -> None:
    backend = backend_class("openvino")()
    cfg = BuildConfig(
        "openvino",
        "int8",
        2,
        options=(("quantizer", "nncf"), ("performance_hint", "THROUGHPUT")),
        exclude=("Conv",),
    )
    twin = backend.fp32_twin(cfg)
    assert twin == BuildConfig("openvino", "fp32", 2, options=(("performance_hint", "THROUGHPUT"),))


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_runner_timing_hook_and_missing_profiler(backend: str) -> None:
    pytest.importorskip(backend)
    engine = build(Model.from_proto(make_conv_relu()), BuildConfig(backend))
    feed = {"x": np.zeros((1, 3, 16, 16), np.float32)}
    with load_runner(engine) as r:
        r.synchronize()
        ns = r.timed_infer(feed)
        assert isinstance(ns, int) and ns > 0
        with pytest.raises(BackendError, match="profile iterations must be >= 1, got 0"):
            r.profile(feed, iterations=0)
