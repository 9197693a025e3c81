"""``--batch`` on a model with a fixed batch: refused with the reason, or reshaped where the
graph allows (checked), and throughput counts what was really fed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgeinfer.bench.batching import fixed_batches, with_batch
from edgeinfer.bench.latency import BenchConfig, bench_runner
from edgeinfer.builder import build, load_runner
from edgeinfer.cli import main
from edgeinfer.errors import ConfigError
from edgeinfer.model import Model

from ..search.issue_models import two_output_detector
from ..search.tiny import make_classifier


def _fixed(proto: onnx.ModelProto, batch: int = 1) -> onnx.ModelProto:
    for vi in (*proto.graph.input, *proto.graph.output):
        dim = vi.type.tensor_type.shape.dim[0]
        dim.Clear()
        dim.dim_value = batch
    return proto


def test_a_fixed_batch_engine_refuses_another_batch_with_the_reason() -> None:
    engine = build(Model.from_proto(two_output_detector(batch=1)))
    with load_runner(engine) as r, pytest.raises(ConfigError) as exc:
        bench_runner(r, BenchConfig(batch=2, iterations=5, warmup=1), quiet=True)
    assert str(exc.value) == (
        f"--batch 2: engine '{engine.path}' has a fixed batch of 1 (input 'x' is "
        "float32[1,3,16,16]), so it cannot take 2 inputs per call; bench it with --batch 1, "
        "bench the ONNX file (edgeinfer tries to make its batch dynamic), or re-export the "
        "model with a dynamic batch dim"
    )
    with load_runner(engine) as r:  # its own batch is fine
        res = bench_runner(r, BenchConfig(batch=1, iterations=5, warmup=1), quiet=True)
    assert res.throughput == pytest.approx(5 / (res.latencies_ns.sum() / 1e9))


def test_a_graph_that_computes_per_sample_gets_a_dynamic_batch() -> None:
    model = Model.from_proto(two_output_detector(batch=1))
    assert fixed_batches(model.inputs) == {"x": 1}
    reshaped, note = with_batch(model, 4)
    assert note == (
        "reshaped: 'two_output_detector' has a fixed batch of 1; its batch dim was made "
        "dynamic for --batch 4 (checked: outputs at batch 4 equal per-input runs)"
    )
    assert fixed_batches(reshaped.inputs) == {}
    with load_runner(build(reshaped)) as r:
        res = bench_runner(r, BenchConfig(batch=4, iterations=5, warmup=1), quiet=True)
        assert r.infer({"x": np.zeros((4, 3, 16, 16), np.float32)})["boxes"].shape[0] == 4
    assert res.throughput == pytest.approx(4 * 5 / (res.latencies_ns.sum() / 1e9))
    assert with_batch(model, 1) == (model, None)  # nothing to do


def test_a_graph_that_hard_codes_its_batch_is_refused() -> None:
    proto = make_classifier()
    for node in proto.graph.node:  # Flatten -> Reshape to [1, 16]: the batch is baked in
        if node.op_type == "Flatten":
            node.op_type = "Reshape"
            del node.attribute[:]
            node.input.append("shape")
    proto.graph.initializer.append(numpy_helper.from_array(np.array([1, 16], np.int64), "shape"))
    with pytest.raises(ConfigError) as exc:
        with_batch(Model.from_proto(_fixed(proto)), 2)
    assert str(exc.value) == (
        "--batch 2: model 'tiny_classifier' has a fixed batch of 1 and its graph does not "
        "allow another (its Reshape node 'flatten' fails at batch 2); bench with --batch 1, "
        "or re-export the model with a dynamic batch dim"
    )


def test_cli_bench_of_a_fixed_batch_onnx_file_reshapes_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fixed.onnx"
    onnx.save(_fixed(make_classifier()), str(path))
    report = tmp_path / "bench.json"
    code = main(
        ["-q", "bench", str(path), "--batch", "2", "--iterations", "10", "--warmup", "2",
         "--json", str(report)]
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 0, err
    assert "reshaped: 'fixed' has a fixed batch of 1; its batch dim was made dynamic for " \
        "--batch 2" in " ".join(err.split())  # fmt: skip
    import json

    data = json.loads(report.read_text())
    assert data["config"]["batch"] == 2
    lat = data["latency_ms"]
    assert data["throughput_per_s"] == pytest.approx(2 * 1000 / lat["mean"], rel=1e-6)


def test_shape_and_batch_must_agree(conv_relu_path: Path) -> None:
    with load_runner(build(conv_relu_path)) as r, pytest.raises(ConfigError) as exc:
        cfg = BenchConfig(batch=1, iterations=3, warmup=0, shapes=(("x", (4, 3, 16, 16)),))
        bench_runner(r, cfg, quiet=True)
    assert str(exc.value) == (
        "--batch 1 but --shape gives a batch of 4 (x:4x3x16x16); make them agree"
    )
