"""Differential testing: a compiled resolver against its plain Python function, row by row."""

from __future__ import annotations

import importlib.util
import itertools
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa

from featurejit.resolver import JitResolver

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

EDGE_INTS = [0, 1, -1, 2, -2, 3, -7, 10, 2**31, -(2**31) - 1, 2**53, 2**53 + 1, -(2**53) - 1, 10**18, INT64_MAX, INT64_MIN]
EDGE_FLOATS = [
    0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.1, 2.675, 1e16, 9007199254740993.0, 1e308, -1e308, 5e-324,
    math.inf, -math.inf, math.nan,
]
EDGE_BOOLS = [True, False]
EDGE_STRINGS = [
    "", "a", "abc", "ABC", "Hello World", "  padded  ", "\t x \n", "a,b,,c", ",", "aaa", "straße", "héllo",
    "日本語", "🎉party", "e\u0301", "\xa0x\u3000", "123", "-42", " 7_0 ", "1e5", "3.25", " -0.5 ", "inf",
    "9223372036854775808", "-9223372036854775808", "١٢٣", "ǅ", "İ", "x" * 70_000, "\x1c12\x1f", "7\x85",
]
EDGES: dict[type, list[Any]] = {int: EDGE_INTS, float: EDGE_FLOATS, bool: EDGE_BOOLS, str: EDGE_STRINGS}
ARROW_TYPES = {int: pa.int64(), float: pa.float64(), bool: pa.bool_(), str: pa.string()}


def import_source(folder: Path, name: str, source: str) -> ModuleType:
    """Write generated resolvers to `folder`/`name`.py and import it, so that their source can be read."""
    path = folder / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def check_fallback(resolver: JitResolver, reason: str, values: Sequence[Any]) -> None:
    """Check that a one-parameter resolver runs in the interpreter for `reason`, with CPython's results."""
    explanation = resolver.explain(show=False)
    assert not explanation.native, f"{resolver.name} compiled, but {reason!r} was expected"
    assert reason in explanation.reason
    assert resolver(pa.array(values)).to_pylist() == [resolver.function(value) for value in values]


def outcome(function: Any, row: Sequence[Any]) -> tuple[str, Any]:
    """Return ("value", result) or ("error", exception class) for one plain Python call."""
    try:
        return "value", function(*row)
    except Exception as error:  # noqa: BLE001 - any CPython exception is an expected outcome
        return "error", type(error)


def same_value(expected: Any, actual: Any) -> bool:
    """Return whether two Python results are identical: same type, and same bits for floats."""
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, float):
        if math.isnan(expected):
            return math.isnan(actual)
        return expected == actual and math.copysign(1.0, expected) == math.copysign(1.0, actual)
    return bool(expected == actual)


def column_value(value: Any, output: type) -> tuple[str, Any]:
    """Return what the output column holds for a Python result, or ("error", class) if it cannot."""
    if value is None:
        return "value", None
    if output is float and type(value) in (int, bool, float):
        return "value", float(value)
    if output is int and type(value) in (int, bool):
        if not INT64_MIN <= value <= INT64_MAX:
            return "error", OverflowError
        return "value", int(value)
    if output is bool and type(value) is bool:
        return "value", value
    if output is str and type(value) is str:
        return "value", value
    return "error", TypeError


def grid(*types: type, with_none: bool = False) -> list[tuple[Any, ...]]:
    """Return every combination of edge values for the given parameter types."""
    pools = [EDGES[type_] + ([None] if with_none else []) for type_ in types]
    return list(itertools.product(*pools))


def check_scalar_calls(resolver: JitResolver, rows: Sequence[Sequence[Any]]) -> None:
    """Each scalar call returns CPython's exact value or raises CPython's exception class."""
    function = resolver.function
    for row in rows:
        kind, expected = outcome(function, row)
        if kind == "error":
            try:
                actual = resolver(*row)
            except expected:
                continue
            except Exception as error:  # noqa: BLE001
                raise AssertionError(
                    f"{resolver.name}{tuple(row)} raised {error!r}, CPython raises {expected.__name__}"
                ) from error
            raise AssertionError(f"{resolver.name}{tuple(row)} returned {actual!r}, CPython raises {expected.__name__}")
        actual = resolver(*row)
        assert same_value(expected, actual), f"{resolver.name}{tuple(row)} = {actual!r}, CPython gives {expected!r}"


def check_batch_call(resolver: JitResolver, rows: Sequence[Sequence[Any]], types: Sequence[type]) -> None:
    """A batch call gives CPython's value on every row, or raises the first failing row's error."""
    function = resolver.function
    output = resolver.signature().result.python_type
    expected_column = []
    first_error: tuple[int, Any] | None = None
    for index, row in enumerate(rows):
        kind, value = outcome(function, row)
        if kind == "value":
            kind, value = column_value(value, output)
        if kind == "error":
            if first_error is None:
                first_error = (index, value)
            value = None
        expected_column.append(value)
    columns = [pa.array([row[position] for row in rows], type=ARROW_TYPES[type_]) for position, type_ in enumerate(types)]
    if first_error is not None:
        index, error_class = first_error
        try:
            resolver(*columns)
        except error_class as error:
            reported = " ".join([str(error), *getattr(error, "__notes__", [])])
            assert f"row {index} " in reported, f"{resolver.name}: the error does not name row {index}: {reported}"
            return
        raise AssertionError(f"{resolver.name}: the batch did not raise {error_class.__name__} for row {index}")
    actual = resolver(*columns).to_pylist()
    assert len(actual) == len(rows)
    for row, expected, got in zip(rows, expected_column, actual, strict=True):
        if expected is None:
            assert got is None, f"{resolver.name}{tuple(row)} gave {got!r} in a batch, expected null"
        else:
            assert same_value(expected, got), f"{resolver.name}{tuple(row)} gave {got!r} in a batch, CPython gives {expected!r}"


def check_resolver(resolver: JitResolver, rows: Sequence[Sequence[Any]], types: Sequence[type]) -> None:
    """Check scalar and batch calls against CPython, and that the resolver compiled natively."""
    explanation = resolver.explain(show=False)
    assert explanation.native, f"{resolver.name} did not compile: {explanation.reason}"
    check_scalar_calls(resolver, rows)
    check_batch_call(resolver, rows, types)
    safe_rows = [row for row in rows if outcome(resolver.function, row)[0] == "value"]
    if len(safe_rows) < len(rows):
        check_batch_call(resolver, safe_rows, types)
    # A batch raises at its first failing row only, so each failing row also runs alone.
    for row in rows:
        if outcome(resolver.function, row)[0] == "error":
            check_batch_call(resolver, [row], types)
