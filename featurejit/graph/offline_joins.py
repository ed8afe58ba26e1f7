"""Join stages of offline queries: whole columns joined with the other entity's source by featurejit.joins.

A has-one join is a left join of the rows' key columns with the other entity's key columns
and row numbers, planned by `featurejit.joins.plan_join` from the statistics kept with the
source. It gives each row the number of its partner's row, and the other entity's plan runs
once per distinct partner row.

A has-many join reads the child source, with the aggregations' filters pushed into the scan
when they name only source columns. If the child entity has resolvers, or an aggregation is
an int sum, which may overflow, an inner join with the rows' distinct keys keeps the children
that rows read, and the child plan runs on them. Otherwise the plan runs on what the scan
read, and, if the rows have at most a quarter as many keys as the children, the inner join
comes next. Last, the children are aggregated per key, and a left join gives each row its
key's aggregations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurejit.graph.aggregates import aggregate_groups, fill_empty, is_int_sum
from featurejit.graph.entities import Feature
from featurejit.graph.errors import GraphError
from featurejit.graph.filters import Filter, Or
from featurejit.graph.indexes import ROW_COLUMN, check_unique, key_stats, key_table
from featurejit.graph.planner import JoinStep, Plan
from featurejit.graph.relationships import JoinedFeature, Relationship
from featurejit.graph.row_errors import RowKeys, scanned_key
from featurejit.graph.sources import Source
from featurejit.joins import JoinPlan, KeyTypeError, plan_join

if TYPE_CHECKING:
    from featurejit.graph.offline import ArrowColumn, Sources
    from featurejit.graph.online import StageTrace

LEFT_ROW = "__featurejit_left_row"
PRESENT = "__featurejit_present"
# Children are first reduced to the rows' keys when the rows have at most this share of the child keys.
SEMI_JOIN_SHARE = 0.25


def run_join(
    join: JoinStep, columns: dict[Feature, ArrowColumn], rows: int, sources: Sources, trace: StageTrace
) -> dict[Feature, ArrowColumn]:
    """Run a join stage over whole columns; return the columns of the features it writes."""
    source = sources[join.relationship.target]
    if join.relationship.kind == "one":
        return join_one(join, columns, rows, source, sources, trace)
    return join_many(join, columns, rows, source, sources, trace)


def key_columns(
    relationship: Relationship, columns: dict[Feature, ArrowColumn], right: pa.Schema, source: Source | None = None
) -> dict[str, Any]:
    """Return the rows' key columns, named after the other entity's key features and cast to its timestamp types.

    If a key column of the `source` has no values, nothing can match, so the rows' keys are
    nulls of the source's types, whatever their own types.
    """
    if source is not None and not target_has_keys(source, relationship):
        rows = len(columns[relationship.owner_keys[0]])
        return {key.name: pa.nulls(rows, right.field(key.name).type) for key in relationship.target_keys}
    keys = {}
    for owner_key, target_key in zip(relationship.owner_keys, relationship.target_keys, strict=True):
        column = columns[owner_key]
        expected = right.field(target_key.name).type
        if pa.types.is_timestamp(column.type) and pa.types.is_timestamp(expected) and (column.type.tz is None) != (expected.tz is None):
            # Casting would compare UTC times with local ones, but a naive datetime never equals an aware one.
            raise GraphError(
                f"{relationship.qualified_name} joins {owner_key!r} ({column.type}) with {target_key!r} ({expected}): "
                f"one contains naive timestamps and the other aware ones, which never match; give both a zone or neither"
            )
        if column.type != expected and (pa.types.is_timestamp(column.type) or pa.types.is_null(column.type)):
            try:
                column = column.cast(expected)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise GraphError(
                    f"{relationship.qualified_name} joins {owner_key!r} ({column.type}) with {target_key!r} ({expected}), "
                    f"and casting failed: {error}"
                ) from None
        keys[target_key.name] = column
    return keys


def target_has_keys(source: Source, relationship: Relationship) -> bool:
    """Return whether every key column of the other entity's source has a value on some row.

    Online joins call this on every query, so the result is kept with the source.
    """
    key = ("has keys", tuple(feature.name for feature in relationship.target_keys))
    found = source.relationship_lookups.get(key)
    if found is None:
        stats = key_stats(source, relationship.target_keys)
        found = all(stats.columns[feature.name].nulls != stats.rows for feature in relationship.target_keys)
        source.relationship_lookups[key] = found
    return bool(found)


def explained(plan: JoinPlan, relationship: Relationship) -> list[str]:
    """Return the plan's explain() lines with its join condition in the relationship's features.

    The join reads the rows' keys under the other entity's key names, which its own text would show.
    """
    pairs = list(zip(relationship.owner_keys, relationship.target_keys, strict=True))
    lines = plan.explain(" AND ".join(f"{owner!r} = {target!r}" for owner, target in pairs)).splitlines()
    # The left side's statistics describe its key columns under those names as well.
    renamed = {f"  left statistics: {target.name}: ": f"  left statistics: {owner!r}: " for owner, target in pairs}
    for index, line in enumerate(lines):
        prefix = next((prefix for prefix in renamed if line.startswith(prefix)), None)
        if prefix is not None:
            lines[index] = renamed[prefix] + line[len(prefix):]
    return lines


def execute(plan: JoinPlan, relationship: Relationship) -> pa.Table:
    try:
        return plan.execute()
    except KeyTypeError as error:
        raise GraphError(f"{relationship.qualified_name} cannot join its keys: {error}") from None


def planned(relationship: Relationship, left: pa.Table, right: pa.Table, how: str, right_stats: Any = None) -> JoinPlan:
    names = [feature.name for feature in relationship.target_keys]
    try:
        return plan_join(left, right, on=names, how=how, right_stats=right_stats, suffix="__right")
    except KeyTypeError as error:
        owner = ", ".join(f"{key!r} ({left.schema.field(name).type})" for key, name in zip(relationship.owner_keys, names, strict=True))
        target = ", ".join(f"{key!r} ({right.schema.field(key.name).type})" for key in relationship.target_keys)
        raise GraphError(f"{relationship.qualified_name} cannot join {owner} with {target}: {error}") from None


def scatter(joined: pa.Table, rows: int, column: str) -> np.ndarray:
    """Return, for each of `rows` left rows, the value of `column` in its joined row, -1 where it is null."""
    result = np.full(rows, -1, dtype=np.int64)
    positions = np.asarray(joined.column(LEFT_ROW), dtype=np.int64)
    result[positions] = np.asarray(joined.column(column).fill_null(-1), dtype=np.int64)
    return result


def join_one(
    join: JoinStep, columns: dict[Feature, ArrowColumn], rows: int, source: Source, sources: Sources, trace: StageTrace
) -> dict[Feature, ArrowColumn]:
    relationship = join.relationship
    check_unique(source, relationship)
    right = key_table(source, relationship.target_keys)
    left = pa.table({**key_columns(relationship, columns, right.schema, source), LEFT_ROW: pa.array(np.arange(rows, dtype=np.int64))})
    plan = planned(relationship, left, right, "left", key_stats(source, relationship.target_keys))
    joined = execute(plan, relationship)
    assert joined.num_rows == rows, "a left join on keys that check_unique found unique keeps every row once"
    partner_rows = scatter(joined, rows, ROW_COLUMN)
    trace.matched = int((partner_rows >= 0).sum())
    trace.details += explained(plan, relationship)
    assert join.subplan is not None, "a has-one join reads at least one feature"
    partner = columns_at_rows(join.subplan, source, partner_rows, sources)
    written: dict[Feature, ArrowColumn] = {}
    for feature in join.outputs:
        assert isinstance(feature, JoinedFeature), "a has-one join writes joined features"
        written[feature] = partner[feature.target]
    return written


def columns_at_rows(plan: Plan, source: Source, source_rows: np.ndarray, sources: Sources) -> dict[Feature, ArrowColumn]:
    """Return the plan's outputs for the source rows `source_rows`, null where a row is -1.

    The plan's stages run once per distinct row, so a plane that many flights share is computed once.
    """
    from featurejit.graph.offline import run_offline  # imported late: it imports this module

    found = source_rows >= 0
    if not plan.stages:
        indices = pa.array(source_rows, mask=~found)
        return {feature: source.column(feature.name).take(indices) for feature in plan.outputs}
    distinct = np.unique(source_rows[found])
    chosen = pa.array(distinct)
    columns: dict[Feature, ArrowColumn] = {feature: source.column(feature.name).take(chosen) for feature in plan.source_reads}
    keys = RowKeys(plan.entity, source_key(source, plan, distinct), show_row=False)
    run_offline(plan, columns, len(distinct), None, None, sources, keys)
    positions = np.searchsorted(distinct, source_rows)
    back = pa.array(positions, mask=~found)
    return {feature: columns[feature].take(back) for feature in plan.outputs}


# --------------------------------------------------------------------------------------
# Has-many
# --------------------------------------------------------------------------------------


def source_key(source: Source, plan: Plan, source_rows: np.ndarray) -> Callable[[int], Any]:
    """Return a key_at for the plan's rows, which are the source rows `source_rows`."""
    key = plan.entity.key

    def key_at(row: int) -> Any:
        if key is None:
            raise LookupError(f"{plan.entity.name} has no primary key")
        return source.column(key.name)[int(source_rows[row])].as_py()

    return key_at


