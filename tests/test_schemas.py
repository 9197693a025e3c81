"""The published JSON Schemas (docs/schemas/): current, valid, and real files validate."""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest

from edgeinfer.builder import build
from edgeinfer.config import BuildConfig, CalibrationConfig
from edgeinfer.host import current_host
from edgeinfer.search.config import OptimizeConfig
from edgeinfer.search.results import CandidateResult, MixedReport, OptimizeResult

from .search.synthetic import fidelity, labelled

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "docs" / "schemas"


@cache
def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_schemas", ROOT / "scripts" / "gen_schemas.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_valid(schema_file: str, data: Any) -> None:
    """Validate ``data`` against ``docs/schemas/<schema_file>``, listing every error."""
    schema = json.loads((SCHEMAS / schema_file).read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_committed_schemas_are_what_the_script_generates() -> None:
    script = _script()
    generated = script.schemas()
    assert sorted(generated) == sorted(p.name for p in SCHEMAS.glob("*.schema.json"))
    for name, schema in generated.items():
        assert (SCHEMAS / name).read_text() == script.render(schema), (
            f"docs/schemas/{name} is stale; run scripts/gen_schemas.py"
        )


@pytest.mark.parametrize("name", ["manifest", "report", "build_config"])
def test_schemas_are_valid_and_versioned(name: str) -> None:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == f"urn:edgeinfer:schema:{name}:{schema['x-edgeinfer-format-version']}"
    assert schema["title"].startswith("edgeinfer ")


def test_a_real_manifest_validates(conv_relu_path: Path, tmp_path: Path) -> None:
    config = BuildConfig(threads=1, options={"optimization_level": "basic"})
    engine = build(conv_relu_path, config, tmp_path / "engine")
    assert_valid("manifest.schema.json", json.loads((engine.path / "manifest.json").read_text()))


def test_build_configs_validate_and_unknown_keys_do_not() -> None:
    cal = CalibrationConfig(method="minmax", data="photos", samples=32)
    config = BuildConfig("openvino", "int8", 2, options={"streams": 2}, calibration=cal)
    assert_valid("build_config.schema.json", json.loads(json.dumps(config.to_dict())))
    with pytest.raises(AssertionError, match="'colour' was unexpected"):
        assert_valid("build_config.schema.json", {**config.to_dict(), "colour": "red"})


def test_a_report_validates() -> None:
    """A report with every kind of entry (the end-to-end optimize test validates a real one)."""
    a = labelled("a", 1.0, 0.1)
    a.config = BuildConfig("onnxruntime", "int8", 2, calibration=CalibrationConfig(method="minmax"))
    a.samples_ms = [0.9, 1.0, 1.1]
    b = fidelity("b", 2.0, 0.99)
    b.error = "boom"
    mixed = MixedReport("a", "a+1fp32", ("conv1",), (("conv1", 0.05),), ((1, 0.99, True),), True)
    res = OptimizeResult(
        model={"name": "m"},
        config=OptimizeConfig(calib="photos").to_dict(),
        mode="labels",
        data_note="eval on x",
        candidates=[a, b, CandidateResult("c", None, kind="torch-eager")],
        pareto=["a"],
        winner="a",
        mixed=[mixed],
        host=current_host().to_dict(),
    )
    assert_valid("report.schema.json", json.loads(json.dumps(res.to_dict())))
