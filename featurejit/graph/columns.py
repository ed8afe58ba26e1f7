"""Columns of a batch of rows on the online path: numpy arrays for numbers, Python lists otherwise.

Online queries carry a few rows, for which building Arrow arrays costs more than the work
itself. Their columns are therefore numpy arrays of int64, float64 or bool values with a
validity mask, and Python lists (None for null) for str and datetime values.
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from featurejit.graph.entities import FeatureType
from featurejit.runtime import temporal
from featurejit.runtime.temporal import temporal_list_to_arrow

NUMPY_DTYPES: dict[type, np.dtype] = {int: np.dtype(np.int64), float: np.dtype(np.float64), bool: np.dtype(np.bool_)}
ARROW_TYPES: dict[type, pa.DataType] = {
    bool: pa.bool_(),
    int: pa.int64(),
    float: pa.float64(),
    str: pa.string(),
    datetime.datetime: pa.timestamp("us"),
}


def as_declared(feature_type: FeatureType, column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Return the integer column of a float feature as float64, so that resolvers get floats offline as online.

    The cast rounds an int beyond 2**53 to the nearest double, as float() does.
    """
    if feature_type.python_type is float and pa.types.is_integer(column.type):
        return column.cast(pa.float64(), safe=False)
    return column


def python_values_to_arrow(values: list[Any], python_type: type) -> pa.Array:
    """Convert a feature's Python values (None for null) to an Arrow array of the feature's type.

    Aware datetimes keep their zone, which the type of the array then names.
    """
    if python_type is datetime.datetime:
        return temporal_list_to_arrow(values, python_type)
    return pa.array(values, type=ARROW_TYPES[python_type])


# Numeric Arrow types by their name, for reading their buffers with numpy.
NUMPY_BY_ARROW_NAME: dict[str, np.dtype] = {
    name: np.dtype(name)
    for name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
} | {"float": np.dtype(np.float32), "double": np.dtype(np.float64)}


EPOCH = datetime.datetime(1970, 1, 1)
MICROSECONDS_PER_UNIT = {"s": 1_000_000, "ms": 1_000, "us": 1}


def is_numeric(python_type: type) -> bool:
    return python_type in NUMPY_DTYPES


def unpack_bits(buffer: pa.Buffer, offset: int, length: int) -> np.ndarray:
    """Return `length` bits of an LSB-first Arrow bitmap from bit `offset`, as booleans."""
    bytes_ = np.frombuffer(buffer, dtype=np.uint8)
    return np.unpackbits(bytes_, bitorder="little", count=offset + length)[offset:].astype(bool)


def numpy_values(array: pa.Array, python_type: type) -> tuple[np.ndarray, np.ndarray]:
    """Return the values (nulls as zero) and the validity mask of a numeric Arrow array, as numpy arrays.

    They are read from the Arrow buffers, because pyarrow's to_numpy() imports pandas.
    """
    validity, data = array.buffers()[:2]
    length = len(array)
    if pa.types.is_boolean(array.type):
        values = unpack_bits(data, array.offset, length) if data is not None else np.zeros(length, dtype=bool)
    elif pa.types.is_null(array.type):
        values = np.zeros(length, dtype=NUMPY_DTYPES[python_type])
    else:
        dtype = np.dtype(np.int64) if pa.types.is_timestamp(array.type) else NUMPY_BY_ARROW_NAME[str(array.type)]
        values = np.frombuffer(data, dtype=dtype, count=array.offset + length)[array.offset :]
    if validity is None or array.null_count == 0:
        valid = np.ones(length, dtype=bool)
    else:
        valid = unpack_bits(validity, array.offset, length)
    values = values.astype(NUMPY_DTYPES[python_type], copy=False)
    if not valid.all():
        values = np.where(valid, values, np.zeros(1, dtype=values.dtype))
    return values, valid


def python_values(array: pa.Array | pa.ChunkedArray) -> list[Any]:
    """Return an array's values as Python objects, as `to_pylist()` does.

    Timestamps without a time zone or in UTC, in s, ms or us, are converted here instead,
    because to_pylist() takes about 3 us per value for them (pyarrow 26). Other datetime,
    date and timedelta values become what a resolver call passes, so that a whole number of
    microseconds in a timestamp[ns] is a datetime, not a pandas Timestamp. A value that
    Python's types cannot hold, such as one with nanoseconds, stays as to_pylist() gives it.
    """
    kind = array.type
    if temporal.temporal_arrow_info(kind) is None:
        return array.to_pylist()
    if not (pa.types.is_timestamp(kind) and kind.unit in MICROSECONDS_PER_UNIT and kind.tz in (None, "UTC")):
        return temporal_python_values(array)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    values, valid = numpy_values(array, int)
    start = EPOCH if kind.tz is None else EPOCH.replace(tzinfo=zoneinfo.ZoneInfo("UTC"))
    scale = MICROSECONDS_PER_UNIT[kind.unit]
    delta = datetime.timedelta
    return [
        start + delta(microseconds=value * scale) if present else None
        for value, present in zip(values.tolist(), valid.tolist(), strict=True)
    ]


