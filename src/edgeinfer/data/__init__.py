"""Data the rest of edgeinfer reads: datasets and their preprocessing into model inputs.

- :func:`open_dataset`: Fashion-MNIST (Debian IDX files), image folders (sub-folders or
  ``labels.csv``), NumPy ``.npy``/``.npz`` arrays and seeded crops of real photos bundled with
  scikit-image/scikit-learn, from a short spec string (``"fashion-mnist:train"``, ``"images:DIR"``,
  ``"npz:FILE"``, ``"photos:500"``).
- :func:`iter_batches` / :func:`iter_engine_batches`: preprocessed ``(batch, labels)`` arrays
  that fit a model's image input.
- :func:`resolve_preprocess`: the one preprocessing resolver (explicit spec > the model's or
  engine's stored spec > the dataset's default > inferred from the input shape).

Calibration (:mod:`edgeinfer.calibration`) and measurement (:mod:`edgeinfer.evaluate`,
:mod:`edgeinfer.bench`, :mod:`edgeinfer.search`) both read data through this package.
"""

from __future__ import annotations

from edgeinfer.data.datasets import (
    Dataset,
    Sample,
    iter_batches,
    iter_engine_batches,
    open_dataset,
    subset_indices,
)
from edgeinfer.data.specs import image_input, infer_spec, parse_preprocess, resolve_preprocess

__all__ = [
    "Dataset",
    "Sample",
    "image_input",
    "infer_spec",
    "iter_batches",
    "iter_engine_batches",
    "open_dataset",
    "parse_preprocess",
    "resolve_preprocess",
    "subset_indices",
]
