"""Parsing and printing of resolver IR as MLIR text."""

from __future__ import annotations

import io
import re
import unicodedata

from xdsl.context import Context
from xdsl.dialects.builtin import Builtin, ModuleOp
from xdsl.dialects.func import Func
from xdsl.dialects.scf import Scf
from xdsl.ir import Dialect
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import ParseError
from xdsl.utils.lexer import Input, Span

from featurejit.ir.datetimes import DATETIME_OPS
from featurejit.ir.dialect import SCALAR_OPS, TYPES
from featurejit.ir.strings import STRING_OPS

Py = Dialect("py", [*SCALAR_OPS, *STRING_OPS, *DATETIME_OPS], TYPES)


def make_context() -> Context:
    """Create a context with every dialect that resolver IR uses loaded."""
    context = Context()
    for dialect in (Builtin, Func, Scf, Py):
        context.load_dialect(dialect)
    return context


def find_unclosed_string(text: str) -> int | None:
    """Return the offset in `text` of a string literal that its line does not close, if any.

    MLIR string literals end on the line where they start. xDSL 0.75's lexer backtracks
    exponentially on one that does not, taking hours for a few dozen characters, so such
    text is rejected before it reaches the parser.
    """
    offset = 0
    for line in text.splitlines(keepends=True):
        opening: int | None = None
        escaped = False
        for column, character in enumerate(line):
            if opening is None:
                if character == "/" and line[column + 1 : column + 2] == "/":
                    break  # the rest of the line is a comment
                if character == '"':
                    opening = column
            elif escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                opening = None
        if opening is not None:
            return offset + opening
        offset += len(line)
    return None


def parse_module(text: str, source_name: str = "<ir>") -> ModuleOp:
    """Parse MLIR text into a verified module."""
    unclosed = find_unclosed_string(text)
    if unclosed is not None:
        span = Span(unclosed, unclosed + 1, Input(text, source_name))
        raise ParseError(span, "the string literal that starts here has no closing quote")
    module = Parser(make_context(), text, source_name).parse_module()
    module.verify()
    return module


def print_module(module: ModuleOp) -> str:
    """Print a module as MLIR text that `parse_module` reads back."""
    stream = io.StringIO()
    Printer(stream=stream).print_op(module)
    return stream.getvalue() + "\n"


NOT_IN_VALUE_NAMES = re.compile(r"[^A-Za-z0-9_$.-]")


def value_name(name: str) -> str:
    """Return a name for an SSA value that MLIR text can hold: `name` in ASCII, such as hohe for höhe.

    xDSL's parser reads value names of the characters [A-Za-z0-9_$.-] only, not starting with
    a digit, while Python identifiers and Arrow column names may hold any letter. Accents are
    dropped, and other characters become underscores. The printer numbers names that repeat.
    """
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_name = NOT_IN_VALUE_NAMES.sub("_", "".join(c for c in decomposed if not unicodedata.combining(c)))
    first = ascii_name[:1]
    return ascii_name if first and (first.isalpha() or first in "_$.-") else f"_{ascii_name}"