def temporal_python_values(array: pa.Array | pa.ChunkedArray) -> list[Any]:
    """Return the Python values of a datetime, date or timedelta array as python_values describes."""
    values: list[Any] = []
    for chunk in array.chunks if isinstance(array, pa.ChunkedArray) else [array]:
        converted = temporal.python_values(chunk, np.arange(len(chunk)))
        if any(type(value) is temporal.InvalidValue for value in converted):
            as_arrow_gives = chunk.to_pylist()
            converted = [
                as_arrow_gives[position] if type(value) is temporal.InvalidValue else value
                for position, value in enumerate(converted)
            ]
        values += converted
    return values


@dataclass
class Column:
    """One feature's values over the rows of a batch.

    For bool, int and float features `values` is a numpy array and `valid` a boolean mask. For
    other types `values` is a list with None for nulls, and `valid` is None.
    """

    type: FeatureType
    values: Any
    valid: np.ndarray | None
    arrow_type: pa.DataType | None = None  # the source's Arrow type, kept for to_arrow()

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def from_pylist(cls, values: Sequence[Any], type: FeatureType) -> Column:
        """Build a column from Python values, None for null; the caller has checked their types."""
        if not is_numeric(type.python_type):
            return cls(type, list(values), None)
        valid = np.array([value is not None for value in values], dtype=bool)
        filled = [0 if value is None else value for value in values]
        return cls(type, np.array(filled, dtype=NUMPY_DTYPES[type.python_type]), valid)

    @classmethod
    def from_arrow(cls, array: pa.Array | pa.ChunkedArray, type: FeatureType) -> Column:
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if not is_numeric(type.python_type):
            return cls(type, python_values(array), None, array.type)
        values, valid = numpy_values(array, type.python_type)
        return cls(type, values, valid)

    @classmethod
    def nulls(cls, length: int, type: FeatureType) -> Column:
        if not is_numeric(type.python_type):
            return cls(type, [None] * length, None)
        return cls(type, np.zeros(length, dtype=NUMPY_DTYPES[type.python_type]), np.zeros(length, dtype=bool))

    def numeric(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the values and validity mask of a bool, int or float column."""
        assert self.valid is not None, "only numeric columns have a validity mask"
        return self.values, self.valid

    def to_pylist(self) -> list[Any]:
        if self.valid is None:
            return list(self.values)
        values = self.values.tolist()
        present = self.valid.tolist()
        if all(present):
            return values
        return [value if valid else None for value, valid in zip(values, present, strict=True)]

    def to_arrow(self) -> pa.Array:
        if self.valid is None and self.arrow_type is None:
            return python_values_to_arrow(list(self.values), self.type.python_type)
        arrow_type = self.arrow_type or ARROW_TYPES[self.type.python_type]
        if self.valid is None:
            return pa.array(self.values, type=arrow_type)
        return pa.array(self.values, type=arrow_type, mask=~self.valid)

    @classmethod
    def concat(cls, columns: Sequence[Column]) -> Column:
        """Return the rows of `columns`, one after another; they have the same feature type.

        Columns read from a source keep its Arrow type, and columns of request values have none.
        The result takes the source's type, so to_arrow() converts the request values to it.
        """
        first = columns[0]
        arrow_types = {column.arrow_type for column in columns if column.arrow_type is not None}
        arrow_type = arrow_types.pop() if len(arrow_types) == 1 else None
        if first.valid is None:
            return cls(first.type, [value for column in columns for value in column.values], None, arrow_type)
        values = np.concatenate([column.values for column in columns])
        valid = np.concatenate([column.valid for column in columns if column.valid is not None])
        return cls(first.type, values, valid, arrow_type)

    def take(self, rows: np.ndarray) -> Column:
        """Return the values at `rows`; a row of -1 gives null."""
        missing = rows < 0
        safe = np.where(missing, 0, rows) if missing.any() else rows
        if self.valid is None:
            values = [None if row < 0 else self.values[row] for row in rows.tolist()]
            return Column(self.type, values, None, self.arrow_type)
        if len(self.values) == 0:
            return Column.nulls(len(rows), self.type)
        valid = self.valid[safe]
        if missing.any():
            valid = valid & ~missing
        return Column(self.type, self.values[safe], valid)
