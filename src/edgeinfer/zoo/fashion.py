"""Committed zoo assets: ``fashion-cnn`` (the project's own Fashion-MNIST classifier) and the
ImageNet class names.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from edgeinfer.data.idx import FASHION_MNIST_LABELS
from edgeinfer.errors import ModelError
from edgeinfer.model import Model
from edgeinfer.preprocess import PreprocessSpec

FASHION_LABELS: tuple[str, ...] = tuple(FASHION_MNIST_LABELS)
"""Fashion-MNIST class names, in label order (Zalando Research, MIT)."""


def fashion_preprocess(mean: float, std: float) -> PreprocessSpec:
    """Gray 28x28 images as they are (no resize), scaled to [0, 1], normalized by ``mean/std``."""
    return PreprocessSpec(
        size=(28, 28), resize="none", color="gray", scale=1.0 / 255.0, mean=(mean,), std=(std,)
    )


def asset_path(name: str) -> Path:
    """A file committed under ``edgeinfer/zoo/assets``."""
    return Path(__file__).with_name("assets") / name


def training_record() -> dict[str, Any]:
    """``fashion_cnn.json``: test accuracy, training config, seed, date, versions.

    Raises:
        ModelError: the asset is missing (re-create it with ``scripts/train_fashion.py``).
    """
    path = asset_path("fashion_cnn.json")
    if not path.exists():
        raise ModelError(
            f"zoo asset '{path}' is missing; re-create it with: "
            "python scripts/train_fashion.py (or reinstall edgeinfer)"
        )
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def fashion_model() -> tuple[Model, PreprocessSpec, dict[str, Any]]:
    """The committed ONNX, its preprocessing and its training record (no torch needed)."""
    record = training_record()
    model = Model.load(asset_path("fashion_cnn.onnx"))
    norm = record["normalization"]
    return model, fashion_preprocess(norm["mean"], norm["std"]), record


def fashion_module() -> Any:
    """The committed fashion-cnn as a PyTorch ``FashionCNN`` (eval mode), with the exact
    weights of the ONNX file: no state dict is committed, the ONNX holds the trained weights.

    The ONNX convolutions carry the BatchNorm folded into their bias; each BatchNorm is set
    to pass that bias through (running mean 0, variance 1, weight sqrt(1 + eps)), so the
    module computes the ONNX function (max |logit difference| ~1e-6) and still has its
    BatchNorm layers for fine-tuning. Needs torch.

    Raises:
        ModelError: the asset does not have the FashionCNN layout.
    """
    import onnx
    import torch

    from edgeinfer.zoo.archs import FashionCNN  # imports torch

    path = asset_path("fashion_cnn.onnx")
    init = {
        i.name: torch.from_numpy(onnx.numpy_helper.to_array(i).copy())
        for i in onnx.load(str(path)).graph.initializer
    }
    if "features.0.0.weight" not in init:
        raise ModelError(f"'{path}' is not the FashionCNN layout; re-create it: scripts/train_fashion.py")
    model = FashionCNN(width=int(init["features.0.0.weight"].shape[0]))
    state: dict[str, Any] = {}
    blocks: Any = model.features
    for k, block in enumerate(blocks):
        bias = init[f"features.{k}.0.bias"]
        eps, n = block[1].eps, len(bias)
        state |= {
            f"features.{k}.0.weight": init[f"features.{k}.0.weight"],
            f"features.{k}.1.weight": torch.full((n,), math.sqrt(1.0 + eps)),
            f"features.{k}.1.bias": bias,
            f"features.{k}.1.running_mean": torch.zeros(n),
            f"features.{k}.1.running_var": torch.ones(n),
            f"features.{k}.1.num_batches_tracked": torch.tensor(0),
        }
    state |= {f"classifier.1.{p}": init[f"classifier.1.{p}"] for p in ("weight", "bias")}
    model.load_state_dict(state, strict=True)
    return model.eval()


def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in torchvision's order (see assets/PROVENANCE.md)."""
    names = asset_path("imagenet_classes.txt").read_text().splitlines()
    return tuple(n for n in names if n)
