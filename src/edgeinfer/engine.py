"""Engine: a directory holding a backend's serialized payload and ``manifest.json``.

This module is the engine *data type*: the manifest, reading it and verifying the payload
and the host. Building engines and the engine cache live in :mod:`edgeinfer.builder`, which
also checks the backend version (it knows the backends; this module does not).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from edgeinfer import __version__, serde
from edgeinfer.config import BuildConfig
from edgeinfer.errors import EdgeInferError, EngineError
from edgeinfer.fileio import is_plain_name, read_bytes, sha256_file
from edgeinfer.host import HostInfo, current_host, missing_features
from edgeinfer.tensors import TensorSpec

__all__ = ["MANIFEST_NAME", "Engine", "Manifest", "engine_files", "manifest_digest", "read_engine"]

MANIFEST_NAME = "manifest.json"
# 2: the whole document is covered by ``digest`` (1 only hashed the payload list).
FORMAT_VERSION = 2
DIGEST_KEY = "digest"
MANIFEST_LIMIT = 16 << 20  # bytes; real manifests are a few KiB
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def manifest_digest(data: Mapping[str, Any]) -> str:
    """SHA-256 of a manifest's canonical JSON (sorted keys, no spaces), ``digest`` left out.

    It covers every field (payload list, executed precision, labels, preprocessing, IO specs,
    host ISA flags, build config, unknown fields of newer writers): an edit anywhere is
    refused on load. It is a checksum, not a signature: see docs/RELIABILITY.md.
    """
    body = {k: v for k, v in data.items() if k != DIGEST_KEY}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Manifest:
    """Everything about how an engine was made; ``manifest.json`` in the engine directory.

    Its JSON Schema is ``docs/schemas/manifest.schema.json``; ``format_version`` versions the
    whole document.

    Attributes:
        backend: the backend that built the engine (``onnxruntime``, ``openvino``).
        backend_version: its installed version at build time; loading refuses another one.
        precision: the precision that was requested.
        executed_precision: the precision that really executes, read back from the runtime
            (``int8+bf16`` for OpenVINO int8 with the rest in bf16).
        build_config: the build config (its key is part of the engine cache key).
        inputs: name, dtype and shape (symbolic dims as strings) of each input.
        outputs: the same for each output.
        source_model: name, path, hash, opset and producer of the ONNX model.
        payload: payload file name -> SHA-256 of its content.
        host: the build host; loading refuses hosts without its ISA features.
        created: UTC build time, ISO 8601.
        build_seconds: how long the build took.
        notes: what the build did and decided, for people.
        metadata: the model's edgeinfer metadata (task, labels, preprocess) and the backend's
            read-back properties.
        format_version: version of this document's format.
        edgeinfer_version: the edgeinfer that wrote it.
    """

    WHAT: ClassVar[str] = "manifest"
    IGNORE_UNKNOWN_KEYS: ClassVar[bool] = True  # a newer edgeinfer may add fields

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

    def to_dict(self) -> dict[str, Any]:
        """The ``manifest.json`` data: versions first, the fields, then ``digest``
        (:func:`manifest_digest` of everything before it, checked on load).
        """
        fields = serde.to_dict(self)
        data = {k: fields.pop(k) for k in ("format_version", "edgeinfer_version")}
        data.update(fields)
        data[DIGEST_KEY] = manifest_digest(data)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Parse ``manifest.json`` data (``digest`` is checked by the reader).

        Raises:
            ConfigError: missing keys or wrong types (unknown keys are ignored: a newer
                edgeinfer may add fields).
        """
        fields = {k: v for k, v in data.items() if k not in (DIGEST_KEY, "payload_hash")}
        return serde.from_dict(cls, fields)


class Engine:
    """A loaded, verified engine directory. Use :func:`load_engine` or :func:`build`."""

    def __init__(self, path: Path, manifest: Manifest, *, from_cache: bool = False) -> None:
        self.path = path
        self.manifest = manifest
        self.from_cache = from_cache

    @property
    def backend(self) -> str:
        """The name of the backend that built the engine."""
        return self.manifest.backend

    @property
    def precision(self) -> str:
        """The precision that actually executes (may differ from the one requested)."""
        return self.manifest.executed_precision

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        """The engine's input specs."""
        return self.manifest.inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        """The engine's output specs."""
        return self.manifest.outputs

    @property
    def config(self) -> BuildConfig:
        """The build config that made the engine."""
        return self.manifest.build_config

    @property
    def metadata(self) -> dict[str, Any]:
        """The manifest's free-form metadata (e.g. preprocessing spec, labels, backend details)."""
        return self.manifest.metadata

    @property
    def name(self) -> str:
        """The source model's name (else the directory's name)."""
        return str(self.manifest.source_model.get("name", self.path.name))

    def payload_path(self, name: str) -> Path:
        """The path of payload file ``name``.

        Raises:
            EngineError: the manifest lists no such payload file.
        """
        if name not in self.manifest.payload or not is_plain_name(name):
            raise EngineError(
                f"engine '{self.path}' has no payload file '{name}'; rebuild the engine"
            )
        return self.path / name

    def size_bytes(self) -> int:
        """Total size of the payload files in bytes."""
        return sum((self.path / n).stat().st_size for n in self.manifest.payload)

    def describe(self) -> str:
        """One line for people: name, backend and version, executed precision."""
        return f"{self.name} [{self.backend} {self.manifest.backend_version}, {self.precision}]"

    def __repr__(self) -> str:
        return f"Engine({str(self.path)!r}, {self.describe()})"


def _corrupted(path: Path, exc: BaseException) -> EngineError:
    return EngineError(
        f"engine '{path}' has a corrupted {MANIFEST_NAME} ({type(exc).__name__}: {exc}); "
        "rebuild the engine with edgeinfer build"
    )


