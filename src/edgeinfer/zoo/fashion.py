"""Committed zoo assets: ``fashion-cnn`` (the project's own Fashion-MNIST classifier) and the
ImageNet class names.
"""

from __future__ import annotations

import json
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


def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in torchvision's order (see assets/PROVENANCE.md)."""
    names = asset_path("imagenet_classes.txt").read_text().splitlines()
    return tuple(n for n in names if n)
