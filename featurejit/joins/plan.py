"""`join` and `plan_join`: inner and left joins of two Arrow tables with compiled kernels.

The output has the left table's columns, then the right table's columns other than its key
columns, as a Polars join with `coalesce=True` has them. A right column whose name the left
side already has gets `suffix`. Rows come in the order the operator produces them, which is
not specified.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from featurejit.joins import operators
from featurejit.joins.filters import SAMPLE_BLOCK_ROWS, SAMPLE_BLOCKS, JoinFilter
from featurejit.joins.keys import KeyBuffers, KeySpec, contiguous, encode_keys, key_class, key_spec
from featurejit.joins.planner import IN_LIST_MAX, PUSHDOWN_MAX_MATCH, JoinChoice, choose_join
from featurejit.joins.sketch import HyperLogLog
from featurejit.joins.stats import ColumnStats, TableStats, is_sorted, min_max

if TYPE_CHECKING:
    from featurejit.joins.index import Index

HOWS = ("inner", "left")
PROBE_SKETCH_PRECISION = 12  # 4 KiB of registers, a standard error of about 1.6%
# A probe side this long has its pushed-down filter tried on a sample first. The sample is
# then at most an eighth of the rows that the filter would read.
PUSHDOWN_SAMPLE_MIN_ROWS = 8 * SAMPLE_BLOCKS * SAMPLE_BLOCK_ROWS
# An estimate, not a measured crossover: below this many rows a take with null indices is
# cheap enough, and index lookups of a few keys skip the extra arrays of `take_rows_with_nulls`.
MASKED_TAKE_MIN_ROWS = 4096


def as_table(data: Any, side: str) -> pa.Table:
    """Return a join side as a Table whose columns Arrow can gather."""
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if not isinstance(data, pa.Table):
        raise TypeError(f"the {side} side of a join must be a pyarrow Table or RecordBatch, but got {type(data).__name__}")
    return without_views(data)


def without_views(table: pa.Table) -> pa.Table:
    """Cast string_view and binary_view columns, which newer Polars writes, to string and binary.

    Arrow's take, which gathers a join's output rows, has no kernel for the view types. The
    cast copies the values, and the output has string or binary columns in their place.
    """
    views = {pa.types.is_string_view: pa.string(), pa.types.is_binary_view: pa.binary()}
    for index, column_field in enumerate(table.schema):
        target = next((arrow_type for test, arrow_type in views.items() if test(column_field.type)), None)
        if target is not None:
            cast_field = pa.field(column_field.name, target, column_field.nullable)
            table = table.set_column(index, cast_field, table.column(index).cast(target))
    return table


def key_names(
    left: pa.Table, right: pa.Table, on: str | Sequence[str] | None, left_on: str | Sequence[str] | None, right_on: str | Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """Return the key columns of each side from `on`, or from `left_on` and `right_on`."""
    def listed(value: str | Sequence[str]) -> list[str]:
        return [value] if isinstance(value, str) else list(value)

    if on is not None:
        if left_on is not None or right_on is not None:
            raise ValueError("give either on=, or both left_on= and right_on=, not both forms")
        left_names = right_names = listed(on)
    elif left_on is not None and right_on is not None:
        left_names, right_names = listed(left_on), listed(right_on)
    else:
        raise ValueError("a join needs its key columns: on=NAME or on=[NAMES], or left_on= and right_on=")
    if not left_names:
        raise ValueError("a join needs at least one key column")
    for table, names, side in ((left, left_names, "left"), (right, right_names, "right")):
        columns = table.column_names
        repeated = sorted({name for name in columns if columns.count(name) > 1})
        if repeated:
            raise ValueError(
                f"the {side} table has {columns.count(repeated[0])} columns named {repeated[0]!r}; "
                f"rename or drop all but one before the join"
            )
        for name in names:
            if name not in columns:
                raise KeyError(f"the {side} table has no column {name!r}; its columns are {', '.join(columns)}")
    return left_names, right_names


def quick_stats(table: pa.Table, names: list[str], sortedness: bool) -> TableStats:
    """Return the statistics a join gathers itself: rows, bytes, and per key column nulls, range and order."""
    columns = {}
    for name in names:
        column = table.column(name)
        array = contiguous(column) if sortedness or key_class(column.type) not in ("str", "binary") else None
        low, high = min_max(array) if array is not None else (None, None)
        if isinstance(low, bool) and isinstance(high, bool):
            low, high = int(low), int(high)
        ordered = is_sorted(array) if sortedness and array is not None else None
        columns[name] = ColumnStats(name, column.type, len(column), column.null_count, low, high, sorted=ordered)
    return TableStats(table.num_rows, table.nbytes, columns)


def take_rows(table: pa.Table, rows: np.ndarray | None) -> pa.Table:
    """Return the table's rows at `rows`, with a row of nulls for -1; None means every row in order."""
    if rows is None:
        return table
    missing = rows < 0
    if not missing.any():
        return table.take(pa.array(rows))
    if len(rows) < MASKED_TAKE_MIN_ROWS or table.num_rows == 0:
        return table.take(pa.array(rows, mask=missing))
    return take_rows_with_nulls(table, rows, missing)


