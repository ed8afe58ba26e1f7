"""Filters pushed from a join's build side into its probe side: key range and membership.

A filter keeps the probe rows whose key may occur among the build keys. An integer key must
lie inside the build's [min, max]. Membership is tested with an in-list when the build has
at most IN_LIST_MAX distinct keys, and with a blocked Bloom filter beyond. A filter never
drops a row that has a match, but a Bloom filter keeps some rows that have none.

The Bloom filter has 16 bits per distinct key, rounded up to a power of two of 64-bit
words, and sets four bits of one word per key. Its false positive rate is below 1% at that
size (the tests measure it on random keys).

`expression()` gives the range and in-list as a pyarrow compute expression, which a scan
of a dataset or Parquet file can evaluate, skipping row groups by their statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurejit.joins.compiled import call, kernel
from featurejit.joins.keys import KeyBuffers
from featurejit.joins.operators import BuiltTable, address, ensure_hashes
from featurejit.joins.planner import IN_LIST_MAX

BLOOM_BITS_PER_KEY = 16
NO_BLOOM = -1
# The sample that `JoinFilter.sample_pass_fraction` filters: SAMPLE_BLOCKS blocks of SAMPLE_BLOCK_ROWS rows.
SAMPLE_BLOCKS = 16
SAMPLE_BLOCK_ROWS = 1024


@dataclass
class JoinFilter:
    """The build side's key range and membership test, to apply to probe keys."""

    kind: str  # the key kind, "int", "str32" or "str64"
    minimum: int | None
    maximum: int | None
    in_list: np.ndarray | None  # keys (integers) or key hashes (strings)
    in_list_values: list[Any] | None  # the keys themselves, for expression()
    bloom: np.ndarray | None
    distinct: int
    single_column: bool = True  # False for keys of several columns, which expression() cannot state

    @classmethod
    def from_build(cls, table: BuiltTable, single_column: bool = True) -> JoinFilter:
        """Make the filter of a built table, whose keys come from one column or from several."""
        keys = table.key
        ensure_hashes(keys)
        in_list = None
        in_list_values = None
        bloom = None
        if 0 < table.distinct <= IN_LIST_MAX:
            in_list, in_list_values = distinct_keys(keys, table)
        elif table.distinct > IN_LIST_MAX:
            words = next_power_of_two(max(1, -(-table.distinct * BLOOM_BITS_PER_KEY // 64)))
            bloom = np.zeros(words, dtype=np.int64)
            call(f"bloom_add:{keys.kind}", [*keys.fields, keys.rows, address(bloom), words - 1])
        return cls(keys.kind, table.minimum, table.maximum, in_list, in_list_values, bloom, table.distinct, single_column)

    def describe(self) -> str:
        parts = []
        if self.minimum is not None and self.distinct:
            parts.append(f"min/max [{self.minimum:,}, {self.maximum:,}]")
        if self.in_list is not None:
            parts.append(f"an in-list of {len(self.in_list)} key{'s' if len(self.in_list) != 1 else ''}")
        elif self.bloom is not None:
            parts.append(f"a Bloom filter of {self.distinct:,} keys in {self.bloom.nbytes:,} bytes")
        if not self.distinct:
            parts.append("no build keys, so no probe row passes")
        return " and ".join(parts)

    def select(self, keys: KeyBuffers) -> np.ndarray:
        """Return the probe rows that pass, in order, as int64 row numbers."""
        selected = np.empty(max(keys.rows, 1), dtype=np.int64)
        return selected[: self.select_range(keys, 0, keys.rows, selected)]

    def select_range(self, keys: KeyBuffers, start: int, stop: int, out: np.ndarray) -> int:
        """Write the probe rows of [start, stop) that pass to `out`, in order, and return their count.

        `out` is an int64 array of at least stop - start entries.
        """
        assert (keys.kind == "int") == (self.kind == "int"), "both sides of a join use one key encoding"
        assert 0 <= start <= stop <= keys.rows, "the rows lie inside the keys"
        assert out.dtype == np.int64, "the output holds int64 row numbers"
        assert len(out) >= stop - start, "the output has room for every row"
        if not self.distinct or start == stop:
            return 0
        ensure_hashes(keys)
        in_list = self.in_list if self.in_list is not None else np.zeros(1, dtype=np.int64)
        in_list_length = 0 if self.in_list is None else len(self.in_list)
        bloom = self.bloom if self.bloom is not None else np.zeros(1, dtype=np.int64)
        word_mask = NO_BLOOM if self.bloom is None else len(self.bloom) - 1
        low = self.minimum if self.minimum is not None else -(2**63)
        high = self.maximum if self.maximum is not None else 2**63 - 1
        fields = [
            *keys.fields, start, stop, low, high, address(in_list), in_list_length, address(bloom), word_mask, address(out)
        ]
        array = np.array(fields, dtype=np.int64)
        return int(kernel(f"filter:{keys.kind}")(array.ctypes.data))

    def sample_pass_fraction(self, keys: KeyBuffers) -> tuple[float, int]:
        """Return the share of probe rows that pass in SAMPLE_BLOCKS blocks spread over the keys, and the rows read.

        Blocks rather than single rows keep the reads sequential, and spreading them over
        the column covers probe sides whose keys change along the rows, such as sorted ones.
        """
        block = min(SAMPLE_BLOCK_ROWS, keys.rows)
        out = np.empty(max(block, 1), dtype=np.int64)
        starts = {index * (keys.rows - block) // max(SAMPLE_BLOCKS - 1, 1) for index in range(SAMPLE_BLOCKS)}
        passed = sum(self.select_range(keys, start, start + block, out) for start in starts)
        read = len(starts) * block
        return (passed / read if read else 0.0), read

    def expression(self, column: str) -> pc.Expression | None:
        """Return the range and in-list as a pyarrow expression over `column`, or None if there is neither.

        Keys of several columns are packed or concatenated, so their filter has no expression.
        """
        if not self.single_column:
            return None
        terms = []
        if self.minimum is not None and self.distinct:
            terms.append((pc.field(column) >= self.minimum) & (pc.field(column) <= self.maximum))
        if self.in_list_values is not None:
            terms.append(pc.field(column).isin(self.in_list_values))
        if not terms:
            return None
        result = terms[0]
        for term in terms[1:]:
            result = result & term
        return result


def next_power_of_two(value: int) -> int:
    return 1 << max(0, (value - 1).bit_length())


def distinct_keys(keys: KeyBuffers, table: BuiltTable) -> tuple[np.ndarray, list[Any] | None]:
    """Return the distinct keys (hashes for strings) of a small build, and the keys as Python values."""
    if keys.kind == "int":
        assert keys.values is not None
        if table.mode == "array":
            present = np.flatnonzero(table.heads >= 0) + table.mask_or_min
        else:
            slots = table.heads.reshape(-1, 2)
            present = slots[slots[:, 1] >= 0, 0]
        values = np.sort(present.astype(np.int64))
        return values, [int(value) for value in values]
    slots = table.heads.reshape(-1, 2)
    hashes = np.sort(slots[slots[:, 1] >= 0, 0])
    array = keys.keep[2] if len(keys.keep) > 2 and isinstance(keys.keep[2], pa.Array) else None
    strings = None if array is None else pc.unique(array.drop_null()).to_pylist()
    return hashes, strings
