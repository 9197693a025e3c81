"""IDX reader and Fashion-MNIST on the real Debian files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from edgeinfer.data.idx import FASHION_MNIST_LABELS, FashionMNIST, fashion_mnist_dir, read_idx
from edgeinfer.errors import DataError


def test_read_idx_real_test_files() -> None:
    root = fashion_mnist_dir()
    x = read_idx(root / "t10k-images-idx3-ubyte.gz")
    y = read_idx(root / "t10k-labels-idx1-ubyte.gz")
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10000,) and y.dtype == np.uint8
    assert y.min() == 0 and y.max() == 9
    assert np.bincount(y).tolist() == [1000] * 10
    assert 0 < x.mean() < 255 and x.max() == 255


def test_fashion_mnist_splits_and_declared_preprocessing() -> None:
    train, test = FashionMNIST("train"), FashionMNIST()
    assert (len(train), len(test)) == (60000, 10000)
    assert train.labels == test.labels == FASHION_MNIST_LABELS
    assert np.bincount(train.labels_array()).tolist() == [6000] * 10
    sample = test[0]
    assert sample.image.shape == (28, 28) and sample.label == int(test.y[0])
    assert test.preprocess is not None and test.preprocess.tensor_shape() == (1, 28, 28)
    assert test.preprocess.color == "gray" and test.preprocess.scale == pytest.approx(1 / 255)
    assert test.images([3, 1]).shape == (2, 28, 28)


def test_read_idx_non_gz_int32_and_float(tmp_path: Path) -> None:
    arr = np.arange(6, dtype=">i4").reshape(2, 3)
    raw = bytes([0, 0, 0x0C, 2]) + np.array([2, 3], ">u4").tobytes() + arr.tobytes()
    (tmp_path / "a.idx").write_bytes(raw)
    out = read_idx(tmp_path / "a.idx")
    assert out.dtype == np.int32 and out.tolist() == [[0, 1, 2], [3, 4, 5]]
    f = np.array([1.5, -2.0], dtype=">f4")
    (tmp_path / "f.idx.gz").write_bytes(
        gzip.compress(bytes([0, 0, 0x0D, 1, 0, 0, 0, 2]) + f.tobytes())
    )
    assert read_idx(tmp_path / "f.idx.gz").tolist() == [1.5, -2.0]


def test_read_idx_rejects_bad_magic_and_truncation(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x00")
    with pytest.raises(
        DataError, match=r"^'.*bad' is not an IDX file \(bad magic number 01020801\)$"
    ):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(
        DataError,
        match=r"is truncated or corrupted: header says \(5,\) \(13 bytes\), file has 10 bytes",
    ):
        read_idx(tmp_path / "short")


def test_missing_dataset_names_the_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEINFER_FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(DataError) as exc:
        FashionMNIST()
    assert str(exc.value) == (
        f"Fashion-MNIST is not installed ('{tmp_path}/t10k-images-idx3-ubyte.gz' is missing); "
        "install it with: apt-get install dataset-fashion-mnist (or point "
        "EDGEINFER_FASHION_MNIST_DIR at a folder with the IDX .gz files)"
    )
    with pytest.raises(DataError, match="split 'val' is unknown; use train or test"):
        FashionMNIST("val")
