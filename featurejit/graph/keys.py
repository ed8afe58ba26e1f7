"""Lookup of entity keys in a source: from key values to row numbers, built once per source.

The lookup structure is a `featurejit.joins.Index`: a direct-address array for dense integer
keys, an open-addressing hash table for sparse integer and string keys, probed by compiled
kernels. A key that is not in the source, a null key, and a key of the other kind (a str for
an integer column, say) give row -1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurejit.graph.errors import GraphError
from featurejit.joins import Index

MISSING = -1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def decoded(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return a key column as one array of its values, decoding dictionary arrays (Parquet's categorical columns)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return column


class KeyIndex:
    """Row numbers of the keys of one source column, for online lookups."""

    def __init__(self, name: str, column: pa.Array | pa.ChunkedArray):
        self.name = name
        column = decoded(column)
        self.is_integer = pa.types.is_integer(column.type)
        if not self.is_integer and not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            raise GraphError(f"the key column {name} is {column.type}; keys must be integers or strings")
        self.rows = len(column)
        self.index = Index.build(pa.table({name: column}), name)
        if not self.index.unique:
            self.raise_first_duplicate(column)

    def raise_first_duplicate(self, column: pa.Array) -> None:
        """Raise GraphError naming a repeated key and the first two rows that have it."""
        counts = pc.value_counts(column.drop_null())
        repeated = counts.filter(pc.greater(counts.field("counts"), 1))
        key = repeated.field("values")[0].as_py()
        rows = np.flatnonzero(pc.equal(column, key).fill_null(False).to_numpy(zero_copy_only=False))
        raise GraphError(
            f"the key {self.name} = {key!r} is on rows {rows[0]} and {rows[1]} of the source; a primary key must be unique"
        )

    def accepts(self, key: Any) -> bool:
        """Return whether `key` can be in the column: an int in int64 range for integers, a str for strings."""
        if not self.is_integer:
            return type(key) is str
        return type(key) is int and INT64_MIN <= key <= INT64_MAX

    def lookup_one(self, key: Any) -> int:
        """Return the row of one key, or -1 if the source does not contain it."""
        if not self.accepts(key):
            return MISSING
        return self.index.get(key)

    def lookup(self, keys: Sequence[Any]) -> np.ndarray:
        """Return the row of each key as an int64 array, -1 where the source does not contain the key."""
        keys = list(keys)
        if keys and all(self.accepts(key) for key in keys):
            return self.index.rows(keys)
        return np.array([self.lookup_one(key) for key in keys], dtype=np.int64)

    def lookup_arrow(self, keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Return the row of each key of an Arrow column, -1 for null keys and keys the source does not contain."""
        keys = decoded(keys)
        if self.is_integer:
            same_kind = pa.types.is_integer(keys.type)
        else:
            same_kind = pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type)
        if not same_kind:
            return self.lookup(keys.to_pylist())
        return self.index.rows(keys)
