"""fileio: atomic writes, plain names, regular files only, ownership, stale temps, valid JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeinfer.errors import EdgeInferError
from edgeinfer.fileio import (
    atomic_directory,
    atomic_write_json,
    check_replaceable,
    clean_stale_temps,
    is_plain_name,
    open_regular,
    read_bytes,
)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(
    ("name", "plain"),
    [
        ("model.onnx", True),
        ("model.onnx.data", True),
        ("../../../PWNED.txt", False),
        ("/etc/hostname", False),
        ("a/b", False),
        ("..", False),
        (".", False),
        ("", False),
        ("x\0y", False),
        ("a\\b", False),
        ("x" * 300, False),
        (3, False),
    ],
)
def test_plain_names(name: object, plain: bool) -> None:
    assert is_plain_name(name) is plain


def test_fifo_and_device_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(EdgeInferError, match=r"model '.*pipe' is a FIFO; edgeinfer reads only"):
        open_regular(fifo, "model")  # would block forever in open() without O_NONBLOCK
    with pytest.raises(EdgeInferError, match=r"payload '/dev/zero' is a device"):
        read_bytes("/dev/zero", "payload")
    with pytest.raises(EdgeInferError, match="is a directory"):
        read_bytes(tmp_path, "manifest")


def test_links_are_refused_when_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "real"
    target.write_bytes(b"x")
    (tmp_path / "link").symlink_to(target)
    assert read_bytes(tmp_path / "link") == b"x"
    with pytest.raises(EdgeInferError, match="is a symbolic link"):
        read_bytes(tmp_path / "link", "payload file", follow=False)


def test_read_bytes_is_bounded(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"0" * 2000)
    with pytest.raises(EdgeInferError, match="is 2000 bytes, over the limit of 1000"):
        read_bytes(big, "manifest", limit=1000)


def test_json_is_always_valid(tmp_path: Path) -> None:
    atomic_write_json(tmp_path / "r.json", {"score": float("nan"), "x": [1.0, float("inf")]})
    text = (tmp_path / "r.json").read_text()
    assert json.loads(text) == {"score": None, "x": [1.0, None]}
    assert "NaN" not in text and "Infinity" not in text


def test_json_never_creates_directories_when_asked(tmp_path: Path) -> None:
    with pytest.raises(EdgeInferError, match=r"directory '.*nope' does not exist; create it"):
        atomic_write_json(tmp_path / "nope" / "r.json", {}, make_parents=False)
    assert not (tmp_path / "nope").exists()


def test_replace_only_our_own_directories(tmp_path: Path) -> None:
    mine = tmp_path / "eng"
    mine.mkdir()
    (mine / "manifest.json").write_text("{}")
    (mine / "model.onnx").write_text("x")
    check_replaceable(mine, marker="manifest.json", allowed=["model.onnx"], what="engine")
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(
        EdgeInferError,
        match=r"is not an edgeinfer engine \(it holds 'notes.txt', which edgeinfer did not "
        r"write\); --force replaces only edgeinfer's own outputs: remove it yourself",
    ):
        check_replaceable(mine, marker="manifest.json", allowed=["model.onnx"], what="engine")
    plain = tmp_path / "file"
    plain.write_text("user data")
    with pytest.raises(EdgeInferError, match="exists and is not an edgeinfer engine"):
        check_replaceable(plain, marker="manifest.json", allowed=[], what="engine")


def test_overwrite_never_hides_a_file(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_text("user data")
    with pytest.raises(EdgeInferError, match="is not a directory"), atomic_directory(
        target, overwrite=True
    ) as tmp:
        (tmp / "a").write_text("new")
    assert target.read_text() == "user data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no .out.old-PID, no temp


def test_stale_temps_of_dead_processes_are_cleaned(tmp_path: Path) -> None:
    dead, alive = _dead_pid(), os.getpid()
    stale = tmp_path / f".eng.{dead}-abc123.tmp"
    stale.mkdir()
    (stale / "model.onnx").write_text("half")
    old = tmp_path / f".eng.old-{dead}"
    old.mkdir()
    live = tmp_path / f".eng.{alive}-xyz789.tmp"
    live.mkdir()
    unrelated = tmp_path / ".eng.backup"
    unrelated.mkdir()
    with atomic_directory(tmp_path / "eng") as tmp:
        (tmp / "a").write_text("x")
    assert not stale.exists() and not old.exists()
    assert live.exists() and unrelated.exists() and (tmp_path / "eng" / "a").exists()
    assert clean_stale_temps(tmp_path, "eng") == []


def test_appeared_meanwhile_is_one_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "eng"
    with pytest.raises(
        EdgeInferError, match="was created by another process while this one was writing it"
    ), atomic_directory(target) as tmp:
        (tmp / "a").write_text("mine")
        target.mkdir()
        (target / "b").write_text("theirs")
    assert [p.name for p in target.iterdir()] == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eng"]


def test_a_thread_id_is_not_a_live_process(tmp_path: Path) -> None:
    import threading

    from edgeinfer.fileio import _pid_alive

    ready, done = threading.Event(), threading.Event()
    tid: list[int] = []

    def hold() -> None:
        tid.append(threading.get_native_id())
        ready.set()
        done.wait()

    t = threading.Thread(target=hold)
    t.start()
    ready.wait()
    try:
        assert _pid_alive(os.getpid()) and not _pid_alive(tid[0])
        stale = tmp_path / f".eng.{tid[0]}-abc.tmp"  # a killed process's pid, now a thread id
        stale.mkdir()
        assert clean_stale_temps(tmp_path, "eng") == [stale]
    finally:
        done.set()
        t.join()
