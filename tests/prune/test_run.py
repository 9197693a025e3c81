"""``prune()`` end to end on a small module: outputs written atomically, the record in the
ONNX metadata and the engine manifest, the saved module reloaded with weights_only=True,
fine-tuning and distillation, and data errors that name the fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from edgeinfer.builder import build, load_runner  # noqa: E402
from edgeinfer.errors import DataError, EdgeInferError, ModelError  # noqa: E402
from edgeinfer.model import Model  # noqa: E402
from edgeinfer.prune import FinetuneConfig, PruneConfig, PruneRecord  # noqa: E402
from edgeinfer.prune.run import prune  # noqa: E402
from edgeinfer.prune.saved import load_pruned  # noqa: E402
from tests.prune import models  # noqa: E402

SOURCE = "tests.prune.models:small_cnn"
SHAPE = models.SHAPE


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Labelled tensors the small CNN learns (class = brightest colour channel, + class 3)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((384, 3, 16, 16)).astype(np.float32) * 0.5
    y = rng.integers(0, 4, 384)
    for i, c in enumerate(y):
        x[i, c % 3] += 1.5 if c < 3 else -1.5
    root = tmp_path_factory.mktemp("data")
    np.savez(root / "train.npz", x=x[:256], y=y[:256])
    np.savez(root / "test.npz", x=x[256:], y=y[256:])
    np.save(root / "unlabelled.npy", x[:128])
    np.savez(root / "wrong_shape.npz", x=x[:64, :, :8, :8], y=y[:64])
    np.savez(root / "too_many_classes.npz", x=x[:64], y=y[:64] + 7)
    return {k: f"npz:{root / (k + ('.npy' if k == 'unlabelled' else '.npz'))}" for k in
            ("train", "test", "unlabelled", "wrong_shape", "too_many_classes")}  # fmt: skip


def _finetune(data: dict[str, str], **kwargs: object) -> FinetuneConfig:
    return FinetuneConfig(
        **{"epochs": 2, "train": data["train"], "batch_size": 32, "lr": 1e-2, **kwargs}
    )  # type: ignore[arg-type]


def test_channel_prune_finetune_and_write(tmp_path: Path, data: dict[str, str]) -> None:
    out = tmp_path / "pruned"
    result = prune(
        SOURCE, PruneConfig(ratio=0.5, finetune=_finetune(data)), out, input_shape=SHAPE,
        eval_data=data["test"],
    )  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx", "pruned.pt", "pruning.json"]
    rec = result.record
    assert rec.widths() == {"0": (16, 8), "3": (32, 16), "8": (4, 4)}
    assert rec.macs_after < rec.macs_before and rec.params_after < rec.params_before
    assert rec.quality is not None and rec.quality.metric == "top1"
    assert [(e.step, e.epoch) for e in rec.history] == [(1, 1), (1, 2)]
    assert rec.quality.final > 0.5 and rec.quality.final == rec.history[-1].quality
    assert rec.export_max_abs_diff is not None and rec.export_max_abs_diff < 1e-4
    assert rec.versions["torch-pruning"] == "1.6.1" and rec.notes == ()
    assert PruneRecord.from_dict(json.loads((out / "pruning.json").read_text())) == rec
    # the ONNX carries the record, and a build copies it into the engine's manifest
    model = Model.load(out / "model.onnx")
    assert model.meta("pruning") == rec.to_dict() and model.name == "small_cnn-channel50"
    engine = build(model)
    assert engine.manifest.metadata["pruning"]["macs_after"] == rec.macs_after
    # the saved module: plain data, rebuilt from its source, same function as the ONNX
    blob = torch.load(out / "pruned.pt", weights_only=True)
    assert blob["source"]["factory"] == SOURCE and blob["shapes"]["0"]["out_channels"] == 8
    module = load_pruned(str(out / "pruned.pt"))
    x = torch.randn(2, *SHAPE[1:])
    with load_runner(engine) as runner, torch.no_grad():
        got = runner.infer({"input": x.numpy()})["logits"]
        np.testing.assert_allclose(got, module(x).numpy(), atol=1e-4)
    assert result.source is not None and result.source.load()(x).shape == (2, 4)


def test_unstructured_zeros_every_layer_and_says_it_gives_no_speed(data: dict[str, str]) -> None:
    result = prune(
        SOURCE, PruneConfig(method="l1-unstructured", ratio=0.5, finetune=_finetune(data, epochs=1)),
        input_shape=SHAPE, eval_data=data["test"],
    )  # fmt: skip
    rec = result.record
    assert [layer.sparsity for layer in rec.layers] == [0.5, 0.5, 0.5]  # kept zero while tuning
    assert rec.macs_after == rec.macs_before and rec.params_after == rec.params_before
    assert rec.nonzero_params_after < rec.params_after
    assert rec.notes and rec.notes[0].startswith("unstructured zeros keep every dense shape")
    assert result.out is None and result.model.path is None
    assert not any("weight_orig" in k for k in result.module.state_dict())


def test_distillation_on_unlabelled_data_scores_agreement(data: dict[str, str]) -> None:
    cfg = PruneConfig(
        ratio=0.5, finetune=_finetune(data, train=data["unlabelled"], distill=True, epochs=1)
    )
    result = prune(SOURCE, cfg, input_shape=SHAPE, eval_data=data["unlabelled"])
    q = result.record.quality
    assert q is not None and q.metric == "agreement" and q.dense == 1.0
    assert q.top5_contains == 1.0  # 4 classes: the top 5 hold all of them
    without = PruneConfig(ratio=0.5, finetune=_finetune(data, train=data["unlabelled"]))
    with pytest.raises(EdgeInferError, match="has no labels; fine-tune with --distill"):
        prune(SOURCE, without, input_shape=SHAPE)


def test_not_finetuned_channel_pruning_says_so() -> None:
    result = prune(SOURCE, PruneConfig(ratio=0.5), input_shape=SHAPE)
    assert result.record.notes[0].startswith("not fine-tuned: channel pruning without fine-tuning")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            "wrong_shape",
            "does not fit model 'small_cnn': dataset 'npz:.*' gives tensors of shape [3, 8, 8] but input 'input' expects float32[batch,3,16,16]",
        ),
        ("too_many_classes", "has labels up to 10, but the model predicts 4 classes (0..3)"),
    ],
)
def test_data_that_does_not_fit_is_refused_before_pruning(
    tmp_path: Path, data: dict[str, str], key: str, message: str
) -> None:
    cfg = PruneConfig(ratio=0.5, finetune=_finetune(data, train=data[key]))
    with pytest.raises(
        DataError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")
    ):
        prune(SOURCE, cfg, tmp_path / "out", input_shape=SHAPE)
    assert list(tmp_path.iterdir()) == []


def test_sources_that_cannot_be_pruned(tmp_path: Path, conv_relu_path: Path) -> None:
    with pytest.raises(ModelError, match="is an ONNX file, but pruning changes the PyTorch module"):
        prune(str(conv_relu_path), PruneConfig())
    with pytest.raises(ModelError, match="model 'ppocr-det' has no PyTorch definition"):
        prune("ppocr-det", PruneConfig())
    with pytest.raises(ModelError, match="needs the example input shape; pass --input-shape"):
        prune(SOURCE, PruneConfig())
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep")
    with pytest.raises(EdgeInferError, match="already exists; pass --force to replace it"):
        prune(SOURCE, PruneConfig(), tmp_path / "taken", input_shape=SHAPE)
    assert (tmp_path / "taken" / "mine.txt").read_text() == "keep"


def test_a_pruned_file_that_is_not_one_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    torch.save({"state_dict": {}}, bad)
    with pytest.raises(ModelError, match="is not an edgeinfer pruned model"):
        load_pruned(str(bad))
    with pytest.raises(ModelError, match="does not exist; write it with: edgeinfer prune"):
        load_pruned(str(tmp_path / "none.pt"))
