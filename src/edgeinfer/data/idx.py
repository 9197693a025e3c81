"""IDX files (the MNIST format) and the Fashion-MNIST dataset from Debian's package.

``apt-get install dataset-fashion-mnist`` puts the four gzip'd IDX files under
``/usr/share/datasets/fashion-mnist/``; ``$EDGEINFER_FASHION_MNIST_DIR`` points elsewhere.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np

from edgeinfer.data.base import Dataset
from edgeinfer.errors import DataError
from edgeinfer.preprocess import PreprocessSpec

__all__ = ["FASHION_MNIST_LABELS", "FashionMNIST", "fashion_mnist_dir", "read_idx"]

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_LABELS = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzip'd) into a native-endian numpy array.

    Raises:
        DataError: missing file, bad magic number or truncated data.
    """
    p = Path(path)
    try:
        raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
    except FileNotFoundError:
        raise DataError(f"IDX file '{p}' does not exist") from None
    except (OSError, EOFError) as exc:
        raise DataError(
            f"cannot read IDX file '{p}' ({exc}); re-install or re-download it"
        ) from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"'{p}' is not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(dims)) if dims else 1
    if len(raw) != header + count * dtype.itemsize:
        raise DataError(
            f"IDX file '{p}' is truncated or corrupted: header says {dims} "
            f"({header + count * dtype.itemsize} bytes), file has {len(raw)} bytes"
        )
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def fashion_mnist_dir() -> Path:
    """Where the Fashion-MNIST IDX files are: ``$EDGEINFER_FASHION_MNIST_DIR`` or Debian's."""
    return Path(os.environ.get("EDGEINFER_FASHION_MNIST_DIR") or DEFAULT_DIR)


class FashionMNIST(Dataset):
    """Fashion-MNIST (Zalando, MIT): 28x28 gray clothing images in 10 classes.

    60,000 train and 10,000 test images (1,000 per class in test). Default preprocessing:
    gray, scale 1/255, NCHW ``[N,1,28,28]`` float32.
    """

    is_tensor = False

    def __init__(self, split: str = "test", directory: str | Path | None = None) -> None:
        if split not in _FILES:
            raise DataError(f"fashion-mnist split '{split}' is unknown; use train or test")
        root = Path(directory) if directory is not None else fashion_mnist_dir()
        img_name, lab_name = _FILES[split]
        for name in (img_name, lab_name):
            if not (root / name).exists():
                raise DataError(
                    f"Fashion-MNIST is not installed ('{root / name}' is missing); install it "
                    "with: apt-get install dataset-fashion-mnist (or point "
                    "EDGEINFER_FASHION_MNIST_DIR at a folder with the IDX .gz files)"
                )
        self.x = read_idx(root / img_name)
        self.y = read_idx(root / lab_name).astype(np.int64)
        if self.x.ndim != 3 or len(self.x) != len(self.y):
            raise DataError(
                f"Fashion-MNIST files in '{root}' are inconsistent: images {self.x.shape}, "
                f"labels {self.y.shape}; re-install dataset-fashion-mnist"
            )
        self.split = split
        self.name = f"fashion-mnist:{split}"
        self.labels = list(FASHION_MNIST_LABELS)
        self.preprocess = PreprocessSpec(size=(28, 28), resize="none", color="gray")

    def __len__(self) -> int:
        return len(self.x)

    def image(self, i: int) -> np.ndarray:
        """Image ``i`` as a 28x28 grayscale uint8 array."""
        return self.x[i]

    def label(self, i: int) -> int | None:
        """The class index (0-9) of image ``i``."""
        return int(self.y[i])

    @property
    def has_labels(self) -> bool:
        """Always True: Fashion-MNIST is labelled."""
        return True

    def labels_array(self) -> np.ndarray:
        """Every label as an int64 array."""
        return self.y

    def images(self, indices: list[int] | np.ndarray) -> np.ndarray:  # type: ignore[override]
        """The images of ``indices`` as one ``[N, 28, 28]`` uint8 array."""
        return self.x[np.asarray(indices, dtype=np.int64)]