def is_flat_fixed_width(arrow_type: pa.DataType) -> bool:
    """Return whether arrays of the type are a validity bitmap and one buffer of values, nothing else."""
    return any(
        check(arrow_type)
        for check in (
            pa.types.is_integer, pa.types.is_floating, pa.types.is_temporal, pa.types.is_boolean,
            pa.types.is_decimal, pa.types.is_fixed_size_binary,
        )
    )


def take_rows_with_nulls(table: pa.Table, rows: np.ndarray, missing: np.ndarray) -> pa.Table:
    """Return `take_rows` of rows some of which are -1, without null indices where a column allows.

    Arrow's take checks the validity of each index when the indices have nulls. With 10% of
    them null, that doubled its time (pyarrow 26, two columns of 1,000,000 rows taken 262,144
    rows at a time, on a 2-core Xeon virtual machine). Fixed-width
    columns are taken at row 0 for the -1 rows instead, and get those rows' nulls from a
    bitmap afterwards. Other columns, such as strings, take the indices with nulls.
    """
    fast = [name for name in table.column_names if is_flat_fixed_width(table.schema.field(name).type)]
    columns: dict[str, pa.ChunkedArray] = {}
    if fast:
        found = np.packbits(~missing, bitorder="little")
        taken = table.select(fast).take(pa.array(np.where(missing, 0, rows)))
        for name in fast:
            columns[name] = with_missing_rows(taken.column(name).combine_chunks(), found)
    slow = [name for name in table.column_names if name not in columns]
    if slow:
        taken = table.select(slow).take(pa.array(rows, mask=missing))
        columns.update({name: taken.column(name) for name in slow})
    return pa.Table.from_arrays([columns[name] for name in table.column_names], schema=table.schema)


def with_missing_rows(array: pa.Array, found: np.ndarray) -> pa.Array:
    """Return a fixed-width array with the rows whose bit in `found` (an LSB-first bitmap) is clear set to null."""
    assert array.offset == 0, "take returns arrays at offset 0"
    validity = found
    bitmap = array.buffers()[0]
    if array.null_count and bitmap is not None:
        validity = np.bitwise_and(found, np.frombuffer(bitmap, dtype=np.uint8, count=len(found)))
    return pa.Array.from_buffers(array.type, len(array), [pa.py_buffer(validity), array.buffers()[1]])


def right_output_columns(right: pa.Table, right_keys: list[str]) -> list[str]:
    return [name for name in right.column_names if name not in right_keys]


def output_names(left: pa.Table, right_kept: list[str], suffix: str) -> list[str]:
    """Return the joined table's column names: the left names, then the kept right names, with `suffix` on a repeat."""
    names = list(left.column_names)
    for name in right_kept:
        renamed = name if name not in names else f"{name}{suffix}"
        if renamed in names:
            raise ValueError(f"the right column {name!r} would be named {renamed!r}, which the left table already has; pass another suffix=")
        names.append(renamed)
    return names


