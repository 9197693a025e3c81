"""``edgeinfer meta MODEL.onnx --preprocess SPEC --labels FILE -o MODEL2.onnx``: store how
images become the input tensor (and the class names, the task) in a model, once.

Every verb that feeds images (build/calibration, optimize, eval, compare, bench --pipeline,
ros) then reads the spec from the model, so none of them needs ``--preprocess`` again and
none of them can disagree. The input file is never changed: the result goes to ``-o``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edgeinfer.cli.common import (
    add_json_option,
    add_preprocess_option,
    emit_json,
    preprocess_from_args,
    with_preprocess,
)
from edgeinfer.cli.console import echo
from edgeinfer.errors import ConfigError

TASKS = ("classification", "dense", "generic")


def register(sub: Any) -> None:
    """Add the ``meta`` verb and its flags to the ``edgeinfer`` subcommand parsers."""
    p = sub.add_parser(
        "meta",
        help="store a preprocessing spec, class names and the task in a model (new file)",
        description="Write a copy of MODEL with edgeinfer metadata set: the preprocessing "
        "spec every verb uses for images, the class names and the task. MODEL is not changed.",
    )
    p.add_argument("model", help="ONNX model file")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write (a new file)")
    add_preprocess_option(
        p,
        help="how images become the input tensor: imagenet[:SIZE], a JSON file, inline JSON "
        "or KEY=VALUE,... (e.g. size=224x224,resize=shorter,mean=0.5/0.5/0.5,std=0.5/0.5/0.5)",
    )
    p.add_argument(
        "--labels",
        default=None,
        metavar="FILE|A,B,...",
        help="class names: a text file (one per line), a JSON list, or a comma-separated list",
    )
    p.add_argument("--task", default=None, choices=TASKS, help="what the outputs hold")
    p.add_argument("--name", default=None, help="model name shown in results")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    add_json_option(p, help="what was stored, as JSON to FILE ('-': standard output)")
    p.set_defaults(func=run)


def read_labels(text: str) -> list[str]:
    """Class names from a file (one per line, or a JSON list) or a comma-separated list.

    Raises:
        ConfigError: an unreadable file, or no names.
    """
    path = Path(text)
    if path.is_file():
        try:
            raw = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--labels '{text}': cannot read the file ({exc})") from exc
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"--labels '{text}' is not valid JSON ({exc})") from exc
            if not isinstance(data, list):
                raise ConfigError(f"--labels '{text}' must hold a JSON list of class names")
            names = [str(n) for n in data]
        else:
            names = [line.strip() for line in raw.splitlines() if line.strip()]
    elif "," in text:
        names = [n.strip() for n in text.split(",") if n.strip()]
    else:
        raise ConfigError(
            f"--labels '{text}' is neither a file nor a comma-separated list; give a text file "
            "with one class name per line, a JSON list, or A,B,C"
        )
    if not names:
        raise ConfigError(f"--labels '{text}' holds no class names")
    return names


def _check_labels(model: Any, labels: list[str]) -> None:
    from edgeinfer.evaluate.metrics import is_class_scores

    sizes = {
        s.shape[1]
        for s in model.outputs
        if is_class_scores(s.shape) and isinstance(s.shape[1], int)
    }
    if sizes and len(labels) not in sizes:
        raise ConfigError(
            f"--labels gives {len(labels)} class names but the model's class-score output has "
            f"{' or '.join(map(str, sorted(sizes)))} classes; give one name per class"
        )


def _entries(model: Any, args: argparse.Namespace) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    if args.labels is not None:
        labels = read_labels(args.labels)
        _check_labels(model, labels)
        entries["labels"] = labels
    if args.task is not None:
        entries["task"] = args.task
    if args.name is not None:
        if not args.name.strip():
            raise ConfigError("--name must not be empty")
        entries["name"] = args.name.strip()
    return entries


def _check_paths(src: Path, out: Path, force: bool) -> None:
    if out.resolve() == src.resolve():
        raise ConfigError(
            f"-o '{out}' is the input model; edgeinfer meta never changes its input: write "
            "to a new file"
        )
    if out.is_dir():
        raise ConfigError(f"-o '{out}' is a directory; give the ONNX file to write")
    if out.exists() and not force:
        raise ConfigError(f"'{out}' already exists; pass --force to replace it")


def run(args: argparse.Namespace) -> int:
    """Write a copy of the model with the given metadata and print what it stores.

    Returns:
        The exit code: 0.

    Raises:
        ConfigError: nothing to store, a spec or labels that do not fit the model, or an
            output path that is the input or exists.
    """
    from edgeinfer.data.specs import format_preprocess
    from edgeinfer.model import Model

    src, out = Path(args.model), Path(args.output)
    spec = preprocess_from_args(args)
    if spec is None and args.labels is None and args.task is None and args.name is None:
        raise ConfigError(
            "nothing to store; give --preprocess SPEC, --labels FILE, --task or --name"
        )
    _check_paths(src, out, args.force)
    model = Model.load(src)
    entries = _entries(model, args)
    model = with_preprocess(model, spec)
    if entries:
        model = model.with_meta(**entries)
    model.save(out)
    echo(f"wrote {out}")
    if spec is not None:
        echo(f"preprocess: {format_preprocess(spec)}")
    if "labels" in entries:
        shown = ", ".join(entries["labels"][:5])
        more = f", … ({len(entries['labels'])} in all)" if len(entries["labels"]) > 5 else ""
        echo(f"labels: {shown}{more}")
    for key in ("task", "name"):
        if key in entries:
            echo(f"{key}: {entries[key]}")
    if args.json:
        stored = {**entries, "preprocess": None if spec is None else spec.to_dict()}
        emit_json(args.json, {"output": str(out), "hash": model.hash, "stored": stored})
    return 0
