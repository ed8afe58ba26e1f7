"""Rows that raise for certain: with on_error="null" the kernel makes zero-divisor rows null itself.

Each resolver runs over edge values against its plain function, where a row that raises is
null. The counts check which rows the interpreter ran: only rows with a zero divisor and
no earlier inexact step skip it.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from featurejit import fuse, jit_resolver
from featurejit.settings import settings
from tests.differential import ARROW_TYPES, EDGE_FLOATS, EDGE_INTS, column_value, grid, outcome, same_value


@jit_resolver(on_error="null")
def branchy(a: float, b: float, c: float) -> float:
    return (a * 1.07 + b) / (c + 1.0) if a > b else a - b


@jit_resolver(on_error="null")
def floor_and_mod(a: int, b: int) -> int:
    return a // b + a % b


@jit_resolver(on_error="null")
def product_over(a: int, b: int, c: int) -> int:
    return (a * b) // c


@jit_resolver(on_error="null")
def unused_quotient(a: int, b: int) -> int:
    quotient = a / b  # noqa: F841 - CPython still divides, and raises on b == 0
    return a


@jit_resolver(on_error="null")
def guarded(a: float, b: float) -> float:
    if b == 0.0:
        return -1.0
    return a / b


@jit_resolver(on_error="null")
def optional_divisor(a: float, b: float | None) -> float | None:
    if b is None:
        return None
    return a % b


@jit_resolver(on_error="null")
def quotient_is_large(a: int, b: int) -> bool:
    return a / b > 1.0


@jit_resolver(on_error="null")
def quotient_text(a: int, b: int) -> str:
    return f"{a // b}"


def expected_column(resolver: Any, rows: Sequence[Sequence[Any]]) -> list[Any]:
    """Return the plain function's value per row, None where it raises or the column cannot hold it."""
    output = resolver.signature().result.python_type
    expected = []
    for row in rows:
        kind, value = outcome(resolver.function, row)
        if kind == "value":
            kind, value = column_value(value, output)
        expected.append(value if kind == "value" else None)
    return expected


def check_nulls_where_cpython_raises(resolver: Any, rows: Sequence[Sequence[Any]], types: Sequence[type]) -> pa.Array:
    columns = [pa.array([row[position] for row in rows], type=ARROW_TYPES[type_]) for position, type_ in enumerate(types)]
    actual = resolver(*columns)
    for row, expected, got in zip(rows, expected_column(resolver, rows), actual.to_pylist(), strict=True):
        if expected is None:
            assert got is None, f"{resolver.name}{tuple(row)} gave {got!r}, expected null"
        else:
            assert same_value(expected, got), f"{resolver.name}{tuple(row)} gave {got!r}, CPython gives {expected!r}"
    return actual


def error_rows(resolver: Any, rows: Sequence[Sequence[Any]]) -> int:
    """Return the number of rows that raise in CPython or give a value the column cannot hold."""
    return sum(value is None for value in expected_column(resolver, rows))


def test_branchy_zero_divisor_rows_skip_interpreter() -> None:
    rows = grid(float, float, float)
    check_nulls_where_cpython_raises(branchy, rows, [float, float, float])
    explanation = branchy.explain(show=False)
    assert explanation.last_error_rows == error_rows(branchy, rows)
    assert explanation.last_slow_path_rows == 0


def test_int_floor_and_mod_edges() -> None:
    rows = grid(int, int)
    check_nulls_where_cpython_raises(floor_and_mod, rows, [int, int])
    explanation = floor_and_mod.explain(show=False)
    assert explanation.last_error_rows == error_rows(floor_and_mod, rows)
    # Zero divisors skip the interpreter. Rows with a step outside int64 (INT64_MIN // -1,
    # say) need it.
    assert explanation.last_slow_path_rows == sum(b != 0 and not fits_int64(a, b) for a, b in rows)