def assemble(
    left: pa.Table, right: pa.Table, left_rows: np.ndarray | None, right_rows: np.ndarray, right_keys: list[str], suffix: str
) -> pa.Table:
    """Return the joined table: the left columns at `left_rows` (every row in order for None),
    then the right non-key columns at `right_rows`."""
    right_kept = right_output_columns(right, right_keys)
    names = output_names(left, right_kept, suffix)
    left_part = take_rows(left, left_rows)
    right_part = take_rows(right.select(right_kept), right_rows)
    return pa.Table.from_arrays([*left_part.columns, *right_part.columns], names=names)


def every_row_once(rows: np.ndarray, count: int) -> bool:
    """Return whether `rows` are 0, 1, ..., count - 1 in this order."""
    if len(rows) != count:
        return False
    if count == 0:
        return True
    if rows[0] != 0 or rows[-1] != count - 1:
        return False
    # count strictly increasing integers from 0 to count - 1 are exactly those.
    return bool(np.all(rows[1:] > rows[:-1]))


def single_chunks(table: pa.Table) -> pa.Table:
    """Return the table with one chunk per column, copying only when a column has several.

    Arrow's take concatenates the chunks of a chunked column on every call, which each
    morsel's gather would repeat.
    """
    if all(column.num_chunks <= 1 for column in table.columns):
        return table
    return table.combine_chunks()


@dataclass
class MorselGather:
    """Turns the pairs of a morsel of probe rows into its output rows: the left columns, then the kept right ones."""

    probe_side: pa.Table  # the probe side's output columns
    build_side: pa.Table  # the build side's output columns, one chunk each
    probe_is_left: bool
    names: list[str]
    # Each probe row gives one pair, in order, as when a left join probes unique keys with its left side.
    in_order: bool
    # Build-side output columns that are key columns, each with the probe side's key column of
    # the same type. A pair's keys are equal, so such a column is read in probe row order, a
    # near-sequential read, instead of gathered from the build side at random.
    keys_from_probe: dict[str, pa.ChunkedArray] = field(default_factory=dict)

    def __call__(self, morsel: operators.Morsel) -> pa.Table:
        count = morsel.stop - morsel.start
        probe_part = self.probe_side.slice(morsel.start, count)
        probe_rows = None if self.in_order else pa.array(morsel.probe_rows - morsel.start)
        if probe_rows is not None:
            probe_part = probe_part.take(probe_rows)
        build_names = self.build_side.column_names
        gathered = [name for name in build_names if name not in self.keys_from_probe]
        build_taken = take_rows(self.build_side.select(gathered), morsel.build_rows)
        build_columns = []
        for name in build_names:
            if name in self.keys_from_probe:
                key = self.keys_from_probe[name].slice(morsel.start, count)
                build_columns.append(key if probe_rows is None else key.take(probe_rows))
            else:
                build_columns.append(build_taken.column(name))
        left_columns, right_columns = (
            (probe_part.columns, build_columns) if self.probe_is_left else (build_columns, probe_part.columns)
        )
        return pa.Table.from_arrays([*left_columns, *right_columns], names=self.names)


def keys_from_probe(
    build_output: pa.Table, probe: pa.Table, build_on: list[str], probe_on: list[str]
) -> dict[str, pa.ChunkedArray]:
    """Return the build side's output key columns that MorselGather may read from the probe side.

    Call it only where every pair of a morsel is a match (the probe side drops its unmatched
    rows). Only key columns of one type qualify, whose equal keys are equal values: not a
    string against a large string, and not dictionary arrays, whose indices may differ.
    """
    columns = {}
    for build_name, probe_name in zip(build_on, probe_on, strict=True):
        if build_name not in build_output.column_names:
            continue
        build_type = build_output.schema.field(build_name).type
        probe_column = probe.column(probe_name)
        if build_type == probe_column.type and not pa.types.is_dictionary(build_type):
            columns[build_name] = probe_column
    return columns


