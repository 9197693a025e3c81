"""Backend options: ``BuildConfig.options`` parsed once into a backend's typed options.

``BuildConfig.options`` keeps what the user wrote (``--option NAME=VALUE``, hashed into the
engine cache key). Each backend declares a frozen options dataclass
(:attr:`edgeinfer.backends.base.Backend.options_type`); :func:`parse_options` turns the
pairs into it, memoized, so ``check_config``, ``build`` and the runners share one parsed,
validated object and no module re-parses option items.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast

from edgeinfer import serde
from edgeinfer.errors import ConfigError

if typing.TYPE_CHECKING:
    from edgeinfer.config import OptionValue

__all__ = ["NoOptions", "option_names", "parse_options"]

T = TypeVar("T")
NO_OPTIONS_VERSION = 1
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class NoOptions:
    """The options of a backend that takes none (every option name is refused)."""

    WHAT: ClassVar[str] = "backend options"

    version: int = NO_OPTIONS_VERSION

    def __post_init__(self) -> None:
        serde.check_version(self.WHAT, self.version, NO_OPTIONS_VERSION)


def option_names(options_type: type) -> tuple[str, ...]:
    """The option names ``options_type`` accepts: its fields but ``version``, in order."""
    return tuple(f.name for f in dataclasses.fields(options_type) if f.name != "version")


def _loose(backend: str, name: str, value: OptionValue, hint: Any) -> Any:
    """A NAME=VALUE value as its field wants it: text for text fields, true/false/yes/no/on/off
    (or 1/0) for bool fields; anything else is left to the field's type and validation.
    """
    if hint is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ConfigError(f"{backend} option {name} must be true or false, got {value!r}")
    if hint in (str, str | None) and not isinstance(value, str):
        return str(value)
    return value


@functools.lru_cache(maxsize=256)
def _parse(options_type: type, backend: str, items: tuple[tuple[str, OptionValue], ...]) -> Any:
    valid = option_names(options_type)
    unknown = sorted({name for name, _ in items} - set(valid))
    if unknown:
        allowed = f"valid: {', '.join(valid)}" if valid else f"the {backend} backend takes none"
        raise ConfigError(f"unknown {backend} option(s) {unknown}; {allowed}")
    hints = typing.get_type_hints(options_type)
    data = {name: _loose(backend, name, value, hints[name]) for name, value in items}
    return serde.from_dict(options_type, data, what=f"{backend} options")


def parse_options(
    options_type: type[T], backend: str, items: tuple[tuple[str, OptionValue], ...]
) -> T:
    """The typed options of ``items`` (``BuildConfig.options``), memoized per distinct items.

    Args:
        options_type: the backend's frozen options dataclass.
        backend: the backend's name, for messages.
        items: the ``(NAME, VALUE)`` pairs as written by the user.

    Raises:
        ConfigError: an unknown option name (the message lists the valid ones), a wrong
            type or an invalid value.
    """
    parsed = _parse(cast(Any, options_type), backend, tuple(items))
    return cast(T, parsed)
