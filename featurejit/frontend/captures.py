"""Names a resolver reads from its module or closure, and checks that they have not changed."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

MISSING: Any = object()


def resolve_name(function: Callable[..., Any], name: str) -> Any:
    """Look `name` up as `function`'s body would: closure, then module globals, then builtins."""
    code = function.__code__
    if name in code.co_freevars:
        cell = function.__closure__[code.co_freevars.index(name)]  # type: ignore[index]
        try:
            return cell.cell_contents
        except ValueError:  # the closure variable is not assigned yet
            return MISSING
    if name in function.__globals__:
        return function.__globals__[name]
    return getattr(builtins, name, MISSING)


def same_value(old: Any, new: Any) -> bool:
    """Return whether a captured value is unchanged: numbers by type and exact value, others by identity."""
    if type(old) is not type(new):
        return False
    if isinstance(old, float):
        return repr(old) == repr(new)  # -0.0 differs from 0.0, and NaN equals NaN
    if isinstance(old, int):
        return bool(old == new)
    return old is new


def dict_contents(value: dict[Any, Any]) -> tuple[tuple[Any, ...], ...]:
    """Return a dict's items with each key's and value's type, to compare dicts exactly.

    Floats compare by repr, so that -0.0 differs from 0.0 and NaN equals NaN. Values other
    than numbers, str and None, which lookups do not compile, compare by identity.
    """

    def exact(item: Any) -> tuple[type, Any]:
        if isinstance(item, float):
            return (type(item), repr(item))
        if isinstance(item, int | str | type(None)):
            return (type(item), item)
        return (type(item), id(item))

    return tuple((*exact(key), *exact(item)) for key, item in value.items())


@dataclass(frozen=True)
class Capture:
    """A name (and attribute path, as in `math.pi`) read by a resolver, with its compile-time value.

    A compiled dict is mutable, so its capture also keeps its `contents` (see dict_contents),
    and it is current only while the name refers to the same dict with the same contents.
    """

    function: Callable[..., Any]
    name: str
    attributes: tuple[str, ...]
    value: Any
    contents: tuple[tuple[Any, ...], ...] | None = None

    def current_value(self) -> Any:
        """Resolve the name and attributes again, returning MISSING when they no longer resolve."""
        value = resolve_name(self.function, self.name)
        for attribute in self.attributes:
            if value is MISSING:
                break
            value = getattr(value, attribute, MISSING)
        return value

    def is_current(self) -> bool:
        current = self.current_value()
        if not same_value(self.value, current):
            return False
        return self.contents is None or dict_contents(current) == self.contents

    def describe(self) -> str:
        """Return the dotted name, for messages and cache keys."""
        return ".".join((self.name, *self.attributes))


def stale_captures(captures: Iterable[Capture]) -> list[Capture]:
    """Return the captures whose value changed since compilation."""
    return [capture for capture in captures if not capture.is_current()]
