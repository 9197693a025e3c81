"""The dataset contract: :class:`Dataset` (indexable samples with a preprocessing default),
:class:`Sample` and seeded subsets. Dataset kinds (``folders``, ``idx``, ``photos``) implement
it; :mod:`edgeinfer.data.datasets` opens them from spec strings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeinfer.errors import DataError
from edgeinfer.preprocess import PreprocessSpec

__all__ = ["Dataset", "Sample", "Subset", "subset_indices"]


@dataclass(frozen=True)
class Sample:
    """One dataset item.

    Attributes:
        image: ``HxW`` or ``HxWx3`` RGB uint8 image, or a model-ready tensor (no batch dim)
            when the dataset's ``is_tensor`` is True.
        label: class index, or None for unlabelled data.
    """

    image: np.ndarray
    label: int | None


class Dataset(ABC):
    """A finite, indexable collection of samples with a declared preprocessing default.

    Subclasses implement ``__len__`` and :meth:`image`; labelled ones override :meth:`label`
    (and :meth:`labels_array` when they can answer it without loading images).
    """

    name: str = "dataset"
    preprocess: PreprocessSpec | None = None
    labels: list[str] | None = None
    is_tensor: bool = False

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def image(self, i: int) -> np.ndarray:
        """The image (or tensor) of sample ``i``."""

    def label(self, i: int) -> int | None:
        """The label of sample ``i`` (None when unlabelled)."""
        return None

    @property
    def has_labels(self) -> bool:
        """Whether samples carry labels (False unless a subclass says so)."""
        return False

    def labels_array(self) -> np.ndarray | None:
        """All labels as an int64 array (None when unlabelled)."""
        if not self.has_labels:
            return None
        return np.array([self.label(i) for i in range(len(self))], dtype=np.int64)

    def images(self, indices: Sequence[int]) -> list[np.ndarray] | np.ndarray:
        """The images of ``indices`` (a stacked array when the dataset can slice cheaply)."""
        return [self.image(int(i)) for i in indices]

    def __getitem__(self, i: int) -> Sample:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"sample {i} out of range for {self.name} ({n} samples)")
        i = i % n
        return Sample(self.image(i), self.label(i))

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]

    def describe(self) -> str:
        """One line for people: name, size, images or tensors, number of classes."""
        kind = "tensors" if self.is_tensor else "images"
        lab = f", {len(self.labels)} classes" if self.labels else ""
        return f"{self.name} ({len(self)} {kind}{lab})"

    def to_dict(self) -> dict[str, Any]:
        """JSON data describing the dataset (not its samples), for reports."""
        return {
            "name": self.name,
            "size": len(self),
            "is_tensor": self.is_tensor,
            "labelled": self.has_labels,
            "labels": self.labels,
            "preprocess": self.preprocess.to_dict() if self.preprocess else None,
        }


class Subset(Dataset):
    """A view of ``base`` restricted to ``indices`` (kept in the base's order)."""

    def __init__(self, base: Dataset, indices: np.ndarray) -> None:
        self.base = base
        self.indices = np.asarray(indices, dtype=np.int64)
        self.name = base.name
        self.preprocess = base.preprocess
        self.labels = base.labels
        self.is_tensor = base.is_tensor

    def __len__(self) -> int:
        return len(self.indices)

    def image(self, i: int) -> np.ndarray:
        """The image of sample ``i`` of the subset (sample ``indices[i]`` of the base)."""
        return self.base.image(int(self.indices[i]))

    def label(self, i: int) -> int | None:
        """The label of sample ``i`` of the subset (None when unlabelled)."""
        return self.base.label(int(self.indices[i]))

    @property
    def has_labels(self) -> bool:
        """Whether the base dataset is labelled."""
        return self.base.has_labels

    def labels_array(self) -> np.ndarray | None:
        """The labels of the subset's samples, from the base's (None when unlabelled)."""
        full = self.base.labels_array()
        return None if full is None else full[self.indices]

    def images(self, indices: Sequence[int]) -> list[np.ndarray] | np.ndarray:
        """The images of ``indices`` (subset positions), read through the base."""
        return self.base.images(self.indices[np.asarray(indices, dtype=np.int64)].tolist())


def subset_indices(total: int, limit: int | None, seed: int = 0) -> np.ndarray | None:
    """A seeded random choice of ``limit`` of ``total`` indices, sorted; None for all."""
    if limit is None or limit >= total:
        return None
    if limit < 1:
        raise DataError(f"--limit must be >= 1, got {limit}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(total, size=limit, replace=False))
