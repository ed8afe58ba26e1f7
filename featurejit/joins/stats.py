"""Column statistics for choosing join operators: rows, nulls, range, distinct count, order.

Statistics come from the data (`column_stats`, `table_stats`). For Parquet files they come
from the file's metadata first (`parquet_stats`): the row count, the null counts and min/max
of each row group, the distinct counts where the writer stored them, and sortedness where
the file declares its sorting columns. What the metadata lacks is read from the data.

Distinct counts are exact for key columns, counted by Arrow's hash-based count_distinct,
and estimated by a HyperLogLog sketch (featurejit.joins.sketch) for other columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from featurejit.joins.keys import contiguous, int64_values, integer_view, key_class, validity_bits
from featurejit.joins.sketch import DEFAULT_PRECISION, HyperLogLog


@dataclass(frozen=True)
class ColumnStats:
    """Statistics of one column. None stands for unknown."""

    name: str
    type: pa.DataType
    rows: int
    nulls: int | None  # None when a Parquet file has no statistics for the column
    min: Any = None
    max: Any = None
    distinct: int | None = None  # distinct non-null values
    distinct_exact: bool = False  # False: a HyperLogLog estimate
    unique: bool | None = None  # every non-null value occurs once
    sorted: bool | None = None  # non-null values ascend in row order, nulls anywhere
    nbytes: int | None = None  # size of the column's buffers
    source: str = "data"  # "data", "parquet metadata" or "parquet metadata and data"

    @property
    def density(self) -> float | None:
        """Distinct values over the width of the range, for integer-like columns: 1.0 when every value in it occurs."""
        if self.distinct is None or not isinstance(self.min, int) or not isinstance(self.max, int):
            return None
        return self.distinct / (self.max - self.min + 1)

    @property
    def valid(self) -> int:
        """Rows with a value; all rows when the null count is unknown."""
        return self.rows - (self.nulls or 0)

    def describe(self) -> str:
        rows = f"{self.rows:,} row{'' if self.rows == 1 else 's'}"
        nulls = "nulls unknown" if self.nulls is None else f"{self.nulls:,} null{'' if self.nulls == 1 else 's'}"
        parts = [rows, nulls]
        if self.min is not None:
            parts.append(f"min {self.min!r}, max {self.max!r}")
        if self.distinct is not None:
            parts.append(f"{'' if self.distinct_exact else '~'}{self.distinct:,} distinct")
        if self.density is not None:
            parts.append(f"density {self.density:.2f}")
        if self.unique is not None:
            parts.append("unique" if self.unique else "repeated values")
        if self.sorted is not None:
            parts.append("sorted" if self.sorted else "unsorted")
        return f"{self.name}: " + ", ".join(parts)


@dataclass(frozen=True)
class TableStats:
    """Statistics of a table: its rows and size, and statistics of some of its columns."""

    rows: int
    nbytes: int | None
    columns: dict[str, ColumnStats] = field(default_factory=dict)

    def __getitem__(self, name: str) -> ColumnStats:
        return self.columns[name]

    @property
    def row_bytes(self) -> float | None:
        """Average bytes per row, for estimating the bytes a join reads from each side."""
        if self.nbytes is None or self.rows == 0:
            return None
        return self.nbytes / self.rows


def min_max(column: pa.Array) -> tuple[Any, Any]:
    if column.null_count == len(column) or not (
        pa.types.is_integer(column.type)
        or pa.types.is_floating(column.type)
        or pa.types.is_temporal(column.type)
        or key_class(column.type) in ("str", "binary")
        or pa.types.is_boolean(column.type)
    ):
        return None, None
    result = pc.min_max(column)
    return result["min"].as_py(), result["max"].as_py()


def is_sorted(column: pa.Array) -> bool | None:
    """Return whether the non-null values ascend; None for types without an order here."""
    kind = key_class(column.type)
    valid = validity_bits(column, "column") if column.null_count else None
    if kind in ("str", "binary"):
        values = column.drop_null() if column.null_count else column
        if len(values) < 2:
            return True
        return bool(pc.all(pc.less_equal(values.slice(0, len(values) - 1), values.slice(1))).as_py())
    if kind is not None:
        numbers = int64_values(integer_view(column), "column")
        if pa.types.is_uint64(column.type):
            numbers = numbers.view(np.uint64)
    elif pa.types.is_floating(column.type):
        numbers = np.asarray(column.cast(pa.float64()).fill_null(0.0))
    else:
        return None
    if valid is not None:
        numbers = numbers[valid]
    return bool(np.all(numbers[1:] >= numbers[:-1]))


def column_stats(
    column: pa.Array | pa.ChunkedArray, name: str = "", *, key: bool = False, precision: int = DEFAULT_PRECISION
) -> ColumnStats:
    """Gather the statistics of one column; `key` makes the distinct count exact."""
    nbytes = column.nbytes
    array = contiguous(column)
    rows, nulls = len(array), array.null_count
    low, high = min_max(array)
    distinct: int | None
    if key or pa.types.is_boolean(array.type) or nulls == rows:
        distinct = int(pc.count_distinct(array, mode="only_valid").as_py())
        exact = True
    else:
        sketch = HyperLogLog(precision)
        sketch.add(array)
        # The estimate never exceeds the count of values, nor falls below 1 when there is one.
        distinct = min(rows - nulls, max(1, round(sketch.estimate())))
        exact = False
    unique = distinct == rows - nulls if exact else None
    if isinstance(low, bool):
        low, high = int(low), int(high)
    return ColumnStats(name, array.type, rows, nulls, low, high, distinct, exact, unique, is_sorted(array), nbytes)


def table_stats(
    table: pa.Table, keys: Iterable[str] = (), columns: Sequence[str] | None = None, *, precision: int = DEFAULT_PRECISION
) -> TableStats:
    """Gather the statistics of a table's columns (all by default); distinct counts of `keys` are exact."""
    key_names = set(keys)
    names = list(table.column_names if columns is None else columns)
    for name in key_names:
        if name not in names:
            names.append(name)
    gathered = {
        name: column_stats(table.column(name), name, key=name in key_names, precision=precision) for name in names
    }
    return TableStats(table.num_rows, table.nbytes, gathered)