@dataclass
class JoinPlan:
    """A join of two tables, the operator chosen for it, and after `execute()` what it measured."""

    left: pa.Table
    right: pa.Table
    left_on: list[str]
    right_on: list[str]
    how: str
    suffix: str
    spec: KeySpec
    left_stats: TableStats
    right_stats: TableStats
    choice: JoinChoice
    index: Index | None = None
    actual: list[str] = field(default_factory=list)
    rows_out: int | None = None
    seconds: float | None = None
    join_filter: JoinFilter | None = None

    def explain(self, condition: str | None = None) -> str:
        """Describe the operator, the statistics that chose it, and once executed what it found.

        `condition` replaces the text of the join condition, for a caller whose key columns are renamed.
        """
        if condition is None:
            condition = " AND ".join(f"left.{a} = right.{b}" for a, b in zip(self.left_on, self.right_on, strict=True))
        lines = [f"{self.choice.operator} ({self.how}) on {condition}, key encoded as {describe_encoding(self.spec)}"]
        lines += [f"  {reason}" for reason in self.choice.reasons]
        for side, stats, names in (("left", self.left_stats, self.left_on), ("right", self.right_stats, self.right_on)):
            for name in names:
                if name in stats.columns:
                    lines.append(f"  {side} statistics: {stats.columns[name].describe()}")
        lines += [f"  {fact}" for fact in self.actual]
        if self.rows_out is not None and self.seconds is not None:
            lines.append(f"  output: {self.rows_out:,} rows in {self.seconds * 1000:.2f} ms")
        return "\n".join(lines)

    def execute(self) -> pa.Table:
        """Run the join and return the joined table."""
        start = time.perf_counter()
        self.actual = []
        result = self.merge() if self.choice.operator == "merge join" else self.probe_and_gather()
        self.rows_out = result.num_rows
        self.seconds = time.perf_counter() - start
        return result

    def merge(self) -> pa.Table:
        left_keys = encode_keys(self.left, self.left_on, self.spec, 0)
        right_keys = encode_keys(self.right, self.right_on, self.spec, 1)
        merged_left, right_rows = operators.merge_join(left_keys, right_keys, self.how == "left")
        left_rows: np.ndarray | None = merged_left
        if every_row_once(merged_left, self.left.num_rows):
            # Each left row gives one output row, as a key into a table of unique keys does in a
            # left join: the left columns are the output as they are, and only the right side is gathered.
            self.actual.append("every left row gives one output row, so the left columns are kept without a copy")
            left_rows = None
        return assemble(self.left, single_chunks(self.right), left_rows, right_rows, self.right_on, self.suffix)

    def probe_and_gather(self) -> pa.Table:
        """Run a hash or index join: probe the build in morsels and gather each morsel's output rows.

        The output has one chunk per morsel, in probe row order. A left join that builds
        on its left side adds the left rows nothing matched in a last chunk.
        """
        keep_left = self.how == "left"
        right_kept = right_output_columns(self.right, self.right_on)
        names = output_names(self.left, right_kept, self.suffix)
        join_filter = None
        if self.choice.operator == "index join":
            assert self.index is not None
            build_side = "right"
            table = self.index.table_structure
            probe_keys = self.index.encode_probe(self.left, self.left_on)
            self.actual.append(f"index: {self.index.describe()}")
        else:
            assert self.choice.build is not None, "a hash join builds on one side"
            build_side = self.choice.build
            left_keys = encode_keys(self.left, self.left_on, self.spec, 0)
            right_keys = encode_keys(self.right, self.right_on, self.spec, 1)
            build_keys, probe_keys = (left_keys, right_keys) if build_side == "left" else (right_keys, left_keys)
            table = operators.build(build_keys)
            self.actual.append(f"after the build: {describe_build(table)}")
            join_filter = self.pushdown(table, probe_keys)

        right_output = self.right.select(right_kept)
        probe_is_left = build_side == "right"
        probe_output, build_output = (self.left, right_output) if probe_is_left else (right_output, self.left)
        # A left join probed with its left side keeps each left row. Built on its left side,
        # it drops the unmatched right rows (so a pushdown may filter them) and adds the
        # unmatched left rows after the probe.
        left_probe = keep_left and probe_is_left
        matched = np.zeros(max(table.rows, 1), dtype=np.uint8) if keep_left and not probe_is_left else None
        gather = MorselGather(probe_output, single_chunks(build_output), probe_is_left, names, left_probe and table.unique)
        if not probe_is_left:  # only a left join probed with its left side keeps unmatched probe rows
            gather.keys_from_probe = keys_from_probe(self.left, self.right, self.left_on, self.right_on)
            if gather.keys_from_probe:
                self.actual.append(
                    f"output key column(s) {', '.join(gather.keys_from_probe)} read from the right side in its row order"
                )
        select = None
        if join_filter is not None:
            select = functools.partial(join_filter.select_range, probe_keys)
        pieces, kept = operators.probe_gathered(table, probe_keys, left_probe, gather, matched=matched, select=select)
        if join_filter is not None:
            self.actual.append(f"pushdown: {join_filter.describe()} kept {kept:,} of {probe_keys.rows:,} probe rows")
        if not pieces:
            empty = np.zeros(0, dtype=np.int64)
            pieces.append(gather(operators.Morsel(0, 0, empty, empty, 0)))
        if matched is not None:
            unmatched = np.flatnonzero(matched[: table.rows] == 0)
            self.actual.append(f"{len(unmatched):,} left rows without a match added after the probe")
            pieces.append(assemble(self.left, self.right, unmatched, np.full(len(unmatched), -1, dtype=np.int64), self.right_on, self.suffix))
        return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)

    def pushdown(self, table: operators.BuiltTable, probe_keys: KeyBuffers) -> JoinFilter | None:
        """Return the filter of the probe rows that the build allows, or None when no filter is worth running."""
        if self.how != "inner" and self.choice.build != "left":
            return None  # a left join that probes with its left side keeps every probe row
        if not self.choice.pushdown and 0 < table.distinct <= IN_LIST_MAX < probe_keys.rows:
            # Statistics without distinct counts cannot tell this before the build, and an
            # in-list of a few keys costs less than probing the table with every row.
            self.choice.pushdown = True
            self.actual.append(f"after the build: only {table.distinct} distinct keys, so an in-list filters the probe")
        if not self.choice.pushdown and self.choice.estimated_match is None and probe_keys.rows >= 2 * table.distinct:
            self.decide_pushdown_after_build(table, probe_keys)
        if not self.choice.pushdown:
            return None
        self.join_filter = JoinFilter.from_build(table, single_column=len(self.left_on) == 1)
        if probe_keys.rows >= PUSHDOWN_SAMPLE_MIN_ROWS:
            # The estimates assume keys spread evenly over their range; a sample of the filter
            # itself measures what it keeps.
            share, sampled = self.join_filter.sample_pass_fraction(probe_keys)
            if share >= PUSHDOWN_MAX_MATCH:
                self.actual.append(
                    f"no pushdown after all: {self.join_filter.describe()} kept {share:.0%} of a sample of {sampled:,} "
                    f"probe rows, and filtering pays only below {PUSHDOWN_MAX_MATCH:.0%}"
                )
                return None
        return self.join_filter

    def decide_pushdown_after_build(self, table: operators.BuiltTable, probe_keys: KeyBuffers) -> None:
        """Choose the pushdown from the build's exact distinct count and a sketch of the probe keys.

        At most `table.distinct` of the probe's distinct keys can match, so their share bounds
        the share of distinct probe keys with a match. Statistics gathered without distinct
        counts leave the choice until now. The caller skips a probe with fewer than twice as
        many rows as the build has keys, because its share cannot fall below the threshold.
        """
        sketch = HyperLogLog(PROBE_SKETCH_PRECISION)
        sketch.add_keys(probe_keys)
        probe_distinct = max(1.0, sketch.estimate())
        fraction = min(1.0, table.distinct / probe_distinct)
        self.choice.estimated_match = fraction
        verdict = "filter the probe" if fraction < PUSHDOWN_MAX_MATCH else "no pushdown"
        self.actual.append(
            f"after the build: {verdict}: {table.distinct:,} build keys against ~{probe_distinct:,.0f} distinct probe "
            f"keys, so at most {fraction:.0%} of those match"
        )
        self.choice.pushdown = fraction < PUSHDOWN_MAX_MATCH


