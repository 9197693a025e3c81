"""serde: what msgspec does with the field types the configs use, and the error messages."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from edgeinfer import serde
from edgeinfer.errors import ConfigError

Value = str | int | float | bool


@dataclass(frozen=True)
class Inner:
    WHAT: ClassVar[str] = "inner"

    level: int = 1
    note: str | None = None
    version: int = 1


@dataclass(frozen=True)
class Outer:
    options: tuple[tuple[str, Value], ...] = field(default=(), metadata=serde.AS_MAPPING)
    shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    size: tuple[int, int] | None = None
    mean: tuple[float, ...] = (0.0,)
    value: Value = 1
    path: Path | None = None  # msgspec cannot write a Path default into a schema
    inner: Inner | None = None
    many: tuple[Inner, ...] = ()
    name: str = "x"
    cache: Any = field(default=None, metadata=serde.SKIP, compare=False)
    version: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(sorted(self.options)))
        object.__setattr__(self, "name", self.name.lower())
        if self.name == "bad":
            raise ConfigError("name 'bad' is not allowed; pick another")


FULL = Outer(
    options=(("b", True), ("a", 1), ("c", 1.5), ("d", "text")),
    shapes=(("x", (1, 3, 8, 8)),),
    size=(2, 3),
    mean=(0.5, 0.25),
    value="1",
    path=Path("/data/set"),
    inner=Inner(3, "n"),
    many=(Inner(), Inner(2)),
    name="Mixed",
)


def _json(obj: Any) -> Any:
    return json.loads(json.dumps(serde.to_dict(obj)))


def test_to_dict_gives_json_types() -> None:
    data = serde.to_dict(FULL)
    assert data["options"] == {"a": 1, "b": True, "c": 1.5, "d": "text"}
    assert data["shapes"] == [["x", [1, 3, 8, 8]]]  # pairs without AS_MAPPING stay arrays
    assert data["size"] == [2, 3] and data["mean"] == [0.5, 0.25]
    assert data["path"] == "/data/set"
    assert data["inner"] == {"level": 3, "note": "n", "version": 1}
    assert "cache" not in data  # SKIP
    assert list(data) == [f for f in Outer.__dataclass_fields__ if f != "cache"]


@pytest.mark.parametrize("obj", [Outer(), FULL], ids=["defaults", "full"])
def test_round_trip(obj: Outer) -> None:
    again = serde.from_dict(Outer, _json(obj))
    assert again == obj
    assert isinstance(again.size, tuple | type(None)) and isinstance(again.path, Path | None)
    assert all(isinstance(pair, tuple) for pair in again.options)


def test_unions_keep_the_json_type() -> None:
    """``str | int | float | bool`` keeps what JSON says: "1" stays a string, true a bool."""
    got = serde.from_dict(Outer, {"value": "1", "options": {"t": True, "i": 2, "f": 2.5}})
    assert got.value == "1"
    assert dict(got.options) == {"t": True, "i": 2, "f": 2.5}
    assert type(dict(got.options)["i"]) is int


def test_lenient_conversion_and_post_init() -> None:
    got = serde.from_dict(Outer, {"mean": [1, 2], "inner": {"level": "4"}, "name": "UPPER"})
    assert got.mean == (1.0, 2.0) and got.inner == Inner(4)
    assert got.name == "upper"  # __post_init__ normalized it
    assert serde.from_dict(Outer, {"inner": None, "size": None}) == Outer()


def test_post_init_errors_pass_through() -> None:
    with pytest.raises(ConfigError, match=r"^name 'bad' is not allowed; pick another$"):
        serde.from_dict(Outer, {"name": "bad"})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"colour": 1}, "unknown outer keys ['colour']; valid keys: ['inner', 'many', 'mean', "),
        ({"inner": {"lvl": 1}}, "unknown inner keys ['lvl']; valid keys: ['level', 'note', "),
        ({"many": [{}, {"x": 1}]}, "unknown inner keys ['x']"),
        ({"cache": 1}, "unknown outer keys ['cache']"),  # SKIP fields are not JSON keys
        ({"inner": {"level": "high"}}, "invalid outer key 'inner.level': expected int, got str"),
        ({"many": [{"level": []}]}, "invalid outer key 'many[0].level': expected int, got array"),
        ({"size": [1, 2, 3]}, "invalid outer key 'size': expected array of length 2, got 3"),
        ({"options": {"a": [1]}}, "invalid outer key 'options[0][1]': expected bool | int | "),
        ({"value": None}, "invalid outer key 'value': expected bool | int | float | str, got null"),
        ([1, 2], "invalid outer: expected object, got array"),
        ({"version": 3}, "outer version 3 is newer than this edgeinfer supports (2); upgrade"),
        ({"inner": {"version": 2, "new": 1}}, "inner version 2 is newer than this edgeinfer"),
    ],
)
def test_errors(data: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        serde.from_dict(Outer, data, what="outer")
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


@dataclass(frozen=True)
class Plain:
    a: int = 0


@dataclass(frozen=True)
class Holder:
    plain: Plain = Plain()


def test_nested_class_without_what_is_named_by_its_path() -> None:
    with pytest.raises(ConfigError, match=r"^unknown holder 'plain' keys \['b'\]; valid keys"):
        serde.from_dict(Holder, {"plain": {"b": 1}}, what="holder")


def test_to_dict_needs_an_instance() -> None:
    with pytest.raises(TypeError, match="dataclass instance"):
        serde.to_dict(Outer)


def test_json_schema() -> None:
    schema = serde.json_schema(Outer, closed=True)
    outer = schema["$defs"]["Outer"]
    assert schema["$ref"] == "#/$defs/Outer"
    assert outer["properties"]["options"]["type"] == "object"
    assert "cache" not in outer["properties"]
    assert outer["properties"]["path"]["anyOf"][0] == {"type": "string"}
    assert outer["additionalProperties"] is False
    assert schema["$defs"]["Inner"]["additionalProperties"] is False
    assert "additionalProperties" not in serde.json_schema(Outer)["$defs"]["Outer"]


@dataclass(frozen=True)
class Document:
    IGNORE_UNKNOWN_KEYS: ClassVar[bool] = True

    inner: Inner = Inner()


def test_documents_may_ignore_unknown_keys_but_their_configs_do_not() -> None:
    assert serde.from_dict(Document, {"added_later": 1, "inner": {"level": 2}}) == Document(Inner(2))
    with pytest.raises(ConfigError, match=r"^unknown inner keys \['lvl'\]"):
        serde.from_dict(Document, {"inner": {"lvl": 1}})
