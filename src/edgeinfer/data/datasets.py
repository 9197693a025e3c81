"""Datasets for evaluation, calibration and fidelity checks, and batching into model inputs.

A :class:`Dataset` yields :class:`Sample` objects (an image or a model-ready tensor, and a
label or None) and declares a default :class:`~edgeinfer.preprocess.PreprocessSpec`.
:func:`open_dataset` turns a short spec string into one::

    open_dataset("fashion-mnist")          # 10k test images, labelled
    open_dataset("fashion-mnist:train")    # 60k train images
    open_dataset("images:val/")            # one sub-folder per class, or labels.csv
    open_dataset("npz:calib.npz")          # arrays: x/images (+ y/labels)
    open_dataset("photos:500")             # seeded random crops of bundled real photos

:func:`iter_batches` preprocesses a dataset into ``(batch, labels)`` arrays that fit a model
input; :func:`resolve_preprocess` picks the spec (explicit > engine > dataset default >
inferred from the input shape).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeinfer.data.base import Dataset, Sample, Subset, subset_indices
from edgeinfer.data.folders import ImageFolder, NumpyDataset
from edgeinfer.data.idx import FashionMNIST
from edgeinfer.data.photos import Photos
from edgeinfer.data.specs import image_input, infer_spec, resolve_preprocess
from edgeinfer.errors import DataError
from edgeinfer.preprocess import PreprocessSpec
from edgeinfer.tensors import TensorSpec, check_nbytes, shape_nbytes

if TYPE_CHECKING:
    from edgeinfer.engine import Engine
    from edgeinfer.model import Model

__all__ = [
    "Dataset",
    "Sample",
    "image_input",
    "infer_spec",
    "iter_batches",
    "iter_engine_batches",
    "open_dataset",
    "resolve_preprocess",
    "subset_indices",
]

DEFAULT_PHOTOS = 500


def open_dataset(spec: str, *, limit: int | None = None, seed: int = 0) -> Dataset:
    """Open a dataset from a spec string.

    Args:
        spec: ``fashion-mnist[:train|:test]``, ``images:DIR`` (or an existing directory),
            ``npz:FILE`` / ``npy:FILE`` (or a ``.npy``/``.npz`` path), ``photos[:N]``.
        limit: keep a seeded random subset of this many samples (in dataset order).
        seed: seed for the subset and for generated data (photo crops).

    Raises:
        DataError: unknown spec, missing or unusable data.
    """
    ds = _open_full(spec.strip(), limit=limit, seed=seed)
    idx = subset_indices(len(ds), limit, seed)
    return ds if idx is None else Subset(ds, idx)


def _open_full(spec: str, *, limit: int | None, seed: int) -> Dataset:
    kind, sep, arg = spec.partition(":")
    low = kind.lower()
    if low in ("fashion-mnist", "fashion_mnist", "fmnist"):
        return FashionMNIST(arg or "test")
    if low == "photos":
        try:
            count = int(arg) if arg else DEFAULT_PHOTOS
        except ValueError:
            raise DataError(
                f"photos count must be an integer, e.g. photos:500, got '{arg}'"
            ) from None
        return Photos(count, seed=seed)
    if sep and low in ("images", "folder", "dir"):
        return ImageFolder(arg)
    if sep and low in ("npz", "npy", "numpy"):
        return NumpyDataset(arg)
    path = Path(spec)
    if path.suffix.lower() in (".npy", ".npz"):
        return NumpyDataset(path)
    if path.is_dir():
        return ImageFolder(path)
    raise DataError(
        f"unknown dataset '{spec}'; use fashion-mnist[:train|:test], images:DIR, npz:FILE, "
        "npy:FILE or photos[:N] (a directory or .npy/.npz path must exist)"
    )


# -- batching -----------------------------------------------------------------------------------
ImageTransform = Callable[[np.ndarray, int], np.ndarray]


def iter_batches(
    ds: Dataset,
    spec: PreprocessSpec | None,
    batch_size: int,
    *,
    input_shape: TensorSpec | Sequence[int | str] | None = None,
    transform: ImageTransform | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Preprocessed ``(N, ...)`` batches and their labels (None for unlabelled data).

    Args:
        ds: the dataset.
        spec: preprocessing for image datasets (ignored for tensor datasets).
        batch_size: samples per batch (the last batch may be smaller).
        input_shape: the model input (a TensorSpec, or its shape) to check the batches
            against and to cast to; a channel-less 3-D input takes gray images squeezed.
        transform: ``f(image, sample_index) -> image`` applied to each uint8 image before
            preprocessing (used for corruptions).

    Raises:
        DataError: the samples do not fit the model input; the message says what to set.
    """
    if batch_size < 1:
        raise DataError(f"batch size must be >= 1, got {batch_size}")
    if not ds.is_tensor and spec is None:
        raise DataError(
            f"dataset '{ds.name}' holds images and needs a preprocessing spec; pass one "
            "(--preprocess) or use a model that stores one"
        )
    if ds.is_tensor and transform is not None:
        raise DataError(
            f"dataset '{ds.name}' holds model-ready tensors; corruptions need images "
            "(use an image folder or fashion-mnist)"
        )
    _check_batch_size(ds, spec, batch_size)
    labels = ds.labels_array()
    checked = False
    for start in range(0, len(ds), batch_size):
        idx = list(range(start, min(start + batch_size, len(ds))))
        batch = _load_batch(ds, spec, idx, transform)
        if input_shape is not None:
            batch = _fit(batch, input_shape, ds, spec, check=not checked)
            checked = True
        yield batch, (None if labels is None else labels[start : start + len(idx)])


