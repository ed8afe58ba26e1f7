"""Reading a resolver's source and mapping AST nodes back to the user's file."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from featurejit.errors import CompileError, SourceLocation
from featurejit.source_lines import lines_of


@dataclass(frozen=True)
class FunctionSource:
    """The parsed `def` of a resolver and where its text sits in the user's file."""

    function: Callable[..., Any]
    node: ast.FunctionDef
    path: str
    first_line: int
    indent: int
    file_lines: list[str]  # the file as the compiler reads it (see featurejit.source_lines)

    def location(self, node: ast.AST) -> SourceLocation:
        """Return the file position of `node`, an AST node of this function."""
        line = self.first_line + getattr(node, "lineno", 1) - 1
        column = getattr(node, "col_offset", 0) + self.indent
        end_column = None
        if getattr(node, "end_lineno", None) == getattr(node, "lineno", None):
            end_column = getattr(node, "end_col_offset", 0) + self.indent
        text = self.file_lines[line - 1] if 0 < line <= len(self.file_lines) else ""
        return SourceLocation(self.path, line, column, text, end_column)


def read_function_source(function: Callable[..., Any]) -> FunctionSource:
    """Parse the source of `function`; raise CompileError when the source is unavailable."""
    name = getattr(function, "__qualname__", repr(function))
    try:
        path = inspect.getsourcefile(function) or "<unknown>"
        # The def as Python read it at import, even if the file changed since.
        file_lines = lines_of(function)
        first_line = function.__code__.co_firstlineno
        lines = inspect.getblock(file_lines[first_line - 1 :])
        if not lines:
            raise OSError("could not get source code")
    except (OSError, TypeError, AttributeError, IndexError) as error:
        raise CompileError(
            f"the source of {name} is not available ({error})",
            hint="Define resolvers in a file, not in an interactive session or with exec().",
        ) from None
    text = "".join(lines)
    dedented = textwrap.dedent(text)
    indent = len(lines[0]) - len(lines[0].lstrip()) if dedented != text else 0
    try:
        module = ast.parse(dedented)
    except SyntaxError as error:
        raise CompileError(f"the source of {name} could not be parsed: {error.msg}") from None
    definitions = [node for node in module.body if isinstance(node, ast.FunctionDef)]
    if not definitions:
        raise CompileError(
            f"{name} is not defined with a def statement",
            hint="Lambdas and async functions cannot be resolvers; write a plain def.",
        )
    return FunctionSource(function, definitions[0], path, max(first_line, 1), indent, file_lines)
