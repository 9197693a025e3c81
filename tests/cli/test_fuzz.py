"""Fuzzing the command line (hypothesis): over flags and values, and over mutated real zoo
ONNX files. The only allowed outcomes are success or a one-line error with exit code 2 (or
argparse's usage error): never a traceback, never an internal error, never a hang.

Bounded for CI: derandomized (the same examples every run), a fixed number of examples, and
every run is tiny (two measured iterations, no guardrail).
"""

from __future__ import annotations

import collections
import io
import itertools
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeinfer.cli import main
from edgeinfer.zoo.fashion import asset_path

FUZZ = settings(
    max_examples=int(os.environ.get("EDGEINFER_FUZZ_EXAMPLES", "40")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
BAD_NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1e9", "1e308", "99999999999999999999", "abc", ""]
_counter = itertools.count()
OUTCOMES: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)


def run_cli(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    OUTCOMES[argv[0]][code] += 1
    return code, err.getvalue()


def assert_clean(argv: list[str], code: int, err: str) -> None:
    """Success, or exit 2 with one error line (argparse: usage line + error line)."""
    assert "Traceback" not in err, (argv, err)
    if code == 0:
        return
    assert code == 2, (argv, code, err)
    lines = [line for line in err.splitlines() if line.strip()]
    if lines and lines[0].startswith("usage:"):
        assert lines[-1].startswith("edgeinfer") and ": error: " in lines[-1], (argv, err)
    else:
        assert len(lines) == 1 and lines[0].startswith("edgeinfer: error: "), (argv, err)


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("fuzz")
    model = root / "model.onnx"
    model.write_bytes(asset_path("fashion_cnn.onnx").read_bytes())
    assert main(["build", str(model), "-o", str(root / "engine")]) == 0
    fifo = root / "fifo.onnx"
    os.mkfifo(fifo)
    (root / "text.onnx").write_text("not a model")
    (root / "plain-dir").mkdir()
    return {
        "model": str(model),
        "engine": str(root / "engine"),
        "fifo": str(fifo),
        "text": str(root / "text.onnx"),
        "dir": str(root / "plain-dir"),
        "missing": str(root / "missing.onnx"),
        "device": "/dev/zero",
        "root": str(root),
    }


TARGETS = st.sampled_from(["model", "engine", "fifo", "text", "dir", "missing", "device"])
NUMBER = st.one_of(st.sampled_from(BAD_NUMBERS), st.sampled_from(["1", "2", "3"]))
BENCH_FLAGS = {
    "--threads": NUMBER,
    "--batch": NUMBER,
    "--rate": st.sampled_from([*BAD_NUMBERS, "1000", "5000"]),  # no slow valid rate
    "--deadline-ms": NUMBER,
    "--seed": NUMBER,
    "--shape": st.sampled_from(["x:1x1x28x28", "x:0x1", "input:1x1x28x28", "bad", ":"]),
    "--backend": st.sampled_from(["onnxruntime", "openvino", "nope", ""]),
    "--option": st.sampled_from(["a=b", "=", "allow_spinning=maybe", "optimization_level=all"]),
    "--json": st.sampled_from(["/nonexistent/dir/r.json", "/dev/null/x.json", "ROOT"]),
}


def _flags(draw: st.DrawFn, table: dict[str, st.SearchStrategy[str]], root: str) -> list[str]:
    chosen = draw(st.lists(st.sampled_from(sorted(table)), max_size=4, unique=True))
    argv: list[str] = []
    for flag in chosen:
        value = draw(table[flag])
        argv += [flag, root if value == "ROOT" else value]
    return argv


@FUZZ
@given(data=st.data())
def test_fuzz_bench_and_info_flags(places: dict[str, str], data: st.DataObject) -> None:
    target = places[data.draw(TARGETS)]
    if data.draw(st.booleans()):
        argv = ["info", target]
    else:
        argv = ["bench", target]
        argv += _flags(data.draw, BENCH_FLAGS, places["root"])
        argv += ["--iterations", "2", "--warmup", "0", "--no-guardrail"]
    assert_clean(argv, *run_cli(argv))


BUILD_FLAGS = {
    "--precision": st.sampled_from(["fp32", "fp16", "int8", "bf16", "fp8", ""]),
    "--threads": NUMBER,
    "--calib": st.sampled_from(["photos:4", "npz:/dev/zero", "images:/nonexistent", "fifo"]),
    "--calib-samples": NUMBER,
    "--calibrator": st.sampled_from(["minmax", "entropy", "nope"]),
    "--percentile": NUMBER,
    "--exclude": st.sampled_from(["Conv", "nothing", ""]),
    "--pass": st.sampled_from(["simplify", "nope"]),
}


@FUZZ
@given(data=st.data())
def test_fuzz_build_flags(places: dict[str, str], data: st.DataObject) -> None:
    target = places[data.draw(st.sampled_from(["model", "fifo", "text", "missing", "device"]))]
    out = Path(places["root"]) / f"out-{next(_counter)}"
    flags = _flags(data.draw, BUILD_FLAGS, places["root"])
    flags = [places["fifo"] if v == "fifo" else v for v in flags]
    argv = ["build", target, "-o", str(out), *flags, "--no-guardrail"]
    if data.draw(st.booleans()):
        argv.append("--force")
    assert_clean(argv, *run_cli(argv))


# -- mutated real zoo models ---------------------------------------------------------------------
def _proto_mutation(model: onnx.ModelProto, kind: int, value: int) -> None:
    g = model.graph
    if kind == 0 and g.input:  # an absurd, zero or negative declared dim
        dims = g.input[0].type.tensor_type.shape.dim
        dims[value % len(dims)].dim_value = [0, -5, 20000, 2**40][value % 4]
    elif kind == 1 and g.node:  # an unknown or wrong op
        g.node[value % len(g.node)].op_type = ["NoSuchOp", "Relu", "Add", "Reshape"][value % 4]
    elif kind == 2 and g.initializer:  # a missing weight
        del g.initializer[value % len(g.initializer)]
    elif kind == 3:  # an opset from the future or the past
        model.opset_import[0].version = [1, 999, 0, 7][value % 4]
    elif kind == 4 and g.input:  # a wrong element type
        g.input[0].type.tensor_type.elem_type = [0, 7, 10, 16][value % 4]
    elif kind == 5 and g.node:  # a dangling edge
        node = g.node[value % len(g.node)]
        if node.input:
            node.input[0] = "nowhere"
    elif kind == 6:  # metadata that is not JSON
        entry = model.metadata_props.add()
        entry.key, entry.value = "edgeinfer.preprocess", "{oops"


MUTATION = st.one_of(
    st.tuples(st.just("byte"), st.integers(0, 10**9), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10**9), st.just(0)),
    st.tuples(st.just("proto"), st.integers(0, 6), st.integers(0, 1000)),
)


@FUZZ
@given(mutations=st.lists(MUTATION, min_size=1, max_size=4))
def test_fuzz_mutated_zoo_model(
    places: dict[str, str], mutations: list[tuple[str, int, int]]
) -> None:
    original = Path(places["model"]).read_bytes()
    proto = onnx.load_from_string(original)
    for kind, a, b in mutations:
        if kind == "proto":
            _proto_mutation(proto, a, b)
    blob = bytearray(proto.SerializeToString())
    for kind, a, b in mutations:
        if kind == "byte" and blob:  # half of the edits land in the graph's structure
            pos = a % min(len(blob), 4096) if a % 2 else a % len(blob)
            blob[pos] = b
        elif kind == "cut" and blob:
            del blob[a % len(blob) :]
    path = Path(places["root"]) / f"mutant-{next(_counter)}.onnx"
    path.write_bytes(bytes(blob))
    for argv in (
        ["info", str(path)],
        ["bench", str(path), "--iterations", "2", "--warmup", "0", "--no-guardrail"],
    ):
        assert_clean(argv, *run_cli(argv))


def test_fuzz_reached_both_outcomes() -> None:
    """The fuzzing above exercised real work, not only refusals (runs after them)."""
    for verb in ("info", "bench", "build"):
        assert OUTCOMES[verb][0] > 0 and OUTCOMES[verb][2] > 0, dict(OUTCOMES)
