"""Users' data files: bombs refused before unpacking, FIFOs refused, >8-bit images fed as raw
values like the ROS node, label names the model does not know refused."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeinfer.data.datasets import open_dataset
from edgeinfer.data.folders import load_image
from edgeinfer.errors import ConfigError, DataError
from edgeinfer.evaluate.accuracy import label_map


def test_zip_bomb_npz_is_refused_before_unpacking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, x=np.zeros((64, 1024, 1024), np.uint8))  # 64 MiB -> ~64 KiB
    assert path.stat().st_size < 1 << 20
    monkeypatch.setenv("EDGEINFER_MEMORY_BUDGET", "16M")
    with pytest.raises(ConfigError, match=r"arrays of '.*bomb.npz' needs 64.0 MiB, over the"):
        open_dataset(f"npz:{path}")


def test_npz_header_lying_about_its_size_is_refused(tmp_path: Path) -> None:
    header = np.lib.format.header_data_from_array_1_0(np.zeros(4, np.float32))
    header["shape"] = (10_000_000_000,)
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, header)
    out.write(np.zeros(4, np.float32).tobytes())
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", out.getvalue())
    with pytest.raises(DataError, match=r"array 'x.npy' declares 40000000000 bytes but holds"):
        open_dataset(f"npz:{path}")


def test_fifo_as_array_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "x.npy"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="array file '.*x.npy' is a FIFO; edgeinfer reads only"):
        open_dataset(f"npy:{fifo}")


def test_decompression_bomb_images_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (600, 600)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)  # Pillow's own limit: a warning
    with pytest.raises(DataError, match=r"image '.*big.png' is too large to decode safely"):
        load_image(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)  # over twice: Pillow's error
    with pytest.raises(DataError, match="is too large to decode safely"):
        load_image(path)
    monkeypatch.undo()
    monkeypatch.setenv("EDGEINFER_MEMORY_BUDGET", "1M")  # edgeinfer's budget, before decoding
    with pytest.raises(DataError, match=r"image '.*big.png' \(600x600\) needs 4.1 MiB, over"):
        load_image(path)


def test_16bit_and_float_images_keep_their_values_like_the_ros_node(tmp_path: Path) -> None:
    from edgeinfer.ros.codecs import decode_compressed

    depth = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000).astype(np.uint16)
    png = tmp_path / "depth.png"
    Image.fromarray(depth).save(png)
    img = load_image(png)
    assert img.dtype == np.float32 and img.shape == (3, 4) and img.max() == 55000.0
    np.testing.assert_array_equal(img, decode_compressed("png", png.read_bytes()))
    tif = tmp_path / "thermal.tif"
    values = np.array([[0.5, 300.25], [-20.0, 1e4]], np.float32)
    Image.fromarray(values, mode="F").save(tif)
    np.testing.assert_array_equal(load_image(tif), values)  # not clipped to 0..255


def test_label_names_the_model_does_not_know_are_refused() -> None:
    model = ["T-shirt", "Trouser", "Pullover"]
    assert label_map(["Trouser", "T-shirt"], model).tolist() == [1, 0]  # type: ignore[union-attr]
    assert label_map(["0", "1", "2"], model) is None  # class indices
    with pytest.raises(
        DataError, match=r"the dataset names 1 class\(es\) the model does not know \(e.g. 'cat'"
    ):
        label_map(["T-shirt", "cat"], model)


def test_labels_csv_paths_stay_inside_the_folder(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_text("a.png,0\n../../etc/passwd,1\n")
    with pytest.raises(DataError, match=r"'../../etc/passwd' is outside the image folder"):
        open_dataset(f"images:{tmp_path}")
