"""Join stages of online queries: the other entity's rows found through indexes kept with its source.

A has-one join probes the unique index of the other entity's key columns with the key of
each request row, then runs the other entity's plan on the rows it found. A row without a
partner, or with a null key part, gets null for every joined feature. A has-many join finds
the child rows of each request row's key through the child groups, runs the child entity's
plan on them, then filters and aggregates them per request row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from featurejit.graph.aggregates import aggregate_groups, fill_empty
from featurejit.graph.columns import Column
from featurejit.graph.entities import Feature
from featurejit.graph.errors import GraphError
from featurejit.graph.indexes import child_groups, unique_index
from featurejit.graph.offline_joins import pushed_filter, target_has_keys
from featurejit.graph.planner import JoinStep
from featurejit.graph.relationships import JoinedFeature
from featurejit.joins import Index, KeyTypeError

if TYPE_CHECKING:
    from featurejit.graph.online import StageTrace, Stores
    from featurejit.graph.sources import Source

# Up to this many rows, a one-column key is probed one value at a time through the index's
# native scalar lookup, which costs less than building Arrow arrays for a batch probe.
SCALAR_PROBES = 16
GROUP_COLUMN = "__featurejit_group"
POSITION_COLUMN = "__featurejit_position"


def probe(index: Index, keys: list[Column], join: JoinStep) -> np.ndarray:
    """Return the index row of each request row's key, -1 where a key part is null or the index lacks the key."""
    rows = len(keys[0])
    python_type = keys[0].type.python_type
    try:
        if len(keys) == 1 and python_type in (int, str) and rows <= SCALAR_PROBES:
            get = index.get
            return np.array([-1 if value is None else get(value) for value in keys[0].to_pylist()], dtype=np.int64)
        values = [column.to_pylist() for column in keys]
        return index.rows(values[0] if len(keys) == 1 else list(zip(*values, strict=True)))
    except (KeyTypeError, TypeError) as error:
        owner = ", ".join(map(repr, join.relationship.owner_keys))
        target = ", ".join(map(repr, join.relationship.target_keys))
        raise GraphError(f"{join.relationship.qualified_name} cannot look up {owner} in {target}: {error}") from None


def probe_keys(index: Index, columns: dict[Feature, Column], join: JoinStep, source: Source) -> np.ndarray:
    """Return what `probe` returns for the rows' keys; -1 on every row if a key column of the source has no values."""
    keys = [columns[key] for key in join.relationship.owner_keys]
    if not target_has_keys(source, join.relationship):
        return np.full(len(keys[0]), -1, dtype=np.int64)
    return probe(index, keys, join)


def run_join(join: JoinStep, columns: dict[Feature, Column], rows: int, stores: Stores, trace: StageTrace | None) -> dict[Feature, Column]:
    """Run a join stage; return the columns of the features it writes."""
    if join.relationship.kind == "one":
        return join_one(join, columns, stores, trace)
    return join_many(join, columns, rows, stores, trace)


def join_one(join: JoinStep, columns: dict[Feature, Column], stores: Stores, trace: StageTrace | None) -> dict[Feature, Column]:
    from featurejit.graph.online import run_source_rows  # imported late: it imports this module

    relationship = join.relationship
    store = stores[relationship.target]
    assert store.source is not None and join.subplan is not None, "the graph checked the relationship"
    index = unique_index(store.source, relationship)
    partner_rows = probe_keys(index, columns, join, store.source)
    if trace is not None:
        trace.matched = int((partner_rows >= 0).sum())
        trace.details.append(f"index: {index.describe()}")
    partner = run_source_rows(join.subplan, {}, partner_rows, stores, None)
    written: dict[Feature, Column] = {}
    for feature in join.outputs:
        assert isinstance(feature, JoinedFeature), "a has-one join writes joined features"
        column = partner[feature.target]
        written[feature] = Column(feature.type, column.values, column.valid, column.arrow_type)
    return written


def passing_children(join: JoinStep, source: Source, child_rows: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the child rows that pass the filter an offline query pushes into its scan, if it pushes one.

    The child entity's resolvers then run on the same rows online and offline.
    """
    assert join.subplan is not None
    expression = pushed_filter(join, source, list(join.subplan.computed))
    if expression is None:
        return child_rows, owners
    names = {feature.name for aggregate in join.aggregates if aggregate.filter is not None for feature in aggregate.filter.features()}
    rows = pa.array(child_rows)
    table = pa.table({**{name: source.column(name).take(rows) for name in names}, POSITION_COLUMN: pa.array(np.arange(len(child_rows)))})
    passing = np.asarray(table.filter(expression).column(POSITION_COLUMN), dtype=np.int64)
    return child_rows[passing], owners[passing]


def join_many(
    join: JoinStep, columns: dict[Feature, Column], rows: int, stores: Stores, trace: StageTrace | None
) -> dict[Feature, Column]:
    from featurejit.graph.online import run_source_rows  # imported late: it imports this module

    relationship = join.relationship
    store = stores[relationship.target]
    assert store.source is not None, "the graph checked the relationship"
    groups = child_groups(store.source, relationship.target_keys)
    group_of_row = probe_keys(groups.index, columns, join, store.source)
    child_rows, owners = groups.gather(group_of_row)
    if join.subplan is not None and join.subplan.computed:
        child_rows, owners = passing_children(join, store.source, child_rows, owners)
    child: dict[str, Any] = {GROUP_COLUMN: pa.array(owners, type=pa.int64())}
    if join.subplan is not None:
        found = run_source_rows(join.subplan, {}, child_rows, stores, None)
        child |= {feature.name: found[feature].to_arrow() for feature in join.subplan.outputs}
    if trace is not None:
        trace.matched = int((group_of_row >= 0).sum())
        trace.details.append(f"child groups: {groups.index.describe()}; {len(child_rows):,} child rows found")
    written: dict[Feature, Column] = {}
    def parent_key(key: dict[str, Any]) -> str:
        """Name a group, which is a request row, by that row's key."""
        row = key[GROUP_COLUMN]
        return " and ".join(f"{owner!r} = {columns[owner].to_pylist()[row]!r}" for owner in relationship.owner_keys)

    for group in aggregate_groups(pa.table(child), [GROUP_COLUMN], join.aggregates, parent_key):
        positions = np.asarray(group.table.column(GROUP_COLUMN), dtype=np.int64)
        back = np.full(rows, -1, dtype=np.int64)
        back[positions] = np.arange(len(positions))
        indices = pa.array(back, mask=back < 0)
        for aggregate, name in group.columns.items():
            values = fill_empty(aggregate, group.table.column(name).take(indices))
            written[aggregate] = Column.from_arrow(values, aggregate.type)
    return written
