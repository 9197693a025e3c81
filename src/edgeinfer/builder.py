"""Building engines: run the backend, write the manifest, keep the engine cache.

Engines are written atomically and cached by (model hash, build config, backend version,
host) so a build is never redone. :func:`load_engine` reads an engine directory and checks
that the installed backend is the one that built it; :func:`load_runner` gives its runner.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeinfer import zoo
from edgeinfer.backends import get_backend
from edgeinfer.config import BuildConfig
from edgeinfer.engine import MANIFEST_NAME, Engine, Manifest, engine_files, read_engine
from edgeinfer.errors import EdgeInferError, EngineError, ModelError
from edgeinfer.fileio import (
    OutputTakenError,
    atomic_directory,
    atomic_write_json,
    cache_dir,
    check_replaceable,
    clean_stale_temps,
    sha256_file,
)
from edgeinfer.host import current_host
from edgeinfer.model import META_PREFIX, Model
from edgeinfer.source import TorchSource, is_factory_ref

if TYPE_CHECKING:
    from edgeinfer.backends.base import Runner

__all__ = [
    "BuildConfig",
    "ResolvedModel",
    "build",
    "check_engine_output",
    "engine_key",
    "load_engine",
    "load_runner",
    "resolve_engine",
    "resolve_model",
]


def _check_compatible(path: Path, manifest: Manifest) -> None:
    """Refuse an engine built with another version of its backend (the host is checked by
    :func:`edgeinfer.engine.read_engine`).
    """
    backend = get_backend(manifest.backend)
    installed = backend.version()
    if installed != manifest.backend_version:
        raise EngineError(
            f"engine '{path}' was built with {manifest.backend} {manifest.backend_version} "
            f"but {installed} is installed; rebuild the engine on this machine with edgeinfer build"
        )


def load_engine(path: str | Path, *, verify: bool = True) -> Engine:
    """Load an engine directory, verifying its payload hash and host/backend compatibility.

    Raises:
        EngineError: not an engine, corrupted, or built for another backend version/host.
    """
    engine = read_engine(path, verify=verify)
    _check_compatible(engine.path, engine.manifest)
    return engine


def load_runner(
    engine: Engine | str | Path, *, check_finite: bool = False, **options: Any
) -> Runner:
    """A runner for ``engine`` (an :class:`Engine` or engine directory); use it as a context
    manager: ``with load_runner(engine) as r: r.infer(feed)``.

    Args:
        engine: the engine or its directory.
        check_finite: refuse (:class:`~edgeinfer.errors.NonFiniteError`) and count
            (``runner.finite_counts``) inferences with NaN/Inf in a float input or output.
        **options: the backend runner's options (``threads`` …).
    """
    eng = engine if isinstance(engine, Engine) else load_engine(engine)
    runner = get_backend(eng.backend).runner(eng, **options)
    runner.check_finite = check_finite
    return runner


@dataclass(frozen=True)
class ResolvedModel:
    """A model and what the user gave for it (``kind``: onnx, zoo, torch or model)."""

    model: Model
    name: str
    kind: str


def resolve_model(
    ref: Model | str | Path,
    *,
    input_shape: tuple[int, ...] | None = None,
    quiet: bool | None = True,
) -> ResolvedModel:
    """The one model resolver: a :class:`Model`, an ONNX path, ``zoo:NAME`` or a zoo name,
    or a PyTorch source ``package.module:factory`` (exported to ONNX with ``input_shape``).

    Raises:
        ModelError: none of these (the message lists the zoo names).
    """
    if isinstance(ref, Model):
        return ResolvedModel(ref, ref.name, "model")
    text = str(ref)
    path = Path(text)
    if not text.startswith("zoo:") and (path.exists() or path.suffix.lower() == ".onnx"):
        model = Model.load(path)
        return ResolvedModel(model, model.name, "onnx")
    if is_factory_ref(text):
        model = Model.from_torch(TorchSource(text, input_shape=input_shape), quiet=quiet)
        return ResolvedModel(model, text.rpartition(":")[2], "torch")
    name = text[4:] if text.startswith("zoo:") else text
    if name not in zoo.list_models():
        raise ModelError(
            f"'{text}' is neither an ONNX file, a zoo model nor a PyTorch source "
            f"(package.module:factory); pass a .onnx path or one of: "
            f"{', '.join(zoo.list_models())} (see: edgeinfer zoo list)"
        )
    return ResolvedModel(zoo.get_model(name, quiet=bool(quiet)), name, "zoo")


def resolve_engine(
    target: Engine | Model | str | Path, config: BuildConfig | None = None
) -> Engine:
    """The one engine resolver: an :class:`Engine`, an engine directory, a :class:`Model`
    or an ONNX file (built with ``config``, default ONNX Runtime FP32, through the cache).

    Raises:
        EngineError: a directory that is not an engine, or a path that is neither.
        ModelError: an ONNX file that cannot be loaded.
    """
    if isinstance(target, Engine):
        return target
    if isinstance(target, Model):
        return build(target, config)
    p = Path(target)
    if p.is_dir() and (p / MANIFEST_NAME).exists():
        return load_engine(p)
    if p.is_dir():
        raise EngineError(
            f"'{p}' is not an engine directory (no {MANIFEST_NAME}); pass an ONNX file or an "
            "engine built with: edgeinfer build MODEL.onnx -o ENGINE_DIR"
        )
    if p.suffix.lower() == ".onnx" and not p.is_dir():
        return build(p, config)  # a missing file gets Model.load's "does not exist" message
    if p.exists():
        raise EngineError(
            f"'{p}' is neither an engine directory nor an ONNX file; build an engine with: "
            "edgeinfer build MODEL.onnx -o ENGINE_DIR"
        )
    return load_engine(p)  # a missing path gets load_engine's "does not exist" message


# The cache key's own version: manifest format 2 (whole-manifest digest) kept the key, so a
# format-1 entry in the cache is found, refused on load and rebuilt in place.
_KEY_FORMAT = 1


def engine_key(model: Model, config: BuildConfig, backend_version: str, target: str = "") -> str:
    """Cache key: model hash, build config, backend and version, host fingerprint, and the
    backend's ``target`` fingerprint (e.g. the GPU; see ``Backend.target_fingerprint``).
    """
    parts = [
        f"format={_KEY_FORMAT}",
        f"model={model.hash}",
        f"config={config.key()}",
        f"backend={config.backend}=={backend_version}",
        f"host={current_host().fingerprint()}",
    ]
    if target:
        parts.append(f"target={target}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _model_metadata(model: Model) -> dict[str, Any]:
    """The model's ``edgeinfer.*`` metadata, JSON-decoded (a value that is not JSON is
    refused by :meth:`Model.meta` with a message naming the key).
    """
    return {
        key[len(META_PREFIX) :]: model.meta(key[len(META_PREFIX) :])
        for key in model.metadata
        if key.startswith(META_PREFIX)
    }


def _build_into(
    directory: Path, model: Model, config: BuildConfig, quiet: bool | None = None
) -> Manifest:
    backend = get_backend(config.backend)
    backend.check_config(config)
    t0 = time.perf_counter()
    result = backend.build(model, config, directory, quiet=quiet)
    seconds = time.perf_counter() - t0
    payload = {name: sha256_file(directory / name) for name in sorted(result.payload)}
    manifest = Manifest(
        backend=backend.name,
        backend_version=backend.version(),
        precision=config.precision,
        executed_precision=result.executed_precision,
        build_config=config,
        inputs=result.inputs or model.inputs,
        outputs=result.outputs or model.outputs,
        source_model={
            "name": model.name,
            "path": str(model.path) if model.path else None,
            "hash": model.hash,
            "opset": model.opset,
            "producer": model.producer,
        },
        payload=payload,
        host=current_host(),
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        build_seconds=round(seconds, 4),
        notes=tuple(result.notes),
        metadata={**_model_metadata(model), **result.metadata},
    )
    atomic_write_json(directory / MANIFEST_NAME, manifest.to_dict())
    return manifest


def check_engine_output(out: Path, *, overwrite: bool) -> None:
    """Refuse an existing ``out`` unless ``overwrite`` and it is an engine directory that
    edgeinfer wrote (its manifest lists every file in it): nothing else is ever deleted.

    Raises:
        EngineError: ``out`` exists without ``overwrite``, or is not edgeinfer's engine.
    """
    if not (out.exists() or out.is_symlink()):
        return
    if not overwrite:
        raise EngineError(f"'{out}' already exists; pass --force (overwrite=True) to replace it")
    try:
        check_replaceable(
            out, marker=MANIFEST_NAME, allowed=engine_files(out) or (), what="engine directory"
        )
    except EdgeInferError as exc:
        raise EngineError(str(exc)) from None


def _copy_engine(src: Engine, out: Path, *, overwrite: bool) -> Engine:
    check_engine_output(out, overwrite=overwrite)
    changed = EngineError(
        f"the cached engine '{src.path}' was replaced by another process while it was copied "
        f"to '{out}'; run the command again"
    )
    try:
        with atomic_directory(out, overwrite=overwrite) as tmp:
            for name, digest in src.manifest.payload.items():
                try:
                    shutil.copyfile(src.path / name, tmp / name)
                except FileNotFoundError:
                    raise changed from None
                if sha256_file(tmp / name) != digest:  # the copy is what the manifest says
                    raise changed
            atomic_write_json(tmp / MANIFEST_NAME, src.manifest.to_dict())
    except OutputTakenError:
        same = _same_engine(out, src.manifest)  # a concurrent build of the same engine won
        if same is None:
            raise
        return same
    return Engine(out, src.manifest, from_cache=src.from_cache)


def _same_engine(path: Path, manifest: Manifest) -> Engine | None:
    """The engine at ``path`` when it holds the same payload and build as ``manifest``."""
    try:
        engine = load_engine(path)
    except EdgeInferError:
        return None
    mine = (manifest.payload, manifest.build_config, manifest.backend_version)
    theirs = (engine.manifest.payload, engine.manifest.build_config, engine.manifest.backend_version)
    return engine if mine == theirs else None


def build(
    model: Model | str | Path,
    config: BuildConfig | None = None,
    out: str | Path | None = None,
    *,
    cache: bool = True,
    overwrite: bool = False,
    quiet: bool | None = None,
) -> Engine:
    """Build (or fetch from the cache) an engine for ``model``.

    Args:
        model: a :class:`Model` or a path to an ONNX file.
        config: the build configuration (None: ONNX Runtime FP32 defaults).
        out: where to write the engine directory (None: only the cache).
        cache: reuse and fill the engine cache.
        overwrite: replace an existing ``out``.
        quiet: no progress bars (None: only when stderr is not a terminal).

    Returns:
        The engine; ``engine.from_cache`` tells whether the build was skipped.
    """
    m = model if isinstance(model, Model) else Model.load(model)
    cfg = config or BuildConfig()
    backend = get_backend(cfg.backend)
    backend.check_config(cfg)
    backend.check_source(m)
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        check_engine_output(out_path, overwrite=overwrite)  # before a long build
    key = engine_key(m, cfg, backend.version(), backend.target_fingerprint(cfg))
    if not cache:
        target = out_path or (cache_dir() / "engines" / key)
        with atomic_directory(target, overwrite=overwrite or out_path is None) as tmp:
            manifest = _build_into(tmp, m, cfg, quiet)
        return Engine(target, manifest)

    cached = cache_dir() / "engines" / key
    clean_stale_temps(cached.parent)  # killed builds of any engine: ours to remove
    engine: Engine | None = None
    if cached.exists():
        try:
            engine = load_engine(cached)
            engine.from_cache = True
        except EngineError:
            shutil.rmtree(cached, ignore_errors=True)  # stale or corrupted: rebuild
    if engine is None:
        with atomic_directory(cached, overwrite=True) as tmp:
            manifest = _build_into(tmp, m, cfg, quiet)
        engine = Engine(cached, manifest)
    if out_path is not None:
        return _copy_engine(engine, out_path, overwrite=overwrite)
    return engine
