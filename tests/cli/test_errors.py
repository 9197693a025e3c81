"""Every expected failure is one line on stderr with exit code 2 (issue 12's findings)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import onnx
import pytest

from edgeinfer.cli import INTERNAL_ERROR, error_line, main
from edgeinfer.tensors import max_threads


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, match: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("edgeinfer: error: "), err
    assert match in err, err


MAX = str(max_threads())


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--threads", "100000"], f"--threads must be an integer from 1 to {MAX} on this"),
        (["--threads", "0"], "--threads must be an integer from 1 to"),
        (["--rate", "nan"], "--rate must be a finite number, got nan"),
        (["--rate", "inf"], "--rate must be a finite number, got inf"),
        (["--rate", "1e9"], "--rate must be <= 100000, got 1000000000"),
        (["--rate", "-5"], "--rate must be > 0, got -5"),
        (["--batch", "2000000"], "--batch must be <= 65536, got 2000000"),
        (["--batch", "-1"], "--batch must be >= 1, got -1"),
        (["--duration", "0"], "--duration must be > 0, got 0"),
        (["--duration", "nan"], "--duration must be a finite number, got nan"),
        (["--iterations", "0"], "--iterations must be >= 1"),
        (["--deadline-ms", "-1"], "--deadline-ms must be > 0"),
        (["--warmup", "-3"], "--warmup must be >= 0"),
    ],
)
def test_absurd_numbers_in_bench_flags(
    conv_relu_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    one_line_error(*run(capsys, "bench", str(conv_relu_path), *flags)[::2], match=message)


def test_calib_samples_zero_is_refused(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "build", str(conv_relu_path), "-o", str(tmp_path / "e"), "--precision", "int8",
        "--calib", "photos:8", "--calib-samples", "0",
    )  # fmt: skip
    one_line_error(code, err, "--calib-samples must be >= 1, got 0")
    assert not (tmp_path / "e").exists()


def test_json_never_creates_directories(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no" / "such" / "dir" / "r.json"
    code, _, err = run(capsys, "bench", str(conv_relu_path), "--iterations", "2", "--json", str(target))
    one_line_error(code, err, "directory '" + str(target.parent) + "' does not exist; create it")
    assert not (tmp_path / "no").exists()


def test_fifo_and_device_as_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    one_line_error(*run(capsys, "info", str(fifo))[::2], match="is a FIFO; edgeinfer reads only")
    one_line_error(*run(capsys, "info", "/dev/zero")[::2], match="model '/dev/zero' is a device")
    code, _, err = run(capsys, "bench", str(fifo), "--iterations", "2")
    one_line_error(code, err, "is a FIFO")


def test_non_json_model_metadata(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proto = onnx.load(conv_relu_path)
    entry = proto.metadata_props.add()
    entry.key, entry.value = "edgeinfer.preprocess", "{not json"
    path = tmp_path / "meta.onnx"
    onnx.save(proto, path)
    from edgeinfer.errors import ModelError
    from edgeinfer.model import Model

    with pytest.raises(ModelError, match="has metadata 'edgeinfer.preprocess' that is not JSON"):
        Model.load(path).meta("preprocess")
    code, _, err = run(capsys, "compare", str(path), str(path), "--limit", "2")
    assert code in (0, 2) and "Traceback" not in err and err.count("\n") <= 1, err


def test_name_too_long_is_one_line(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "build", str(conv_relu_path), "-o", str(tmp_path / ("x" * 300)))
    one_line_error(code, err, "use a shorter name")


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/c/e"), "No space left on device: "
         "'/c/e'; free disk space (or set EDGEINFER_CACHE_DIR to another disk)"),
        (OSError(errno.EROFS, "Read-only file system", "/ro"), "Read-only file system: '/ro'; "
         "choose a writable location"),
        (PermissionError(errno.EACCES, "Permission denied", "/x"), "Permission denied: '/x'; "
         "check the permissions"),
        (MemoryError(), "out of memory; use a smaller --batch or input size"),
    ],
)  # fmt: skip
def test_os_and_memory_errors_name_the_fix(exc: BaseException, line: str) -> None:
    assert error_line(exc) == (line, 2) or error_line(exc)[0].startswith(line)


def test_an_unexpected_exception_is_one_line_with_its_own_exit_code(
    conv_relu_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgeinfer.cli.info as info

    def broken(args: object) -> int:
        raise TypeError("boom")

    monkeypatch.setattr(info, "run", broken)
    code, _, err = run(capsys, "info", str(conv_relu_path))
    assert code == INTERNAL_ERROR and err.count("\n") == 1
    assert "internal error (TypeError: boom); this is a bug in edgeinfer: rerun with --debug" in err


def test_optimize_refuses_an_output_with_other_files(
    conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    (out / "engine").mkdir(parents=True)
    (out / "engine" / "my-notes.txt").write_text("user data")
    (out / "thesis.tex").write_text("user data")
    code, _, err = run(capsys, "optimize", str(conv_relu_path), "-o", str(out))
    one_line_error(code, err, "holds files edgeinfer did not write (e.g. 'thesis.tex'); choose")
    code, _, err = run(capsys, "optimize", str(conv_relu_path), "-o", str(out), "--force")
    one_line_error(code, err, "it holds 'my-notes.txt', which edgeinfer did not write")
    assert (out / "thesis.tex").exists() and (out / "engine" / "my-notes.txt").exists()


def test_zoo_get_force_replaces_only_a_zoo_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "zoo"
    assert run(capsys, "zoo", "get", "fashion-cnn", "-o", str(out))[0] == 0
    assert run(capsys, "zoo", "get", "fashion-cnn", "-o", str(out), "--force")[0] == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.csv").write_text("user data")
    code, _, err = run(capsys, "zoo", "get", "fashion-cnn", "-o", str(mine), "--force")
    one_line_error(code, err, "is not an edgeinfer zoo model directory (it holds 'data.csv'")
    assert (mine / "data.csv").read_text() == "user data"
    f = tmp_path / "file"
    f.write_text("user data")
    code, _, err = run(capsys, "zoo", "get", "fashion-cnn", "-o", str(f), "--force")
    one_line_error(code, err, "exists and is not an edgeinfer zoo model directory")
    assert f.read_text() == "user data" and sorted(p.name for p in tmp_path.iterdir()) == [
        "file", "mine", "zoo"
    ]


def test_bench_huge_declared_input_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 20000, 20000])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 20000, 20000])],
    )
    path = tmp_path / "huge.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    assert path.stat().st_size < 200
    code, _, err = run(capsys, "bench", str(path), "--iterations", "2")
    one_line_error(code, err, "needs 4.47 GiB, over the memory budget")


def test_bench_json_is_valid(conv_relu_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "b.json"
    assert run(capsys, "bench", str(conv_relu_path), "--iterations", "3", "--json", str(report))[0] == 0
    json.loads(report.read_text(), parse_constant=lambda c: pytest.fail(f"invalid JSON {c}"))
