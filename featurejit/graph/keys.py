"""Lookup of entity keys in a source: from key values to row numbers, built once per source.

Integer keys are kept sorted in a numpy array with the row each came from, and a lookup is
a binary search (`numpy.searchsorted`). String keys go in a dict. Either way a key that is not
in the source gives row -1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from featurejit.graph.columns import numpy_values
from featurejit.graph.errors import GraphError

MISSING = -1


class KeyIndex:
    """Row numbers of the keys of one source column, for online lookups."""

    def __init__(self, name: str, column: pa.Array | pa.ChunkedArray):
        self.name = name
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        self.is_integer = pa.types.is_integer(column.type)
        if not self.is_integer and not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            raise GraphError(f"the key column {name} is {column.type}; keys must be integers or strings")
        self.rows = len(column)
        if self.is_integer:
            self.build_sorted(column)
        else:
            self.build_dict(column)

    def build_sorted(self, column: pa.Array) -> None:
        values, valid = numpy_values(column, int)
        positions = np.flatnonzero(valid)
        order = np.argsort(values[positions], kind="stable")
        self.sorted_keys = values[positions][order]
        self.sorted_rows = positions[order].astype(np.int64)
        repeated = np.flatnonzero(self.sorted_keys[1:] == self.sorted_keys[:-1])
        if len(repeated):
            first = int(repeated[0])
            self.raise_duplicate(int(self.sorted_keys[first]), int(self.sorted_rows[first]), int(self.sorted_rows[first + 1]))

    def build_dict(self, column: pa.Array) -> None:
        self.rows_by_key: dict[str, int] = {}
        for row, key in enumerate(column.to_pylist()):
            if key is None:
                continue
            earlier = self.rows_by_key.setdefault(key, row)
            if earlier != row:
                self.raise_duplicate(key, earlier, row)

    def raise_duplicate(self, key: Any, first_row: int, second_row: int) -> None:
        raise GraphError(
            f"the key {self.name} = {key!r} is on rows {min(first_row, second_row)} and {max(first_row, second_row)} "
            f"of the source; a primary key must be unique"
        )

    def lookup_one(self, key: Any) -> int:
        """Return the row of one key, or -1 if the source does not contain it."""
        if not self.is_integer:
            return self.rows_by_key.get(key, MISSING) if type(key) is str else MISSING
        if type(key) is not int or not -(2**63) <= key < 2**63:
            return MISSING
        position = int(self.sorted_keys.searchsorted(key))
        if position < len(self.sorted_keys) and self.sorted_keys[position] == key:
            return int(self.sorted_rows[position])
        return MISSING

    def lookup(self, keys: Sequence[Any]) -> np.ndarray:
        """Return the row of each key as an int64 array, -1 where the source does not contain the key."""
        return np.array([self.lookup_one(key) for key in keys], dtype=np.int64)

    def lookup_arrow(self, keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Return the row of each key of an Arrow column, -1 for null keys and keys the source does not contain."""
        if isinstance(keys, pa.ChunkedArray):
            keys = keys.combine_chunks()
        if not (self.is_integer and pa.types.is_integer(keys.type)):
            return self.lookup(keys.to_pylist())
        if len(self.sorted_keys) == 0:
            return np.full(len(keys), MISSING, dtype=np.int64)
        values, valid = numpy_values(keys, int)
        positions = np.minimum(self.sorted_keys.searchsorted(values), len(self.sorted_keys) - 1)
        found = (self.sorted_keys[positions] == values) & valid
        return np.where(found, self.sorted_rows[positions], MISSING)
