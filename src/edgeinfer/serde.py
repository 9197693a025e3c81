"""JSON (de)serialization of the configuration dataclasses, built on msgspec.

Every config is a frozen dataclass validated in ``__post_init__``; this module turns one into
plain JSON data and back, and describes it as a JSON Schema::

    data = to_dict(config)                          # dict of JSON types (tuples become lists)
    again = from_dict(BuildConfig, data)            # == config; __post_init__ ran
    schema = json_schema(BuildConfig)               # JSON Schema (draft 2020-12)

:func:`from_dict` refuses, with a :class:`~edgeinfer.errors.ConfigError` that says what was
wrong and how to fix it: keys that are not fields (in nested dataclasses too), values of the
wrong type (naming the key path and the expected type) and a ``version`` newer than the
field's default (the version this edgeinfer writes).

Field metadata adjusts the JSON form: :data:`AS_MAPPING` stores a ``tuple`` of ``(name,
value)`` pairs (hashable, ordered) as a JSON object; :data:`SKIP` leaves an in-memory-only
field out. A class may name itself in messages with a ``WHAT`` class attribute
(``"build config"``). A data document that may gain fields within its format version (the
engine manifest) sets ``IGNORE_UNKNOWN_KEYS = True``: its unknown keys are dropped, while the
configs inside it stay strict.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType, NoneType, UnionType
from typing import Any, TypeVar

import msgspec

from edgeinfer.errors import ConfigError

__all__ = ["AS_MAPPING", "SKIP", "check_version", "from_dict", "json_schema", "to_dict"]

T = TypeVar("T")

_KEY = "edgeinfer.serde"
AS_MAPPING: Mapping[str, str] = MappingProxyType({_KEY: "mapping"})
"""Field metadata: a ``tuple[tuple[str, V], ...]`` of pairs is a JSON object ``{name: V}``."""
SKIP: Mapping[str, str] = MappingProxyType({_KEY: "skip"})
"""Field metadata: an in-memory-only field, not serialized (it must have a default)."""


def _kind(f: dataclasses.Field[Any]) -> str | None:
    return f.metadata.get(_KEY)


def _what(cls: type, fallback: str | None = None) -> str:
    return str(getattr(cls, "WHAT", None) or fallback or cls.__name__)


def check_version(what: str, version: int, supported: int) -> None:
    """Refuse a config ``version`` newer than the ``supported`` one.

    Raises:
        ConfigError: ``version > supported``; the fix is to upgrade edgeinfer.
    """
    if version > supported:
        raise ConfigError(
            f"{what} version {version} is newer than this edgeinfer supports ({supported}); "
            "upgrade edgeinfer"
        )


# -- to_dict --------------------------------------------------------------------------------
def _enc_hook(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise NotImplementedError(f"cannot serialize {type(value).__name__}")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item, kind = getattr(value, f.name), _kind(f)
            if kind == "skip":
                continue
            if kind == "mapping" and item is not None:
                out[f.name] = {str(k): _plain(v) for k, v in item}
            else:
                out[f.name] = _plain(item)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return msgspec.to_builtins(value, enc_hook=_enc_hook)


def to_dict(obj: Any) -> dict[str, Any]:
    """The JSON data of dataclass instance ``obj``: fields in declaration order, tuples as lists,
    :data:`AS_MAPPING` fields as objects, :data:`SKIP` fields left out, paths as strings.
    """
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise TypeError(f"to_dict needs a dataclass instance, got {type(obj).__name__}")
    data: dict[str, Any] = _plain(obj)
    return data


# -- from_dict ------------------------------------------------------------------------------
@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _dataclass_of(tp: Any) -> type | None:
    """The dataclass in ``tp`` (``X``, ``X | None``), else None."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp
    if typing.get_origin(tp) in (typing.Union, UnionType):
        found = [a for a in typing.get_args(tp) if a is not NoneType and _dataclass_of(a)]
        return found[0] if len(found) == 1 else None
    return None