def describe_encoding(spec: KeySpec) -> str:
    return {
        "int": "int64",
        "str": "strings",
        "packed": "packed 64-bit integers",
        "binary": "concatenated bytes (a part is a string, or the parts do not pack into 63 bits)",
    }[spec.encoding]


def describe_build(table: operators.BuiltTable) -> str:
    facts = f"{table.valid:,} keys, {table.distinct:,} distinct"
    if table.minimum is not None and table.valid:
        span = table.maximum - table.minimum + 1  # type: ignore[operator]
        facts += f", min {table.minimum:,}, max {table.maximum:,} (density {table.distinct / span:.2f})"
    return f"{table.describe()}, chosen from {facts}"


def plan_join(
    left: pa.Table | pa.RecordBatch,
    right: pa.Table | pa.RecordBatch,
    on: str | Sequence[str] | None = None,
    how: str = "inner",
    *,
    left_on: str | Sequence[str] | None = None,
    right_on: str | Sequence[str] | None = None,
    suffix: str = "_right",
    left_stats: TableStats | None = None,
    right_stats: TableStats | None = None,
) -> JoinPlan:
    """Check a join's inputs and choose its operator; `execute()` runs it and `explain()` describes it.

    Statistics given in `left_stats` and `right_stats` (from `table_stats`, say, with the
    key columns among its keys) replace those the join gathers itself: rows, bytes, and for
    the key columns nulls, min, max and sortedness.
    """
    if how not in HOWS:
        raise ValueError(f"invalid how={how!r}; featurejit joins support {', '.join(map(repr, HOWS))}")
    left_table, right_table = as_table(left, "left"), as_table(right, "right")
    left_names, right_names = key_names(left_table, right_table, on, left_on, right_on)
    spec = key_spec(left_table, right_table, left_names, right_names)
    integer_key = spec.encoding == "int"
    # Two uint64 key columns keep their bits as int64, so values of 2**63 and above sort as
    # negative numbers, and a merge join over them would miss matches.
    encoded_in_order = not (integer_key and spec.unsigned[0] == (True, True))
    sortedness = integer_key and encoded_in_order
    left_stats = left_stats or quick_stats(left_table, left_names, sortedness)
    right_stats = right_stats or quick_stats(right_table, right_names, sortedness)
    choice = choose_join(
        left_stats, right_stats, left_names, right_names, how, integer_key=integer_key, encoded_in_order=encoded_in_order
    )
    return JoinPlan(left_table, right_table, left_names, right_names, how, suffix, spec, left_stats, right_stats, choice)


def join(
    left: pa.Table | pa.RecordBatch,
    right: pa.Table | pa.RecordBatch,
    on: str | Sequence[str] | None = None,
    how: str = "inner",
    *,
    left_on: str | Sequence[str] | None = None,
    right_on: str | Sequence[str] | None = None,
    suffix: str = "_right",
    left_stats: TableStats | None = None,
    right_stats: TableStats | None = None,
) -> pa.Table:
    """Join two tables on equal keys, as `how="inner"` or `how="left"`, and return a pyarrow Table.

    Null keys never match. Integer keys of different widths are compared as int64, and an
    integer key against a string key raises KeyTypeError (a TypeError) naming both columns.
    """
    plan = plan_join(
        left, right, on, how, left_on=left_on, right_on=right_on, suffix=suffix, left_stats=left_stats, right_stats=right_stats
    )
    return plan.execute()
