"""The join operators over kernel keys: builds, probes, merge joins and pushed-down filters.

Each operator returns matching pairs of row numbers, (probe or left rows, build or right
rows), as two int64 arrays, with -1 standing for the missing row of a left join.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TypeVar, cast

import numpy as np

from featurejit.joins.compiled import call, kernel
from featurejit.joins.kernels import PROBE_LEFT, PROBE_UNIQUE, Fields
from featurejit.joins.keys import KeyBuffers
from featurejit.runtime.batch import EMPTY_ADDRESS
from featurejit.runtime.memory import pool_array
from featurejit.runtime.parallel import thread_pool
from featurejit.settings import settings

# A direct-address table is used when the key range is at most this many times the number
# of keys (plus a small allowance), so it costs at most about as much memory as a hash table.
ARRAY_DENSITY_LIMIT = 4
ARRAY_SLACK = 1024
ARRAY_MAX_SPAN = 1 << 28
MIN_CAPACITY = 16
PROBE_MORSEL_ROWS = 1 << 16
# Probe rows per morsel of `probe_gathered`. The pairs of a morsel of unique keys take 4 MiB,
# small enough to stay in the cache until the gather reads them.
GATHER_MORSEL_ROWS = 1 << 18
HASHES_FIELD = 5  # of a string key's fields (see featurejit.joins.emit.KeyColumn)

Pairs = tuple[np.ndarray, np.ndarray]
Gathered = TypeVar("Gathered")
# Writes the probe rows of [start, stop) that may match to an int64 array and returns their count.
Select = Callable[[int, int, np.ndarray], int]


def address(array: np.ndarray) -> int:
    return int(array.ctypes.data) if array.size else EMPTY_ADDRESS


@dataclass
class BuiltTable:
    """A build side's lookup structure, with the facts measured while building it."""

    key: KeyBuffers
    mode: str  # "array" or "hash"
    valid: int  # rows with a non-null key
    distinct: int
    minimum: int | None  # integer keys only
    maximum: int | None
    heads: np.ndarray  # heads per key value (array) or slots of (key, head) pairs (hash)
    chains: np.ndarray
    mask_or_min: int
    span: int
    fields: list[int] = field(default_factory=list)

    @property
    def unique(self) -> bool:
        return self.distinct == self.valid

    @property
    def rows(self) -> int:
        return self.key.rows

    @property
    def nbytes(self) -> int:
        return int(self.heads.nbytes + self.chains.nbytes)

    def describe(self) -> str:
        if self.mode == "array":
            structure = f"direct-address array of {self.span:,} entries"
        else:
            structure = f"open-addressing hash table of {len(self.heads) // 2:,} slots"
        repeated = "unique keys" if self.unique else f"a multimap ({self.valid - self.distinct:,} repeated keys)"
        return f"{structure}, {repeated}"


def key_range(keys: KeyBuffers) -> tuple[int, int, int]:
    """Return (valid count, minimum, maximum) of integer keys; the bounds are meaningless when the count is 0."""
    out = np.zeros(2, dtype=np.int64)
    count = call("key_range", [*keys.fields, keys.rows, address(out)])
    return count, int(out[0]), int(out[1])


def ensure_hashes(keys: KeyBuffers) -> None:
    """Compute the hash of every string key once, for the builds and probes that read them."""
    if keys.kind == "int" or keys.fields[HASHES_FIELD]:
        return
    hashes = pool_array(max(keys.rows, 1), np.int64, zeroed=True)
    call(f"hash_keys:{keys.kind}", [*keys.fields, keys.rows, address(hashes)])
    keys.fields[HASHES_FIELD] = address(hashes)
    keys.keep.append(hashes)


def next_power_of_two(value: int) -> int:
    return 1 << max(0, (value - 1).bit_length())


def choose_array(valid: int, minimum: int, maximum: int) -> bool:
    span = maximum - minimum + 1
    return valid > 0 and span <= min(ARRAY_MAX_SPAN, ARRAY_DENSITY_LIMIT * valid + ARRAY_SLACK)


