"""Datetime, date and timedelta values between Arrow arrays, kernels and Python.

Kernels read Arrow `timestamp`, `date32`, `date64` and `duration` arrays without a copy. The
slow path turns elements into Python values as pyarrow's `as_py()` does: a timestamp with a
zone becomes an aware datetime whose tzinfo is a `zoneinfo.ZoneInfo` or a `datetime.timezone`,
and a date64 keeps the whole days before it. An element that Python cannot represent (nanoseconds
that are not whole microseconds, a year outside 1 to 9999, a timedelta beyond 999999999 days)
becomes an InvalidValue, which fails its row with the reason. Results are stored as
`timestamp[us]` (with the zone of the result for aware datetimes), `date32` and `duration[us]`.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from featurejit.errors import OutputTypeError
from featurejit.runtime.memory import address, count_bits
from featurejit.zones import NAIVE, tzinfo_of_arrow, zone_hint, zone_of_arrow, zone_of_tzinfo

EPOCH_NAIVE = datetime.datetime(1970, 1, 1)
EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
EPOCH_DATE = datetime.date(1970, 1, 1)
EPOCH_ORDINAL = EPOCH_DATE.toordinal()
MICROSECOND = datetime.timedelta(microseconds=1)
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
NANOSECONDS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}

TEMPORAL_ARROW_TYPES: dict[type, pa.DataType] = {
    datetime.datetime: pa.timestamp("us"),
    datetime.date: pa.date32(),
    datetime.timedelta: pa.duration("us"),
}


def temporal_arrow_info(arrow_type: pa.DataType) -> tuple[str, type] | None:
    """Return (kernel layout, Python type) of a timestamp, date or duration type, or None for another type."""
    if pa.types.is_timestamp(arrow_type):
        return f"timestamp_{arrow_type.unit}", datetime.datetime
    if pa.types.is_duration(arrow_type):
        return f"duration_{arrow_type.unit}", datetime.timedelta
    if pa.types.is_date32(arrow_type):
        return "date32", datetime.date
    if pa.types.is_date64(arrow_type):
        return "date64", datetime.date
    return None


def zone_of_array_type(arrow_type: pa.DataType) -> str:
    """Return the zone name of a timestamp type ("" for naive), and "" for other types."""
    return zone_of_arrow(arrow_type.tz) if pa.types.is_timestamp(arrow_type) else NAIVE


def check_zone(arrow_type: pa.DataType, name: str) -> None:
    """Raise ValueError for a timestamp type whose zone zoneinfo does not know or whose offset is out of range, naming the parameter."""
    if pa.types.is_timestamp(arrow_type) and arrow_type.tz:
        try:
            if zone_of_arrow(arrow_type.tz) == arrow_type.tz:
                tzinfo_of_arrow(arrow_type.tz)
        except ValueError as error:
            raise ValueError(f"parameter {name!r}: {error}; convert the column to a known zone or to UTC") from None


# --------------------------------------------------------------------------------------
# Python scalars as kernel arguments
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedScalar:
    """A datetime, date or timedelta scalar as a one-element array a kernel reads on every row.

    `unsupported` gives the reason when no kernel can take the value, so that the call runs
    in the interpreter.
    """

    array: pa.Array
    zone: str
    unsupported: str = ""


def encode_scalar(value: Any, python_type: type) -> EncodedScalar:
    """Encode a broadcast scalar (None included) of a datetime, date or timedelta parameter."""
    arrow_type = TEMPORAL_ARROW_TYPES[python_type]
    if value is None:
        return EncodedScalar(pa.array([None], arrow_type), NAIVE)
    if python_type is datetime.date:
        return EncodedScalar(pa.array([value.toordinal() - EPOCH_ORDINAL], pa.int32()).cast(arrow_type), NAIVE)
    if python_type is datetime.timedelta:
        microseconds = value // MICROSECOND
        if not INT64_MIN <= microseconds <= INT64_MAX:
            return EncodedScalar(pa.array([0], arrow_type), NAIVE, f"{value!r} does not fit in 64 bits of microseconds")
        return EncodedScalar(pa.array([microseconds], pa.int64()).cast(arrow_type), NAIVE)
    zone = zone_of_tzinfo(value.tzinfo)
    if zone is None:
        return EncodedScalar(pa.array([0], arrow_type), NAIVE, f"the time zone {value.tzinfo!r} of {value!r} is not compiled")
    clock = (value.replace(tzinfo=None) - EPOCH_NAIVE) // MICROSECOND
    if zone == NAIVE:
        return EncodedScalar(pa.array([clock], pa.int64()).cast(arrow_type), zone)
    instant = (value - EPOCH_UTC) // MICROSECOND
    # Kernels find the clock time from the instant, which gives another clock time for a time
    # that a transition skips (CPython keeps such a time as it was written).
    try:
        round_trip = (EPOCH_UTC + datetime.timedelta(microseconds=instant)).astimezone(value.tzinfo)
    except OverflowError:
        reason = f"{value!r} is outside years 1 to 9999 in UTC, where a kernel finds its clock time"
        return EncodedScalar(pa.array([0], arrow_type), zone, reason)
    if round_trip.replace(tzinfo=None) != value.replace(tzinfo=None):
        reason = f"{value!r} is a local time that its zone skips, which a kernel cannot represent"
        return EncodedScalar(pa.array([0], arrow_type), zone, reason)
    return EncodedScalar(pa.array([instant], pa.int64()).cast(arrow_type), zone)


# --------------------------------------------------------------------------------------
# Arrow elements as Python values, for the slow path
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvalidValue:
    """An Arrow element that Python's datetime types cannot represent, whose row fails with `error`."""

    text: str
    error: Exception = field(compare=False)

    def __repr__(self) -> str:
        return self.text


