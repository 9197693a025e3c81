from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeinfer.bench.pipeline import PipelineConfig, bench_pipeline, camera_frames, postprocess
from edgeinfer.builder import build, load_runner
from edgeinfer.cli import main
from edgeinfer.model import Model
from edgeinfer.preprocess import PreprocessSpec

SPEC = PreprocessSpec(size=(32, 32), resize="shorter", mean=(0.5,), std=(0.25,))


def _classifier(tmp_path: Path, with_spec: bool = True) -> Path:
    w = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((3, 10)).astype(np.float32), "W"
    )
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["x"], ["g"]),
            helper.make_node("Flatten", ["g"], ["f"]),
            helper.make_node("MatMul", ["f", "W"], ["logits"]),
        ],
        "tiny_cls",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 10])],
        [w],
    )
    model = Model.from_proto(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    if with_spec:
        model = model.with_meta(preprocess=SPEC.to_dict(), task="classification")
    path = tmp_path / "cls.onnx"
    model.save(path)
    return path


def test_pipeline_stages_add_up_and_match_direct_inference(tmp_path: Path) -> None:
    pytest.importorskip("skimage")
    engine = build(_classifier(tmp_path))
    frames = camera_frames("photos:4", (48, 64), count=4)
    assert frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8
    cfg = PipelineConfig(frames=12, warmup=2, image_size=(48, 64), data="photos:4")
    with load_runner(engine) as r:
        res = bench_pipeline(r, SPEC, cfg, frames)
        direct = r.infer({"x": SPEC.apply(frames[0])[None]}, copy=True)["logits"]
    assert set(res.stages) == {"preprocess", "infer", "postprocess", "total"}
    for s in res.stages.values():
        assert s.n == 12
    total = res.samples_ns["total"]
    parts = res.samples_ns["preprocess"] + res.samples_ns["infer"] + res.samples_ns["postprocess"]
    assert (total >= parts).all()
    idx, probs = postprocess({"logits": direct}, top_k=3, threshold=0.5)[0]
    assert list(idx) == list(np.argsort(direct[0])[::-1][:3])
    assert probs[0] >= probs[1] >= probs[2] and probs.sum() <= 1.0


def test_cli_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("skimage")
    path = _classifier(tmp_path)
    code = main(
        [
            "bench",
            str(path),
            "--pipeline",
            "--iterations",
            "5",
            "--warmup",
            "1",
            "--data",
            "photos:2",
            "--image-size",
            "64x48",
            "--json",
            str(tmp_path / "p.json"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "preprocess" in out and "postprocess" in out
    assert (tmp_path / "p.json").exists()


def test_cli_pipeline_needs_a_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _classifier(tmp_path, with_spec=False)
    assert main(["bench", str(path), "--pipeline"]) == 2
    err = capsys.readouterr().err
    assert f"'{path}' has no preprocessing spec; pass --preprocess (e.g. imagenet)" in err
    assert main(["bench", str(path), "--pipeline", "--image-size", "big"]) == 2
    assert "size 'big' must be WIDTHxHEIGHT, e.g. 640x480" in capsys.readouterr().err
    assert onnx.load(str(path)).graph.name == "tiny_cls"
