"""``ppocr-det``: the PP-OCRv4 DBNet text detector, taken from the PyPI wheel of rapidocr.

The ONNX file ships inside ``rapidocr-onnxruntime==1.4.4`` (Apache-2.0). That package is
NOT installed (its opencv dependency clashes with opencv-headless): its wheel is looked up
in a wheelhouse or downloaded with pip, the one file is extracted, checked against its
SHA-256 and cached under ``cache_dir()/zoo/``.

Wheelhouses searched, in order: the directories in ``$EDGEINFER_WHEELHOUSE`` (separated by
``os.pathsep``), ``<sys.prefix>/share/edgeinfer/wheels`` (``make setup`` fills it) and
``cache_dir()/zoo/wheels`` (where a download goes).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from edgeinfer.errors import DataError
from edgeinfer.model import Model
from edgeinfer.preprocess import PreprocessSpec
from edgeinfer.zoo.export import zoo_cache

DISTRIBUTION = "rapidocr-onnxruntime"
VERSION = "1.4.4"
MEMBER = "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"
SHA256 = "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"
WHEELHOUSE_ENV = "EDGEINFER_WHEELHOUSE"
# rapidocr's config.yaml (Det): BGR images, x/255, mean 0.5, std 0.5; sides multiple of 32.
DEFAULT_SIZE = (640, 640)


def ppocr_preprocess(size: tuple[int, int] = DEFAULT_SIZE) -> PreprocessSpec:
    """PaddleOCR/rapidocr detector preprocessing, with a fixed ``size`` (multiples of 32)."""
    return PreprocessSpec(
        size=size,
        resize="direct",
        color="bgr",
        scale=1.0 / 255.0,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
    )


def wheel_dirs() -> list[Path]:
    """The wheelhouses searched for the rapidocr wheel, in order."""
    env = [Path(p) for p in os.environ.get(WHEELHOUSE_ENV, "").split(os.pathsep) if p]
    return [*env, Path(sys.prefix) / "share" / "edgeinfer" / "wheels", zoo_cache() / "wheels"]


def _wheel_pattern() -> str:
    return f"{DISTRIBUTION.replace('-', '_')}-{VERSION}-*.whl"


def find_wheel() -> Path | None:
    """The first rapidocr wheel of the pinned version in :func:`wheel_dirs` (None if none)."""
    for d in wheel_dirs():
        found = sorted(d.glob(_wheel_pattern())) if d.is_dir() else []
        if found:
            return found[0]
    return None


def manual_command(dest: Path) -> str:
    """The ``pip download`` command that fetches the pinned rapidocr wheel into ``dest``."""
    return f"{sys.executable} -m pip download --no-deps {DISTRIBUTION}=={VERSION} -d {dest}"


def download_wheel(dest: Path) -> Path:
    """``pip download --no-deps`` the wheel into ``dest``.

    Raises:
        DataError: pip failed (no network, no index); the message gives the manual command.
    """
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
    cmd += ["-q", f"{DISTRIBUTION}=={VERSION}", "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        ok, why = proc.returncode == 0, (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
    except (OSError, subprocess.TimeoutExpired) as exc:
        ok, why = False, f"{type(exc).__name__}: {exc}"
    wheel = find_wheel() if ok else None
    if wheel is None:
        raise DataError(
            f"could not download the PyPI wheel {DISTRIBUTION}=={VERSION}, which holds the "
            f"PP-OCRv4 text detector ({why}); download it by hand, then retry: "
            f"{manual_command(dest)} (or put the wheel in a directory named by ${WHEELHOUSE_ENV})"
        )
    return wheel


def extract_detector(wheel: Path) -> bytes:
    """The detector's ONNX bytes from ``wheel``, checked against :data:`SHA256`.

    Raises:
        DataError: not a zip file, no such member, or a different file.
    """
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise DataError(
            f"'{wheel}' is not a usable {DISTRIBUTION} {VERSION} wheel ({exc}); delete it "
            f"and download it again: {manual_command(wheel.parent)}"
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise DataError(
            f"'{MEMBER}' in '{wheel}' has SHA-256 {digest[:16]}..., expected {SHA256[:16]}... "
            f"(a different or tampered wheel); delete it and run: {manual_command(wheel.parent)}"
        )
    return data


def _rename_dims(model: Model) -> Model:
    """Name Paddle2ONNX's dims: input x[batch,3,height,width] -> [batch,1,height,width]."""
    import onnx

    proto = onnx.ModelProto()
    proto.CopyFrom(model.proto)
    for vi, names in (
        (proto.graph.input[0], ("batch", None, "height", "width")),
        (proto.graph.output[0], ("batch", None, "height", "width")),
    ):
        for dim, name in zip(vi.type.tensor_type.shape.dim, names, strict=True):
            if name is not None and not dim.HasField("dim_value"):
                dim.dim_param = name
    return Model.from_proto(proto)


def cached_path() -> Path:
    """Where the extracted detector is cached."""
    return zoo_cache() / f"ppocr-det-{SHA256[:16]}.onnx"


def detector_model() -> Model:
    """The PP-OCRv4 detector (cached after the first call)."""
    cached = cached_path()
    if cached.exists():
        return Model.load(cached)
    wheel = find_wheel() or download_wheel(zoo_cache() / "wheels")
    data = extract_detector(wheel)
    import onnx

    model = _rename_dims(Model.from_proto(onnx.load_from_string(data)))
    model.save(cached)
    return Model.load(cached)
