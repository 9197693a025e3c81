#!/usr/bin/env python3
"""Write the JSON Schemas of the files edgeinfer writes for other tools into ``docs/schemas/``.

    .venv/bin/python scripts/gen_schemas.py           # (re)write the schemas
    .venv/bin/python scripts/gen_schemas.py --check   # exit 1 when a committed one is stale

The schemas come from the dataclasses themselves (:func:`edgeinfer.serde.json_schema`), so
they describe exactly what ``to_dict`` writes: ``manifest.json`` (:class:`Manifest`),
``optimize``'s ``report.json`` (:class:`OptimizeResult`, whose ``config`` and ``host`` are
:class:`OptimizeConfig` and :class:`HostInfo` data) and a build config
(:class:`BuildConfig`, closed: edgeinfer refuses unknown keys in it). ``tests/test_schemas.py``
checks the committed files against this script and validates real files against them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edgeinfer import serde
from edgeinfer.config import CONFIG_VERSION, BuildConfig
from edgeinfer.engine import FORMAT_VERSION, Manifest
from edgeinfer.host import HostInfo
from edgeinfer.search.config import OptimizeConfig
from edgeinfer.search.results import RESULT_VERSION, OptimizeResult

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "docs" / "schemas"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _document(
    name: str, version: int, title: str, description: str, body: dict[str, Any]
) -> dict[str, Any]:
    """A published schema: ``$schema``, ``$id`` (with the format version), title, then body."""
    return {
        "$schema": DIALECT,
        "$id": f"urn:edgeinfer:schema:{name}:{version}",
        "title": title,
        "description": description,
        "x-edgeinfer-format-version": version,
        **body,
    }


def _about(props: dict[str, Any], name: str) -> str:
    return str(props[name].get("description", ""))


def manifest_schema() -> dict[str, Any]:
    """``manifest.json``: the fields of :class:`Manifest` plus the computed ``digest``."""
    body = serde.json_schema(Manifest)
    entry = body["$defs"]["Manifest"]
    entry["properties"]["digest"] = {
        "type": "string",
        "pattern": "^[0-9a-f]{64}$",
        "description": "SHA-256 of the manifest's canonical JSON (sorted keys, no spaces, "
        "'digest' left out): covers every field; checked on load (docs/RELIABILITY.md).",
    }
    entry["required"].append("digest")
    return _document(
        "manifest",
        FORMAT_VERSION,
        "edgeinfer engine manifest (manifest.json)",
        f"How an engine directory was built. format_version {FORMAT_VERSION}; readers must "
        "refuse a newer format_version and ignore properties they do not know.",
        body,
    )


def report_schema() -> dict[str, Any]:
    """``report.json``: :class:`OptimizeResult`, its ``config``/``host`` typed."""
    body = serde.json_schema(OptimizeResult)
    body["$defs"].update(serde.json_schema(OptimizeConfig)["$defs"])
    body["$defs"].update(serde.json_schema(HostInfo)["$defs"])
    props = body["$defs"]["OptimizeResult"]["properties"]
    props["config"] = {"$ref": "#/$defs/OptimizeConfig", "description": _about(props, "config")}
    props["host"] = {
        "anyOf": [{"$ref": "#/$defs/HostInfo"}, {"type": "object", "maxProperties": 0}],
        "description": _about(props, "host"),
    }
    return _document(
        "report",
        RESULT_VERSION,
        "edgeinfer optimize report (report.json)",
        f"Every candidate of an optimize run, the Pareto front and the choice. version "
        f"{RESULT_VERSION}; readers must refuse a newer version and ignore properties they do "
        "not know.",
        body,
    )


def build_config_schema() -> dict[str, Any]:
    """A :class:`BuildConfig` (also ``manifest.json``'s ``build_config``), closed."""
    return _document(
        "build_config",
        CONFIG_VERSION,
        "edgeinfer build config",
        f"What decides a build (backend, precision, threads, options, exclude, calibration). "
        f"version {CONFIG_VERSION}; edgeinfer refuses unknown keys and newer versions.",
        serde.json_schema(BuildConfig, closed=True),
    )


def schemas() -> dict[str, dict[str, Any]]:
    """File name -> schema, for every published schema."""
    return {
        "manifest.schema.json": manifest_schema(),
        "report.schema.json": report_schema(),
        "build_config.schema.json": build_config_schema(),
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--check", action="store_true", help="fail when a committed file differs")
    args = ap.parse_args(argv)
    stale = []
    for name, schema in schemas().items():
        path = SCHEMA_DIR / name
        text = render(schema)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
            continue
        SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"stale schemas: {', '.join(stale)}; run scripts/gen_schemas.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