def _prepare(tp: Any, value: Any, what: str, path: str) -> Any:
    """``value`` ready for ``msgspec.convert(value, tp)``: unknown keys and newer versions
    refused in every nested dataclass, :data:`AS_MAPPING` objects turned into pairs.
    """
    cls = _dataclass_of(tp)
    if cls is not None and isinstance(value, Mapping):
        return _prepare_dataclass(cls, value, what, path)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (tuple, list) and isinstance(value, list | tuple) and args:
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                return value  # msgspec names the length error
            pairs = enumerate(zip(args, value, strict=True))
            return [_prepare(a, v, what, f"{path}[{i}]") for i, (a, v) in pairs]
        return [_prepare(args[0], v, what, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Mapping) and isinstance(value, Mapping) and len(args) == 2:
        return {k: _prepare(args[1], v, what, f"{path}.{k}") for k, v in value.items()}
    return value


def _prepare_dataclass(cls: type, data: Mapping[str, Any], what: str, path: str) -> dict[str, Any]:
    here = _what(cls, f"{what} '{path.lstrip('.')}'") if path else what
    fields = {f.name: f for f in dataclasses.fields(cls) if _kind(f) != "skip"}
    version = fields.get("version")
    if version is not None and isinstance(version.default, int):
        given = data.get("version")
        if isinstance(given, int) and not isinstance(given, bool):
            check_version(here, given, version.default)
    unknown = sorted((k for k in data if k not in fields), key=str)
    if unknown and not getattr(cls, "IGNORE_UNKNOWN_KEYS", False):
        raise ConfigError(f"unknown {here} keys {unknown}; valid keys: {sorted(fields)}")
    hints = _hints(cls)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            continue
        if _kind(fields[key]) == "mapping" and isinstance(value, Mapping):
            out[key] = [[k, v] for k, v in value.items()]
        else:
            out[key] = _prepare(hints[key], value, what, f"{path}.{key}")
    return out


def _dec_hook(tp: Any, value: Any) -> Any:
    if tp is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError


_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_STEP = re.compile(r"\.(\w+)|\[(\d+)\]")


def _value_at(data: Any, path: str) -> tuple[bool, Any]:
    """(found, value) of msgspec path ``.a[0].b`` in ``data``."""
    for key, index in _STEP.findall(path):
        try:
            data = data[key] if key else data[int(index)]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, data


def _type_error(what: str, exc: msgspec.ValidationError, data: Any) -> ConfigError:
    """Turn msgspec's "Expected `int`, got `str` - at `$.threads`" into a one-line ConfigError."""
    m = _AT.match(str(exc).strip())
    msg, path = (m.group("msg"), m.group("path")) if m else (str(exc), None)
    msg = re.sub(r"^Expected `([^`]*)`, got `([^`]*)`", r"expected \1, got \2", msg)
    msg = msg.replace("`", "").splitlines()[0] if msg.strip() else "invalid value"
    msg = msg[:1].lower() + msg[1:]
    found, value = _value_at(data, path or "")
    if path and found and msg.startswith("expected") and not isinstance(value, Mapping | list):
        msg += f" {value!r}"
    where = f" key '{path.lstrip('.')}'" if path else ""
    return ConfigError(f"invalid {what}{where}: {msg}")


def from_dict(cls: type[T], data: Any, *, what: str | None = None) -> T:
    """Parse JSON data (e.g. from :func:`to_dict` or ``json.load``) into dataclass ``cls``.

    Values are converted leniently (``"4"`` for an int, ``1`` for a float, lists for tuples);
    ``__post_init__`` then validates and normalizes as for any construction.

    Args:
        cls: the dataclass to build.
        data: a mapping of field names to JSON values.
        what: the config's name in messages (default: ``cls.WHAT`` or the class name).

    Raises:
        ConfigError: unknown keys, a wrong type, a newer version or an invalid value.
    """
    name = what or _what(cls)
    prepared = _prepare(cls, data, name, "")
    try:
        return msgspec.convert(prepared, cls, strict=False, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        raise _type_error(name, exc, prepared) from None


# -- json_schema ----------------------------------------------------------------------------
def _dataclasses_in(tp: Any, seen: dict[str, type]) -> None:
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if tp.__name__ in seen:
            return
        seen[tp.__name__] = tp
        for hint in _hints(tp).values():
            _dataclasses_in(hint, seen)
        return
    for arg in typing.get_args(tp):
        _dataclasses_in(arg, seen)


def _schema_hook(tp: Any) -> dict[str, Any]:
    if tp is Path:
        return {"type": "string"}
    raise NotImplementedError


def _as_object(prop: dict[str, Any]) -> dict[str, Any]:
    """The schema of an array of ``[name, value]`` pairs as the object it is serialized as."""
    value = prop["items"]["prefixItems"][1]
    return {"type": "object", "additionalProperties": value, "default": {}}


_ATTRIBUTE = re.compile(r"^ {4}(?P<names>\w+(?:, \w+)*): ?(?P<text>.*)$")


def _describe(entry: dict[str, Any]) -> None:
    """Move a Google-style ``Attributes:`` section of the class description into the
    properties' descriptions; the summary stays the class description.
    """
    summary, _, section = entry.get("description", "").partition("\nAttributes:\n")
    texts: dict[str, list[str]] = {}
    current: list[str] = []
    for line in section.splitlines():
        m = _ATTRIBUTE.match(line)
        if m:
            current = [m.group("text")]
            texts.update({name: current for name in m.group("names").split(", ")})
        elif line.strip():
            current.append(line.strip())
    if summary.strip():
        entry["description"] = summary.strip()
    for name, prop in entry.get("properties", {}).items():
        if name in texts and "description" not in prop:
            prop["description"] = " ".join(texts[name])


def json_schema(cls: type, *, closed: bool = False) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of what :func:`to_dict` writes for ``cls``.

    Class docstrings become descriptions: the summary for the class, the ``Attributes:``
    entries for the properties.

    Args:
        cls: a dataclass.
        closed: forbid properties that are not fields (``additionalProperties: false``), as
            :func:`from_dict` does; leave it open for documents that may gain fields.
    """
    schema: dict[str, Any] = msgspec.json.schema(cls, schema_hook=_schema_hook)
    classes: dict[str, type] = {}
    _dataclasses_in(cls, classes)
    for name, dc in classes.items():
        entry = schema["$defs"][name]
        props, required = entry.setdefault("properties", {}), entry.get("required", [])
        for f in dataclasses.fields(dc):
            if _kind(f) == "skip":
                props.pop(f.name, None)
                if f.name in required:
                    required.remove(f.name)
            elif _kind(f) == "mapping":
                props[f.name] = _as_object(props[f.name])
        _describe(entry)
        if closed:
            entry["additionalProperties"] = False
    return schema
