"""``debug precision``: FP32 vs INT8 tensor by tensor; it must find a deliberately broken layer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeinfer.cli import main
from edgeinfer.config import BuildConfig, CalibrationConfig
from edgeinfer.errors import ConfigError, DataError
from edgeinfer.evaluate.layerwise import diagnose_precision
from edgeinfer.model import Model

from ..passes.helpers import write_calib


def make_broken_cnn(broken: bool = True, seed: int = 0) -> onnx.ModelProto:
    """x[N,3,16,16] -> conv1 -> relu -> conv2 -> relu -> conv3 -> relu -> conv4 -> GAP ->
    flatten -> fc (10 classes).

    Broken: conv2's output channel 0 has a bias of 2000, so the per-tensor INT8 range of the
    tensor conv3 reads is ~1000x what its other channels use (they lose their resolution);
    conv3 ignores channel 0 (zero weights), so FP32 is unaffected. conv3 is the layer INT8
    breaks: keeping it in float (reading the FP32 activations) removes the damage.
    """
    rng = np.random.default_rng(seed)

    def w(name: str, shape: tuple[int, ...], scale: float = 0.5) -> onnx.TensorProto:
        return numpy_helper.from_array(
            (rng.standard_normal(shape) * scale).astype(np.float32), name
        )

    b2 = (rng.standard_normal(8) * 0.1).astype(np.float32)
    w3 = (rng.standard_normal((8, 8, 3, 3)) * 0.3).astype(np.float32)
    if broken:
        b2[0] = 2000.0
        w3[:, 0] = 0.0
    inits = [
        w("W1", (8, 3, 3, 3)),
        w("W2", (8, 8, 3, 3), 0.3),
        numpy_helper.from_array(b2, "B2"),
        numpy_helper.from_array(w3, "W3"),
        w("W4", (16, 8, 3, 3), 0.3),
        w("FC", (10, 16), 1.0),
        numpy_helper.from_array(np.zeros(10, np.float32), "FCB"),
        numpy_helper.from_array(np.array([-1, 16], np.int64), "shape"),
    ]
    pads = [1, 1, 1, 1]
    nodes = [
        helper.make_node("Conv", ["x", "W1"], ["c1"], pads=pads, name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "W2", "B2"], ["c2"], pads=pads, name="conv2"),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "W3"], ["c3"], pads=pads, name="conv3"),
        helper.make_node("Relu", ["c3"], ["r3"], name="relu3"),
        helper.make_node("Conv", ["r3", "W4"], ["c4"], pads=pads, name="conv4"),
        helper.make_node("GlobalAveragePool", ["c4"], ["g"], name="gap"),
        helper.make_node("Reshape", ["g", "shape"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "FC", "FCB"], ["logits"], transB=1, name="fc"),
    ]
    graph = helper.make_graph(
        nodes,
        "broken_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _config(data: str) -> BuildConfig:
    cal = CalibrationConfig(method="minmax", samples=64, data=data)
    return BuildConfig(precision="int8", calibration=cal)


@pytest.fixture
def calib(tmp_path: Path) -> str:
    return write_calib(tmp_path / "c.npz", n=96)


def test_the_broken_layer_ranks_first_and_its_fallback_closes_the_gap(calib: str) -> None:
    report = diagnose_precision(Model.from_proto(make_broken_cnn()), _config(calib), samples=16)
    top = report.layers[0]
    assert (top.name, top.op_type) == ("conv3", "Conv")
    assert top.gain > 0.9 and top.share > 0.8
    assert report.ranking()[0] == "conv3"
    # conv3's output is where the error appears (SQNR of the INT8 tensor vs FP32)
    sqnr = {x.name: x.sqnr_db for x in report.layers}
    assert sqnr["conv3"] is not None and sqnr["conv3"] < sqnr["conv1"] - 20  # type: ignore[operator]
    first = report.fallback[0]
    assert first.layers == 1 and first.sqnr_db > report.output_sqnr_db + 10
    assert report.samples == 16


def test_a_healthy_model_has_no_dominant_layer(calib: str) -> None:
    broken = diagnose_precision(Model.from_proto(make_broken_cnn()), _config(calib), samples=16)
    healthy = diagnose_precision(
        Model.from_proto(make_broken_cnn(broken=False)), _config(calib), samples=16
    )
    assert healthy.output_sqnr_db > broken.output_sqnr_db + 10
    assert healthy.layers[0].gain < 0.9


def test_cli_table_and_json(calib: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "broken.onnx"
    onnx.save(make_broken_cnn(), str(model))
    out_json = tmp_path / "rank.json"
    code = main(
        [
            "debug",
            "precision",
            str(model),
            "--calib",
            calib,
            "--calibrator",
            "minmax",
            "--calib-samples",
            "64",
            "--samples",
            "16",
            "--json",
            str(out_json),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "layers by contribution to the INT8 output error" in out
    assert "top layers in float together" in out
    data = json.loads(out_json.read_text())
    assert data["layers"][0]["name"] == "conv3" and data["layers"][0]["rank"] == 1
    assert data["command"].startswith("edgeinfer debug precision")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--samples", "0"], "edgeinfer: error: --samples must be a positive integer, got 0"),
        (
            ["--samples", "1"],
            "edgeinfer: error: debug precision needs at least 2 samples, got 1",
        ),
    ],
)
def test_cli_bad_numbers(
    calib: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    model = tmp_path / "broken.onnx"
    onnx.save(make_broken_cnn(), str(model))
    code = main(["debug", "precision", str(model), "--calib", calib, *extra])
    _, err = capsys.readouterr()
    assert code == 2 and err.strip() == message


def test_calibration_data_that_does_not_fit_the_model(tmp_path: Path) -> None:
    data = write_calib(tmp_path / "wrong.npz", shape=(1, 28, 28))
    with pytest.raises(DataError) as info:
        diagnose_precision(Model.from_proto(make_broken_cnn()), _config(data), samples=8)
    assert str(info.value) == (
        f"dataset '{data}' gives tensors of shape [1, 28, 28] but input 'x' expects "
        "float32[N,3,16,16]; save the arrays in the model's input shape (without the batch dim)"
    )


def test_only_int8_configs() -> None:
    with pytest.raises(ConfigError, match="debug precision diagnoses INT8"):
        diagnose_precision(Model.from_proto(make_broken_cnn()), BuildConfig())
