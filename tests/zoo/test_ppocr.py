"""ppocr-det: the PP-OCRv4 detector from the rapidocr wheel, and its failure modes."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgeinfer import zoo
from edgeinfer.builder import build, load_runner
from edgeinfer.errors import DataError
from edgeinfer.preprocess import spec_from_metadata
from edgeinfer.zoo import ppocr


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    return build(zoo.get_model("ppocr-det"))


def test_dense_map_on_a_real_text_photo(engine) -> None:  # type: ignore[no-untyped-def]
    skdata = pytest.importorskip("skimage.data")
    spec = spec_from_metadata(engine.metadata)
    assert spec is not None and spec.size == ppocr.DEFAULT_SIZE and spec.color == "bgr"
    x = spec.apply_batch([np.asarray(skdata.text())])  # a photo of printed text
    with load_runner(engine) as runner:
        out = runner.infer({"x": x}, copy=True)[engine.outputs[0].name]
    assert out.shape == (1, 1, *ppocr.DEFAULT_SIZE)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert (out > 0.5).mean() > 0.005  # the text is found


def test_height_and_width_are_dynamic(engine) -> None:  # type: ignore[no-untyped-def]
    assert [s.shape for s in engine.inputs] == [("batch", 3, "height", "width")]
    x = np.zeros((1, 3, 320, 480), np.float32)
    with load_runner(engine) as runner:
        out = runner.infer({"x": x})[engine.outputs[0].name]
    assert out.shape == (1, 1, 320, 480)


def _wheel(path: Path, member: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, data)
    return path


def test_wheel_without_the_detector_is_a_data_error(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "rapidocr_onnxruntime-1.4.4-py3-none-any.whl", "x.txt", b"x")
    with pytest.raises(DataError) as exc:
        ppocr.extract_detector(wheel)
    assert str(exc.value).startswith(f"'{wheel}' is not a usable rapidocr-onnxruntime 1.4.4")
    assert ppocr.manual_command(tmp_path) in str(exc.value)


def test_tampered_detector_is_refused(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "rapidocr_onnxruntime-1.4.4-py3-none-any.whl", ppocr.MEMBER, b"!")
    with pytest.raises(DataError, match="a different or tampered wheel"):
        ppocr.extract_detector(wheel)


def test_failed_download_names_the_manual_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("EDGEINFER_WHEELHOUSE", str(tmp_path / "empty"))
    monkeypatch.setattr("sys.prefix", str(tmp_path / "prefix"))
    monkeypatch.setenv("EDGEINFER_CACHE_DIR", str(tmp_path / "cache"))
    dest = tmp_path / "cache" / "zoo" / "wheels"
    with pytest.raises(DataError) as exc:
        ppocr.download_wheel(dest)
    msg = str(exc.value)
    assert msg.startswith("could not download the PyPI wheel rapidocr-onnxruntime==1.4.4")
    assert msg.endswith(
        f"download it by hand, then retry: {ppocr.manual_command(dest)} "
        "(or put the wheel in a directory named by $EDGEINFER_WHEELHOUSE)"
    )


def test_wheelhouse_env_is_searched_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = _wheel(tmp_path / "rapidocr_onnxruntime-1.4.4-py3-none-any.whl", "x", b"x")
    monkeypatch.setenv("EDGEINFER_WHEELHOUSE", str(tmp_path))
    assert ppocr.wheel_dirs()[0] == tmp_path
    assert ppocr.find_wheel() == wheel
