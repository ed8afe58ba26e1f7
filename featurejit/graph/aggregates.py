"""Aggregations of the child rows of a has-many relationship, per group, with pyarrow's hash aggregation.

Aggregations that share a filter are computed together: the filter runs first, then one
`group_by(...).aggregate(...)`. The results follow what a Chalk or Polars user expects:

- `count()` counts the rows; with a feature selected it counts that feature's non-null values.
- `sum()` adds the non-null values, as an int for int and bool features and a float for float
  features. It is 0 for a group whose rows are all null or filtered out.
- `mean()`, `min()` and `max()` skip nulls and are None for a group without values.

A group with no child rows at all gets no row here. The caller gives it 0 for count and sum,
and None otherwise (`empty_value`).

NOTE: float sums and means are added in pyarrow's order, which may differ from a Python loop
over the same values in the last bits. Int sums are exact: pyarrow's int64 sum wraps around, so
a group whose values could reach 2**63 is summed again in Python, and one whose sum does not fit
in int64 raises OverflowError.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurejit.graph.columns import as_declared
from featurejit.graph.entities import Feature
from featurejit.graph.relationships import AggregateFeature

INT64_MAX = 2**63 - 1
# A group whose count times its largest absolute value reaches this may overflow int64. The
# bound is computed in float64, so it is taken a factor of two below 2**63.
OVERFLOW_RISK = 2.0**62


@dataclass
class AggregatedGroup:
    """The aggregations of one filter: a table of the group columns and one column per aggregation."""

    table: pa.Table
    columns: dict[AggregateFeature, str]  # the table column of each aggregation


def empty_value(aggregate: AggregateFeature) -> Any:
    """Return the value of an aggregation over no rows: 0 for count and sum, else None."""
    if aggregate.function == "count":
        return 0
    if aggregate.function == "sum":
        return 0.0 if aggregate.type.python_type is float else 0
    return None


def fill_empty(aggregate: AggregateFeature, array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Give the groups without rows, null in `array`, the value of an aggregation over no rows."""
    value = empty_value(aggregate)
    return array if value is None else array.fill_null(value)


def numeric_input(table: pa.Table, projection: Feature, function: str) -> pa.ChunkedArray:
    """Return the column an aggregation reads; bools are summed and averaged as ints, as Python does.

    Integers of a float feature are aggregated as the floats that resolvers and online queries
    get. Dictionary-encoded text is decoded, because pyarrow's grouped min and max take no
    dictionaries.
    """
    column = as_declared(projection.type, table.column(projection.name))
    if function in ("sum", "mean") and pa.types.is_boolean(column.type):
        return column.cast(pa.int64())
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column


def specification(aggregate: AggregateFeature, column: str) -> tuple[Any, ...]:
    if aggregate.function == "count" and aggregate.projection is None:
        return ([], "count_all")
    if aggregate.function == "count":
        return (column, "count", pc.CountOptions(mode="only_valid"))
    if aggregate.function == "sum":
        return (column, "sum", pc.ScalarAggregateOptions(skip_nulls=True, min_count=0))
    return (column, aggregate.function)


def result_name(spec: tuple[Any, ...]) -> str:
    return "count_all" if spec[0] == [] else f"{spec[0]}_{spec[1]}"


# Names a group by its values of the group columns in errors, such as by the key of its parent row.
DescribeGroup = Callable[[dict[str, Any]], str]


def aggregate_groups(
    table: pa.Table, groups: Sequence[str], aggregates: Sequence[AggregateFeature], describe: DescribeGroup = str
) -> list[AggregatedGroup]:
    """Aggregate the rows of `table` per distinct value of the `groups` columns, once per distinct filter.

    The table has the group columns and a column per child feature that the aggregations read,
    named after the feature. `describe` names a group in the error of an int sum that overflows.
    """
    by_filter: dict[str, list[AggregateFeature]] = {}
    for aggregate in aggregates:
        by_filter.setdefault(repr(aggregate.filter), []).append(aggregate)
    results = []
    for members in by_filter.values():
        condition = members[0].filter
        rows = table if condition is None else table.filter(condition.expression(table.schema))
        results.append(aggregate_filtered(rows, list(groups), members, describe))
    return results


def aggregate_filtered(
    rows: pa.Table, groups: list[str], members: list[AggregateFeature], describe: DescribeGroup = str
) -> AggregatedGroup:
    inputs: dict[str, pa.ChunkedArray] = {name: rows.column(name) for name in groups}
    specs: dict[str, tuple[Any, ...]] = {}
    columns: dict[AggregateFeature, str] = {}
    for position, aggregate in enumerate(members):
        column = f"__value{position}"
        if aggregate.projection is not None:
            inputs[column] = numeric_input(rows, aggregate.projection, aggregate.function)
        spec = specification(aggregate, column)
        specs[result_name(spec)] = spec
        columns[aggregate] = result_name(spec)
        if is_int_sum(aggregate):
            for bound in ("min", "max", "count"):
                specs[f"{column}_{bound}"] = (column, bound)
    grouped = pa.table(inputs).group_by(groups, use_threads=False).aggregate(list(specs.values()))
    for aggregate, name in columns.items():
        if is_int_sum(aggregate):
            check_int_sum(aggregate, grouped, name.removesuffix("_sum"), pa.table(inputs), groups, describe)
    return AggregatedGroup(grouped, columns)


def is_int_sum(aggregate: AggregateFeature) -> bool:
    return aggregate.function == "sum" and aggregate.type.python_type is int


def check_int_sum(
    aggregate: AggregateFeature, grouped: pa.Table, column: str, rows: pa.Table, groups: list[str], describe: DescribeGroup = str
) -> None:
    """Raise OverflowError for a group whose exact sum does not fit in int64.

    pyarrow's int64 sum wraps around, and a wrapped sum is exact whenever the true sum fits, so
    only groups whose count times largest absolute value may pass 2**63 are summed again.
    """
    counts = np.asarray(grouped.column(f"{column}_count").fill_null(0), dtype=np.float64)
    lows = np.abs(np.asarray(grouped.column(f"{column}_min").fill_null(0), dtype=np.float64))
    highs = np.abs(np.asarray(grouped.column(f"{column}_max").fill_null(0), dtype=np.float64))
    risky = np.flatnonzero(counts * np.maximum(lows, highs) >= OVERFLOW_RISK)
    for group in risky.tolist():
        key = {name: grouped.column(name)[group].as_py() for name in groups}
        mask = None
        for name, value in key.items():
            test = pc.equal(rows.column(name), value)
            mask = test if mask is None else pc.and_(mask, test)
        values = rows.filter(mask).column(column).drop_null().to_pylist()
        total = sum(values)
        if not -INT64_MAX - 1 <= total <= INT64_MAX:
            raise OverflowError(f"{aggregate!r} is {total} for the child rows of {describe(key)}, which does not fit in int64")
