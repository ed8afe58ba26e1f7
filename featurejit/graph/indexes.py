"""Lookup structures of relationship keys, built once per source and key and kept with the source.

- `unique_index`: a featurejit.joins `Index` over the key columns of a has-one relationship's
  other entity, which online queries probe. Building it checks that each key occurs once.
- `child_groups`: the rows of each distinct key of a has-many relationship's child entity,
  found through an `Index` over the distinct keys, for online queries.
- `key_table` and `key_stats`: the key columns with their row numbers, and their statistics
  from `featurejit.joins.table_stats`, which offline joins pass to `plan_join`.

Each is made on first use, which is when an online query first loads the source's columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurejit.graph.entities import Feature
from featurejit.graph.errors import GraphError
from featurejit.graph.relationships import Relationship
from featurejit.graph.sources import Source
from featurejit.joins import Index, TableStats, table_stats

ROW_COLUMN = "__featurejit_row"


def cached(source: Source, kind: str, names: tuple[str, ...], build: Callable[[], Any]) -> Any:
    key = (kind, names)
    found = source.relationship_lookups.get(key)
    if found is None:
        found = build()
        with source.lock:
            found = source.relationship_lookups.setdefault(key, found)
    return found


def key_names(features: Sequence[Feature]) -> tuple[str, ...]:
    return tuple(feature.name for feature in features)


def key_table(source: Source, keys: Sequence[Feature]) -> pa.Table:
    """Return the source's key columns, named after the key features, and a column of row numbers."""
    names = key_names(keys)

    def build() -> pa.Table:
        columns = {name: source.column(name) for name in names}
        rows = len(next(iter(columns.values())))
        return pa.table({**columns, ROW_COLUMN: pa.array(np.arange(rows, dtype=np.int64))})

    return cached(source, "key table", names, build)


def key_stats(source: Source, keys: Sequence[Feature]) -> TableStats:
    """Return the statistics of the source's key columns: rows, nulls, range, exact distinct counts, order."""
    names = key_names(keys)
    return cached(source, "key stats", names, lambda: table_stats(key_table(source, keys), keys=names, columns=names))


def describe_key(names: Sequence[str], row: dict[str, Any]) -> str:
    return ", ".join(f"{name} = {row[name]!r}" for name in names)


def duplicate_key(table: pa.Table, names: Sequence[str]) -> str | None:
    """Return one key that occurs on several rows of `table`, described, or None if every key is unique."""
    counts = table.select(list(names)).group_by(list(names), use_threads=False).aggregate([([], "count_all")])
    valid = counts.filter(pc.greater(counts.column("count_all"), 1))
    for name in names:
        valid = valid.filter(pc.is_valid(valid.column(name)))
    if valid.num_rows == 0:
        return None
    return describe_key(names, valid.slice(0, 1).to_pylist()[0])


def raise_duplicate(relationship: Relationship, found: str) -> None:
    raise GraphError(
        f"{relationship.qualified_name} is a has-one relationship, but the source of {relationship.target.name} "
        f"has several rows with {found}; make the key unique, or declare the relationship with has_many"
    )


def check_unique(source: Source, relationship: Relationship) -> None:
    """Raise GraphError if a key of a has-one relationship occurs on several rows of the other entity's source."""
    names = key_names(relationship.target_keys)
    table = key_table(source, relationship.target_keys)
    found = cached(source, "repeated key", names, lambda: duplicate_key(table, names) or "")
    if found:
        raise_duplicate(relationship, found)


def unique_index(source: Source, relationship: Relationship) -> Index:
    """Return the lookup index of a has-one relationship's key columns; raise GraphError if a key repeats."""
    names = key_names(relationship.target_keys)

    def build() -> Index:
        index = Index.build(key_table(source, relationship.target_keys).select(list(names)), list(names))
        if not index.unique:
            found = duplicate_key(index.table, names)
            raise_duplicate(relationship, found or "one key")
        return index

    return cached(source, "unique index", names, build)


@dataclass
class ChildGroups:
    """The child rows of each distinct key: group g, found through `index`, is rows[offsets[g]:offsets[g + 1]]."""

    index: Index
    offsets: np.ndarray
    rows: np.ndarray

    def gather(self, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the child rows of each group (-1 for none), and for each child row the position of its group."""
        found = np.flatnonzero(groups >= 0)
        starts = self.offsets[groups[found]]
        counts = self.offsets[groups[found] + 1] - starts
        owners = np.repeat(found, counts)
        if len(owners) == 0:
            return np.zeros(0, dtype=np.int64), owners.astype(np.int64)
        # Position of each child row within its group, added to the group's start.
        firsts = np.repeat(np.cumsum(counts) - counts, counts)
        within = np.arange(len(owners)) - firsts
        return self.rows[np.repeat(starts, counts) + within], owners.astype(np.int64)


def child_groups(source: Source, keys: Sequence[Feature]) -> ChildGroups:
    """Return the child rows of each distinct key of the source; rows with a null key part belong to no group."""
    names = key_names(keys)

    def build() -> ChildGroups:
        table = key_table(source, keys)
        for name in names:
            table = table.filter(pc.is_valid(table.column(name)))
        grouped = table.group_by(list(names), use_threads=False).aggregate([(ROW_COLUMN, "list")])
        lists = grouped.column(f"{ROW_COLUMN}_list").combine_chunks()
        offsets = np.asarray(lists.offsets, dtype=np.int64)
        rows = np.asarray(lists.flatten(), dtype=np.int64)
        index = Index.build(grouped.select(list(names)), list(names))
        return ChildGroups(index, offsets - offsets[0], rows)

    return cached(source, "child groups", names, build)
