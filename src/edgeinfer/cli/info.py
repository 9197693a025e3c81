"""``edgeinfer info MODEL_OR_ENGINE``: IO specs, manifest, host."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgeinfer.cli.common import MODEL_HELP, add_json_option, emit_json, load_model_arg
from edgeinfer.cli.console import stdout_console
from edgeinfer.errors import ConfigError


def register(sub: Any) -> None:
    """Add the ``info`` verb and its flags to the ``edgeinfer`` subcommand parsers."""
    p = sub.add_parser(
        "info", help="show a model's or engine's inputs, outputs, hashes and manifest summary"
    )
    p.add_argument("target", metavar="MODEL", help=MODEL_HELP)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print a model's or an engine's inputs, outputs, hashes and metadata (or manifest).

    Returns:
        The exit code: 0.
    """
    from rich.markup import escape
    from rich.table import Table

    from edgeinfer.builder import load_engine
    from edgeinfer.engine import MANIFEST_NAME

    p = Path(args.target)
    if p.is_dir() and (p / MANIFEST_NAME).exists():
        eng = load_engine(p)
        data: dict[str, Any] = eng.manifest.to_dict()
        specs = (eng.inputs, eng.outputs)
        title = eng.describe()
        summary = manifest_lines(data)
    else:
        model = load_model_arg(args.target)
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
        summary = [f"model sha256: {model.hash}"]
    if args.json:
        emit_json(args.json, data)
        if args.json == "-":
            return 0
    table = Table(title=escape(title))
    for col in ("io", "name", "dtype", "shape"):
        table.add_column(col)
    for kind, group in zip(("input", "output"), specs, strict=True):
        for s in group:
            table.add_row(kind, s.name, s.dtype, escape("[" + ", ".join(map(str, s.shape)) + "]"))
    con = stdout_console()
    con.print(table)
    for line in summary + metadata_lines(data.get("metadata") or {}):
        con.print(escape(line), highlight=False)
    return 0


def manifest_lines(data: dict[str, Any]) -> list[str]:
    """The manifest summary of an engine: backend, precisions, source model and hashes, host,
    build time and the manifest digest.
    """
    src = data.get("source_model") or {}
    host = data.get("host") or {}
    lines = [
        f"backend: {data.get('backend')} {data.get('backend_version')}",
        f"precision: requested {data.get('precision')}, executes {data.get('executed_precision')}",
        f"source model: {src.get('name')} sha256 {src.get('hash')}",
    ]
    lines += [f"payload {name}: sha256 {digest}" for name, digest in (data.get("payload") or {}).items()]
    lines += [
        f"built: {data.get('created')} in {float(data.get('build_seconds') or 0):.1f} s on "
        f"{host.get('cpu_model', '?')}",
        f"manifest: format {data.get('format_version')}, edgeinfer {data.get('edgeinfer_version')}, "
        f"digest {data.get('digest')}",
    ]
    return lines


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
