"""Users' own data: image folders (JPEG/PNG) and NumPy arrays (.npy/.npz)."""

from __future__ import annotations

import csv
import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeinfer.data.base import Dataset
from edgeinfer.errors import ConfigError, DataError, EdgeInferError
from edgeinfer.fileio import open_regular, read_bytes
from edgeinfer.tensors import check_nbytes, shape_nbytes

__all__ = ["IMAGE_EXTENSIONS", "ImageFolder", "NumpyDataset", "image_array", "load_image"]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
LABELS_CSV = "labels.csv"


_warned_raw: set[str] = set()  # image modes already warned about (once per process)


def image_array(im: Any) -> np.ndarray:
    """A decoded PIL image as the array the pipeline takes: ``HxW`` float32 *raw values* for
    16/32-bit integer and float images (``I;16``, ``I``, ``F``: depth, thermal), as the ROS
    node decodes ``mono16``/``16UC1``/``32FC1``; ``HxWx3`` RGB uint8 for everything else (8-bit
    gray repeated to RGB: the same tensor as the node's ``HxW`` after preprocessing). Raw
    >8-bit values are not squeezed into 8 bits: the preprocessing ``scale`` must suit them (a
    warning says so once).
    """
    if im.mode.startswith(("I", "F")):
        if im.mode not in _warned_raw:
            _warned_raw.add(im.mode)
            log.warning(
                "image mode %s (more than 8 bits) is fed as raw float values, as the ROS node "
                "does; set the preprocessing scale for its range (the default 1/255 is for "
                "8-bit images)",
                im.mode,
            )
        return np.asarray(im, dtype=np.float32)
    return np.asarray(im.convert("RGB"))


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file with :func:`image_array`'s conversion (``HxWx3`` RGB uint8; ``HxW``
    float32 raw values for >8-bit images), refusing non-regular files and images whose
    decoded size exceeds the memory budget *before* decoding them (and Pillow's
    decompression-bomb limit).

    Raises:
        DataError: missing, unreadable, not a regular file, or too large.
    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with open_regular(path, "image") as f, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(f) as im:
                check_nbytes(im.width * im.height * 4 * 3, f"image '{path}' ({im.width}x{im.height})")
                return image_array(im)
    except FileNotFoundError:
        raise DataError(f"image '{path}' does not exist") from None
    except EdgeInferError as exc:
        raise DataError(f"{exc}; remove it or pass a smaller image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(
            f"image '{path}' is too large to decode safely ({exc}); resize it or remove it"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(
            f"cannot read image '{path}' ({exc}); remove it or convert it to PNG/JPEG"
        ) from exc


def _images_in(directory: Path) -> list[Path]:
    return sorted(
        p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _class_order(names: list[str]) -> list[str]:
    """Numeric folder names sort numerically (``2`` before ``10``); others alphabetically."""
    if names and all(n.isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


class ImageFolder(Dataset):
    """Images in ``DIR/<class>/*.jpg`` (sorted class names are the labels), or a flat ``DIR``
    with optional ``labels.csv`` (``filename,label``; label a class index or name).

    Images are read lazily and converted to RGB. No default preprocessing: the model's spec
    is used.
    """

    def __init__(self, directory: str | Path) -> None:
        root = Path(directory)
        if not root.is_dir():
            raise DataError(f"image folder '{root}' does not exist or is not a directory")
        self.root = root
        self.name = f"images:{root}"
        self.preprocess = None
        self.is_tensor = False
        self.labels: list[str] | None = None
        self._labels: list[int] | None = None
        classes = _class_order([p.name for p in root.iterdir() if p.is_dir() and _images_in(p)])
        if classes:
            self._init_classes(classes)
        else:
            self._init_flat()
        if not self.files:
            raise DataError(
                f"image folder '{root}' has no images ({', '.join(IMAGE_EXTENSIONS)}); use one "
                "sub-folder per class or a flat folder of images"
            )

    def _init_classes(self, classes: list[str]) -> None:
        self.labels = classes
        self.files: list[Path] = []
        self._labels = []
        for k, cls in enumerate(classes):
            found = _images_in(self.root / cls)
            self.files += found
            self._labels += [k] * len(found)

    def _init_flat(self) -> None:
        csv_path = self.root / LABELS_CSV
        if not csv_path.exists():
            self.files = _images_in(self.root)
            return
        rows = _read_labels_csv(csv_path)
        raw = [lab for _, lab in rows]
        if all(_is_int(v) for v in raw):
            self._labels = [int(v) for v in raw]
        else:
            self.labels = sorted(set(raw))
            index = {name: k for k, name in enumerate(self.labels)}
            self._labels = [index[v] for v in raw]
        self.files = [self.root / name for name, _ in rows]
        missing = [f.name for f in self.files if not f.exists()]
        if missing:
            raise DataError(
                f"{csv_path} lists {len(missing)} missing file(s), e.g. '{missing[0]}'; fix the "
                "CSV or add the images"
            )

    def __len__(self) -> int:
        return len(self.files)

    def image(self, i: int) -> np.ndarray:
        """Image file ``i`` read as ``HxWx3`` RGB uint8."""
        return load_image(self.files[i])

    def label(self, i: int) -> int | None:
        """The class index of image ``i`` (None in an unlabelled flat folder)."""
        return None if self._labels is None else self._labels[i]

    @property
    def has_labels(self) -> bool:
        """Whether the folder has class sub-folders or a ``labels.csv``."""
        return self._labels is not None

    def labels_array(self) -> np.ndarray | None:
        """Every label as an int64 array, without reading images (None when unlabelled)."""
        return None if self._labels is None else np.asarray(self._labels, dtype=np.int64)


def _is_int(v: str) -> bool:
    return v.lstrip("-").isdigit()


def _read_labels_csv(path: Path) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    try:
        text = read_bytes(path, "labels file").decode("utf-8", errors="replace")
    except EdgeInferError as exc:
        raise DataError(f"{exc}; make labels.csv a regular 'filename,label' file") from None
    for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if len(cells) < 2:
            raise DataError(f"{path}:{lineno}: expected 'filename,label', got {row!r}")
        if lineno == 1 and cells[0].lower() in ("filename", "file", "image", "path"):
            continue
        name = Path(cells[0])
        if name.is_absolute() or ".." in name.parts:
            raise DataError(
                f"{path}:{lineno}: '{cells[0]}' is outside the image folder; list files "
                "relative to the folder (no absolute paths, no '..')"
            )
        rows.append((cells[0], cells[1]))
    if not rows:
        raise DataError(f"{path} has no 'filename,label' rows")
    return rows


class NumpyDataset(Dataset):
    """Arrays from ``.npy`` (no labels) or ``.npz`` (``x``/``images`` + optional ``y``/``labels``).

    ``uint8`` arrays shaped ``(N,H,W)`` or ``(N,H,W,C)`` (C in 1, 3, 4) are images and get
    preprocessed; anything else (e.g. float ``(N,C,H,W)``) is taken as model-ready tensors.
    """

    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        if not p.exists():
            raise DataError(f"array file '{p}' does not exist")
        self.path = p
        self.name = f"{p.suffix.lstrip('.').lower() or 'npy'}:{p}"
        self.preprocess = None
        self.labels = None
        self.y: np.ndarray | None = None
        try:
            open_regular(p, "array file").close()
            if p.suffix.lower() == ".npz":
                self.x, self.y = _load_npz(p)
            else:
                self.x = np.load(p, mmap_mode="r", allow_pickle=False)
        except (DataError, ConfigError):
            raise
        except EdgeInferError as exc:
            raise DataError(f"{exc}; pass an .npy/.npz file saved by numpy") from None
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            raise DataError(
                f"cannot read arrays from '{p}' ({exc}); save with np.save/np.savez"
            ) from exc
        if self.x.ndim < 2:
            raise DataError(f"'{p}' holds shape {self.x.shape}; expected (N, ...) samples")
        self.is_tensor = not _is_image_array(self.x)
        if self.y is not None and len(self.y) != len(self.x):
            raise DataError(f"'{p}': {len(self.x)} samples but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.x)

    def image(self, i: int) -> np.ndarray:
        """Sample ``i`` of the array file, as stored."""
        return np.asarray(self.x[i])

    def label(self, i: int) -> int | None:
        """The label of sample ``i`` from the ``.npz`` labels (None without labels)."""
        return None if self.y is None else int(self.y[i])

    @property
    def has_labels(self) -> bool:
        """Whether the ``.npz`` file holds labels (``y`` or ``labels``)."""
        return self.y is not None

    def labels_array(self) -> np.ndarray | None:
        """The stored labels (None without labels)."""
        return None if self.y is None else self.y

    def images(self, indices: list[int] | np.ndarray) -> np.ndarray:  # type: ignore[override]
        """The samples of ``indices`` as one stacked array (one slice of the file)."""
        return np.asarray(self.x[np.asarray(indices, dtype=np.int64)])


def _is_image_array(x: np.ndarray) -> bool:
    return x.dtype == np.uint8 and (x.ndim == 3 or (x.ndim == 4 and x.shape[3] in (1, 3, 4)))


def _npy_header(f: Any) -> tuple[tuple[int, ...], np.dtype[Any]]:
    fmt = np.lib.format
    version = fmt.read_magic(f)
    read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
    shape, _, dtype = read(f)
    return tuple(int(d) for d in shape), np.dtype(dtype)


def _check_npz(p: Path) -> None:
    """Refuse an ``.npz`` whose arrays (as their headers declare them, and as the archive
    declares their unpacked sizes) exceed the memory budget, before anything is unpacked:
    a zip bomb never gets decompressed.
    """
    total = 0
    with zipfile.ZipFile(p) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with zf.open(info) as f:
                shape, dtype = _npy_header(f)
            declared = shape_nbytes(shape, dtype)
            if declared > info.file_size:
                raise DataError(
                    f"'{p}': array '{info.filename}' declares {declared} bytes but holds "
                    f"{info.file_size}; the file is corrupted: save it again with np.savez"
                )
            total += max(declared, info.file_size)
    check_nbytes(total, f"arrays of '{p}'")


def _load_npz(p: Path) -> tuple[np.ndarray, np.ndarray | None]:
    _check_npz(p)
    with np.load(p, allow_pickle=False) as z:
        xkey = next((k for k in ("x", "images", "inputs", "data") if k in z.files), None)
        if xkey is None:
            if len(z.files) != 1:
                raise DataError(
                    f"'{p}' has arrays {z.files}; name the inputs 'x' (or 'images') and the "
                    "labels 'y' (or 'labels')"
                )
            xkey = z.files[0]
        ykey = next((k for k in ("y", "labels", "targets") if k in z.files), None)
        x = z[xkey]
        y = z[ykey] if ykey else None
    if y is not None:
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise DataError(
                f"'{p}': labels must be a 1-D integer array, got {y.dtype}{list(y.shape)}"
            )
        y = y.astype(np.int64)
    return x, y
