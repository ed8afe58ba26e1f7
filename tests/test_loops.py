"""for loops over fixed sequences, compiled by unrolling, against CPython row for row."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import featurejit as fj
from tests.differential import EDGE_FLOATS, EDGE_INTS, check_fallback, check_resolver, import_source

LEVELS = (10, 100, 1000)
BANDS = ((0.0, "none"), (1.5, "low"), (math.inf, "high"))
EMPTY = ()


@fj.jit_resolver
def bucket(x: int) -> int:
    for index, level in enumerate(LEVELS):
        if x < level:
            return index
    return len(LEVELS)


@fj.jit_resolver
def band(x: float) -> str:
    for limit, label in BANDS:
        if x <= limit:
            return label
    return "above every limit"


@fj.jit_resolver
def sum_of_squares(a: int, b: int, c: int | None) -> int:
    total = 0
    for value in (a, b, c if c is not None else 0):
        total += value * value
    return total


@fj.jit_resolver
def series(x: float) -> float:
    total = 0.0
    for k in range(1, 4):
        total += x**k / k
    return total


@fj.jit_resolver
def even_pairs(x: int) -> int:
    count = 0
    for i in range(3):
        for j in range(i):
            if (x + i * j) % 2 == 0:
                count += 1
    return count


@fj.jit_resolver
def last_item(x: int) -> int:
    for k in range(10, 0, -3):
        x += k
    return x * k


@fj.jit_resolver
def divides_first(a: int, b: int) -> int:
    total = 0
    for value in (a, a // b):  # the tuple is built before the loop, so b == 0 raises at once
        total += value
    return total


@fj.jit_resolver
def over_empty(x: int) -> int:
    for _ in EMPTY:
        x = -x
    for _ in range(0):
        x = -x
    return x


@fj.jit_resolver
def first_negative(a: float | None, b: float | None) -> float | None:
    for value in (a, b):
        if value is not None and value < 0:
            return value
    return None


STEPS = 3


@fj.jit_resolver
def computed_bounds(x: int) -> int:
    for k in range(STEPS + 1):
        x += k
    for k in range(2**62, 2**62 + 2):
        x = x % 1000 + k % 7
    for k in range(-STEPS, 0):
        x -= k
    return x


PAIRS = [(x, y) for x in EDGE_INTS for y in (0, 3, -3)]
OPTIONAL_FLOATS = [*EDGE_FLOATS, None]


@pytest.mark.parametrize(
    ("resolver", "rows", "types"),
    [
        (bucket, [(value,) for value in [*EDGE_INTS, 9, 10, 99, 100, 999, 1000]], [int]),
        (band, [(value,) for value in [*EDGE_FLOATS, 1.5, 1.4999999999999998]], [float]),
        (sum_of_squares, [(a, b, c) for a in EDGE_INTS[:6] for b in (0, 2**31, 3037000500) for c in (None, -1, 2**32)], [int, int, int]),
        (series, [(value,) for value in EDGE_FLOATS], [float]),
        (even_pairs, [(value,) for value in EDGE_INTS], [int]),
        (last_item, [(value,) for value in EDGE_INTS], [int]),
        (divides_first, PAIRS, [int, int]),
        (over_empty, [(value,) for value in EDGE_INTS], [int]),
        (computed_bounds, [(value,) for value in EDGE_INTS], [int]),
        (first_negative, [(a, b) for a in OPTIONAL_FLOATS for b in OPTIONAL_FLOATS], [float, float]),
    ],
    ids=lambda value: getattr(value, "name", ""),
)
def test_loop_matches_python(resolver: Any, rows: list[tuple[Any, ...]], types: list[type]) -> None:
    check_resolver(resolver, rows, types)


def test_loop_over_sliced_and_chunked_arrays() -> None:
    values = pa.array([5, None, 50, 500, 5000, -1], pa.int64())
    expected = [None if value is None else bucket.function(value) for value in values.to_pylist()]
    chunked = pa.chunked_array([values.slice(0, 2), values.slice(2)])
    with pytest.raises(TypeError):
        bucket(values)
    lenient = fj.jit_resolver(on_error="null")(bucket.function)
    assert lenient(values.slice(2)).to_pylist() == expected[2:]
    assert lenient(chunked).to_pylist() == expected
    assert lenient(pa.array([], pa.int64())).to_pylist() == []


@pytest.mark.parametrize(
    ("loop", "reason"),
    [
        ("for v in (1, 2):\n        if v == x:\n            break", "break is not compiled"),
        ("for v in (1, 2):\n        if v == x:\n            continue\n        x += v", "continue is not compiled"),
        ("for v in (1, 2):\n        x += v\n    else:\n        x = 0", "for loops with an else block are not compiled"),
        ("for v in LISTED:\n        x += v", "a loop over the list LISTED is not compiled"),
        ("for v in range(x):\n        x += v", "range() in a loop is compiled with arguments of int literals and constants"),
        ("for v in range(100):\n        x += v", "the loop has 100 items; loops are compiled over up to 64"),
        ("for v in range(1_000_000_000_000):\n        return v", "the loop has 1,000,000,000,000 items"),
        ("for v in 'abc':\n        x += len(v)", "a loop over this iterable is not compiled"),
        ("for v in ((1, 2), [3]):\n        x += 1", "lists are not compiled"),
        ("for v in range(9223372036854775808):\n        return v", "the loop has 9,223,372,036,854,775,808 items"),
        ("for a, b in ('ab', 'cd'):\n        x += len(a)", "the loop unpacks each item into names, but an item is not a tuple"),
        (
            "for i in range(64):\n        for j in (1, 2, 3):\n            if x == i * j:\n                return i",
            "the resolver nests more than 128 if statements that return, counting each loop item",
        ),
        (
            "for i in range(64):\n        for j in range(64):\n            x += i * j",
            "the resolver has more than 5000 statements to compile",
        ),
    ],
    ids=[
        "break", "continue", "else", "list-constant", "computed-range", "too-long", "huge-range", "str", "list-item",
        "past-maxsize", "not-a-tuple", "nested-returns", "statements",
    ],
)
def test_unsupported_loop_falls_back(tmp_path: Path, loop: str, reason: str) -> None:
    source = f"import featurejit as fj\n\nLISTED = [1, 2]\n\n\n@fj.jit_resolver\ndef looped(x: int) -> int:\n    {loop}\n    return x\n"
    module = import_source(tmp_path, f"loop_{abs(hash(loop))}", source)
    check_fallback(module.looped, reason, [1, 2, 3])
