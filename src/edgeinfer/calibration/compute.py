"""Run a calibrator (ONNX Runtime's) over calibration data, with a cache."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeinfer.calibration.data import CalibrationData, Feed, calibration_data
from edgeinfer.calibration.table import CalibrationKey, CalibrationTable
from edgeinfer.config import CalibrationConfig
from edgeinfer.errors import BackendError, DataError, first_line
from edgeinfer.fileio import cache_dir
from edgeinfer.progress import Progress

if TYPE_CHECKING:
    from edgeinfer.model import Model

log = logging.getLogger(__name__)


def default_cache_path(key: CalibrationKey) -> Path:
    """``<cache dir>/calibration/<digest>.json``."""
    return cache_dir() / "calibration" / f"{key.digest()[:32]}.json"


def calibration_key(
    model: Model, config: CalibrationConfig, data: CalibrationData
) -> CalibrationKey:
    """The cache key of calibrating ``model`` with ``config`` on ``data``."""
    return CalibrationKey(
        model_hash=model.hash,
        method=config.method,
        params=config.range_params(),
        data_fingerprint=data.fingerprint,
        preprocess=data.preprocess,
    )


def _reuse(path: Path, key: CalibrationKey, *, explicit: bool) -> CalibrationTable | None:
    """The cached table at ``path`` if its key matches ``key``; None to recalibrate."""
    if not path.exists():
        return None
    try:
        table = CalibrationTable.load(path)
    except DataError:
        if explicit:
            raise
        return None  # a corrupted entry in our own cache: recompute it
    if explicit and table.key.model_hash != key.model_hash:
        raise DataError(
            f"calibration cache '{path}' was made for another model (model hash "
            f"{table.key.model_hash[:12]}…, '{table.model_name}'), not this one "
            f"({key.model_hash[:12]}…); pass a different --calib-cache file or delete it"
        )
    if table.key == key:
        return table
    log.info(
        "calibration cache %s is stale (%s changed)", path, ", ".join(table.key.differences(key))
    )
    return None


def calibrate(
    model: Model,
    config: CalibrationConfig,
    *,
    cache: str | Path | None = None,
    use_cache: bool = True,
    data: CalibrationData | None = None,
    quiet: bool | None = None,
) -> CalibrationTable:
    """Activation ranges of ``model`` on ``config.data``, from the cache when it matches.

    Args:
        model: the FP32 model to calibrate (the one that will be quantized).
        config: calibrator and data settings.
        cache: the cache file (None: one per key under the edgeinfer cache directory). An
            explicit file made for another model is an error; one whose other key parts
            differ is recomputed and overwritten.
        use_cache: False to always recompute (the result is still written).
        data: already loaded calibration data (None: load it from ``config``).
        quiet: no progress bars.

    Raises:
        DataError: no/too little/mismatching data, or a cache file from another model.
    """
    data = data if data is not None else calibration_data(model, config, quiet=quiet)
    key = calibration_key(model, config, data)
    explicit = cache is not None
    path = Path(cache) if cache is not None else default_cache_path(key)
    if use_cache:
        hit = _reuse(path, key, explicit=explicit)
        if hit is not None:
            return hit
    t0 = time.perf_counter()
    ranges = run_calibrator(model, config, data.feeds, quiet=quiet)
    table = CalibrationTable(
        key=key,
        ranges=ranges,
        samples=data.samples,
        seconds=time.perf_counter() - t0,
        model_name=model.name,
    )
    return table.save(path)


class _OneBatch:
    """An ONNX Runtime ``CalibrationDataReader`` over a single batch."""

    def __init__(self, feed: Feed) -> None:
        self._feed: Feed | None = feed

    def get_next(self) -> Feed | None:
        feed, self._feed = self._feed, None
        return feed

    def __len__(self) -> int:
        return 1


# ONNX Runtime's calibrators keep every intermediate tensor of the batch they are given;
# dense models (PP-OCR's detector at 640x640) hold ~300x their input in activations, so a
# 16-image batch needed 24 GiB. Batches are split so one chunk stays near this budget.
_CALIB_MEMORY_BUDGET = 2 << 30
_ACTIVATION_EXPANSION = 300


def _chunks(feed: Feed) -> list[Feed]:
    """Split a batch into chunks whose intermediate tensors fit the memory budget."""
    first = next(iter(feed.values()))
    per_sample = sum(a[0].nbytes for a in feed.values()) * _ACTIVATION_EXPANSION
    size = max(1, int(_CALIB_MEMORY_BUDGET // max(per_sample, 1)))
    n = int(first.shape[0])
    if size >= n:
        return [feed]
    return [{k: v[i : i + size] for k, v in feed.items()} for i in range(0, n, size)]


def _ort_method(method: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    return {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[method]


def _extra_options(config: CalibrationConfig) -> dict[str, Any]:
    opts: dict[str, Any] = {"symmetric": config.symmetric_activations}
    if config.method == "percentile":
        opts["percentile"] = config.percentile
    return opts


def run_calibrator(
    model: Model, config: CalibrationConfig, feeds: list[Feed], *, quiet: bool | None = None
) -> dict[str, tuple[float, float]]:
    """Run ONNX Runtime's calibrator for ``config.method`` batch by batch (bounded memory)."""
    from onnxruntime.quantization import create_calibrator

    if not feeds:
        raise DataError("no calibration batches; pass --calib DATA with at least a few samples")
    with tempfile.TemporaryDirectory(prefix="edgeinfer-calib-") as tmp:
        src = Path(tmp) / "model.onnx"
        model.save(src)
        large = model.large
        try:
            calibrator = create_calibrator(
                src,
                None,  # every float tensor: one calibration serves any --exclude set
                augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                calibrate_method=_ort_method(config.method),
                use_external_data_format=large,
                extra_options=_extra_options(config),
            )
        except Exception as exc:
            raise BackendError(
                f"ONNX Runtime cannot prepare '{model.name}' for calibration: "
                f"{first_line(exc)}; check that the model runs in ONNX Runtime"
            ) from exc
        # ONNX Runtime's histogram calibrators print to stdout; the CLI keeps that off its
        # output (edgeinfer.cli.console), the library leaves sys.stdout alone.
        with Progress(quiet) as progress:
            try:
                dynamic_batch = all(
                    not isinstance(s.shape[0], int) for s in model.inputs if s.shape
                )
                for feed in progress.track(feeds, f"calibrating ({config.method})"):
                    for chunk in _chunks(feed) if dynamic_batch else [feed]:
                        calibrator.collect_data(_OneBatch(chunk))
                tensors = calibrator.compute_data()
            except (ValueError, FloatingPointError, MemoryError) as exc:
                # e.g. histograms of activations spanning ~1e9 (PP-OCR's detector): numpy
                # cannot make that many bins
                first = first_line(exc)
                others = " or ".join(m for m in ("minmax", "percentile") if m != config.method)
                raise BackendError(
                    f"ONNX Runtime's '{config.method}' calibrator failed on '{model.name}' "
                    f"({first}); use --calibrator {others} for this model"
                ) from exc
    return {name: _range(td.range_value) for name, td in tensors.items()}


def _range(value: tuple[Any, Any]) -> tuple[float, float]:
    """(min, max) as floats (ONNX Runtime gives 0-d or 1-element arrays)."""
    import numpy as np

    lo, hi = (float(np.asarray(v, dtype=np.float64).reshape(-1)[0]) for v in value)
    return lo, hi
