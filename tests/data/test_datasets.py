"""Dataset loaders (image folders, NumPy, photos), the spec grammar and batching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeinfer.data.datasets import iter_batches, open_dataset, subset_indices
from edgeinfer.data.folders import ImageFolder, NumpyDataset
from edgeinfer.data.photos import Photos
from edgeinfer.errors import ConfigError, DataError
from edgeinfer.preprocess import PreprocessSpec
from edgeinfer.tensors import TensorSpec


def _png(path: Path, value: int, size: tuple[int, int] = (6, 4), mode: str = "RGB") -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((size[1], size[0], 3), value, dtype=np.uint8)
    arr[0, 0] = (value, 255 - value, 7)
    img = Image.fromarray(arr)
    (img.convert("L") if mode == "L" else img).save(path)
    return np.asarray(img.convert("L").convert("RGB")) if mode == "L" else arr


def test_image_folder_class_layout(tmp_path: Path) -> None:
    _png(tmp_path / "dog" / "b.png", 10)
    _png(tmp_path / "cat" / "a.png", 20)
    _png(tmp_path / "cat" / "c.png", 30, mode="L")
    (tmp_path / "cat" / "notes.txt").write_text("ignored")
    (tmp_path / "empty").mkdir()
    ds = open_dataset(f"images:{tmp_path}")
    assert isinstance(ds, ImageFolder) and ds.labels == ["cat", "dog"]
    assert [f.name for f in ds.files] == ["a.png", "c.png", "b.png"]
    assert ds.labels_array().tolist() == [0, 0, 1]
    first = ds[0]
    assert first.label == 0 and first.image.shape == (4, 6, 3) and first.image.dtype == np.uint8
    assert first.image[0, 0].tolist() == [20, 235, 7]
    assert ds[1].image.shape == (4, 6, 3)  # gray PNG converted to RGB
    assert ds.preprocess is None and not ds.is_tensor


def test_image_folder_numeric_classes_sort_numerically(tmp_path: Path) -> None:
    for name in ("10", "2", "1"):
        _png(tmp_path / name / "x.png", int(name))
    ds = ImageFolder(tmp_path)
    assert ds.labels == ["1", "2", "10"]


def test_image_folder_flat_with_labels_csv(tmp_path: Path) -> None:
    for i in range(3):
        _png(tmp_path / f"{i}.jpg", 40 * i)
    (tmp_path / "labels.csv").write_text("filename,label\n0.jpg,2\n1.jpg,0\n# comment\n2.jpg,2\n")
    ds = open_dataset(str(tmp_path))
    assert ds.labels is None and ds.labels_array().tolist() == [2, 0, 2]
    (tmp_path / "labels.csv").write_text("0.jpg,shoe\n1.jpg,bag\n2.jpg,shoe\n")
    ds = ImageFolder(tmp_path)
    assert ds.labels == ["bag", "shoe"] and ds.labels_array().tolist() == [1, 0, 1]


def test_image_folder_flat_unlabelled_and_errors(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", 1)
    ds = ImageFolder(tmp_path)
    assert not ds.has_labels and ds.labels_array() is None and ds[0].label is None
    (tmp_path / "labels.csv").write_text("a.png,0\nmissing.png,1\n")
    with pytest.raises(
        DataError, match=r"labels.csv lists 1 missing file\(s\), e.g. 'missing.png'"
    ):
        ImageFolder(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"image folder '.*empty' has no images"):
        ImageFolder(empty)
    with pytest.raises(DataError, match=r"image folder '.*nope' does not exist"):
        ImageFolder(tmp_path / "nope")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    (tmp_path / "labels.csv").unlink()
    with pytest.raises(DataError, match=r"cannot read image '.*bad.png'"):
        list(ImageFolder(tmp_path))


def test_npz_images_with_labels_and_npy_tensors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", images=imgs, labels=np.array([0, 1, 2, 1, 0]))
    ds = open_dataset(str(tmp_path / "d.npz"))
    assert isinstance(ds, NumpyDataset) and not ds.is_tensor
    assert ds.labels_array().tolist() == [0, 1, 2, 1, 0] and np.array_equal(ds[3].image, imgs[3])
    tensors = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    np.save(tmp_path / "t.npy", tensors)
    ts = open_dataset(f"npy:{tmp_path / 't.npy'}")
    assert ts.is_tensor and not ts.has_labels
    (batch, labels), *_ = iter_batches(ts, None, 3, input_shape=("N", 3, 8, 8))
    assert labels is None and np.array_equal(batch, tensors[:3])


def test_npz_errors(tmp_path: Path) -> None:
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 2)), b=np.zeros((2, 2)))
    with pytest.raises(DataError, match=r"has arrays \['a', 'b'\]; name the inputs 'x'"):
        NumpyDataset(tmp_path / "two.npz")
    np.savez(tmp_path / "n.npz", x=np.zeros((3, 2), np.float32), y=np.zeros(2, np.int64))
    with pytest.raises(DataError, match="3 samples but 2 labels"):
        NumpyDataset(tmp_path / "n.npz")
    with pytest.raises(DataError, match=r"array file '.*missing.npy' does not exist"):
        open_dataset(f"npy:{tmp_path / 'missing.npy'}")


def test_unknown_spec_message() -> None:
    with pytest.raises(DataError) as exc:
        open_dataset("cifar10")
    assert str(exc.value) == (
        "unknown dataset 'cifar10'; use fashion-mnist[:train|:test], images:DIR, npz:FILE, "
        "npy:FILE or photos[:N] (a directory or .npy/.npz path must exist)"
    )


def test_limit_is_a_seeded_sorted_subset() -> None:
    ds = open_dataset("fashion-mnist", limit=50, seed=3)
    again = open_dataset("fashion-mnist:test", limit=50, seed=3)
    assert len(ds) == 50
    idx = subset_indices(10000, 50, 3)
    assert idx is not None and np.all(np.diff(idx) > 0)
    full = open_dataset("fashion-mnist")
    assert np.array_equal(ds.labels_array(), full.labels_array()[idx])
    assert np.array_equal(ds[7].image, full[int(idx[7])].image)
    assert np.array_equal(again.images([0, 1]), ds.images([0, 1]))
    assert subset_indices(10, 20) is None
    assert len(open_dataset("fashion-mnist:train", limit=10)) == 10


def test_photos_are_real_deterministic_and_distinct() -> None:
    ds = open_dataset("photos:40")
    assert isinstance(ds, Photos) and len(ds) == 40 and len(ds.paths) >= 10
    names = {p.name for p in ds.paths}
    assert {"astronaut.png", "chelsea.png", "coffee.png", "china.jpg", "flower.jpg"} <= names
    a, b = ds[5].image, Photos(10)[5].image
    assert a.shape == (256, 256, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, Photos(10, seed=1)[5].image)
    hashes = {ds[i].image.tobytes() for i in range(40)}
    assert len(hashes) == 40
    assert float(a.std()) > 5  # a real photo, not a flat image
    assert open_dataset("photos").describe() == "photos:500 (500 images)"


def test_iter_batches_shapes_dtypes_and_partial_batch() -> None:
    ds = open_dataset("fashion-mnist", limit=70)
    batches = list(
        iter_batches(
            ds, ds.preprocess, 32, input_shape=TensorSpec("x", "float16", ("N", 1, 28, 28))
        )
    )
    assert [b.shape for b, _ in batches] == [(32, 1, 28, 28), (32, 1, 28, 28), (6, 1, 28, 28)]
    assert batches[0][0].dtype == np.float16
    labels = np.concatenate([lab for _, lab in batches])
    assert np.array_equal(labels, ds.labels_array())
    expected = ds.images([0]).astype(np.float32)[0] / 255
    np.testing.assert_allclose(batches[0][0][0, 0].astype(np.float32), expected, atol=1e-3)
    # a 3-D (channel-less) input gets the gray channel squeezed
    (b3, _), *_ = iter_batches(ds, ds.preprocess, 8, input_shape=("N", 28, 28))
    assert b3.shape == (8, 28, 28)


def test_iter_batches_says_what_to_set_when_data_does_not_fit() -> None:
    ds = open_dataset("fashion-mnist", limit=4)
    with pytest.raises(DataError) as exc:
        next(
            iter_batches(
                ds, ds.preprocess, 4, input_shape=TensorSpec("img", "float32", ("N", 3, 224, 224))
            )
        )
    assert str(exc.value) == (
        "dataset 'fashion-mnist:test' preprocessed with 28x28 gray NCHW gives [1, 28, 28] but "
        "input 'img' expects float32[N,3,224,224]; pass --preprocess "
        "size=224x224,resize=direct,color=rgb,layout=NCHW (or store that spec in the model's metadata)"
    )
    photos = open_dataset("photos:2")
    with pytest.raises(DataError, match="holds images and needs a preprocessing spec"):
        next(iter_batches(photos, None, 2))
    spec = PreprocessSpec(size=(28, 28), resize="none", color="gray")
    with pytest.raises(DataError, match="image is 256x256 but the model takes 28x28"):
        next(iter_batches(photos, spec, 2))


def test_resolve_preprocess_order_and_parse_preprocess() -> None:
    from edgeinfer.data.specs import parse_preprocess, resolve_preprocess
    from tests.evaluate.helpers import centroid_classifier, centroid_weights

    w, b = centroid_weights(100)
    plain, stored = centroid_classifier(w=w, b=b), centroid_classifier(w=w, b=b, metadata=True)
    fm, photos = open_dataset("fashion-mnist", limit=2), open_dataset("photos:2")
    explicit = parse_preprocess("size=28x28,resize=direct,color=gray")
    assert resolve_preprocess(fm, stored, override=explicit) == (explicit, "explicit")
    assert resolve_preprocess(fm, stored)[1] == "model"  # a Model; "engine" for an Engine
    assert resolve_preprocess(fm, plain) == (fm.preprocess, "dataset")
    with pytest.raises(DataError) as exc:  # images, no spec anywhere: refused, never guessed
        resolve_preprocess(photos, plain)
    assert str(exc.value) == (
        "dataset 'photos:2' holds images but there is no preprocessing spec and model "
        "'centroids' stores none; edgeinfer does not guess one (resize and normalization "
        "change every result); pass --preprocess size=28x28,color=gray,mean=M,std=S (the "
        "resize, mean and std the model was trained with; or imagenet) or store it once: "
        "edgeinfer meta MODEL.onnx --preprocess SPEC -o MODEL-WITH-SPEC.onnx"
    )
    spec, source = resolve_preprocess(photos, plain, allow_guess=True)  # only when asked
    assert source == "inferred" and spec is not None
    assert (spec.size, spec.color, spec.resize, spec.layout) == ((28, 28), "gray", "direct", "NCHW")
    with pytest.raises(DataError, match="dataset 'photos:2' holds images but there is no prep"):
        resolve_preprocess(photos, None)
    assert parse_preprocess("imagenet") == PreprocessSpec.imagenet()
    assert parse_preprocess("imagenet:160").size == (160, 160)
    assert parse_preprocess('{"size": [8, 8], "color": "bgr"}') == PreprocessSpec(
        size=(8, 8), color="bgr"
    )
    kv = parse_preprocess("size=32x48,mean=0.5/0.4/0.3,std=0.2,scale=1/255,layout=NHWC")
    assert kv.size == (32, 48) and kv.mean == (0.5, 0.4, 0.3) and kv.layout == "NHWC"
    with pytest.raises(ConfigError, match="--preprocess item 'big' must be KEY=VALUE"):
        parse_preprocess("big")
    with pytest.raises(ConfigError, match=r"unknown preprocessing keys \['colour'\]"):
        parse_preprocess("colour=rgb")


def test_photos_without_the_data_extra_name_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from edgeinfer.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "skimage", None)  # as if scikit-image were not installed
    with pytest.raises(MissingExtraError) as exc:
        open_dataset("photos:3")
    assert str(exc.value).startswith("the 'photos' dataset needs 'skimage'")
    assert str(exc.value).endswith("install the extra: pip install 'edgeinfer[data]'")


def test_resolver_without_a_dataset_and_the_single_input_check() -> None:
    from onnx import TensorProto, helper

    from edgeinfer.data.specs import image_input, resolve_preprocess
    from edgeinfer.model import Model
    from tests.evaluate.helpers import centroid_classifier, centroid_weights

    w, b = centroid_weights(100)
    plain, stored = centroid_classifier(w=w, b=b), centroid_classifier(w=w, b=b, metadata=True)
    assert resolve_preprocess(None, plain, allow_guess=False) == (None, "none")
    assert resolve_preprocess(None, plain) == (None, "none")  # never guessed by default
    assert resolve_preprocess(None, plain, allow_guess=True)[1] == "inferred"
    assert resolve_preprocess(None, stored, allow_guess=False)[1] == "model"
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["y"])],
        "two_inputs",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in ("a", "b")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    two = Model.from_proto(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    with pytest.raises(DataError, match=r"model 'two_inputs' has 2 inputs \(a, b\); calib"):
        image_input(two, consumer="calibration datasets feed", fix="export a single-input model")
