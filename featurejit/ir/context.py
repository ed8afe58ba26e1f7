"""Parsing and printing of resolver IR as MLIR text."""

from __future__ import annotations

import io

from xdsl.context import Context
from xdsl.dialects.builtin import Builtin, ModuleOp
from xdsl.dialects.func import Func
from xdsl.dialects.scf import Scf
from xdsl.parser import Parser
from xdsl.printer import Printer

from featurejit.ir.dialect import Py


def make_context() -> Context:
    """Create a context with every dialect that resolver IR uses loaded."""
    context = Context()
    for dialect in (Builtin, Func, Scf, Py):
        context.load_dialect(dialect)
    return context


def parse_module(text: str, source_name: str = "<ir>") -> ModuleOp:
    """Parse MLIR text into a verified module."""
    module = Parser(make_context(), text, source_name).parse_module()
    module.verify()
    return module


def print_module(module: ModuleOp) -> str:
    """Print a module as MLIR text that `parse_module` reads back."""
    stream = io.StringIO()
    Printer(stream=stream).print_op(module)
    return stream.getvalue() + "\n"
