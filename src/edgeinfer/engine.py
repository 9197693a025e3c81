"""Engine: a directory holding a backend's serialized payload and ``manifest.json``.

Engines are written atomically, verified on load (payload hash, backend version, host ISA),
and cached by (model hash, build config, backend version, host) so a build is never redone.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeinfer import __version__
from edgeinfer.config import BuildConfig
from edgeinfer.errors import EngineError
from edgeinfer.fileio import atomic_directory, atomic_write_json, sha256_file
from edgeinfer.host import HostInfo, current_host, missing_features
from edgeinfer.model import META_PREFIX, Model, TensorSpec

if TYPE_CHECKING:
    from edgeinfer.backends.base import Runner

__all__ = ["BuildConfig", "Engine", "Manifest", "build", "cache_dir", "load_engine"]

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1


def cache_dir() -> Path:
    """Root of edgeinfer's caches: ``$EDGEINFER_CACHE_DIR`` or ``$XDG_CACHE_HOME/edgeinfer``."""
    env = os.environ.get("EDGEINFER_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgeinfer"


@dataclass(frozen=True)
class Manifest:
    """Everything about how an engine was made; ``manifest.json`` in the engine directory."""

    backend: str
    backend_version: str
    precision: str
    executed_precision: str
    build_config: BuildConfig
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    source_model: dict[str, Any]
    payload: dict[str, str]
    host: HostInfo
    created: str
    build_seconds: float
    notes: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    edgeinfer_version: str = __version__

    @property
    def payload_hash(self) -> str:
        blob = json.dumps(self.payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "edgeinfer_version": self.edgeinfer_version,
            "backend": self.backend,
            "backend_version": self.backend_version,
            "precision": self.precision,
            "executed_precision": self.executed_precision,
            "build_config": self.build_config.to_dict(),
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
            "source_model": self.source_model,
            "payload": self.payload,
            "payload_hash": self.payload_hash,
            "host": self.host.to_dict(),
            "created": self.created,
            "build_seconds": self.build_seconds,
            "notes": list(self.notes),
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        return cls(
            backend=data["backend"],
            backend_version=data["backend_version"],
            precision=data["precision"],
            executed_precision=data.get("executed_precision", data["precision"]),
            build_config=BuildConfig.from_dict(data["build_config"]),
            inputs=tuple(TensorSpec.from_dict(s) for s in data["inputs"]),
            outputs=tuple(TensorSpec.from_dict(s) for s in data["outputs"]),
            source_model=dict(data["source_model"]),
            payload=dict(data["payload"]),
            host=HostInfo.from_dict(data["host"]),
            created=data["created"],
            build_seconds=float(data.get("build_seconds", 0.0)),
            notes=tuple(data.get("notes", ())),
            metadata=dict(data.get("metadata", {})),
            format_version=int(data["format_version"]),
            edgeinfer_version=str(data.get("edgeinfer_version", "")),
        )


class Engine:
    """A loaded, verified engine directory. Use :func:`load_engine` or :func:`build`."""

    def __init__(self, path: Path, manifest: Manifest, *, from_cache: bool = False) -> None:
        self.path = path
        self.manifest = manifest
        self.from_cache = from_cache

    @property
    def backend(self) -> str:
        return self.manifest.backend

    @property
    def precision(self) -> str:
        """The precision that actually executes (may differ from the one requested)."""
        return self.manifest.executed_precision

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self.manifest.inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self.manifest.outputs

    @property
    def config(self) -> BuildConfig:
        return self.manifest.build_config

    @property
    def metadata(self) -> dict[str, Any]:
        return self.manifest.metadata

    @property
    def name(self) -> str:
        return str(self.manifest.source_model.get("name", self.path.name))

    def payload_path(self, name: str) -> Path:
        if name not in self.manifest.payload:
            raise EngineError(
                f"engine '{self.path}' has no payload file '{name}'; rebuild the engine"
            )
        return self.path / name

    def size_bytes(self) -> int:
        return sum((self.path / n).stat().st_size for n in self.manifest.payload)

    def runner(self, **options: Any) -> Runner:
        from edgeinfer.backends import get_backend

        return get_backend(self.backend).runner(self, **options)

    def describe(self) -> str:
        return f"{self.name} [{self.backend} {self.manifest.backend_version}, {self.precision}]"

    def __repr__(self) -> str:
        return f"Engine({str(self.path)!r}, {self.describe()})"


def _read_manifest(path: Path) -> Manifest:
    if not path.exists():
        raise EngineError(
            f"engine directory '{path}' does not exist; build one with: "
            f"edgeinfer build MODEL.onnx -o {path}"
        )
    mpath = path / MANIFEST_NAME
    if not path.is_dir() or not mpath.exists():
        raise EngineError(
            f"'{path}' is not an engine directory (no {MANIFEST_NAME}); build one with: "
            f"edgeinfer build MODEL.onnx -o ENGINE_DIR"
        )
    try:
        data = json.loads(mpath.read_text())
        manifest = Manifest.from_dict(data)
    except Exception as exc:
        raise EngineError(
            f"engine '{path}' has a corrupted {MANIFEST_NAME} ({type(exc).__name__}: {exc}); "
            "rebuild the engine with edgeinfer build"
        ) from exc
    if manifest.format_version > FORMAT_VERSION:
        raise EngineError(
            f"engine '{path}' uses manifest format {manifest.format_version}, newer than this "
            f"edgeinfer ({FORMAT_VERSION}); upgrade edgeinfer or rebuild the engine"
        )
    if data.get("payload_hash") != manifest.payload_hash:
        raise EngineError(
            f"engine '{path}' manifest payload list does not match its payload_hash "
            "(manifest edited or corrupted); rebuild the engine with edgeinfer build"
        )
    return manifest


def _verify_payload(path: Path, manifest: Manifest) -> None:
    for name, digest in manifest.payload.items():
        f = path / name
        if not f.exists():
            raise EngineError(
                f"engine '{path}' is missing payload file '{name}'; rebuild the engine "
                "with edgeinfer build"
            )
        if sha256_file(f) != digest:
            raise EngineError(
                f"engine '{path}': payload file '{name}' does not match its hash in "
                f"{MANIFEST_NAME} (corrupted or modified); rebuild the engine with edgeinfer build"
            )


def _check_compatible(path: Path, manifest: Manifest) -> None:
    from edgeinfer.backends import get_backend

    backend = get_backend(manifest.backend)
    installed = backend.version()
    if installed != manifest.backend_version:
        raise EngineError(
            f"engine '{path}' was built with {manifest.backend} {manifest.backend_version} "
            f"but {installed} is installed; rebuild the engine on this machine with edgeinfer build"
        )
    missing = missing_features(manifest.host, current_host())
    if missing:
        raise EngineError(
            f"engine '{path}' was built on a host with {', '.join(missing)}, which this host "
            "lacks; rebuild the engine on this host with edgeinfer build"
        )


def load_engine(path: str | Path, *, verify: bool = True) -> Engine:
    """Load an engine directory, verifying its payload hash and host/backend compatibility.

    Raises:
        EngineError: not an engine, corrupted, or built for another backend version/host.
    """
    p = Path(path)
    manifest = _read_manifest(p)
    if verify:
        _verify_payload(p, manifest)
    _check_compatible(p, manifest)
    return Engine(p, manifest)


def engine_key(model: Model, config: BuildConfig, backend_version: str) -> str:
    """Cache key: model hash, build config, backend and version, host fingerprint."""
    parts = [
        f"format={FORMAT_VERSION}",
        f"model={model.hash}",
        f"config={config.key()}",
        f"backend={config.backend}=={backend_version}",
        f"host={current_host().fingerprint()}",
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _model_metadata(model: Model) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, raw in model.metadata.items():
        if key.startswith(META_PREFIX):
            try:
                meta[key[len(META_PREFIX) :]] = json.loads(raw)
            except json.JSONDecodeError:
                meta[key[len(META_PREFIX) :]] = raw
    return meta


def _build_into(
    directory: Path, model: Model, config: BuildConfig, quiet: bool | None = None
) -> Manifest:
    from edgeinfer.backends import get_backend

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


def _copy_engine(src: Engine, out: Path, *, overwrite: bool) -> Engine:
    if out.exists() and not overwrite:
        raise EngineError(f"'{out}' already exists; pass --force (overwrite=True) to replace it")
    with atomic_directory(out, overwrite=overwrite) as tmp:
        for name in [*src.manifest.payload, MANIFEST_NAME]:
            shutil.copy2(src.path / name, tmp / name)
    return Engine(out, src.manifest, from_cache=src.from_cache)


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
    from edgeinfer.backends import get_backend

    m = model if isinstance(model, Model) else Model.load(model)
    cfg = config or BuildConfig()
    backend = get_backend(cfg.backend)
    backend.check_config(cfg)
    out_path = Path(out) if out is not None else None
    if out_path is not None and out_path.exists() and not overwrite:
        raise EngineError(
            f"'{out_path}' already exists; pass --force (overwrite=True) to replace it"
        )
    if not cache:
        target = out_path or (cache_dir() / "engines" / engine_key(m, cfg, backend.version()))
        with atomic_directory(target, overwrite=True) as tmp:
            manifest = _build_into(tmp, m, cfg, quiet)
        return Engine(target, manifest)

    cached = cache_dir() / "engines" / engine_key(m, cfg, backend.version())
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
