"""PyTorch -> ONNX export of zoo architectures, cached under ``cache_dir()/zoo/``.

An export is keyed by the entry, the weights (their SHA-256, or the seed of random weights),
the export settings and the edgeinfer version, and written atomically, so it is done once
per machine and a later :func:`edgeinfer.zoo.get_model` needs neither torch nor time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

from edgeinfer import __version__
from edgeinfer.errors import DataError
from edgeinfer.fileio import cache_dir, sha256_file
from edgeinfer.model import EXPORT_OPSET, export_onnx
from edgeinfer.progress import Progress

EXPORT_FORMAT = 1
OPSET = EXPORT_OPSET
# Batches of seeded noise used to set BatchNorm statistics of randomly initialized models.
BN_BATCHES = 2
BN_BATCH_SIZE = 4


def zoo_cache() -> Path:
    """Where zoo exports and downloads live: ``cache_dir()/zoo``."""
    return cache_dir() / "zoo"


def export_path(name: str, **key: Any) -> Path:
    """The cache path of an export of ``name`` identified by ``key`` (+ edgeinfer version)."""
    blob = json.dumps(
        {**key, "name": name, "format": EXPORT_FORMAT, "opset": OPSET, "edgeinfer": __version__},
        sort_keys=True,
    )
    digest = hashlib.sha256(blob.encode()).hexdigest()[:20]
    return zoo_cache() / f"{name}-{digest}.onnx"


def package_file(module: str, *parts: str) -> Path:
    """A file inside an installed package, found WITHOUT importing it.

    Raises:
        DataError: the package is installed but the file is not in it.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"package '{module}' is not installed")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.is_file():
        raise DataError(f"'{path}' is missing from the installed package '{module}'; reinstall it")
    return path


def verify_torchvision_weights(path: Path) -> str:
    """SHA-256 of a torchvision weights file, checked against the prefix in its name.

    torchvision names weight files ``<arch>-<first 8 hex digits of the SHA-256>.pth``.

    Raises:
        DataError: the file does not match its name (corrupted or replaced).
    """
    digest = sha256_file(path)
    prefix = path.stem.rsplit("-", 1)[-1]
    if not digest.startswith(prefix):
        raise DataError(
            f"weights file '{path}' has SHA-256 {digest[:16]}..., not the {prefix}... its "
            "name promises (corrupted or replaced); reinstall the package that provides it"
        )
    return digest


def make_module(
    arch: str,
    *,
    input_shape: tuple[int, ...],
    weights: Path | None = None,
    seed: int = 0,
) -> Any:
    """``edgeinfer.zoo.archs.<arch>()`` in eval mode, with real or seeded random weights.

    With ``weights`` the state dict is loaded with ``strict=True``; without, the weights are
    seeded random and BatchNorm statistics are set from seeded noise so activations stay in
    a normal range. torch's RNG state is restored afterwards.
    """
    import torch

    from edgeinfer.zoo import archs  # imports torch at module level

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = getattr(archs, arch)()
        if weights is not None:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            module.load_state_dict(state, strict=True)
        else:
            _set_bn_statistics(module, input_shape)
    return module.eval()


def export_torch(
    arch: str,
    out: Path,
    *,
    input_shape: tuple[int, ...],
    weights: Path | None = None,
    seed: int = 0,
    quiet: bool = True,
) -> Path:
    """Export :func:`make_module` to ONNX at ``out`` (atomically).

    TorchScript exporter, opset 17, input ``input`` with a dynamic batch, output ``logits``.
    """
    with Progress(quiet) as progress, progress.task(f"exporting {arch} to ONNX", 2) as task:
        module = make_module(arch, input_shape=input_shape, weights=weights, seed=seed)
        task.advance()
        export_onnx(module, input_shape, out)
        task.advance()
    return out


def _set_bn_statistics(module: Any, input_shape: tuple[int, ...]) -> None:
    """Cumulative BatchNorm statistics over a few batches of (seeded) Gaussian noise."""
    import torch

    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    module.train()
    with torch.no_grad():
        for _ in range(BN_BATCHES):
            module(torch.randn(BN_BATCH_SIZE, *input_shape[1:]))
    module.eval()