def _check_batch_size(ds: Dataset, spec: PreprocessSpec | None, batch_size: int) -> None:
    """Refuse a batch whose preprocessed tensor (float32, the spec's size) would exceed the
    memory budget, before any image is read.
    """
    if ds.is_tensor or spec is None or spec.size is None or not len(ds):
        return
    n = min(batch_size, len(ds))
    per_sample = shape_nbytes(spec.tensor_shape(), np.float32)
    check_nbytes(n * per_sample, f"a batch of {n} images at {spec.size[0]}x{spec.size[1]}")


def _load_batch(
    ds: Dataset, spec: PreprocessSpec | None, idx: list[int], transform: ImageTransform | None
) -> np.ndarray:
    images = ds.images(idx)
    if transform is not None:
        images = [transform(np.asarray(images[k]), i) for k, i in enumerate(idx)]
    if ds.is_tensor or spec is None:
        try:
            return np.stack([np.asarray(t) for t in images])
        except ValueError as exc:
            raise DataError(f"dataset '{ds.name}' tensors differ in shape ({exc})") from exc
    return spec.apply_batch(list(images) if isinstance(images, list) else images)  # type: ignore[arg-type]


def _fit(
    batch: np.ndarray,
    input_shape: TensorSpec | Sequence[int | str],
    ds: Dataset,
    spec: PreprocessSpec | None,
    *,
    check: bool,
) -> np.ndarray:
    tspec = input_shape if isinstance(input_shape, TensorSpec) else None
    shape: tuple[int | str, ...] = (
        tspec.shape if tspec is not None else tuple(input_shape)  # type: ignore[arg-type]
    )
    if len(shape) == batch.ndim - 1 and batch.ndim == 4:
        ch_axis = 1 if spec is None or spec.layout == "NCHW" else 3
        if batch.shape[ch_axis] == 1:
            batch = batch.squeeze(ch_axis)
    if check and not _shape_ok(shape, batch.shape):
        _raise_mismatch(shape, batch, ds, spec, tspec)
    if tspec is not None and batch.dtype != np.dtype(tspec.dtype):
        target = np.dtype(tspec.dtype)
        if target.kind != batch.dtype.kind and not (target.kind == "f" and batch.dtype == np.uint8):
            raise DataError(
                f"dataset '{ds.name}' gives {batch.dtype} but input '{tspec.name}' expects "
                f"{tspec.describe()}; set the preprocessing dtype to {target.name}"
            )
        batch = batch.astype(target)
    return np.ascontiguousarray(batch)


def _shape_ok(expected: Sequence[int | str], actual: tuple[int, ...]) -> bool:
    if len(expected) != len(actual):
        return False
    return all(
        not isinstance(e, int) or e == a for e, a in zip(expected[1:], actual[1:], strict=True)
    )


def _raise_mismatch(
    shape: Sequence[int | str],
    batch: np.ndarray,
    ds: Dataset,
    spec: PreprocessSpec | None,
    tspec: TensorSpec | None,
) -> None:
    want = f"[{','.join(str(d) for d in shape)}]"
    got = list(batch.shape[1:])
    where = f"input '{tspec.name}' expects {tspec.describe()}" if tspec else f"the input is {want}"
    if ds.is_tensor or spec is None:
        raise DataError(
            f"dataset '{ds.name}' gives tensors of shape {got} but {where}; "
            "save the arrays in the model's input shape (without the batch dim)"
        )
    hint = _spec_hint(shape, spec)
    fix = (
        f"pass --preprocess {hint} (or store that spec in the model's metadata)"
        if hint
        else f"the input is not an image tensor; use a tensor dataset (npz) shaped {want}"
    )
    raise DataError(
        f"dataset '{ds.name}' preprocessed with {_describe_spec(spec)} gives {got} but {where}; "
        + fix
    )


def _spec_hint(shape: Sequence[int | str], spec: PreprocessSpec) -> str:
    """``size=HxW,resize=direct,color=rgb,layout=NCHW`` for a 4-D image input."""
    if len(shape) != 4:
        return ""
    nchw = isinstance(shape[1], int) and shape[1] in (1, 3)
    c, h, w = (shape[1], shape[2], shape[3]) if nchw else (shape[3], shape[1], shape[2])
    parts = []
    if isinstance(h, int) and isinstance(w, int):
        parts += [f"size={h}x{w}", f"resize={'direct' if spec.resize == 'none' else spec.resize}"]
    if isinstance(c, int):
        parts.append(
            f"color={'gray' if c == 1 else ('rgb' if spec.color == 'gray' else spec.color)}"
        )
    parts.append(f"layout={'NCHW' if nchw else 'NHWC'}")
    return ",".join(parts)


def _describe_spec(spec: PreprocessSpec) -> str:
    size = f"{spec.size[0]}x{spec.size[1]}" if spec.size else "original size"
    return f"{size} {spec.color} {spec.layout}"


def iter_engine_batches(
    engine: Engine | Model,
    ds: Dataset,
    batch_size: int,
    *,
    preprocess: PreprocessSpec | None = None,
    transform: ImageTransform | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """:func:`iter_batches` for the single input of ``engine`` (an Engine or a Model), with
    the preprocessing :func:`resolve_preprocess` picks.
    """
    spec, _ = resolve_preprocess(ds, engine, override=preprocess)
    return iter_batches(ds, spec, batch_size, input_shape=image_input(engine), transform=transform)
