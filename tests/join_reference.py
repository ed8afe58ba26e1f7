"""Reference joins for the differential tests of featurejit.joins: pyarrow's Acero join and DuckDB.

Rows are compared as sorted lists of tuples, because no side promises an order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

Row = tuple[Any, ...]


def sort_key(row: Row) -> tuple[tuple[bool, Any], ...]:
    return tuple((value is None, value if value is not None else 0) for value in row)


def normalized(table: pa.Table, names: Sequence[str] | None = None) -> list[Row]:
    """Return the rows of `table` as tuples over `names` (all columns by default), sorted."""
    names = list(table.column_names if names is None else names)
    columns = [table.column(name).to_pylist() for name in names]
    return sorted(zip(*columns, strict=True), key=sort_key) if columns else []


def output_names(left: pa.Table, right: pa.Table, right_on: Sequence[str], suffix: str = "_right") -> list[tuple[str, str, str]]:
    """Return (side, source column, output name) of a join's columns, as featurejit names them."""
    names = [("l", name, name) for name in left.column_names]
    taken = set(left.column_names)
    for name in right.column_names:
        if name in right_on:
            continue
        output = name if name not in taken else f"{name}{suffix}"
        names.append(("r", name, output))
        taken.add(output)
    return names


def duckdb_join(left: pa.Table, right: pa.Table, left_on: Sequence[str], right_on: Sequence[str], how: str) -> list[Row]:
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET threads TO 1")
    connection.register("left_table", left)
    connection.register("right_table", right)
    columns = output_names(left, right, right_on)
    select = ", ".join(f'{side}."{source}" AS "{output}"' for side, source, output in columns)
    condition = " AND ".join(f'l."{a}" = r."{b}"' for a, b in zip(left_on, right_on, strict=True))
    kind = "JOIN" if how == "inner" else "LEFT JOIN"
    result = connection.sql(f"SELECT {select} FROM left_table l {kind} right_table r ON {condition}").to_arrow_table()
    connection.close()
    return normalized(result)


def widened(table: pa.Table, names: Sequence[str]) -> pa.Table:
    """Cast integer key columns to int64 and string ones to large_string, as pyarrow's join needs equal types."""
    for name in names:
        index = table.column_names.index(name)
        arrow_type = table.schema.field(name).type
        if pa.types.is_dictionary(arrow_type):
            arrow_type = arrow_type.value_type
            table = table.set_column(index, name, table.column(name).cast(arrow_type))
        if pa.types.is_integer(arrow_type) and not pa.types.is_uint64(arrow_type):
            table = table.set_column(index, name, table.column(name).cast(pa.int64()))
        elif pa.types.is_string(arrow_type):
            table = table.set_column(index, name, table.column(name).cast(pa.large_string()))
    return table


def pyarrow_join(left: pa.Table, right: pa.Table, left_on: Sequence[str], right_on: Sequence[str], how: str) -> list[Row]:
    """Join with pyarrow.Table.join after widening the keys; the key columns keep the left values."""
    wide_left, wide_right = widened(left, left_on), widened(right, right_on)
    renamed_right = wide_right.rename_columns([f"__right_{name}" for name in wide_right.column_names])
    result = wide_left.join(
        renamed_right,
        keys=list(left_on),
        right_keys=[f"__right_{name}" for name in right_on],
        join_type="inner" if how == "inner" else "left outer",
        coalesce_keys=True,
    )
    columns = output_names(left, right, right_on)
    names = [source if side == "l" else f"__right_{source}" for side, source, _ in columns]
    rows = normalized(result, names)
    # Widening changed the key values' types only where they are ints already, so rows compare equal.
    return rows
