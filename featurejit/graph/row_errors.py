"""Row errors of graph queries, restated with the row of the query and the key of the entity row.

A resolver's row error names the row of the call that raised it (see
featurejit.runtime.slow_path.located_error). A graph calls a kernel on the rows of a stage,
which may be a subset of the query's rows, or the partner rows of a join, so that row means
nothing to the caller. The graph restates it as a row of the request, of the given table or
of the scan, and names the entity row by its primary key: "row 2 of ratio, for the Trip with
id=12: fare=3.0, distance=0".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurejit.graph.entities import Entity
from featurejit.graph.errors import GraphError
from featurejit.graph.sources import Source
from featurejit.runtime.slow_path import input_repr, relocated_error, row_location


@dataclass(frozen=True)
class RowKeys:
    """The entity and the keys by which a query names its rows in row errors.

    `key_at(row)` returns the primary key of a row of the query, or raises LookupError when
    it is unknown, such as for a scan without its key column. `show_row` is False for rows
    whose position means nothing to the caller, such as the partner rows of a join.
    """

    entity: Entity
    key_at: Callable[[int], Any]
    show_row: bool = True

    @contextmanager
    def naming(self, rows: np.ndarray | None = None) -> Iterator[None]:
        """Restate a row error raised inside; `rows` maps a stage's row to the query's row, None for the same row.

        The innermost call restates it, so a partner row of a join keeps the partner's key.
        """
        try:
            yield
        except Exception as error:
            location = row_location(error)
            if location is None or location.restated:
                raise
            row = location.row if rows is None else int(rows[location.row])
            key = self.entity.key
            try:
                entity_row = None if key is None else f"the {self.entity.name} with {key.name}={input_repr(self.key_at(row))}"
            except LookupError:
                entity_row = None
            restated = dataclasses.replace(location, row=row, entity_row=entity_row, show_row=self.show_row, restated=True)
            replacement = relocated_error(error, restated)
            if replacement is error:
                raise
            raise replacement from location.cause


def key_of_column(values: Any) -> Callable[[int], Any]:
    """Return a key_at for a key column: a pyarrow Array or ChunkedArray, or a list."""

    def key_at(row: int) -> Any:
        value = values[row]
        return value.as_py() if hasattr(value, "as_py") else value

    return key_at


def scanned_key(source: Source, entity: Entity, scanned: pa.Table, expression: pc.Expression | None) -> Callable[[int], Any]:
    """Return a key_at for the rows of a scan.

    The key comes from the scan's key column if it read one. Otherwise the first row error
    scans the key column alone with the same filter, which gives the rows in the same order.
    """
    key = entity.key

    def key_at(row: int) -> Any:
        if key is None:
            raise LookupError(f"{entity.name} has no primary key")
        if key.name in scanned.column_names:
            return scanned.column(key.name)[row].as_py()
        try:
            keys, _ = source.scan([key.name], expression)
        except (GraphError, KeyError) as error:
            raise LookupError(f"the source has no key column {key.name}") from error
        if keys.num_rows != scanned.num_rows:
            raise LookupError("the second scan found other rows")
        return keys.column(key.name)[row].as_py()

    return key_at
