"""The lines of resolvers' files as Python read them when it imported the resolvers.

A resolver compiles from its source text, which Python does not keep: the frontend and the
kernel cache read it back from the file. If the file changed on disk after the import (an
editor's save, a checkout), the new text would compile while the old code runs in the
interpreter, and results would differ from the function's. So `jit_resolver` keeps the
lines of each resolver's file at decoration, and the compiler reads them from here. A module
imported again (a reload) is decorated again and gets the lines of that version.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable
from types import CodeType
from typing import Any

# File name, as in code objects -> its lines at the latest decoration of one of its resolvers.
LATEST: dict[str, list[str]] = {}
# A decorated function's code -> the lines of its file at its decoration.
DECORATED: dict[CodeType, list[str]] = {}


def remember_file(function: Callable[..., Any]) -> None:
    """Keep the current lines of the file that defines `function`, for this function's compiles."""
    code = getattr(function, "__code__", None)
    if code is None:
        return
    linecache.checkcache(code.co_filename)
    lines = linecache.getlines(code.co_filename)
    if not lines:
        return
    # linecache returns the same list until the file changes, so a file's resolvers share one list.
    LATEST[code.co_filename] = lines
    DECORATED[code] = lines


def lines_of(function: Callable[..., Any]) -> list[str]:
    """Return the lines of the file of `function` as the compiler reads them.

    They are the lines at the function's decoration, or for a plain function the lines at
    the latest decoration of a resolver of its file.
    NOTE: a plain function in a file without resolvers is read as the file is at compile time.
    """
    code = function.__code__
    decorated = DECORATED.get(code)
    if decorated is not None:
        return decorated
    latest = LATEST.get(code.co_filename)
    if latest is not None:
        return latest
    linecache.checkcache(code.co_filename)
    return linecache.getlines(code.co_filename)
