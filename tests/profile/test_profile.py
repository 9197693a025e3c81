"""The profile package: tables, merging, ONNX-name mapping, Chrome traces and the
alternating end-to-end check, on synthetic profiles and a real ONNX Runtime engine.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from edgeinfer.backends.base import LayerEvent, LayerProfile, LayerTime
from edgeinfer.builder import build, load_runner
from edgeinfer.config import BuildConfig
from edgeinfer.errors import ConfigError
from edgeinfer.model import Model
from edgeinfer.profile import (
    ProfileConfig,
    by_group,
    chrome_trace,
    layer_rows,
    map_to_source,
    merge_profiles,
    profile_runner,
    source_graph,
    write_trace,
)
from tests.profile.graphs import SOURCE_NODES, make_residual


def _profile(times: list[float], iterations: int = 2, **kw: object) -> LayerProfile:
    layers = tuple(
        LayerTime(f"l{i}", "Conv" if i % 2 == 0 else "Relu", t, "int8" if i == 0 else "fp32", order=i)
        for i, t in enumerate(times)
    )
    events = tuple(
        LayerEvent(f"l{i}", layers[i].op_type, it, it * 100.0 + i * 10, t * 1000)
        for it in range(iterations)
        for i, t in enumerate(times)
    )
    return LayerProfile(layers, iterations, sum(times), "test", events,
                        tuple([sum(times)] * iterations), **kw)  # type: ignore[arg-type]


def test_layer_rows_rank_share_and_cumulate() -> None:
    rows = layer_rows(_profile([1.0, 3.0, 0.5, 0.5]))
    assert [r.layer.name for r in rows] == ["l1", "l0", "l2", "l3"]
    assert [r.rank for r in rows] == [1, 2, 3, 4]
    assert [round(r.share, 4) for r in rows] == [0.6, 0.2, 0.1, 0.1]
    assert rows[-1].cumulative == pytest.approx(1.0)


def test_groups_by_op_type_and_precision() -> None:
    prof = _profile([1.0, 3.0, 0.5, 0.5])
    ops = {g.key: (g.layers, g.time_ms) for g in by_group(prof, "op_type")}
    assert ops == {"Relu": (2, 3.5), "Conv": (2, 1.5)}
    precisions = [(g.key, g.layers) for g in by_group(prof, "precision")]
    assert precisions == [("fp32", 3), ("int8", 1)]


def test_merge_weights_layers_by_iterations_and_renumbers_events() -> None:
    a, b = _profile([1.0, 2.0], iterations=1), _profile([3.0, 4.0], iterations=3)
    merged = merge_profiles([a, b])
    assert merged.iterations == 4
    assert {t.name: t.time_ms for t in merged.layers} == {"l0": 2.5, "l1": 3.5}
    assert merged.total_ms == pytest.approx((3.0 * 1 + 7.0 * 3) / 4)
    assert sorted({e.iteration for e in merged.events}) == [0, 1, 2, 3]
    assert len(merged.iteration_ms) == 4
    firsts = [e.start_us for e in merged.events if e.iteration == 1 and e.name == "l0"]
    assert firsts[0] >= max(e.start_us + e.dur_us for e in a.events)  # b's events follow a's


def test_chrome_trace_has_one_event_per_layer_run(tmp_path: Path) -> None:
    prof = _profile([1.0, 2.0], iterations=3)
    trace = chrome_trace(prof, "eng")
    layers = [e for e in trace["traceEvents"] if e.get("ph") == "X" and e["cat"] != "inference"]
    runs = [e for e in trace["traceEvents"] if e.get("cat") == "inference"]
    assert len(layers) == 6 and len(runs) == 3
    assert layers[0]["args"]["precision"] == "int8" and layers[0]["dur"] == 1000.0
    assert trace["metadata"]["measured_starts"] is True
    out = write_trace(prof, tmp_path / "t.json", "eng")
    assert json.loads(out.read_text())["traceEvents"][0]["args"]["name"] == "eng"


def _graph(nodes: list, inputs: list[str], outputs: list[str]):  # type: ignore[no-untyped-def]
    return helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in outputs],
        [helper.make_tensor("W", TensorProto.FLOAT, [1], [1.0])],
    )


def test_mapping_resolves_backend_names_and_attributes_fused_nodes() -> None:
    g = _graph(
        [
            helper.make_node("Transpose", ["x"], ["t"], name="/m/pre"),
            helper.make_node("Conv", ["t", "W"], ["c1"], name="/m/conv1"),
            helper.make_node("Clip", ["c1"], ["/m/clip1_output_0"], name="/m/clip1"),
            helper.make_node("Conv", ["/m/clip1_output_0", "W"], ["c2"], name="/m/conv2"),
            helper.make_node("Add", ["c2", "/m/clip1_output_0"], ["a"], name="/m/add"),
            helper.make_node("Conv", ["a", "W"], ["y"], name="/m/conv3"),
        ],
        ["x"],
        ["y"],
    )
    layers = [
        LayerTime("/m/clip1_output_0_nchwc", "Conv", 1.0, fused=("/m/clip1_output_0",), order=0),
        LayerTime("/m/conv2_token_7", "Conv", 1.0, fused=("/m/conv2",), order=1),
        LayerTime("k3", "Convolution", 1.0, fused=("/m/conv3/WithoutBiases", "Multiply_9"), order=2),
        LayerTime("reorder", "ReorderOutput", 0.1, order=3),
    ]
    mapped = {t.name: t.fused for t in map_to_source(layers, g)}
    # the Conv before the named Clip joins it backwards, the leading Transpose joins the
    # layer it feeds, the residual Add joins the Conv computed last before it
    assert mapped["/m/clip1_output_0_nchwc"] == ("/m/pre", "/m/conv1", "/m/clip1")
    assert mapped["/m/conv2_token_7"] == ("/m/conv2", "/m/add")
    assert mapped["k3"] == ("/m/conv3",)
    assert mapped["reorder"] == ()


def test_profile_runner_checks_layers_against_end_to_end_latency(tmp_path: Path) -> None:
    model = Model.from_proto(make_residual())
    engine = build(model, BuildConfig(threads=1))
    cfg = ProfileConfig(iterations=9, rounds=3, warmup=2)
    with load_runner(engine) as r:
        result = profile_runner(r, cfg, source=source_graph(engine, model), quiet=True)
    assert result.profile.iterations == 9 and result.mapped
    assert result.e2e.n == 4 * 5  # four end-to-end blocks of max(3, 5) calls
    assert len(result.round_coverage) == 3 and 0 < result.coverage < 10
    assert result.coverage == pytest.approx(float(np.median(result.round_coverage)))
    data = result.to_dict(top=3)
    assert len(data["layers"]) == 3 and data["layers_total"] == len(result.profile.layers)
    assert sorted(n for layer in result.to_dict()["layers"] for n in layer["onnx_nodes"]) == sorted(
        SOURCE_NODES
    )
    assert data["unstable"] == (not result.stability.stable)
    assert data["stability"]["usage"]["own_cpu_s"] >= 0
    assert {g["key"] for g in data["by_precision"]} == {"fp32"}


def test_source_graph_is_the_recorded_file_only_when_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    Model.from_proto(make_residual(size=8)).save(path)
    engine = build(path, cache=False)  # a cached twin built from memory would record no path
    assert source_graph(engine) is not None
    Model.from_proto(make_residual(channels=4)).save(path)  # a different model now
    assert source_graph(engine) is None
    path.unlink()
    assert source_graph(engine) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"iterations": 0}, "--iterations must be in 1..100000, got 0"),
        ({"iterations": 2, "rounds": 3}, "--rounds must be in 1..--iterations (2), got 3"),
        ({"warmup": -1}, "--warmup must be >= 0, got -1"),
        ({"batch": 0}, "--batch must be >= 1, got 0"),
    ],
)
def test_profile_config_refuses_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        ProfileConfig(**kwargs)
    assert str(exc.value) == message


def test_feed_shapes_follow_the_config() -> None:
    engine = build(Model.from_proto(make_residual()), BuildConfig(threads=1))
    with load_runner(engine) as r:
        res = profile_runner(r, ProfileConfig(iterations=2, rounds=1, warmup=0, batch=2), quiet=True)
    assert res.config.batch == 2 and not res.mapped
    assert np.isfinite(res.coverage)