def fits_int64(a: int, b: int) -> bool:
    """Return whether every step of a // b + a % b fits int64, so that the kernel computes it."""
    steps = [a // b, a % b, a // b + a % b]
    return all(-(2**63) <= step < 2**63 for step in steps)


def test_overflow_before_zero_divisor_goes_to_interpreter() -> None:
    big = 2**62
    rows = [(big, 4, 0), (big, 4, 3), (3, 4, 0), (3, 4, 5), (-big, 4, -7)]
    check_nulls_where_cpython_raises(product_over, rows, [int, int, int])
    explanation = product_over.explain(show=False)
    assert explanation.last_error_rows == 2
    # The products of big * 4 overflow int64, so those three rows run in the interpreter.
    assert explanation.last_slow_path_rows == 3


def test_unused_quotient_still_raises() -> None:
    rows = grid(int, int)
    actual = check_nulls_where_cpython_raises(unused_quotient, rows, [int, int])
    assert actual.null_count == sum(b == 0 for _, b in rows)


def test_guarded_division_never_nulls() -> None:
    rows = grid(float, float)
    actual = check_nulls_where_cpython_raises(guarded, rows, [float, float])
    assert actual.null_count == 0
    assert guarded.explain(show=False).last_error_rows == 0


def test_optional_divisor_with_none() -> None:
    rows = [(a, b) for a in EDGE_FLOATS for b in [*EDGE_FLOATS, None]]
    columns = [pa.array([row[0] for row in rows]), pa.array([row[1] for row in rows], type=pa.float64())]
    actual = optional_divisor(*columns).to_pylist()
    for row, expected, got in zip(rows, expected_column(optional_divisor, rows), actual, strict=True):
        assert (got is None) if expected is None else same_value(expected, got), f"{row}: {got!r} against {expected!r}"
    assert optional_divisor.explain(show=False).last_slow_path_rows == 0


@pytest.mark.parametrize("resolver", [quotient_is_large, quotient_text], ids=lambda r: r.name)
def test_bool_and_str_outputs_null_raising_rows(resolver: Any) -> None:
    rows = [(a, b) for a in EDGE_INTS for b in (0, 1, -1, 3)]
    actual = check_nulls_where_cpython_raises(resolver, rows, [int, int])
    assert actual.null_count == sum(b == 0 for _, b in rows)


def test_on_error_raise_still_names_the_row() -> None:
    @jit_resolver
    def ratio(a: float, b: float) -> float:
        return a / b

    with pytest.raises(ZeroDivisionError, match=r"row 2 of .*ratio"):
        ratio(pa.array([1.0, 2.0, 3.0, 4.0]), pa.array([1.0, 2.0, 0.0, 0.0]))


def test_fused_single_resolver_uses_interpreter_for_raising_rows() -> None:
    table = pa.table({"a": [1.0, 5.0, 2.0], "b": [0.0, 1.0, 3.0], "c": [0.0, -1.0, 0.0]})
    result = fuse(branchy)(table)
    assert result.column("branchy").to_pylist() == [(1.07 + 0.0) / 1.0, None, 2.0 - 3.0]


def test_sliced_chunked_and_threaded_calls_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = np.random.default_rng(5)
    rows = 200_003
    a, b, c = (generator.standard_normal(rows) for _ in range(3))
    c[generator.random(rows) < 0.01] = -1.0
    arrays = [pa.chunked_array([column[:70_001], column[70_001:]]).slice(7, rows - 20) for column in (a, b, c)]
    monkeypatch.setattr(settings, "threads", 1)
    single = branchy(*arrays)
    single_errors = branchy.explain(show=False).last_error_rows
    monkeypatch.setattr(settings, "threads", 4)
    monkeypatch.setattr(settings, "parallel_min_us", 0)  # run on several threads however short
    monkeypatch.setattr(settings, "morsel_rows", 1000)
    several = branchy(*arrays)
    assert single.equals(several)
    assert branchy.explain(show=False).last_error_rows == single_errors
    sliced = [column.to_numpy() for column in arrays]
    raising = (sliced[0] > sliced[1]) & (sliced[2] + 1.0 == 0.0)
    assert single_errors == int(raising.sum()) > 0
    assert several.is_null().to_numpy(zero_copy_only=False).tolist() == raising.tolist()


def test_fused_outputs_match_separate_calls() -> None:
    rows = grid(int, int)
    table = pa.table({"a": pa.array([a for a, _ in rows]), "b": pa.array([b for _, b in rows])})
    fused = fuse(floor_and_mod, quotient_is_large, quotient_text, unused_quotient)
    result = fused(table)
    for resolver in (floor_and_mod, quotient_is_large, quotient_text, unused_quotient):
        column = result.column(resolver.name).to_pylist()
        assert column == resolver(table.column("a"), table.column("b")).to_pylist(), resolver.name
        expected = expected_column(resolver, rows)
        assert [value is None for value in column] == [value is None for value in expected], resolver.name


@jit_resolver(on_error="null")
def ratio_ab(a: int, b: int) -> float:
    return a / b


@jit_resolver(on_error="null")
def guarded_reader(ratio_ab: float | None, a: int, b: int) -> float:
    if ratio_ab is None:
        return 0.0
    return a / b + ratio_ab


@pytest.mark.parametrize("outputs", [None, ["guarded_reader"]], ids=["both", "reader only"])
def test_reader_of_raising_resolver_gets_none(outputs: list[str] | None) -> None:
    table = pa.table({"a": [6, 5, 0], "b": [3, 0, 0]})
    result = fuse(ratio_ab, guarded_reader, outputs=outputs)(table)
    assert result.column("guarded_reader").to_pylist() == [4.0, 0.0, 0.0]
    if outputs is None:
        assert result.column("ratio_ab").to_pylist() == [2.0, None, None]


def test_fused_log_counts_results_per_resolver(caplog: pytest.LogCaptureFixture) -> None:
    table = pa.table({"a": [6, 5, 0], "b": [3, 0, 0]})
    with caplog.at_level(logging.WARNING, logger="featurejit"):
        fuse(ratio_ab, floor_and_mod)(table)
    assert "4 resolver results in 3 rows raised" in caplog.text
    assert "ratio_ab and floor_and_mod (in a fused call of 2 resolvers)" in caplog.text


@jit_resolver
def sum_ab(a: int, b: int) -> int:
    return a + b


def test_fused_log_names_only_nulling_members(caplog: pytest.LogCaptureFixture) -> None:
    table = pa.table({"a": [6, 5, 0], "b": [3, 0, 0]})
    with caplog.at_level(logging.WARNING, logger="featurejit"):
        fuse(ratio_ab, sum_ab)(table)
    assert "ratio_ab (in a fused call of 2 resolvers): 2 resolver results in 3 rows raised" in caplog.text
    assert "sum_ab" not in caplog.text


def test_fused_log_of_one_resolver_is_plain(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="featurejit"):
        fuse(ratio_ab)(pa.table({"a": [6, 5, 0], "b": [3, 0, 0]}))
    assert "ratio_ab: 2 of 3 rows raised and were set to null (on_error='null'); later calls log this" in caplog.text


@jit_resolver(on_error="null")
def later_date(day: datetime.date, n: int) -> datetime.date:
    return day if 10 // n > 1 else day + datetime.timedelta(days=1)


def test_date_output_nulls_raising_rows() -> None:
    days = [datetime.date(2024, 1, 1), datetime.date(1969, 12, 31), datetime.date(2024, 2, 29), datetime.date(1, 1, 1)]
    divisors = [0, 3, 20, -1]
    result = later_date(pa.array(days), pa.array(divisors))
    assert result.to_pylist() == [None, datetime.date(1969, 12, 31), datetime.date(2024, 3, 1), datetime.date(1, 1, 2)]
    explanation = later_date.explain(show=False)
    assert explanation.last_error_rows == 1


@jit_resolver(on_error="null")
def tenth_of(x: int) -> int:
    return 10 // x


@jit_resolver
def unused_sum(tenth_of: int | None) -> float:
    _ = tenth_of + 1  # raises TypeError where tenth_of is None, though the result does not use it
    return 0.0


@jit_resolver
def asserted_present(tenth_of: int | None) -> float:
    assert tenth_of is not None
    return 0.0


@jit_resolver(on_error="null")
def unused_sum_or_null(tenth_of: int | None) -> float:
    _ = tenth_of + 1
    return 1.0


@pytest.mark.parametrize(
    ("reader", "error"), [(unused_sum, TypeError), (asserted_present, AssertionError)], ids=["unused use", "assert"]
)
def test_reader_of_nulled_value_raises(reader: Any, error: type[Exception]) -> None:
    # CPython gives the reader None for tenth_of's failed row 1; its result does not depend on it.
    table = pa.table({"x": [5, 0]})
    with pytest.raises(error, match=rf"row 1 of {reader.name}: tenth_of=None"):
        reader(tenth_of(table["x"]))
    with pytest.raises(error, match=rf"row 1 of {reader.name}: tenth_of=None"):
        fuse(tenth_of, reader)(table)


def test_null_reader_of_nulled_value() -> None:
    result = fuse(tenth_of, unused_sum_or_null)(pa.table({"x": [5, 0, 2]}))
    assert result.column("tenth_of").to_pylist() == [2, None, 5]
    assert result.column("unused_sum_or_null").to_pylist() == [1.0, None, 1.0]


def test_assertion_without_message_names_row() -> None:
    from featurejit.runtime.slow_path import located_error

    # pytest rewrites the asserts of test files, so this builds the error of a bare assert.
    located = located_error(AssertionError(), "asserted_present", 1, ["tenth_of"], [None])
    assert str(located) == "(row 1 of asserted_present: tenth_of=None)"