def pushed_filter(join: JoinStep, source: Source, computed: Sequence[Feature]) -> Any:
    """Return the filter to push into the child scan, the aggregations' filters joined with OR.

    Return None if an aggregation has no filter, or a filter names a feature that is not a source column.
    """
    filters: dict[str, Filter] = {}
    for aggregate in join.aggregates:
        if aggregate.filter is None:
            return None
        filters[repr(aggregate.filter)] = aggregate.filter
    features = [feature for item in filters.values() for feature in item.features()]
    if any(feature in computed or not source.has_column(feature.name) for feature in features):
        return None
    unique = list(filters.values())
    combined = unique[0]
    for item in unique[1:]:
        combined = Or(combined, item)
    return combined.expression(source.schema)


def child_table(join: JoinStep, source: Source, owner_keys: pa.Table, sources: Sources, trace: StageTrace) -> tuple[pa.Table, bool]:
    """Scan the child source, with the filters pushed down where they can be, and run the child plan over it.

    Return the child rows and whether they are only those whose key is in `owner_keys`. With
    child resolvers or an int sum they are, as online, so a child row that no row reads
    raises no error.
    """
    from featurejit.graph.offline import run_offline  # imported late: it imports this module

    relationship = join.relationship
    names = [feature.name for feature in relationship.target_keys]
    subplan = join.subplan
    reads = [] if subplan is None else [feature.name for feature in subplan.source_reads]
    computed = [] if subplan is None else list(subplan.computed)
    expression = pushed_filter(join, source, computed)
    scanned, stats = source.scan(list(dict.fromkeys([*names, *reads])), expression)
    if expression is not None:
        trace.details.append(f"filter pushed into the scan of {source.description}: {expression}, {stats.rows:,} child rows read")
    else:
        trace.details.append(f"scan of {source.description}: {stats.rows:,} child rows read")
    if subplan is None:
        return pa.table({name: scanned.column(name) for name in names}), False
    key_at = scanned_key(source, subplan.entity, scanned, expression)
    # Child resolvers, and int sums that may overflow, must see only the children that rows
    # read, or a child that no row reads could raise.
    only_matched = bool(computed) or any(is_int_sum(aggregate) for aggregate in join.aggregates)
    if only_matched:
        read_rows = matched_rows(relationship, scanned, owner_keys)
        trace.details.append(f"{len(read_rows):,} of them have a key that a row reads, and only those are computed and aggregated")
        scanned = scanned.take(pa.array(read_rows))
        key_at = key_at_rows(key_at, read_rows)
    table = {name: scanned.column(name) for name in names}
    columns: dict[Feature, ArrowColumn] = {feature: scanned.column(feature.name) for feature in subplan.source_reads}
    run_offline(subplan, columns, scanned.num_rows, None, None, sources, RowKeys(subplan.entity, key_at, show_row=False))
    table |= {feature.name: columns[feature] for feature in subplan.outputs}
    return pa.table(table), only_matched