def _load_json(path: Path) -> dict[str, Any]:
    """The manifest's JSON object (a regular file, no link, bounded size)."""
    mpath = path / MANIFEST_NAME
    try:
        data = json.loads(read_bytes(mpath, "manifest", limit=MANIFEST_LIMIT, follow=False))
    except EdgeInferError as exc:
        raise EngineError(f"{exc}; rebuild the engine with edgeinfer build") from exc
    except (OSError, ValueError) as exc:
        raise _corrupted(path, exc) from exc
    if not isinstance(data, dict):
        raise _corrupted(path, TypeError(f"a JSON {type(data).__name__}, not an object"))
    return data


def _check_version(path: Path, data: Mapping[str, Any]) -> None:
    version = data.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:  # before parsing: it may differ
        raise EngineError(
            f"engine '{path}' uses manifest format {version}, newer than this "
            f"edgeinfer ({FORMAT_VERSION}); upgrade edgeinfer or rebuild the engine"
        )
    if version != FORMAT_VERSION:
        raise EngineError(
            f"engine '{path}' uses manifest format {version!r} of an older edgeinfer, without "
            "a whole-manifest integrity digest; rebuild the engine with edgeinfer build"
        )
    if data.get(DIGEST_KEY) != manifest_digest(data):
        raise EngineError(
            f"engine '{path}': {MANIFEST_NAME} does not match its digest (edited or "
            "corrupted); rebuild the engine with edgeinfer build"
        )


def _check_payload_names(path: Path, payload: Mapping[str, str]) -> None:
    """Every payload entry is a plain file name (no ``..``, no directory, not the manifest)
    with a SHA-256 hex digest: nothing outside the engine directory is ever read or written.
    """
    if not payload:
        raise EngineError(f"engine '{path}' lists no payload files; rebuild the engine")
    for name, digest in payload.items():
        if not is_plain_name(name) or name == MANIFEST_NAME or name.startswith("."):
            raise EngineError(
                f"engine '{path}' lists payload file {name!r}, which is not a plain file "
                "name inside the engine directory; refusing it: rebuild the engine"
            )
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise EngineError(
                f"engine '{path}' lists no valid SHA-256 for payload file '{name}'; rebuild the "
                "engine with edgeinfer build"
            )


def _read_manifest(path: Path) -> Manifest:
    if not path.exists():
        raise EngineError(
            f"engine directory '{path}' does not exist; build one with: "
            f"edgeinfer build MODEL.onnx -o {path}"
        )
    mpath = path / MANIFEST_NAME
    if not path.is_dir() or not (mpath.exists() or mpath.is_symlink()):
        raise EngineError(
            f"'{path}' is not an engine directory (no {MANIFEST_NAME}); build one with: "
            f"edgeinfer build MODEL.onnx -o ENGINE_DIR"
        )
    data = _load_json(path)
    _check_version(path, data)
    try:
        manifest = Manifest.from_dict(data)
    except Exception as exc:
        raise _corrupted(path, exc) from exc
    _check_payload_names(path, manifest.payload)
    return manifest


def engine_files(path: Path) -> set[str] | None:
    """The names an engine directory of edgeinfer holds (manifest and plain payload names),
    read leniently from its manifest (any format, digest unchecked: a corrupted engine may
    still be replaced); None when ``path`` has no readable edgeinfer manifest.
    """
    try:
        data = json.loads(read_bytes(path / MANIFEST_NAME, "manifest", limit=MANIFEST_LIMIT, follow=False))
    except (OSError, ValueError, EdgeInferError):
        return None
    if not isinstance(data, dict) or "format_version" not in data:
        return None
    payload = data.get("payload")
    if not isinstance(payload, dict):
        return None
    return {MANIFEST_NAME, *(n for n in payload if is_plain_name(n))}


def _verify_payload(path: Path, manifest: Manifest) -> None:
    for name, digest in manifest.payload.items():
        f = path / name
        if not (f.exists() or f.is_symlink()):
            raise EngineError(
                f"engine '{path}' is missing payload file '{name}'; rebuild the engine "
                "with edgeinfer build"
            )
        try:
            actual = sha256_file(f, follow=False, what="payload file")
        except EdgeInferError as exc:
            raise EngineError(f"{exc}; rebuild the engine with edgeinfer build") from exc
        except OSError as exc:
            raise EngineError(
                f"engine '{path}': cannot read payload file '{name}' ({exc.strerror}); "
                "check its permissions or rebuild the engine"
            ) from exc
        if actual != digest:
            raise EngineError(
                f"engine '{path}': payload file '{name}' does not match its hash in "
                f"{MANIFEST_NAME} (corrupted or modified); rebuild the engine with edgeinfer build"
            )


def check_host(path: Path, manifest: Manifest) -> None:
    """Refuse an engine built on a host with ISA features this host lacks.

    Raises:
        EngineError: naming the missing features and the fix (rebuild here).
    """
    missing = missing_features(manifest.host, current_host())
    if missing:
        raise EngineError(
            f"engine '{path}' was built on a host with {', '.join(missing)}, which this host "
            "lacks; rebuild the engine on this host with edgeinfer build"
        )


def read_engine(path: str | Path, *, verify: bool = True) -> Engine:
    """Read an engine directory: manifest, payload hashes (with ``verify``) and host features.

    The backend version is checked by :func:`edgeinfer.builder.load_engine`, which is what
    users call.

    Raises:
        EngineError: not an engine, corrupted, or built for a host with other ISA features.
    """
    p = Path(path)
    manifest = _read_manifest(p)
    if verify:
        _verify_payload(p, manifest)
    check_host(p, manifest)
    return Engine(p, manifest)