def build(keys: KeyBuffers, mode: str | None = None) -> BuiltTable:
    """Build the lookup structure of a build side's keys.

    For integer keys the mode comes from the actual minimum, maximum and count of the keys,
    measured first, unless `mode` forces it. String keys always use a hash table.
    """
    # The hash table, chains and hashes come from memory that later joins reuse. With new pages
    # on each call (48 MB for 1M string keys), string-key joins of 1M probe rows took 158 to
    # 257 ms when other libraries ran in between, and 143 to 178 ms from reused memory.
    chains = pool_array(max(keys.rows, 1), np.int64, zeroed=False)
    ensure_hashes(keys)
    if keys.kind == "int":
        valid, minimum, maximum = key_range(keys)
        if mode is None:
            mode = "array" if choose_array(valid, minimum, maximum) else "hash"
    else:
        valid, minimum, maximum = keys.rows - keys.null_count, None, None
        mode = "hash"
    if mode == "array":
        assert minimum is not None, "array mode needs a key range"
        assert maximum is not None, "array mode needs a key range"
        assert valid > 0, "array mode needs a key"
        span = maximum - minimum + 1
        heads = np.full(span, -1, dtype=np.int64)
        fields = [*keys.fields, keys.rows, address(heads), address(chains), minimum, span]
        distinct = call("build_array", fields)
        table = BuiltTable(keys, mode, valid, distinct, minimum, maximum, heads, chains, minimum, span)
    else:
        capacity = max(MIN_CAPACITY, next_power_of_two(2 * max(valid, 1)))
        heads = pool_array(2 * capacity, np.int64, zeroed=False)
        heads.fill(-1)
        fields = [*keys.fields, keys.rows, address(heads), capacity - 1, address(chains)]
        distinct = call(f"build_hash:{keys.kind}", fields)
        table = BuiltTable(keys, mode, valid, distinct, minimum, maximum, heads, chains, capacity - 1, 0)
    build_key = [] if keys.kind == "int" else keys.fields
    table.fields = [address(table.heads), table.mask_or_min, table.span, address(table.chains), *build_key]
    assert len(table.fields) == Fields.TABLE_BUILD_KEY + len(build_key)
    return table


def probe_kernel_name(table: BuiltTable, probe_kind: str) -> str:
    if table.mode == "array":
        return f"probe:array:{probe_kind}:int"
    return f"probe:hash:{probe_kind}:{table.key.kind}"


def check_probe_kind(table: BuiltTable, keys: KeyBuffers) -> None:
    assert (table.key.kind == "int") == (keys.kind == "int"), "the key spec gives both sides the same encoding"


