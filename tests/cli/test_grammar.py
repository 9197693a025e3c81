"""One CLI grammar, checked over every verb: MODEL as ONNX path, engine directory or zoo name;
global flags before or after the verb; ``--json FILE`` everywhere with ``-`` = stdout; every
option with help and its default; exit codes in every verb's help.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeinfer.cli import COMMANDS, HelpFormatter, build_parser, main

# Groups of actions (calib, debug, zoo): their actions have --json, the group itself does not.
GROUPS = {"calib", "debug", "zoo"}


def verbs() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every verb and action parser: ("build", p), ("zoo get", p), ..."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        yield name, p
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child, cp in action.choices.items():
                    yield f"{name} {child}", cp


VERBS = dict(verbs())


def test_every_verb_is_covered() -> None:
    assert {v.split()[0] for v in VERBS} == set(COMMANDS)
    assert {"zoo list", "zoo get", "calib inspect"} <= set(VERBS)


@pytest.mark.parametrize("name", sorted(VERBS))
def test_every_option_has_help_and_shows_its_default(name: str) -> None:
    p = VERBS[name]
    fmt = HelpFormatter(name)
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        flag = "/".join(action.option_strings) or action.dest
        assert action.help and action.help.strip(), f"{name} {flag} has no help"
        if action.option_strings and action.default not in (None, False, [], argparse.SUPPRESS):
            text = fmt._get_help_string(action) or ""
            assert "default" in text or f"({action.default})" in text, f"{name} {flag}: {text}"


@pytest.mark.parametrize("name", sorted(VERBS))
def test_exit_codes_in_every_help(name: str) -> None:
    text = VERBS[name].format_help()
    assert "exit codes:" in text
    for code in ("0", "2", "70", "130"):
        assert f"  {code}  " in text
    if name == "compare":
        assert "  1  the candidate failed a tolerance" in text
    if name == "optimize":
        assert "  3  no candidate meets the budgets" in text


@pytest.mark.parametrize("name", sorted(n for n in VERBS if n not in GROUPS))
def test_json_file_everywhere(name: str) -> None:
    action = next((a for a in VERBS[name]._actions if "--json" in a.option_strings), None)
    assert action is not None, f"{name} has no --json FILE"
    assert action.metavar == "FILE" and action.nargs is None and "'-'" in (action.help or "")


@pytest.mark.parametrize("name", sorted(n for n in VERBS if n not in GROUPS))
@pytest.mark.parametrize("where", ["before", "after"])
def test_global_flags_before_or_after_the_verb(name: str, where: str) -> None:
    parser = build_parser()
    words = name.split()
    positionals = [a for a in VERBS[name]._actions if not a.option_strings and a.required]
    needed = [a for a in VERBS[name]._actions if a.option_strings and a.required]
    argv = [*words, *(["x"] * len(positionals))]
    for a in needed:
        argv += [a.option_strings[0], "1"]
    for group in VERBS[name]._mutually_exclusive_groups:
        if group.required:
            argv += [group._group_actions[0].option_strings[0], "x"]
    flags = ["--debug", "-q"]
    args = parser.parse_args(flags + argv if where == "before" else argv + flags)
    assert args.debug is True and args.quiet is True


@pytest.mark.parametrize(
    "argv, dest",
    [
        (["build", "--exclude", "Softmax,Gemm", "m.onnx", "-o", "e"], "exclude"),
        (["optimize", "--backends", "onnxruntime", "m.onnx"], "backends"),
        (["optimize", "--precisions", "fp32,int8", "--precisions", "bf16", "m.onnx"], "precisions"),
        (["compare", "--outputs", "scores", "a.onnx", "b.onnx"], "outputs"),
    ],
)
def test_list_flags_never_swallow_the_model(argv: list[str], dest: str) -> None:
    args = build_parser().parse_args(argv)
    positional = {"build": "model", "optimize": "model", "compare": "candidate"}[argv[0]]
    assert getattr(args, positional).endswith(".onnx")
    assert all("," not in v and ".onnx" not in v for v in getattr(args, dest))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def in_tmp(tmp_path: Path) -> Iterator[Path]:
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def test_model_as_path_engine_dir_or_zoo_name(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "zoo", "get", "fashion-cnn", "-o", "fz")
    assert code == 0, err
    code, _, err = _run(capsys, "build", "fashion-cnn", "-o", "eng")
    assert code == 0, err
    hashes = set()
    for model in ("fz/model.onnx", "fashion-cnn", "zoo:fashion-cnn"):
        code, out, err = _run(capsys, "info", model, "--json", "-")
        assert code == 0, err
        hashes.add(json.loads(out)["hash"])
    assert len(hashes) == 1
    code, out, err = _run(capsys, "info", "eng")
    assert code == 0, err
    for text in ("backend: onnxruntime", "precision: requested fp32", "source model:",
                 "payload ", "manifest: format", "digest"):  # fmt: skip
        assert text in out
    for model in ("fz/model.onnx", "eng", "fashion-cnn"):
        code, out, err = _run(capsys, "eval", model, "--dataset", "fashion-mnist",
                              "--limit", "32", "--json", "-")  # fmt: skip
        assert code == 0, err
        assert json.loads(out)["top1"] >= 0
    code, out, err = _run(capsys, "compare", "eng", "fashion-cnn", "--data", "fashion-mnist",
                          "--limit", "8", "--json", "-")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["passed"] is True
    assert not (in_tmp / "-").exists()


def test_json_dash_is_stdout_and_a_file_is_a_file(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "zoo", "list", "--json", "-")
    assert code == 0 and json.loads(out)
    code, out, err = _run(capsys, "zoo", "list", "--json", "zoo.json")
    assert code == 0 and json.loads((in_tmp / "zoo.json").read_text())
    assert "wrote zoo.json" in err
    assert not (in_tmp / "-").exists()
    code, _, err = _run(capsys, "zoo", "list", "--json", "nowhere/zoo.json")
    assert code == 2 and "directory 'nowhere' does not exist" in err