# --------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------


def parquet_stats(
    path: str | Path,
    keys: Iterable[str] = (),
    columns: Sequence[str] | None = None,
    *,
    read_data: bool = True,
    precision: int = DEFAULT_PRECISION,
) -> TableStats:
    """Gather column statistics of a Parquet file, from its metadata where it has them.

    Rows, nulls, min and max come from the row group statistics when every row group has
    them. The distinct count comes from the metadata when the file has one row group that
    stores it, because the counts of several groups do not add up. The column counts as sorted
    when the file declares it an ascending sorting column of every row group and the groups'
    ranges follow one another. With `read_data`, the rest is computed from the column's
    values, and without it the rest stays None.
    """
    file = pq.ParquetFile(path)
    metadata = file.metadata
    schema = file.schema_arrow
    key_names = set(keys)
    names = list(schema.names if columns is None else columns)
    for name in key_names:
        if name not in names:
            names.append(name)
    gathered = {}
    for name in names:
        found = metadata_stats(metadata, schema, name)
        missing = (
            found.nulls is None
            or found.min is None
            or found.distinct is None
            or found.sorted is None
            or (name in key_names and not found.distinct_exact)
        )
        if read_data and missing:
            data = column_stats(file.read(columns=[name]).column(name), name, key=name in key_names, precision=precision)
            found = replace(
                data,
                min=found.min if found.min is not None else data.min,
                max=found.max if found.max is not None else data.max,
                sorted=found.sorted if found.sorted is not None else data.sorted,
                source="parquet metadata and data",
            )
        gathered[name] = found
    nbytes = sum(
        metadata.row_group(group).column(index).total_uncompressed_size
        for group in range(metadata.num_row_groups)
        for index in range(metadata.num_columns)
    )
    return TableStats(metadata.num_rows, nbytes, gathered)


def metadata_stats(metadata: pq.FileMetaData, schema: pa.Schema, name: str) -> ColumnStats:
    """Return the statistics that a Parquet file's metadata stores for one top-level column."""
    field_index = schema.get_field_index(name)
    if field_index < 0:
        raise KeyError(f"the Parquet file has no column {name!r}; its columns are {', '.join(schema.names)}")
    arrow_type = schema.field(name).type
    column_index = next(
        (index for index in range(metadata.num_columns) if metadata.schema.column(index).path.split(".")[0] == name), None
    )

    rows = metadata.num_rows
    groups = [metadata.row_group(group) for group in range(metadata.num_row_groups)]
    if column_index is None or not groups:
        return ColumnStats(name, arrow_type, rows, None, source="parquet metadata")
    chunks = [group.column(column_index).statistics for group in groups]
    if any(chunk is None for chunk in chunks):
        return ColumnStats(name, arrow_type, rows, None, source="parquet metadata")

    nulls = sum(chunk.null_count for chunk in chunks)
    low = high = None
    ranges = []
    if all(chunk.has_min_max for chunk in chunks):
        ranges = [(chunk.min, chunk.max) for chunk in chunks]
        low, high = min(pair[0] for pair in ranges), max(pair[1] for pair in ranges)

    distinct = None
    if len(chunks) == 1 and chunks[0].distinct_count not in (None, 0):
        distinct = chunks[0].distinct_count
    declared = all(
        any(item.column_index == column_index and not item.descending for item in (group.sorting_columns or ()))
        for group in groups
    )
    ordered = all(previous[1] <= following[0] for previous, following in zip(ranges, ranges[1:], strict=False))
    sorted_flag = True if declared and ranges and ordered else None
    unique = distinct == rows - nulls if distinct is not None else None
    return ColumnStats(
        name, arrow_type, rows, nulls, low, high, distinct, distinct is not None, unique, sorted_flag, None, "parquet metadata"
    )
