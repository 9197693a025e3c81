"""Safe file handling: atomic writes, plain names, regular files, bounded reads, ownership.

A reader never sees a half-written artifact (temp file or directory + rename); names read from
manifests and caches are plain file names inside their directory; only regular files are read
(a FIFO or a device is refused before it can block or stream forever); ``--force`` replaces
only a directory edgeinfer wrote (:func:`check_replaceable`); the hidden temp entries of killed
runs are removed by the next write into the same directory (:func:`clean_stale_temps`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from edgeinfer.errors import EdgeInferError

__all__ = [
    "OutputTakenError",
    "atomic_directory",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "cache_dir",
    "cannot_write",
    "check_replaceable",
    "clean_stale_temps",
    "is_plain_name",
    "json_safe",
    "open_regular",
    "read_bytes",
    "sha256_file",
]

DEFAULT_READ_LIMIT = 64 << 20  # manifests, caches, labels: far below this


def _temp_prefix(name: str) -> str:
    """``.NAME.PID-``: hidden, and names the process that owns it (see clean_stale_temps)."""
    return f".{name}.{os.getpid()}-"


def atomic_write_bytes(path: str | Path, data: bytes, *, make_parents: bool = True) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same directory and a rename.

    Args:
        path: the file to write.
        data: its new content.
        make_parents: create missing parent directories (False: a missing parent is an
            error naming it; ``--json FILE`` writes use this).

    Raises:
        EdgeInferError: ``make_parents`` is False and the parent directory does not exist.
    """
    p = Path(path)
    if not make_parents and not p.parent.is_dir():
        raise EdgeInferError(
            f"cannot write '{p}': directory '{p.parent}' does not exist; create it first"
        )
    p.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(p.parent, p.name)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(p.name), suffix=".tmp", dir=p.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts get normal modes
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return p


