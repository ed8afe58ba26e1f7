"""Differential testing of datetime, date and timedelta resolvers against their plain Python functions.

Inputs are Arrow arrays of given types. The plain function gets each element as pyarrow's
`as_py()` converts it, computed here from the element's count of units, and an element that
Python cannot represent fails its row. Aware results are compared by UTC instant and zone, because
an Arrow timestamp holds only those.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from featurejit.resolver import JitResolver

EPOCH_NAIVE = datetime.datetime(1970, 1, 1)
EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
EPOCH_DATE = datetime.date(1970, 1, 1)
UNIT_NANOSECONDS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class InputError(Exception):
    """An Arrow element that Python's datetime types cannot hold."""


def tzinfo_of(zone: str) -> datetime.tzinfo:
    if zone[:1] in "+-":
        sign = 1 if zone[0] == "+" else -1
        return datetime.timezone(sign * datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    return ZoneInfo(zone)


def python_value(arrow_type: pa.DataType, count: int | None) -> Any:
    """Return the Python value of one element given as its int count of units, or raise InputError."""
    if count is None or not pa.types.is_temporal(arrow_type):
        return count
    if pa.types.is_date32(arrow_type):
        days = count
    elif pa.types.is_date64(arrow_type):
        days = count // 86_400_000
    else:
        nanoseconds = count * UNIT_NANOSECONDS[arrow_type.unit]
        if nanoseconds % 1000:
            raise InputError("nanoseconds")
        try:
            delta = datetime.timedelta(microseconds=nanoseconds // 1000)
            if pa.types.is_duration(arrow_type):
                return delta
            if arrow_type.tz is None:
                return EPOCH_NAIVE + delta
            return (EPOCH_UTC + delta).astimezone(tzinfo_of(arrow_type.tz))
        except OverflowError:
            raise InputError("out of range") from None
    try:
        return EPOCH_DATE + datetime.timedelta(days=days)
    except OverflowError:
        raise InputError("out of range") from None


def count_of(arrow_type: pa.DataType, value: Any) -> int | None:
    """Return the int count of units that stands for a Python value in an array of `arrow_type`."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    if pa.types.is_date32(arrow_type):
        return int((value - EPOCH_DATE).days)
    if pa.types.is_date64(arrow_type):
        return int((value - EPOCH_DATE).days) * 86_400_000
    if pa.types.is_duration(arrow_type):
        microseconds = value // datetime.timedelta(microseconds=1)
    elif value.tzinfo is None and arrow_type.tz is not None:
        microseconds = (value - EPOCH_NAIVE) // datetime.timedelta(microseconds=1)  # a UTC clock time
    else:
        epoch = EPOCH_NAIVE if value.tzinfo is None else EPOCH_UTC
        microseconds = (value - epoch) // datetime.timedelta(microseconds=1)
    return microseconds * 1000 // UNIT_NANOSECONDS[arrow_type.unit]


def outcome(function: Any, arrow_types: Sequence[pa.DataType], counts: Sequence[int | None]) -> tuple[str, Any]:
    """Return ("value", result) or ("error", exception class) for one row of element counts."""
    try:
        row = [python_value(arrow_type, count) for arrow_type, count in zip(arrow_types, counts, strict=True)]
    except InputError as error:
        return "error", OverflowError if str(error) == "out of range" else ValueError
    try:
        return "value", function(*row)
    except Exception as error:  # noqa: BLE001 - any CPython exception is an expected outcome
        return "error", type(error)


def stored_value(value: Any, output: type) -> tuple[str, Any]:
    """Return what the output column holds for a Python result, or ("error", class) if it cannot."""
    if value is None:
        return "value", None
    if output in (int, float, bool):
        if output is float and type(value) in (int, bool, float):
            return "value", float(value)
        if output is int and type(value) in (int, bool) and INT64_MIN <= value <= INT64_MAX:
            return "value", int(value)
        if output is bool and type(value) is bool:
            return "value", value
        return "error", OverflowError if type(value) is int else TypeError
    if type(value) is not output:
        return "error", TypeError
    if output is datetime.timedelta and not INT64_MIN <= value // datetime.timedelta(microseconds=1) <= INT64_MAX:
        return "error", OverflowError
    return "value", value


def same_result(expected: Any, actual: Any) -> bool:
    """Return whether a stored result equals CPython's: same type, aware datetimes by instant and zone."""
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, float):
        if math.isnan(expected):
            return math.isnan(actual)
        return expected == actual and math.copysign(1.0, expected) == math.copysign(1.0, actual)
    if isinstance(expected, datetime.datetime) and (expected.tzinfo is not None or actual.tzinfo is not None):
        if expected.tzinfo is None or actual.tzinfo is None:
            return False
        return expected.astimezone(datetime.UTC) == actual.astimezone(datetime.UTC) and zone_key(expected) == zone_key(actual)
    return bool(expected == actual)


def zone_key(value: datetime.datetime) -> str:
    key = getattr(value.tzinfo, "key", None)
    if key is not None:
        return str(key)
    offset = value.utcoffset()
    assert offset is not None
    minutes = offset // datetime.timedelta(minutes=1)
    return "UTC" if not minutes else f"{'+' if minutes > 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def check_temporal(
    resolver: JitResolver, rows: Sequence[Sequence[Any]], arrow_types: Sequence[pa.DataType], *, native: bool = True
) -> None:
    """A batch call over arrays of `arrow_types` gives CPython's value on every row, or its first error.

    A row contains Python values or int counts of units. The rows that raise are then left
    out and the rest checked again, so that errors do not hide the values.
    """
    if native:
        explanation = resolver.explain(show=False)
        assert explanation.native, f"{resolver.name} did not compile: {explanation.reason}"
    counts = [[count_of(arrow_type, value) for arrow_type, value in zip(arrow_types, row, strict=True)] for row in rows]
    check_counts(resolver, counts, arrow_types)
    safe = [row for row in counts if outcome(resolver.function, arrow_types, row)[0] == "value"]
    if len(safe) < len(counts):
        check_counts(resolver, safe, arrow_types)


