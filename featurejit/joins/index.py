"""A persistent lookup index over a table's key, built once and probed by online lookups and joins.

`Index.build(table, key)` builds a direct-address array for dense integer keys, a hash table
for sparse integer and string keys, packed 64-bit keys for keys of several integer-like
columns (concatenated bytes when they do not pack), and a multimap when keys repeat.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from featurejit.joins import operators
from featurejit.joins.compiled import kernel, lookup_kernel
from featurejit.joins.kernels import PROBE_LEFT, PROBE_UNIQUE
from featurejit.joins.keys import (
    KeyBuffers,
    KeySpec,
    check_key_types,
    contiguous,
    encode_keys,
    int_part,
    integer_view,
    ones_bitmap,
    part_range,
    plan_packing,
)
from featurejit.joins.plan import HOWS, JoinPlan, as_table, assemble, quick_stats
from featurejit.joins.planner import JoinChoice
from featurejit.joins.stats import TableStats

INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1
SCALAR_STRING_KEYS = 16  # string keys up to this many are looked up one by one, without Arrow arrays


def check_awareness(values: Any, arrow_type: pa.TimestampType, column: str) -> None:
    """Raise TypeError for a datetime among `values` that is aware where the column is naive, or the reverse.

    Arrow would convert an aware datetime to a naive column's UTC time, but in Python a naive
    datetime never equals an aware one.
    """
    column_aware = arrow_type.tz is not None
    for value in values if isinstance(values, list | tuple) else []:
        if isinstance(value, datetime.datetime) and (value.tzinfo is not None) != column_aware:
            kind, column_kind = ("an aware", "naive") if value.tzinfo is not None else ("a naive", "aware")
            raise TypeError(
                f"the key column {column!r} contains {column_kind} timestamps ({arrow_type}), but the lookup key "
                f"{value!r} is {kind} datetime, which never equals one of them; pass {column_kind} datetimes"
            )


class Index:
    """A lookup structure over the key columns of one table, kept with the table."""

    def __init__(self, table: pa.Table, key: list[str], spec: KeySpec, structure: operators.BuiltTable):
        self.table = table
        self.key = key
        self.spec = spec
        self.table_structure = structure
        self.fields = np.array(structure.fields, dtype=np.int64)
        self.scalar = None
        if len(key) == 1:
            self.scalar = lookup_kernel(f"lookup_one:{structure.mode}:{structure.key.kind}")
        # The fields of a probe of int64 keys with all-ones validity, for python_key_rows to fill in.
        self.probe_kernel = kernel(operators.probe_kernel_name(structure, "int")) if structure.key.kind == "int" else None
        self.lookup_table = table.select([*key, *(name for name in table.column_names if name not in key)])
        flags = PROBE_LEFT | PROBE_UNIQUE
        self.probe_template = np.array([0, 0, 0, 0, 0, 0, flags, 0, 0, 0, 0, *structure.fields], dtype=np.int64)

    @classmethod
    def build(cls, table: pa.Table | pa.RecordBatch, key: str | Sequence[str]) -> Index:
        """Build the index of `table` over the key column `key`, or the columns of a list of names."""
        table = as_table(table, "indexed")
        names = [key] if isinstance(key, str) else list(key)
        if not names:
            raise ValueError("an index needs at least one key column")
        for name in names:
            if name not in table.column_names:
                raise KeyError(f"the table has no column {name!r}; its columns are {', '.join(table.column_names)}")
        table = table.combine_chunks()
        types = [(name, table.schema.field(name).type) for name in names]
        classes = check_key_types(types, types)
        unsigned = [(pa.types.is_uint64(arrow_type),) * 2 for _, arrow_type in types]
        spec = KeySpec(names, names, classes, None, unsigned)  # type: ignore[arg-type]
        if len(names) > 1 and spec.is_integer:
            ranges = [part_range(int_part(integer_view(contiguous(table.column(name))), name)) or (0, 0) for name in names]
            spec.packing = plan_packing(ranges)
        keys = encode_keys(table, names, spec, 1)
        return cls(table, names, spec, operators.build(keys))

    @property
    def unique(self) -> bool:
        """Whether every non-null key occurs once; a multimap otherwise."""
        return self.table_structure.unique

    @property
    def nbytes(self) -> int:
        """Bytes of the lookup structure, not counting the table."""
        return self.table_structure.nbytes

    def describe(self) -> str:
        structure = self.table_structure
        return f"{structure.describe()} over {', '.join(self.key)} ({structure.valid:,} keys, {structure.distinct:,} distinct)"

    def __repr__(self) -> str:
        return f"<Index {self.describe()}>"

    # ----------------------------------------------------------------------------------
    # Probe keys
    # ----------------------------------------------------------------------------------

    def encode_probe(self, keys: pa.Table, names: Sequence[str]) -> KeyBuffers:
        """Encode the key columns `names` of `keys` as this index encodes its own keys."""
        types = [(name, keys.schema.field(name).type) for name in names]
        check_key_types(types, [(name, self.table.schema.field(name).type) for name in self.key])
        unsigned = [
            (pa.types.is_uint64(arrow_type), pair[1]) for (_, arrow_type), pair in zip(types, self.spec.unsigned, strict=True)
        ]
        spec = KeySpec(list(names), self.key, self.spec.classes, self.spec.packing, unsigned)
        return encode_keys(keys, names, spec, 0)

    def key_table(self, keys: Any) -> pa.Table:
        """Return lookup keys as a table with the index's key column names."""
        if isinstance(keys, pa.RecordBatch):
            keys = pa.Table.from_batches([keys])
        if isinstance(keys, pa.Table):
            missing = [name for name in self.key if name not in keys.column_names]
            if missing:
                raise KeyError(f"the keys have no column {missing[0]!r}; the index's key is {', '.join(self.key)}")
            return keys.select(self.key)
        if isinstance(keys, dict):
            return self.key_table(pa.table(keys))
        if len(self.key) == 1:
            if isinstance(keys, str | bytes | int) or not hasattr(keys, "__len__"):
                keys = [keys]
            if isinstance(keys, pa.Array | pa.ChunkedArray):
                return pa.table({self.key[0]: keys})
            values = keys if isinstance(keys, np.ndarray) else list(keys)
            return pa.table({self.key[0]: self.python_array(values, 0)})
        rows = list(keys)
        for row in rows:
            if not isinstance(row, tuple | list) or len(row) != len(self.key):
                raise TypeError(
                    f"the index's key has {len(self.key)} columns ({', '.join(self.key)}), but got the key {row!r}; "
                    f"give each key as a tuple of {len(self.key)} values"
                )
        columns = {name: self.python_array([row[index] for row in rows], index) for index, name in enumerate(self.key)}
        return pa.table(columns)

    def python_array(self, values: Any, part: int) -> pa.Array:
        """Make an Arrow array of lookup values for the key part `part`.

        Integers become int64, or uint64 when they do not fit, whatever the width of the indexed
        column, so that a key outside its range finds no row instead of raising. Other values
        take the column's type.
        """
        arrow_type = self.table.schema.field(self.key[part]).type
        if pa.types.is_dictionary(arrow_type):
            arrow_type = arrow_type.value_type
        if pa.types.is_timestamp(arrow_type):
            check_awareness(values, arrow_type, self.key[part])
        candidates = [arrow_type]
        if self.spec.classes[part] == "int":
            candidates = [pa.int64(), pa.uint64()]
            self.check_integer_keys(values, part, arrow_type)
            if isinstance(values, list | tuple):
                values = [int(value) if isinstance(value, bool | np.bool_) else value for value in values]
                # An int beyond both types is no key of the column, and finds no row as a null key does.
                values = [None if type(value) is int and not INT64_MIN <= value <= UINT64_MAX else value for value in values]
        elif self.spec.classes[part] == "str":
            candidates = [pa.string(), pa.large_string()]
        error: Exception | None = None
        for candidate in candidates:
            try:
                return pa.array(values, type=candidate)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as failure:
                error = failure
        raise TypeError(f"the lookup keys do not fit the key column {self.key[part]!r} ({arrow_type}): {error}") from None

    def check_integer_keys(self, values: Any, part: int, arrow_type: pa.DataType) -> None:
        """Raise TypeError for lookup values of an integer key part that are not ints, bools or None.

        Arrow would truncate a float such as 1.5 to the key 1, which `get` rejects.
        """
        if isinstance(values, np.ndarray):
            if values.dtype.kind not in "iub":
                raise TypeError(
                    f"the key column {self.key[part]!r} has integer keys ({arrow_type}), but got an array of "
                    f"{values.dtype}; pass ints"
                )
            return
        wrong = next((value for value in values if value is not None and not isinstance(value, int | np.integer | np.bool_)), None)
        if wrong is not None:
            raise TypeError(
                f"the key column {self.key[part]!r} has integer keys ({arrow_type}), but got the key {wrong!r} "
                f"({type(wrong).__name__}); pass ints"
            )

    # ----------------------------------------------------------------------------------
    # Lookups
    # ----------------------------------------------------------------------------------

    def get(self, key: Any) -> int:
        """Return the row of one key of a single-column index, -1 if the table lacks it (the first row of a multimap)."""
        scalar = self.scalar
        if scalar is None:
            rows = self.rows([key])
            return int(rows[0])
        if self.table_structure.key.kind == "int":
            if isinstance(key, bool) or not isinstance(key, int | np.integer):
                if not isinstance(key, bool):
                    raise TypeError(f"the index over {self.key[0]!r} has integer keys, but got {type(key).__name__}")
            key = int(key)
            if self.spec.unsigned[0][1]:  # a uint64 column: its keys are stored as their 64 bits
                if not 0 <= key < 2**64:
                    return -1
                key = key - 2**64 if key > INT64_MAX else key
            elif not INT64_MIN <= key <= INT64_MAX:
                return -1
            return int(scalar(self.fields.ctypes.data, key))
        if isinstance(key, str):
            data = key.encode("utf-8", "surrogatepass")
        elif isinstance(key, bytes):
            data = key
        else:
            raise TypeError(f"the index over {self.key[0]!r} has string keys, but got {type(key).__name__}")
        return int(scalar(self.fields.ctypes.data, data, len(data)))

    def rows(self, keys: Any) -> np.ndarray:
        """Return the row of each key as int64, -1 where the table lacks it (the first row of a multimap)."""
        fast = self.python_key_rows(keys)
        if fast is not None:
            return fast
        table = self.key_table(keys)
        return operators.lookup_rows(self.table_structure, self.encode_probe(table, self.key))

    def python_key_rows(self, keys: Any) -> np.ndarray | None:
        """Return the rows of a list of Python keys without building Arrow arrays, or None when the
        keys need the general path (keys of several columns, None, other types, uint64 columns).

        Online lookups pass a few keys, for which building and checking Arrow arrays costs
        more than the lookup itself.
        """
        if self.scalar is None or not isinstance(keys, list | tuple) or not keys:
            return None
        kind = self.table_structure.key.kind
        if len(keys) == 1 and type(keys[0]) is (int if kind == "int" else str):
            return np.array([self.get(keys[0])], dtype=np.int64)
        if kind == "int":
            if self.spec.unsigned[0][1] or not all(type(key) is int for key in keys):
                return None
            try:
                values = np.array(keys, dtype=np.int64)
            except OverflowError:
                return None
            return self.probe_values(values)
        if len(keys) > SCALAR_STRING_KEYS or not all(type(key) is str for key in keys):
            return None
        return np.array([self.get(key) for key in keys], dtype=np.int64)

    def probe_values(self, values: np.ndarray) -> np.ndarray:
        """Return the first row of each int64 key, through the probe kernel with prepared fields."""
        rows = np.empty(len(values), dtype=np.int64)
        pairs = np.empty(len(values), dtype=np.int64)
        fields = self.probe_template.copy()
        ones = ones_bitmap(len(values))
        fields[0:2] = [values.ctypes.data, ones.ctypes.data]
        fields[4] = len(values)  # stop
        fields[8:11] = [pairs.ctypes.data, rows.ctypes.data, len(values)]
        assert self.probe_kernel is not None, "only indexes of integer keys probe int64 values"
        found = int(self.probe_kernel(fields.ctypes.data))
        assert found == len(values), "a left probe of unique keys gives one pair per key"
        return rows

    def lookup(self, keys: Any, columns: Sequence[str] | None = None) -> pa.Table:
        """Return the table's rows for `keys`, in key order, as a left join of the keys against the table.

        A key that the table lacks gives one row of nulls, and a repeated key of a multimap all
        its rows. The result starts with the key columns as given, then the table's other
        columns, or those named in `columns`.
        """
        if columns is not None:
            if isinstance(columns, str):
                columns = [columns]
            unknown = [name for name in columns if name not in self.table.column_names]
            if unknown:
                raise KeyError(f"the indexed table has no column {unknown[0]!r}; its columns are {', '.join(self.table.column_names)}")
        wanted = [name for name in (self.table.column_names if columns is None else columns) if name not in self.key]
        selected = self.lookup_table if columns is None else self.table.select([*self.key, *wanted])
        if self.unique:
            fast = self.python_key_rows(keys)
            if fast is not None:
                missing = fast < 0
                if not missing.any():
                    # Every key found: the rows themselves, keys included, with no request table to build.
                    if len(fast) == 1:
                        return selected.slice(int(fast[0]), 1)
                    return selected.take(fast)
                # A key column of the keys as given, and the other columns of the found rows.
                found_rows = selected.take(pa.array(fast, mask=missing))
                key_column = self.with_key_types(self.key_table(keys))
                key_field = selected.schema.field(0).with_type(key_column.schema.field(0).type)
                return found_rows.set_column(0, key_field, key_column.column(0))
        request = self.key_table(keys)
        if not isinstance(keys, pa.Table | pa.RecordBatch | pa.Array | pa.ChunkedArray | dict):
            request = self.with_key_types(request)
        probe_keys = self.encode_probe(request, self.key)
        request_rows: np.ndarray | None = None  # every key in order: one row per key of a unique index
        if self.unique:
            table_rows = operators.lookup_rows(self.table_structure, probe_keys)
        else:
            request_rows, table_rows = operators.probe(self.table_structure, probe_keys, True, threads=1)
        return assemble(request, selected, request_rows, table_rows, self.key, "_right")

    def with_key_types(self, request: pa.Table) -> pa.Table:
        """Return Python lookup keys in the indexed key columns' types where every key fits.

        Then the key columns of a lookup's result have one type whether or not a key was
        found: the rows of found keys come from the table itself.
        """
        target = pa.schema([self.table.schema.field(name) for name in self.key])
        try:
            return request.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
            return request  # a key outside the column's type, which finds no row

    def join(
        self,
        left: pa.Table | pa.RecordBatch,
        on: str | Sequence[str] | None = None,
        how: str = "left",
        *,
        suffix: str = "_right",
        left_stats: TableStats | None = None,
    ) -> pa.Table:
        """Join `left` with the indexed table through this index; `on` names the left key columns,
        the index's own key names by default."""
        return self.plan_join(left, on, how, suffix=suffix, left_stats=left_stats).execute()

    def plan_join(
        self,
        left: pa.Table | pa.RecordBatch,
        on: str | Sequence[str] | None = None,
        how: str = "left",
        *,
        suffix: str = "_right",
        left_stats: TableStats | None = None,
    ) -> JoinPlan:
        if how not in HOWS:
            raise ValueError(f"invalid how={how!r}; featurejit joins support {', '.join(map(repr, HOWS))}")
        table = as_table(left, "left")
        if on is None:
            names = list(self.key)
        else:
            names = [on] if isinstance(on, str) else list(on)
        for name in names:
            if name not in table.column_names:
                raise KeyError(f"the left table has no column {name!r}; its columns are {', '.join(table.column_names)}")
        if len(names) != len(self.key):
            raise ValueError(f"the index's key has {len(self.key)} column(s) ({', '.join(self.key)}), but on= names {len(names)}")
        left_types = [(name, table.schema.field(name).type) for name in names]
        check_key_types(left_types, [(name, self.table.schema.field(name).type) for name in self.key])
        left_stats = left_stats or quick_stats(table, names, False)
        right_stats = TableStats(self.table.num_rows, self.table.nbytes)
        choice = JoinChoice("index join", "right", False, [f"the right side has a lookup index: {self.describe()}"])
        return JoinPlan(table, self.table, names, self.key, how, suffix, self.spec, left_stats, right_stats, choice, self)
