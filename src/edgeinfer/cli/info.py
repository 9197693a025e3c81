"""``edgeinfer info MODEL_OR_ENGINE``: IO specs, manifest, host."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgeinfer.cli.common import dumps
from edgeinfer.cli.console import echo, stdout_console
from edgeinfer.errors import ConfigError


def register(sub: Any) -> None:
    """Add the ``info`` verb and its flags to the ``edgeinfer`` subcommand parsers."""
    p = sub.add_parser("info", help="show a model's or engine's inputs, outputs and manifest")
    p.add_argument("target", help="ONNX model file or engine directory")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print a model's or an engine's inputs, outputs and metadata (or manifest).

    Returns:
        The exit code: 0.
    """
    from rich.markup import escape
    from rich.table import Table

    from edgeinfer.builder import load_engine
    from edgeinfer.engine import MANIFEST_NAME
    from edgeinfer.model import Model

    p = Path(args.target)
    if p.is_dir() and (p / MANIFEST_NAME).exists():
        eng = load_engine(p)
        data: dict[str, Any] = eng.manifest.to_dict()
        specs = (eng.inputs, eng.outputs)
        title = eng.describe()
    else:
        model = Model.load(p)
        data = {
            "name": model.name,
            "hash": model.hash,
            "opset": model.opset,
            "producer": model.producer,
            "inputs": [s.to_dict() for s in model.inputs],
            "outputs": [s.to_dict() for s in model.outputs],
            "metadata": model.metadata,
        }
        specs = (model.inputs, model.outputs)
        title = f"{model.name} (opset {model.opset}, {model.producer or 'unknown producer'})"
    if args.json:
        echo(dumps(data))
        return 0
    table = Table(title=escape(title))
    for col in ("io", "name", "dtype", "shape"):
        table.add_column(col)
    for kind, group in zip(("input", "output"), specs, strict=True):
        for s in group:
            table.add_row(kind, s.name, s.dtype, escape("[" + ", ".join(map(str, s.shape)) + "]"))
    con = stdout_console()
    con.print(table)
    for line in metadata_lines(data.get("metadata") or {}):
        con.print(escape(line), highlight=False)
    return 0


def metadata_lines(meta: dict[str, Any]) -> list[str]:
    """What the model (or engine) stores for edgeinfer: the preprocessing spec as
    ``--preprocess`` text, the class names and the task; how to store one when it has none.
    """
    import json

    from edgeinfer.data.specs import format_preprocess
    from edgeinfer.model import META_PREFIX
    from edgeinfer.preprocess import PreprocessSpec

    def value(key: str) -> Any:
        raw = meta.get(key, meta.get(META_PREFIX + key))
        if isinstance(raw, str) and META_PREFIX + key in meta:
            try:
                return json.loads(raw)
            except json.JSONDecodeError:
                return raw
        return raw

    lines = []
    spec = value("preprocess")
    if spec:
        try:
            lines.append(f"preprocess: {format_preprocess(PreprocessSpec.from_dict(spec))}")
        except ConfigError as exc:
            lines.append(f"preprocess: unreadable ({exc})")
    else:
        lines.append(
            "preprocess: none stored (image data needs --preprocess; store one with "
            "edgeinfer meta MODEL --preprocess SPEC -o MODEL2)"
        )
    labels = value("labels")
    if isinstance(labels, list) and labels:
        more = f", … ({len(labels)} classes)" if len(labels) > 5 else ""
        lines.append("labels: " + ", ".join(map(str, labels[:5])) + more)
    task = value("task")
    if task:
        lines.append(f"task: {task}")
    return lines