def check_counts(resolver: JitResolver, counts: Sequence[Sequence[int | None]], arrow_types: Sequence[pa.DataType]) -> None:
    output = resolver.signature().result.python_type
    expected_column = []
    first_error: tuple[int, Any] | None = None
    for index, row in enumerate(counts):
        kind, value = outcome(resolver.function, arrow_types, row)
        if kind == "value":
            kind, value = stored_value(value, output)
        if kind == "error":
            first_error = first_error or (index, value)
            value = None
        expected_column.append(value)
    columns = [
        pa.array([row[position] for row in counts], pa.int32() if pa.types.is_date32(arrow_type) else pa.int64()).cast(arrow_type)
        for position, arrow_type in enumerate(arrow_types)
    ]
    if first_error is not None:
        index, error_class = first_error
        try:
            resolver(*columns)
        except error_class as error:
            reported = " ".join([str(error), *getattr(error, "__notes__", [])])
            assert f"row {index} " in reported, f"{resolver.name}: the error does not name row {index}: {reported}"
            return
        except Exception as error:  # noqa: BLE001
            raise AssertionError(f"{resolver.name}: row {index} raised {error!r}, CPython raises {error_class.__name__}") from error
        raise AssertionError(f"{resolver.name}: the batch did not raise {error_class.__name__} for row {index}")
    result = resolver(*columns)
    actual = read_results(result)
    assert len(actual) == len(counts)
    for row, expected, got in zip(counts, expected_column, actual, strict=True):
        shown = [python_value(arrow_type, count) for arrow_type, count in zip(arrow_types, row, strict=True)]
        if expected is None:
            assert got is None, f"{resolver.name}{tuple(shown)} gave {got!r} in a batch, expected null"
        elif isinstance(expected, datetime.date | datetime.timedelta):
            assert stored_count(result.type, expected) == got, (
                f"{resolver.name}{tuple(shown)} stored {got!r} in {result.type}, CPython gives {expected!r}"
            )
        else:
            assert same_result(expected, got), f"{resolver.name}{tuple(shown)} gave {got!r}, CPython gives {expected!r}"


def read_results(result: pa.Array) -> list[Any]:
    """Return a result column's values, as int counts of units for temporal columns.

    Counts avoid pyarrow's conversion, which fails for aware results whose UTC instant lies
    just outside datetime's range although their clock time lies inside it.
    """
    if pa.types.is_timestamp(result.type) or pa.types.is_duration(result.type):
        return result.cast(pa.int64()).to_pylist()
    if pa.types.is_date32(result.type):
        return result.cast(pa.int32()).to_pylist()
    return result.to_pylist()


def stored_count(arrow_type: pa.DataType, expected: Any) -> int | None | str:
    """Return the count a column of `arrow_type` must hold for a CPython result, or a mismatch note."""
    if isinstance(expected, datetime.datetime):
        zone = None if expected.tzinfo is None else zone_key(expected)
        if arrow_type.tz != zone:
            return f"a result in zone {zone}"
    return count_of(arrow_type, expected)