def matched_rows(relationship: Relationship, children: pa.Table, owner_keys: pa.Table) -> np.ndarray:
    """Return, in ascending order, the rows of `children` whose key is one of `owner_keys` (no null key matches)."""
    names = [feature.name for feature in relationship.target_keys]
    numbered = pa.table({**{name: children.column(name) for name in names}, LEFT_ROW: pa.array(np.arange(children.num_rows, dtype=np.int64))})
    joined = execute(planned(relationship, numbered, owner_keys, "inner"), relationship)
    return np.sort(np.asarray(joined.column(LEFT_ROW), dtype=np.int64))


def key_at_rows(key_at: Callable[[int], Any], rows: np.ndarray) -> Callable[[int], Any]:
    """Return a key_at for a selection of rows, from the key_at of all rows."""
    return lambda row: key_at(int(rows[row]))


def join_many(
    join: JoinStep, columns: dict[Feature, ArrowColumn], rows: int, source: Source, sources: Sources, trace: StageTrace
) -> dict[Feature, ArrowColumn]:
    relationship = join.relationship
    names = [feature.name for feature in relationship.target_keys]
    left = pa.table({**key_columns(relationship, columns, source.schema, source), LEFT_ROW: pa.array(np.arange(rows, dtype=np.int64))})
    owner_keys = left.select(names).group_by(names, use_threads=False).aggregate([])
    children, matched_only = child_table(join, source, owner_keys, sources, trace)
    child_keys = key_stats(source, relationship.target_keys)
    distinct_children = child_keys.columns[names[0]].distinct or 0
    if not matched_only and rows <= SEMI_JOIN_SHARE * distinct_children:
        semi = planned(relationship, children, owner_keys, "inner")
        children = execute(semi, relationship)
        trace.details.append(
            f"{rows:,} rows have at most {SEMI_JOIN_SHARE:.0%} of the {distinct_children:,} distinct child keys "
            f"of {names[0]}, so an inner join with their keys comes first: {children.num_rows:,} child rows remain"
        )
        trace.details += [f"  {line}" for line in semi.explain().splitlines()]
    written: dict[Feature, ArrowColumn] = {}
    matched = np.zeros(rows, dtype=bool)
    def parent_key(key: dict[str, Any]) -> str:
        """Name a group by the parent's key, whose values are the child rows' keys."""
        pairs = zip(relationship.owner_keys, relationship.target_keys, strict=True)
        return " and ".join(f"{owner!r} = {key[target.name]!r}" for owner, target in pairs)

    for group in aggregate_groups(children, names, join.aggregates, parent_key):
        present = group.table.append_column(PRESENT, pa.array(np.ones(group.table.num_rows, dtype=bool)))
        plan = planned(relationship, left, present, "left")
        joined = execute(plan, relationship)
        trace.details += explained(plan, relationship)
        joined = joined.take(pc.sort_indices(joined, [(LEFT_ROW, "ascending")]))
        for aggregate, name in group.columns.items():
            written[aggregate] = fill_empty(aggregate, joined.column(name))
        matched |= np.asarray(joined.column(PRESENT).fill_null(False), dtype=bool)
    trace.matched = int(matched.sum())
    return written
