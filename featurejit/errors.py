"""User-facing errors of featurejit, located in the user's own source file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SourceLocation:
    """A position in the user's file: 1-based line, 0-based column, and the line's text."""

    path: str
    line: int
    column: int
    source_line: str
    end_column: int | None = None

    def caret(self) -> str:
        """Return the source line and a caret line under the located construct."""
        text = self.source_line.rstrip("\n")
        width = 1
        if self.end_column is not None and self.end_column > self.column:
            width = self.end_column - self.column
        width = max(1, min(width, len(text) - self.column))
        return f"    {text}\n    {' ' * self.column}{'^' * width}"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column + 1}"


class CompileError(Exception):
    """A resolver uses a construct that featurejit cannot compile.

    `location` points into the user's file, and `hint` names what is supported instead.
    """

    def __init__(
        self,
        message: str,
        location: SourceLocation | None = None,
        hint: str | None = None,
        *,
        unresolved_name: bool = False,
    ):
        self.message = message
        self.location = location
        self.hint = hint
        # True when a global name is not defined yet, which a later definition may fix.
        self.unresolved_name = unresolved_name
        # Module constants and closure values read before the error, set by the frontend.
        self.captures: list[Any] = []
        super().__init__(self.render())

    def render(self) -> str:
        """Format the error as `file:line:col: message`, the source line, a caret and the hint."""
        parts = [f"{self.location}: {self.message}" if self.location else self.message]
        if self.location is not None and self.location.source_line:
            parts.append(self.location.caret())
        if self.hint:
            parts.append(self.hint)
        return "\n".join(parts)


class ColumnNotFoundError(KeyError):
    """A table lacks a column that a resolver reads; a KeyError, as pyarrow raises for a missing column."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class OutputTypeError(TypeError):
    """A row returned a value that its resolver's return annotation does not allow."""


def with_article(word: str) -> str:
    """Return a word after "a" or "an", as its sound needs in messages: "an int", "a str"."""
    return f"{'an' if word[:1] in ('a', 'e', 'i', 'o', 'u') else 'a'} {word}"


def normalization_hint(name: str, column_names: list[str]) -> str:
    """Return a clause for a missing column that a column's name matches once both are NFKC-normalized, else "".

    Python stores identifiers, and so parameter names, in NFKC form, while a file's column
    names keep whatever form they were written in, so "höhe" may look the same and not match.
    """
    import unicodedata

    normalized_name = unicodedata.normalize("NFKC", name)
    for column in column_names:
        if column != name and unicodedata.normalize("NFKC", column) == normalized_name:
            return (
                f"; the column {column!r} differs from {name!r} only in its Unicode normalization, "
                f"so rename it to unicodedata.normalize('NFKC', name)"
            )
    return ""