def probe(
    table: BuiltTable,
    keys: KeyBuffers,
    left: bool,
    matched: np.ndarray | None = None,
    selection: np.ndarray | None = None,
    threads: int | None = None,
    first_only: bool = False,
) -> Pairs:
    """Probe `keys` (or the selected rows of them) against `table`; return (probe rows, build rows).

    With `left`, a probe row without a match gives one pair (row, -1). With `matched`, a
    uint8 array over the build rows, every matched build row's entry is set to 1. With
    `first_only`, each probe row gives only the first build row of its key. Morsels of
    rows run on the featurejit thread pool, and pairs come out in probe row order.
    """
    check_probe_kind(table, keys)
    ensure_hashes(keys)
    rows = keys.rows if selection is None else len(selection)
    one_each = table.unique or first_only
    flags = 0
    if left:
        flags |= PROBE_LEFT
    if one_each:
        flags |= PROBE_UNIQUE
    fixed = [
        0 if selection is None else address(selection),
        flags,
        0 if matched is None else address(matched),
    ]
    compiled = kernel(probe_kernel_name(table, keys.kind))
    # Pairs per probe row: at most one for unique keys, else about the average number of rows per key.
    per_row = 1.0 if one_each else max(1.0, table.valid / max(table.distinct, 1)) * 1.25
    threads = settings.threads if threads is None else threads
    morsel = rows if threads == 1 else max(PROBE_MORSEL_ROWS, -(-rows // (4 * threads)))
    starts = list(range(0, rows, max(morsel, 1)))

    def run(start: int) -> Pairs:
        stop = min(start + morsel, rows)
        capacity = stop - start if one_each else int((stop - start) * per_row) + 64
        out_probe, out_build = np.empty(capacity, dtype=np.int64), np.empty(capacity, dtype=np.int64)
        fields = np.array(
            [*keys.fields, start, stop, *fixed, address(out_probe), address(out_build), capacity, *table.fields], dtype=np.int64
        )
        found = int(compiled(fields.ctypes.data))
        if found > capacity:
            # More repeated keys matched than estimated: run again into outputs of the exact size.
            out_probe, out_build = np.empty(found, dtype=np.int64), np.empty(found, dtype=np.int64)
            position = len(keys.fields) + Fields.PROBE_OUT_PROBE
            fields[position : position + 3] = [address(out_probe), address(out_build), found]
            again = int(compiled(fields.ctypes.data))
            assert again == found, "a probe finds the same pairs twice"
        return out_probe[:found], out_build[:found]

    if len(starts) <= 1 or threads == 1:
        results = [run(start) for start in starts]
    else:
        futures: list[Future[Pairs]] = [thread_pool().submit(run, start) for start in starts]
        results = [future.result() for future in futures]
    if not results:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if len(results) == 1:
        return results[0]
    return np.concatenate([pair[0] for pair in results]), np.concatenate([pair[1] for pair in results])


@dataclass
class Morsel:
    """The matching pairs of probe rows [start, stop), in probe row order, that `probe_gathered` passes on."""

    start: int
    stop: int
    probe_rows: np.ndarray
    build_rows: np.ndarray
    passed: int  # probe rows that the filter kept, or stop - start without a filter


class MorselBuffers:
    """One worker's pair and selection buffers, reused by every morsel it probes in one call."""

    def __init__(self, rows: int, capacity: int, selects: bool):
        self.selection = np.empty(max(rows, 1) if selects else 1, dtype=np.int64)
        self.probe_rows = pool_array(max(capacity, 1), np.int64, zeroed=False)
        self.build_rows = pool_array(max(capacity, 1), np.int64, zeroed=False)

    def ensure(self, capacity: int) -> None:
        if capacity > len(self.probe_rows):
            self.probe_rows = np.empty(capacity, dtype=np.int64)
            self.build_rows = np.empty(capacity, dtype=np.int64)


def probe_gathered(
    table: BuiltTable,
    keys: KeyBuffers,
    left: bool,
    gather: Callable[[Morsel], Gathered],
    matched: np.ndarray | None = None,
    select: Select | None = None,
    threads: int | None = None,
) -> tuple[list[Gathered], int]:
    """Probe `keys` against `table` in morsels; return `gather` of each morsel's pairs, in probe row order,
    and the number of probe rows probed.

    `probe` returns the pairs of every row, which a caller then reads a second time to
    gather the output. Here each morsel's pairs go to buffers that its worker reuses for the
    next morsel, so `gather` reads them while they are in cache, and no pair array of the
    whole probe side is allocated. `gather` must copy what it keeps. `left` and `matched`
    work as in `probe`. `select`, a pushed-down filter, chooses the rows of each morsel to
    probe. Morsels run on the featurejit thread pool, and `gather` runs on their thread.
    """
    check_probe_kind(table, keys)
    ensure_hashes(keys)
    rows = keys.rows
    one_each = table.unique
    flags = 0
    if left:
        flags |= PROBE_LEFT
    if one_each:
        flags |= PROBE_UNIQUE
    matched_address = 0 if matched is None else address(matched)
    compiled = kernel(probe_kernel_name(table, keys.kind))
    per_row = 1.0 if one_each else max(1.0, table.valid / max(table.distinct, 1)) * 1.25
    threads = settings.threads if threads is None else threads
    if threads == 1:
        morsel = GATHER_MORSEL_ROWS
    else:
        morsel = max(PROBE_MORSEL_ROWS, min(GATHER_MORSEL_ROWS, -(-rows // (4 * threads))))
    starts = list(range(0, rows, morsel))
    results: list[Gathered | None] = [None] * len(starts)
    passed = [0] * len(starts)
    claim_lock = threading.Lock()
    next_morsel = iter(range(len(starts)))

    def claim() -> int | None:
        with claim_lock:
            return next(next_morsel, None)

    def run(buffers: MorselBuffers, start: int, stop: int) -> Morsel:
        if select is None:
            first, last, selection = start, stop, 0
        else:
            first, last, selection = 0, select(start, stop, buffers.selection), address(buffers.selection)
        count = last - first
        capacity = count if one_each else int(count * per_row) + 64
        buffers.ensure(capacity)
        fields = np.array(
            [
                *keys.fields, first, last, selection, flags, matched_address,
                address(buffers.probe_rows), address(buffers.build_rows), len(buffers.probe_rows), *table.fields,
            ],
            dtype=np.int64,
        )
        found = int(compiled(fields.ctypes.data))
        if found > len(buffers.probe_rows):
            # More repeated keys matched than estimated: run again into buffers of the exact size.
            buffers.ensure(found)
            position = len(keys.fields) + Fields.PROBE_OUT_PROBE
            fields[position : position + 3] = [address(buffers.probe_rows), address(buffers.build_rows), found]
            again = int(compiled(fields.ctypes.data))
            assert again == found, "a probe finds the same pairs twice"
        return Morsel(start, stop, buffers.probe_rows[:found], buffers.build_rows[:found], count)

    def work() -> None:
        largest = min(morsel, rows)  # a probe side shorter than a morsel needs no more
        buffers = MorselBuffers(largest, largest if one_each else int(largest * per_row) + 64, select is not None)
        while (index := claim()) is not None:
            start = starts[index]
            pairs = run(buffers, start, min(start + morsel, rows))
            passed[index] = pairs.passed
            results[index] = gather(pairs)

    workers = min(threads, len(starts))
    if workers <= 1:
        work()
    else:
        futures: list[Future[None]] = [thread_pool().submit(work) for _ in range(workers)]
        for future in futures:
            future.result()
    # Each worker stores the result of every morsel it claims.
    return cast(list[Gathered], results), sum(passed)


def lookup_rows(table: BuiltTable, keys: KeyBuffers) -> np.ndarray:
    """Return the first build row of each key, -1 where none matches, in key order."""
    _, rows = probe(table, keys, left=True, first_only=True, threads=1)
    return rows


def merge_join(left: KeyBuffers, right: KeyBuffers, keep_left: bool) -> Pairs:
    """Join two integer key columns whose valid keys ascend; return (left rows, right rows) in left order."""
    assert left.kind == "int", "the merge join reads integer keys"
    assert right.kind == "int", "the merge join reads integer keys"
    flags = PROBE_LEFT if keep_left else 0
    base = [*left.fields, left.rows, *right.fields, right.rows, flags]
    capacity = left.rows if keep_left else min(left.rows, right.rows)
    out_left = np.empty(max(capacity, 1), dtype=np.int64)
    out_right = np.empty(max(capacity, 1), dtype=np.int64)
    found = call("merge", [*base, address(out_left), address(out_right), capacity])
    if found > capacity:
        out_left, out_right = np.empty(found, dtype=np.int64), np.empty(found, dtype=np.int64)
        again = call("merge", [*base, address(out_left), address(out_right), found])
        assert again == found, "a merge finds the same pairs twice"
    return out_left[:found], out_right[:found]