def _umask() -> int:
    """The process umask, read without changing it where Linux tells it (no race)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str, *, make_parents: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode(), make_parents=make_parents)


def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN/Inf float replaced by None, so the JSON text is valid JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def atomic_write_json(path: str | Path, obj: Any, *, make_parents: bool = True) -> Path:
    """Write ``obj`` as indented, valid JSON (NaN/Inf as null) to ``path`` atomically."""
    text = json.dumps(json_safe(obj), indent=2, sort_keys=False, allow_nan=False)
    return atomic_write_text(path, text + "\n", make_parents=make_parents)


# -- directories -------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs. A thread's id is not a process: on Linux ``kill(tid, 0)``
    succeeds for any thread, so ``/proc/PID/status`` must name ``pid`` as its own thread group.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's live process
        pass
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True  # no /proc here: trust kill()
    tgid = next((line.split()[1] for line in status.splitlines() if line.startswith("Tgid:")), "")
    return tgid == str(pid)


def clean_stale_temps(directory: Path, name: str | None = None) -> list[Path]:
    """Remove the hidden temp entries (``.NAME.PID-*.tmp``, ``.NAME.old-PID*``) that runs of
    edgeinfer killed while writing ``directory/NAME`` left behind (any NAME when None: for
    edgeinfer's own cache directories); entries of live processes are kept. Returns what
    was removed.
    """
    stem = re.escape(name) if name is not None else ".+"
    pattern = re.compile(rf"^\.{stem}\.(?:(\d+)-[A-Za-z0-9_]+\.tmp|old-(\d+)(?:-\d+)?)$")
    removed: list[Path] = []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or _pid_alive(int(match.group(1) or match.group(2))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


class OutputTakenError(EdgeInferError):
    """The output appeared from another process while this one was writing it."""


def _taken(final: Path) -> EdgeInferError:
    return OutputTakenError(
        f"'{final}' was created by another process while this one was writing it; "
        "pass --force to replace it, or choose another output"
    )


def _replace_dir(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` over the directory ``final`` (retried: another process may race)."""
    olds: list[Path] = []
    try:
        for attempt in range(20):
            if final.is_symlink() or (final.exists() and not final.is_dir()):
                raise EdgeInferError(
                    f"'{final}' is not a directory; edgeinfer replaces only its own "
                    "directories: remove it yourself or choose another output"
                )
            if final.exists():
                old = final.with_name(f".{final.name}.old-{os.getpid()}-{attempt}")
                with contextlib.suppress(FileNotFoundError):
                    final.rename(old)
                    olds.append(old)
            try:
                tmp.rename(final)
                return
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
        raise _taken(final)
    finally:
        for old in olds:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp directory that becomes ``path`` only when the block completes.

    On error (or if the process is killed) ``path`` is untouched; the hidden temp directory
    is removed on error, and by the next write into the same place after a kill. With
    ``overwrite`` an existing *directory* ``path`` is replaced (callers check first that it
    is theirs: :func:`check_replaceable`); a file, a link or something that appeared from
    another process without ``overwrite`` is refused.

    Raises:
        EdgeInferError: ``path`` exists and is not a directory, or appeared meanwhile.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(final.parent, final.name)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(final.name), suffix=".tmp", dir=final.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        yield tmp
        if overwrite:
            _replace_dir(tmp, final)
        elif final.exists() or final.is_symlink():
            raise _taken(final)
        else:
            try:
                tmp.rename(final)
            except OSError as exc:  # appeared between the check and the rename
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                    raise _taken(final) from exc
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_replaceable(
    path: Path, *, marker: str, allowed: Iterable[str], what: str, force_hint: bool = True
) -> None:
    """Refuse to replace ``path`` unless edgeinfer wrote it: a real directory holding
    ``marker`` and nothing but the ``allowed`` names (and hidden temp entries of its own).

    Raises:
        EdgeInferError: a file, a link, or a directory with anything edgeinfer did not write;
            the message names the first such entry.
    """
    fix = "remove it yourself or choose another output"
    if path.is_symlink() or not path.is_dir():
        raise EdgeInferError(
            f"'{path}' exists and is not an edgeinfer {what}; --force replaces only "
            f"edgeinfer's own outputs: {fix}"
        )
    keep = set(allowed) | {marker}
    temp = re.compile(r"^\..+\.(?:\d+-[A-Za-z0-9_]+\.tmp|old-\d+(?:-\d+)?)$")
    names = sorted(e.name for e in path.iterdir())
    foreign = [n for n in names if n not in keep and not temp.match(n)]
    if marker not in names or foreign:
        why = f"it holds '{foreign[0]}'" if foreign else f"it has no {marker}"
        hint = "--force replaces only edgeinfer's own outputs" if force_hint else "refusing"
        raise EdgeInferError(
            f"'{path}' is not an edgeinfer {what} ({why}, which edgeinfer did not write); "
            f"{hint}: {fix}"
        )


def cannot_write(directory: Path, nbytes: int) -> str | None:
    """Why ``nbytes`` cannot be written in ``directory`` (a full disk, a file-size limit, a
    read-only file system), or None when they can: tells a runtime's failed write from a bad
    model. The probe file is removed.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix("probe"), suffix=".tmp", dir=directory)
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(b"\0" * min(nbytes, 1 << 30))
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return None


def cache_dir() -> Path:
    """Root of edgeinfer's caches: ``$EDGEINFER_CACHE_DIR`` or ``$XDG_CACHE_HOME/edgeinfer``."""
    env = os.environ.get("EDGEINFER_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgeinfer"


# -- reading -----------------------------------------------------------------------------------
def is_plain_name(name: object) -> bool:
    """Whether ``name`` is a plain file name: no directory part, not ``.``/``..``, no NUL."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and not any(c in name for c in "/\\\0")
        and len(name.encode(errors="replace")) <= 255
    )


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str | Path, what: str = "file", *, follow: bool = True) -> IO[bytes]:
    """Open ``path`` for binary reading, refusing anything but a regular file *before* it can
    block (a FIFO without a writer) or stream forever (``/dev/zero``).

    Args:
        path: the file.
        what: how error messages name it (``model``, ``payload file``).
        follow: follow a symbolic link (False: a link is refused).

    Raises:
        EdgeInferError: not a regular file (or a link with ``follow=False``).
        OSError: missing or unreadable (callers turn it into their own message).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow and exc.errno == errno.ELOOP:
            raise EdgeInferError(
                f"{what} '{path}' is a symbolic link; edgeinfer reads only regular files"
            ) from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise EdgeInferError(f"{what} '{path}' is {_kind(mode)}; edgeinfer reads only regular files")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_bytes(
    path: str | Path, what: str = "file", *, limit: int = DEFAULT_READ_LIMIT, follow: bool = True
) -> bytes:
    """The content of the regular file ``path``, refusing one over ``limit`` bytes.

    Raises:
        EdgeInferError: not a regular file, or larger than ``limit``.
        OSError: missing or unreadable.
    """
    with open_regular(path, what, follow=follow) as f:
        size = os.fstat(f.fileno()).st_size
        data = f.read(limit + 1) if size <= limit else b""
    if size > limit or len(data) > limit:
        raise EdgeInferError(
            f"{what} '{path}' is {max(size, len(data))} bytes, over the limit of {limit}; "
            "it is not a file edgeinfer wrote"
        )
    return data


def sha256_file(
    path: str | Path, chunk: int = 1 << 20, *, follow: bool = True, what: str = "file"
) -> str:
    """SHA-256 hex digest of the regular file at ``path``, read ``chunk`` bytes at a time."""
    h = hashlib.sha256()
    with open_regular(path, what, follow=follow) as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
