"""A HyperLogLog sketch of the distinct values of a column.

The algorithm is the one of Flajolet, Fusy, Gandouet and Meunier, "HyperLogLog: the analysis
of a near-optimal cardinality estimation algorithm" (2007), with 64-bit hashes, so it needs
no correction for large counts, and with linear counting for small counts as Heule, Nunkesser
and Hall propose in "HyperLogLog in Practice" (2013). The top `precision` bits of a hash
select one of the 2**precision registers. The register keeps the largest rank it has seen,
where the rank is one plus the number of leading zeros of the hash's remaining bits. The compiled `sketch` kernel
hashes the keys and updates the registers in one pass.

Error bound: the relative standard error of the estimate is about 1.04 / sqrt(2**precision),
0.81% at the default precision 14 (16 KiB of registers). The tests check that estimates stay
within four standard errors of exact counts from 1 to 300,000 values over several seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from featurejit.joins.compiled import call
from featurejit.joins.keys import (
    KeyBuffers,
    contiguous,
    int64_values,
    int_key,
    integer_view,
    key_class,
    string_key,
)
from featurejit.joins.operators import address

DEFAULT_PRECISION = 14
MIN_PRECISION = 4
MAX_PRECISION = 18


class HyperLogLog:
    """Registers of a HyperLogLog sketch; add Arrow columns, merge sketches, read the estimate."""

    def __init__(self, precision: int = DEFAULT_PRECISION):
        if not MIN_PRECISION <= precision <= MAX_PRECISION:
            raise ValueError(f"precision {precision} is outside {MIN_PRECISION} to {MAX_PRECISION}")
        self.precision = precision
        self.registers = np.zeros(1 << precision, dtype=np.uint8)

    @property
    def standard_error(self) -> float:
        """The relative standard error of the estimate, 1.04 / sqrt(registers)."""
        return 1.04 / math.sqrt(len(self.registers))

    def add(self, column: pa.Array | pa.ChunkedArray) -> int:
        """Add the valid values of a column; return how many there were."""
        if isinstance(column, pa.ChunkedArray):
            return sum(self.add(chunk) for chunk in column.chunks)
        return self.add_keys(sketch_keys(column))

    def add_keys(self, keys: KeyBuffers) -> int:
        """Add the valid keys of a join key column; return how many there were."""
        return call(f"sketch:{keys.kind}", [*keys.fields, keys.rows, address(self.registers), self.precision])

    def merge(self, other: HyperLogLog) -> None:
        """Fold another sketch of the same precision into this one, as if its values were added here."""
        if other.precision != self.precision:
            raise ValueError(f"cannot merge a sketch of precision {other.precision} into one of precision {self.precision}")
        np.maximum(self.registers, other.registers, out=self.registers)

    def estimate(self) -> float:
        """Return the estimated number of distinct values added."""
        count = len(self.registers)
        alpha = 0.7213 / (1 + 1.079 / count)
        harmonic = float(np.sum(np.ldexp(1.0, -self.registers.astype(np.int64))))
        raw = alpha * count * count / harmonic
        empty = int(np.count_nonzero(self.registers == 0))
        if raw <= 2.5 * count and empty:
            return count * math.log(count / empty)  # linear counting
        return raw


def sketch_keys(column: pa.Array) -> KeyBuffers:
    """Return a column's values as hashable kernel keys: integers, float bits or bytes."""
    column = contiguous(column)
    name = "sketched column"
    kind = key_class(column.type)
    if kind in ("str", "binary"):
        return string_key(column, name)
    if pa.types.is_floating(column.type):
        values = np.asarray(column.cast(pa.float64()).fill_null(0.0), dtype=np.float64)
        # Equal floats must hash alike: -0.0 equals 0.0, and every NaN counts as one value.
        values = np.where(values == 0.0, 0.0, values)
        values = np.where(np.isnan(values), np.nan, values)
        return int_key(values.view(np.int64), None, column, name)
    if kind is None:
        raise TypeError(f"cannot sketch a column of type {column.type}")
    view = integer_view(column)
    return int_key(int64_values(view, name), None, view, name)