def python_values(array: pa.Array, positions: np.ndarray) -> list[Any]:
    """Return the Python values of a temporal array at `positions` (counted from the array's offset)."""
    arrow_type = array.type
    validity = array.buffers()[0]
    raw = np.frombuffer(array.buffers()[1], dtype=np.int32 if pa.types.is_date32(arrow_type) else np.int64)
    indices = positions.astype(np.int64) + array.offset
    counts = raw[indices].tolist()
    present = [True] * len(counts)
    if validity is not None and array.null_count:
        bits = np.frombuffer(validity, dtype=np.uint8)
        present = ((bits[indices >> 3] >> (indices & 7)) & 1).astype(bool).tolist()
    convert = converter(arrow_type)
    return [convert(count) if valid else None for count, valid in zip(counts, present, strict=True)]


def converter(arrow_type: pa.DataType) -> Any:
    """Return a function from an element's int64 count to its Python value or an InvalidValue."""
    if pa.types.is_date32(arrow_type) or pa.types.is_date64(arrow_type):
        per_day = 1 if pa.types.is_date32(arrow_type) else 86_400_000

        def to_date(count: int) -> Any:
            try:
                return EPOCH_DATE + datetime.timedelta(days=count // per_day)
            except OverflowError:
                error = OverflowError(f"the {arrow_type} value {count} is outside date's range, years 1 to 9999")
                return InvalidValue(f"<{arrow_type} {count}>", error)

        return to_date
    unit = arrow_type.unit
    is_duration = pa.types.is_duration(arrow_type)
    tzinfo = None if is_duration or not arrow_type.tz else tzinfo_of_arrow(arrow_type.tz)

    def to_value(count: int) -> Any:
        text = f"<{arrow_type} {count}>"
        nanoseconds = count * NANOSECONDS[unit]
        if nanoseconds % 1000:
            kind = "timedelta" if is_duration else "datetime.datetime"
            error = ValueError(f"the {arrow_type} value {count} has nanoseconds, which {kind} cannot represent")
            return InvalidValue(text, error)
        try:
            delta = datetime.timedelta(microseconds=nanoseconds // 1000)
            if is_duration:
                return delta
            if tzinfo is None:
                return EPOCH_NAIVE + delta
            return (EPOCH_UTC + delta).astimezone(tzinfo)
        except OverflowError:
            limits = "of 999999999 days either way" if is_duration else "of years 1 to 9999"
            kind = "timedelta" if is_duration else "datetime"
            return InvalidValue(text, OverflowError(f"the {arrow_type} value {count} is outside {kind}'s range {limits}"))

    return to_value


def raise_invalid(values: list[Any]) -> None:
    """Raise the error of the first InvalidValue among a row's arguments, if any."""
    for value in values:
        if type(value) is InvalidValue:
            raise value.error


# --------------------------------------------------------------------------------------
# Result columns
# --------------------------------------------------------------------------------------


# A datetime result type as xDSL prints it, optional or not: `!py.datetime<"zone">` or
# `!py.optional<!py.datetime<"zone">>`. Zone names contain no quotes (see featurejit.zones).
DATETIME_RESULT_TEXT = re.compile(r'(?:!py\.optional<)?!py\.datetime<"([^"]*)">>?')


def arrow_type_of_result(result_type_text: str) -> pa.DataType | None:
    """Return the Arrow type that a kernel's result type, as printed, fixes for a datetime column, or None.

    It reads the printed type, because parsing it into an IR type would import xDSL.
    """
    match = DATETIME_RESULT_TEXT.fullmatch(result_type_text)
    if match is None:
        return None
    return pa.timestamp("us", tz=match.group(1) or None)


@dataclass
class TemporalOutput:
    """The buffers of one datetime, date or timedelta output column for one segment."""

    output: type
    rows: int
    data: np.ndarray
    valid: np.ndarray
    arrow_type: pa.DataType | None = None  # fixed by the kernel, else by the first datetime stored

    @classmethod
    def allocate(cls, output: type, rows: int) -> TemporalOutput:
        dtype = np.int32 if output is datetime.date else np.int64
        arrow_type = None if output is datetime.datetime else TEMPORAL_ARROW_TYPES[output]
        return cls(output, rows, np.zeros(rows, dtype=dtype), np.zeros((rows + 63) // 64, dtype=np.uint64), arrow_type)

    def addresses(self, first_row: int) -> list[int]:
        """Return the first three kernel output fields (see kernel.py) for rows from `first_row`."""
        return [address(self.data) + first_row * self.data.itemsize, address(self.valid) + first_row // 64 * 8, 0]

    def store(self, rows: np.ndarray, values: list[Any], present: list[bool]) -> None:
        """Write the interpreter's results (Python values, checked by convert_result) for the slow-path rows."""
        from featurejit.runtime.batch import set_bits

        set_bits(self.valid, rows, np.array(present, dtype=bool))
        encoded = []
        for row, value, is_present in zip(rows.tolist(), values, present, strict=True):
            encoded.append(self.encode(row, value) if is_present else 0)
        self.data[rows] = np.array(encoded, dtype=self.data.dtype)

    def encode(self, row: int, value: Any) -> int:
        if self.output is datetime.date:
            return int(value.toordinal() - EPOCH_ORDINAL)
        if self.output is datetime.timedelta:
            return int(value // MICROSECOND)
        zone = zone_name_of_value(value)
        if self.arrow_type is None:
            self.arrow_type = pa.timestamp("us", tz=zone or None)
        aware = self.arrow_type.tz is not None
        if aware != (value.tzinfo is not None):
            kind = "naive" if value.tzinfo is None else "aware"
            raise OutputTypeError(
                f"row {row} returned the {kind} datetime {value!r}, but the column contains "
                f"{'aware' if aware else 'naive'} datetimes; return one kind on every row"
            )
        if aware:
            return int((value - EPOCH_UTC) // MICROSECOND)
        return int((value - EPOCH_NAIVE) // MICROSECOND)

    def to_array(self) -> pa.Array:
        arrow_type = self.arrow_type or TEMPORAL_ARROW_TYPES[self.output]
        null_count = self.rows - count_bits(self.valid)
        validity = pa.py_buffer(self.valid) if null_count else None
        return pa.Array.from_buffers(arrow_type, self.rows, [validity, pa.py_buffer(self.data)], null_count=null_count)


def zone_name_of_value(value: datetime.datetime) -> str:
    """Return the Arrow zone of a datetime result: its tzinfo's key or offset name, "" if naive."""
    if value.tzinfo is None:
        return NAIVE
    key = getattr(value.tzinfo, "key", None)
    if isinstance(key, str):
        return key
    zone = zone_of_tzinfo(value.tzinfo)
    if zone:
        return zone
    offset = value.utcoffset()
    assert offset is not None
    minutes = offset // datetime.timedelta(minutes=1)
    return f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# --------------------------------------------------------------------------------------
# Lists of Python values as arrays
# --------------------------------------------------------------------------------------


def temporal_list_to_arrow(values: list[Any] | tuple[Any, ...], python_type: type) -> pa.Array:
    """Convert a list of datetimes, dates or timedeltas (None allowed) to an Arrow array.

    Aware datetimes must share one tzinfo object, because an Arrow array has one zone and
    CPython computes differently with values of several. Raises TypeError otherwise, and
    ValueError for a local time that its zone skips, which an Arrow timestamp cannot represent.
    """
    present = [value for value in values if value is not None]
    if python_type is not datetime.datetime or not present:
        return pa.array(values, type=TEMPORAL_ARROW_TYPES[python_type])
    zones = {id(value.tzinfo): value.tzinfo for value in present if isinstance(value, datetime.datetime)}
    if len(zones) > 1:
        if None in zones.values():
            raise TypeError("the list contains both naive and aware datetimes; pass one kind per call")
        raise TypeError("the list contains datetimes with different tzinfo objects; pass one zone per call")
    (tzinfo,) = zones.values() if zones else (None,)
    if tzinfo is None:
        return pa.array(values, type=pa.timestamp("us"))
    if zone_of_tzinfo(tzinfo) is None:
        raise TypeError(
            f"the list contains datetimes in {tzinfo!r}, which an Arrow timestamp type cannot represent. "
            + zone_hint(tzinfo)
        )
    for index, value in enumerate(values):
        if value is None:
            continue
        utc = value.astimezone(datetime.UTC)
        if utc.astimezone(tzinfo).replace(tzinfo=None) != value.replace(tzinfo=None):
            raise ValueError(f"item {index}, {value!r}, is a local time that its zone skips, which Arrow cannot represent")
    zone = zone_name_of_value(present[0])
    return pa.array(values, type=pa.timestamp("us", tz=zone))
