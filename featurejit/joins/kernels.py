"""The join kernels in LLVM IR: key ranges, hash tables, probes, merge joins, filters, sketches.

Each kernel is `i64 kernel(i64* fields)`, except the scalar lookups, and the field lists
below give the meaning of each field. Keys are int64 values ("int") or Arrow strings with
32-bit or 64-bit offsets ("str32", "str64"), read as `featurejit.joins.emit.KeyColumn`
describes. A null key never matches: kernels skip rows whose validity bit is clear.

Lookup structures, built by the build kernels and read by the probes:

- array mode, for integer keys whose range is small: `heads[key - min]` is the first build
  row of each key, or -1;
- hash mode: open addressing with linear probing over `capacity` slots of two int64, the
  key (the key's hash for strings) and the first build row, or -1 for an empty slot. The
  capacity is a power of two at least twice the number of keys, so a search always ends;
- `next[row]` links each build row to the next row with the same key, or -1. Rows are
  inserted from the last to the first, so each chain lists its rows in ascending order.

A probe writes (probe row, build row) pairs to two int64 outputs until `capacity` pairs are
written, and returns how many pairs it found. A caller whose buffers were too small then
calls it again with larger ones. Nothing is written outside the outputs, the
matched flags or the structures, and every index into them is bounded by a mask or a check.
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from featurejit.codegen.arith import I8, I64, i64
from featurejit.joins.emit import (
    I8_POINTER,
    I64_POINTER,
    KernelEmitter,
    KeyColumn,
    count_leading_zeros,
    emit_bytes_equal,
    emit_bytes_hash,
    mix64,
    prefetch,
    store_monotonic,
)

KEY_KINDS = ("int", "str32", "str64")
PREFETCH_ROWS = 32  # how far ahead builds and probes prefetch slots

PROBE_LEFT = 1  # emit (row, -1) for a probe row without a match
PROBE_UNIQUE = 2  # the build keys are unique: do not follow the chains

# --------------------------------------------------------------------------------------
# Field positions
# --------------------------------------------------------------------------------------


class Fields:
    """Positions of the fields of each kernel, after its leading key column (see KeyColumn)."""

    # key_range: key, rows, out -> valid count; out[0] = min, out[1] = max
    # hash_keys: key, rows, out hashes -> valid count; null rows get 0
    # sketch: key, rows, registers (uint8), precision -> valid count
    # bloom_add: key, rows, words, word mask -> valid count
    # build_array: key, rows, heads, next, min, range -> distinct keys
    # build_hash: key, rows, slots, mask, next -> distinct keys
    # probe: key, start, stop, selection, flags, matched, out probe, out build, capacity, then the table
    PROBE_START, PROBE_STOP, PROBE_SELECTION, PROBE_FLAGS, PROBE_MATCHED = range(5)
    PROBE_OUT_PROBE, PROBE_OUT_BUILD, PROBE_CAPACITY, PROBE_TABLE = range(5, 9)
    # table (array): heads, min, range, next; (hash): slots, mask, unused, next; then for
    # string keys the build key column
    TABLE_HEADS, TABLE_MASK_OR_MIN, TABLE_RANGE, TABLE_NEXT, TABLE_BUILD_KEY = range(5)
    # merge: left key, left rows, right key, right rows, flags, out left, out right, capacity
    # filter: key, start, stop, min, max, in-list, in-list length, bloom words, bloom word mask
    #         (-1: no Bloom filter), out rows -> rows written


# --------------------------------------------------------------------------------------
# Statistics and sketches
# --------------------------------------------------------------------------------------


def emit_key_range(module: ir.Module, name: str) -> None:
    """Emit the kernel that finds the minimum, maximum and count of the valid int64 keys."""
    emitter = KernelEmitter(module, name)
    builder = emitter.builder
    key = KeyColumn.read(emitter, "int", 0)
    rows = emitter.field(3)
    out = emitter.pointer_field(4, I64)
    low = emitter.variable(i64(2**63 - 1), "low")
    high = emitter.variable(i64(-(2**63)), "high")
    count = emitter.variable(i64(0), "count")
    with emitter.loop(i64(0), rows) as row:
        valid = key.is_valid(builder, row)
        value = key.value(builder, row)
        current_low, current_high = builder.load(low), builder.load(high)
        below = builder.and_(valid, builder.icmp_signed("<", value, current_low))
        above = builder.and_(valid, builder.icmp_signed(">", value, current_high))
        builder.store(builder.select(below, value, current_low), low)
        builder.store(builder.select(above, value, current_high), high)
        builder.store(builder.add(builder.load(count), builder.zext(valid, I64)), count)
    builder.store(builder.load(low), out)
    builder.store(builder.load(high), builder.gep(out, [i64(1)], inbounds=True))
    builder.ret(builder.load(count))
    emitter.finish()


def emit_hash_keys(module: ir.Module, name: str, kind: str) -> None:
    """Emit the kernel that writes the 64-bit hash of every valid key, and 0 for null rows."""
    emitter = KernelEmitter(module, name)
    builder = emitter.builder
    key = KeyColumn.read(emitter, kind, 0)
    first = KeyColumn.field_count(kind)
    rows = emitter.field(first)
    out = emitter.pointer_field(first + 1, I64)
    count = emitter.variable(i64(0), "count")
    with emitter.loop(i64(0), rows) as row:
        target = builder.gep(out, [row], inbounds=True)
        builder.store(i64(0), target)
        with builder.if_then(key.is_valid(builder, row)):
            builder.store(key.hash(emitter, row), target)
            emitter.increment(count)
    builder.ret(builder.load(count))
    emitter.finish()


def emit_sketch(module: ir.Module, name: str, kind: str) -> None:
    """Emit the kernel that adds valid keys to HyperLogLog registers.

    The register that the hash's top bits select keeps the maximum rank, one plus the number
    of leading zeros of the remaining bits.
    """
    emitter = KernelEmitter(module, name)
    builder = emitter.builder
    key = KeyColumn.read(emitter, kind, 0)
    first = KeyColumn.field_count(kind)
    rows = emitter.field(first)
    registers = emitter.pointer_field(first + 1, I8)
    precision = emitter.field(first + 2)
    count = emitter.variable(i64(0), "count")
    # A one bit below the remaining 64 - precision bits bounds the rank when they are all zero.
    sentinel = builder.shl(i64(1), builder.sub(precision, i64(1)))
    with emitter.loop(i64(0), rows) as row:
        with builder.if_then(key.is_valid(builder, row)):
            hashed = key.hash(emitter, row)
            register = builder.lshr(hashed, builder.sub(i64(64), precision))
            rest = builder.or_(builder.shl(hashed, precision), sentinel)
            rank = builder.trunc(builder.add(count_leading_zeros(builder, rest), i64(1)), I8)
            target = builder.gep(registers, [register], inbounds=True)
            current = builder.load(target)
            builder.store(builder.select(builder.icmp_unsigned(">", rank, current), rank, current), target)
            emitter.increment(count)
    builder.ret(builder.load(count))
    emitter.finish()


def bloom_position(builder: ir.IRBuilder, hashed: ir.Value, word_mask: ir.Value) -> tuple[ir.Value, ir.Value]:
    """Return the word of a blocked Bloom filter for a hash, and the mask of its four bits in it.

    The word comes from the hash's high 32 bits, the four bit positions from four 6-bit
    fields of its low bits, so a key touches one 64-bit word.
    """
    word = builder.and_(builder.lshr(hashed, i64(32)), word_mask)
    bits = i64(0)
    for field in range(4):
        position = builder.and_(builder.lshr(hashed, i64(6 * field)), i64(63))
        bits = builder.or_(bits, builder.shl(i64(1), position))
    return word, bits


def emit_bloom_add(module: ir.Module, name: str, kind: str) -> None:
    """Emit the kernel that adds every valid key to a blocked Bloom filter."""
    emitter = KernelEmitter(module, name)
    builder = emitter.builder
    key = KeyColumn.read(emitter, kind, 0, stored_hashes=True)
    first = KeyColumn.field_count(kind)
    rows = emitter.field(first)
    words = emitter.pointer_field(first + 1, I64)
    word_mask = emitter.field(first + 2)
    count = emitter.variable(i64(0), "count")
    with emitter.loop(i64(0), rows) as row:
        with builder.if_then(key.is_valid(builder, row)):
            word, bits = bloom_position(builder, key.hash(emitter, row), word_mask)
            target = builder.gep(words, [word], inbounds=True)
            builder.store(builder.or_(builder.load(target), bits), target)
            emitter.increment(count)
    builder.ret(builder.load(count))
    emitter.finish()


# --------------------------------------------------------------------------------------
# Builds
# --------------------------------------------------------------------------------------


def emit_build_array(module: ir.Module, name: str) -> None:
    """Emit the build of a direct-address table of integer keys: heads[key - min] and the chains."""
    emitter = KernelEmitter(module, name)
    builder = emitter.builder
    key = KeyColumn.read(emitter, "int", 0)
    rows = emitter.field(3)
    heads = emitter.pointer_field(4, I64)
    chains = emitter.pointer_field(5, I64)
    low = emitter.field(6)
    span = emitter.field(7)
    distinct = emitter.variable(i64(0), "distinct")
    with emitter.loop(builder.sub(rows, i64(1)), i64(-1), step=-1) as row:
        position = builder.sub(key.value(builder, row), low)
        # The unsigned comparison also rejects keys below the minimum.
        inside = builder.icmp_unsigned("<", position, span)
        with builder.if_then(builder.and_(key.is_valid(builder, row), inside)):
            head = builder.gep(heads, [position], inbounds=True)
            previous = builder.load(head)
            builder.store(previous, builder.gep(chains, [row], inbounds=True))
            builder.store(row, head)
            is_new = builder.icmp_signed("<", previous, i64(0))
            emitter.increment(distinct, builder.zext(is_new, I64))
    builder.ret(builder.load(distinct))
    emitter.finish()


def emit_build_hash(module: ir.Module, name: str, kind: str) -> None:
    """Emit the build of an open-addressing table: one slot per distinct key, and the chains."""
    emitter = KernelEmitter(module, name)
    builder = emitter.builder
    key = KeyColumn.read(emitter, kind, 0, stored_hashes=True)
    first = KeyColumn.field_count(kind)
    rows = emitter.field(first)
    slots = emitter.pointer_field(first + 1, I64)
    mask = emitter.field(first + 2)
    chains = emitter.pointer_field(first + 3, I64)
    distinct = emitter.variable(i64(0), "distinct")
    slot_index = emitter.variable(i64(0), "slot")
    with emitter.loop(builder.sub(rows, i64(1)), i64(-1), step=-1) as row:
        prefetch_build_ahead(emitter, key, row, slots, mask)
        with builder.if_then(key.is_valid(builder, row)):
            hashed = key.hash(emitter, row)
            stored = key.value(builder, row) if kind == "int" else hashed
            builder.store(builder.and_(hashed, mask), slot_index)
            search = builder.append_basic_block("search")
            check = builder.append_basic_block("check")
            advance = builder.append_basic_block("advance")
            insert = builder.append_basic_block("insert")
            chain = builder.append_basic_block("chain")
            done = builder.append_basic_block("done")
            builder.branch(search)

            builder.position_at_end(search)
            slot = builder.load(slot_index)
            key_slot = builder.gep(slots, [builder.shl(slot, i64(1))], inbounds=True)
            head_slot = builder.gep(key_slot, [i64(1)], inbounds=True)
            head = builder.load(head_slot)
            builder.cbranch(builder.icmp_signed("<", head, i64(0)), insert, check)

            builder.position_at_end(check)
            same = builder.icmp_signed("==", builder.load(key_slot), stored)
            if kind != "int":
                # Compare the bytes only when the hashes are equal, which saves two cache misses.
                compare = builder.append_basic_block("compare")
                builder.cbranch(same, compare, advance)
                builder.position_at_end(compare)
                pointer, length = key.string(builder, row)
                other_pointer, other_length = key.string(builder, head)
                same = emit_bytes_equal(emitter, pointer, length, other_pointer, other_length)
            builder.cbranch(same, chain, advance)

            builder.position_at_end(advance)
            builder.store(builder.and_(builder.add(slot, i64(1)), mask), slot_index)
            builder.branch(search)

            builder.position_at_end(insert)
            builder.store(stored, key_slot)
            builder.store(row, head_slot)
            builder.store(i64(-1), builder.gep(chains, [row], inbounds=True))
            emitter.increment(distinct)
            builder.branch(done)

            builder.position_at_end(chain)
            builder.store(head, builder.gep(chains, [row], inbounds=True))
            builder.store(row, head_slot)
            builder.branch(done)

            builder.position_at_end(done)
    builder.ret(builder.load(distinct))
    emitter.finish()


def prefetch_build_ahead(emitter: KernelEmitter, key: KeyColumn, row: ir.Value, slots: ir.Value, mask: ir.Value) -> None:
    """Prefetch what later build rows read, so that their cache misses overlap this row's work.

    The build runs from the last row down. PREFETCH_ROWS ahead, the row's home slot. For
    string keys also, half as far ahead, the offsets of the row in that slot, and a quarter as
    far its bytes, which a repeated key compares. Each stage reads only lines an earlier stage
    asked for, and only inside the buffers.
    """
    builder = emitter.builder
    stages = [PREFETCH_ROWS] if key.kind == "int" else [PREFETCH_ROWS, PREFETCH_ROWS // 2, PREFETCH_ROWS // 4]
    for stage, distance in enumerate(stages):
        ahead = builder.sub(row, i64(distance))
        with builder.if_then(builder.icmp_signed(">=", ahead, i64(0))):
            home = builder.and_(key.hash(emitter, ahead), mask)
            slot = builder.gep(slots, [builder.shl(home, i64(1))], inbounds=True)
            if stage == 0:
                prefetch(builder, slot, write=True)
                continue
            head = builder.load(builder.gep(slot, [i64(1)], inbounds=True))
            with builder.if_then(builder.icmp_signed(">=", head, i64(0))):
                if stage == 1:
                    prefetch(builder, key.offsets_address(builder, head), write=False)
                else:
                    pointer, _ = key.string(builder, head)
                    prefetch(builder, pointer, write=False)


# --------------------------------------------------------------------------------------
# Lookups and probes
# --------------------------------------------------------------------------------------


class Table:
    """A build's lookup structure inside a kernel, read from consecutive fields (see Fields)."""

    def __init__(self, emitter: KernelEmitter, mode: str, build_kind: str, first: int):
        self.mode = mode
        self.heads = emitter.pointer_field(first + Fields.TABLE_HEADS, I64)
        self.mask_or_min = emitter.field(first + Fields.TABLE_MASK_OR_MIN)
        self.span = emitter.field(first + Fields.TABLE_RANGE)
        self.chains = emitter.pointer_field(first + Fields.TABLE_NEXT, I64)
        self.build_key = None if build_kind == "int" else KeyColumn.read(emitter, build_kind, first + Fields.TABLE_BUILD_KEY)

    @staticmethod
    def field_count(build_kind: str) -> int:
        return Fields.TABLE_BUILD_KEY + (0 if build_kind == "int" else KeyColumn.field_count(build_kind))

    def find_int(self, emitter: KernelEmitter, value: ir.Value) -> ir.Value:
        """Return the first build row of an integer key, or -1."""
        builder = emitter.builder
        if self.mode == "array":
            position = builder.sub(value, self.mask_or_min)
            inside = builder.icmp_unsigned("<", position, self.span)
            result = emitter.variable(i64(-1), "head")
            with builder.if_then(inside):
                builder.store(builder.load(builder.gep(self.heads, [position], inbounds=True)), result)
            return builder.load(result)
        return self.search(emitter, mix64(builder, value), lambda stored, head: builder.icmp_signed("==", stored, value))

    def find_bytes(self, emitter: KernelEmitter, hashed: ir.Value, pointer: ir.Value, length: ir.Value) -> ir.Value:
        """Return the first build row of a string key, or -1."""
        builder = emitter.builder
        build_key = self.build_key
        assert build_key is not None, "string probes read the build's string keys"

        def same(stored: ir.Value, head: ir.Value) -> ir.Value:
            other_pointer, other_length = build_key.string(builder, head)
            equal_hash = builder.icmp_signed("==", stored, hashed)
            result = emitter.variable(equal_hash, "same")
            with builder.if_then(equal_hash):
                builder.store(emit_bytes_equal(emitter, pointer, length, other_pointer, other_length), result)
            return builder.load(result)

        return self.search(emitter, hashed, same)

    def search(self, emitter: KernelEmitter, hashed: ir.Value, same: Callable[[ir.Value, ir.Value], ir.Value]) -> ir.Value:
        """Walk the slots from the hash's slot until an empty slot or one that `same` accepts."""
        builder = emitter.builder
        result = emitter.variable(i64(-1), "head")
        slot_index = emitter.variable(builder.and_(hashed, self.mask_or_min), "slot")
        search = builder.append_basic_block("search")
        check = builder.append_basic_block("check")
        found = builder.append_basic_block("found")
        advance = builder.append_basic_block("advance")
        done = builder.append_basic_block("done")
        builder.branch(search)

        builder.position_at_end(search)
        slot = builder.load(slot_index)
        key_slot = builder.gep(self.heads, [builder.shl(slot, i64(1))], inbounds=True)
        head = builder.load(builder.gep(key_slot, [i64(1)], inbounds=True))
        builder.cbranch(builder.icmp_signed("<", head, i64(0)), done, check)

        builder.position_at_end(check)
        accepted = same(builder.load(key_slot), head)
        builder.cbranch(accepted, found, advance)

        builder.position_at_end(found)
        builder.store(head, result)
        builder.branch(done)

        builder.position_at_end(advance)
        builder.store(builder.and_(builder.add(slot, i64(1)), self.mask_or_min), slot_index)
        builder.branch(search)

        builder.position_at_end(done)
        return builder.load(result)


def find_head(emitter: KernelEmitter, table: Table, key: KeyColumn, row: ir.Value) -> ir.Value:
    if key.kind == "int":
        return table.find_int(emitter, key.value(emitter.builder, row))
    pointer, length = key.string(emitter.builder, row)
    return table.find_bytes(emitter, key.hash(emitter, row), pointer, length)


def emit_probe(module: ir.Module, name: str, mode: str, probe_kind: str, build_kind: str) -> None:
    """Emit the probe of rows [start, stop), or of the selected rows, that writes the matching pairs."""
    emitter = KernelEmitter(module, name)
    builder = emitter.builder
    key = KeyColumn.read(emitter, probe_kind, 0, stored_hashes=True)
    base = KeyColumn.field_count(probe_kind)
    start = emitter.field(base + Fields.PROBE_START)
    stop = emitter.field(base + Fields.PROBE_STOP)
    selection_address = emitter.field(base + Fields.PROBE_SELECTION)
    flags = emitter.field(base + Fields.PROBE_FLAGS)
    matched_address = emitter.field(base + Fields.PROBE_MATCHED)
    out_probe = emitter.pointer_field(base + Fields.PROBE_OUT_PROBE, I64)
    out_build = emitter.pointer_field(base + Fields.PROBE_OUT_BUILD, I64)
    capacity = emitter.field(base + Fields.PROBE_CAPACITY)
    table = Table(emitter, mode, build_kind, base + Fields.PROBE_TABLE)

    is_left = builder.icmp_signed("!=", builder.and_(flags, i64(PROBE_LEFT)), i64(0))
    is_unique = builder.icmp_signed("!=", builder.and_(flags, i64(PROBE_UNIQUE)), i64(0))
    has_selection = builder.icmp_signed("!=", selection_address, i64(0))
    has_matched = builder.icmp_signed("!=", matched_address, i64(0))
    selection = builder.inttoptr(selection_address, I64_POINTER)
    matched = builder.inttoptr(matched_address, I8_POINTER)
    count = emitter.variable(i64(0), "count")
    current = emitter.variable(i64(-1), "current")

    def emit_pair(probe_row: ir.Value, build_row: ir.Value) -> None:
        written = builder.load(count)
        with builder.if_then(builder.icmp_signed("<", written, capacity)):
            builder.store(probe_row, builder.gep(out_probe, [written], inbounds=True))
            builder.store(build_row, builder.gep(out_build, [written], inbounds=True))
        builder.store(builder.add(written, i64(1)), count)

    def row_at(position: ir.Value) -> ir.Value:
        chosen = emitter.variable(position, "row")
        with builder.if_then(has_selection):
            builder.store(builder.load(builder.gep(selection, [position], inbounds=True)), chosen)
        return builder.load(chosen)

    with emitter.loop(start, stop) as position:
        prefetch_ahead(emitter, table, key, position, stop, row_at, builder.not_(is_unique))
        row = row_at(position)
        head = emitter.variable(i64(-1), "first")
        with builder.if_then(key.is_valid(builder, row)):
            builder.store(find_head(emitter, table, key, row), head)
        first = builder.load(head)
        builder.store(first, current)
        walk = builder.append_basic_block("walk")
        walk_body = builder.append_basic_block("walk_body")
        walked = builder.append_basic_block("walked")
        builder.branch(walk)

        builder.position_at_end(walk)
        build_row = builder.load(current)
        builder.cbranch(builder.icmp_signed(">=", build_row, i64(0)), walk_body, walked)

        builder.position_at_end(walk_body)
        emit_pair(row, build_row)
        with builder.if_then(has_matched):
            store_monotonic(builder, ir.Constant(I8, 1), builder.gep(matched, [build_row], inbounds=True))
        following = builder.load(builder.gep(table.chains, [builder.select(is_unique, i64(0), build_row)], inbounds=True))
        builder.store(builder.select(is_unique, i64(-1), following), current)
        builder.branch(walk)

        builder.position_at_end(walked)
        with builder.if_then(builder.and_(is_left, builder.icmp_signed("<", first, i64(0)))):
            emit_pair(row, i64(-1))
    builder.ret(builder.load(count))
    emitter.finish()


def prefetch_ahead(
    emitter: KernelEmitter,
    table: Table,
    key: KeyColumn,
    position: ir.Value,
    stop: ir.Value,
    row_at: Callable[[ir.Value], ir.Value],
    walks_chains: ir.Value,
) -> None:
    """Prefetch what later probe rows read, so that their cache misses overlap this row's work.

    PREFETCH_ROWS ahead, the row's slot or array entry. Half as far ahead, the chain entry
    of the build row in the home slot when the probe walks chains (`walks_chains`, an i1),
    and for string keys the offsets of that build row. A quarter as far, for string keys,
    its bytes. Each stage reads only lines an earlier stage asked for, and only inside the buffers.
    """
    builder = emitter.builder
    if table.mode == "array":
        stages = [PREFETCH_ROWS]
    elif key.kind == "int":
        stages = [PREFETCH_ROWS, PREFETCH_ROWS // 2]
    else:
        stages = [PREFETCH_ROWS, PREFETCH_ROWS // 2, PREFETCH_ROWS // 4]
    for stage, distance in enumerate(stages):
        ahead = builder.add(position, i64(distance))
        with builder.if_then(builder.icmp_signed("<", ahead, stop)):
            row = row_at(ahead)
            if table.mode == "array":
                offset = builder.sub(key.value(builder, row), table.mask_or_min)
                with builder.if_then(builder.icmp_unsigned("<", offset, table.span)):
                    prefetch(builder, builder.gep(table.heads, [offset], inbounds=True), write=False)
                continue
            home = builder.and_(key.hash(emitter, row), table.mask_or_min)
            slot = builder.gep(table.heads, [builder.shl(home, i64(1))], inbounds=True)
            if stage == 0:
                prefetch(builder, slot, write=False)
                continue
            head = builder.load(builder.gep(slot, [i64(1)], inbounds=True))
            with builder.if_then(builder.icmp_signed(">=", head, i64(0))):
                if stage == 1:
                    with builder.if_then(walks_chains):
                        prefetch(builder, builder.gep(table.chains, [head], inbounds=True), write=False)
                    if table.build_key is not None:
                        prefetch(builder, table.build_key.offsets_address(builder, head), write=False)
                else:
                    assert table.build_key is not None, "string tables read the build's keys"
                    pointer, _ = table.build_key.string(builder, head)
                    prefetch(builder, pointer, write=False)


def emit_lookup_one(module: ir.Module, name: str, mode: str, build_kind: str) -> None:
    """Emit the lookup of one key's first build row, or -1.

    Its signature is `i64 (i64* table, i64 key)` for integer keys and
    `i64 (i64* table, i8* bytes, i64 length)` for string keys. Lists of keys use the probe.
    """
    extra = [I64] if build_kind == "int" else [I8_POINTER, I64]
    emitter = KernelEmitter(module, name, extra)
    builder = emitter.builder
    table = Table(emitter, mode, build_kind, 0)
    if build_kind == "int":
        builder.ret(table.find_int(emitter, emitter.function.args[1]))
    else:
        pointer, length = emitter.function.args[1], emitter.function.args[2]
        builder.ret(table.find_bytes(emitter, emit_bytes_hash(emitter, pointer, length), pointer, length))
    emitter.finish()


# --------------------------------------------------------------------------------------
# Merge join and filters
# --------------------------------------------------------------------------------------


def emit_merge(module: ir.Module, name: str) -> None:
    """Emit the merge join of two integer key columns whose valid keys ascend.

    For each left row, the right rows of the same key are the run that starts at the first
    right key not below it. A run is found once per distinct left key, and repeated left
    keys reuse it. Nulls on either side never match, wherever they are.
    """
    emitter = KernelEmitter(module, name)
    builder = emitter.builder
    left = KeyColumn.read(emitter, "int", 0)
    left_rows = emitter.field(3)
    right = KeyColumn.read(emitter, "int", 4)
    right_rows = emitter.field(7)
    is_left = builder.icmp_signed("!=", builder.and_(emitter.field(8), i64(PROBE_LEFT)), i64(0))
    out_left = emitter.pointer_field(9, I64)
    out_right = emitter.pointer_field(10, I64)
    capacity = emitter.field(11)
    count = emitter.variable(i64(0), "count")
    cursor = emitter.variable(i64(0), "cursor")  # first right row whose key may be >= the left key
    run_start = emitter.variable(i64(0), "run_start")
    run_stop = emitter.variable(i64(0), "run_stop")  # one past the run's last matching row
    run_key = emitter.variable(i64(0), "run_key")
    has_run = emitter.variable(ir.Constant(ir.IntType(1), 0), "has_run")

    def emit_pair(left_row: ir.Value, right_row: ir.Value) -> None:
        written = builder.load(count)
        with builder.if_then(builder.icmp_signed("<", written, capacity)):
            builder.store(left_row, builder.gep(out_left, [written], inbounds=True))
            builder.store(right_row, builder.gep(out_right, [written], inbounds=True))
        builder.store(builder.add(written, i64(1)), count)

    def scan_while(
        position_slot: ir.Value, condition: Callable[[ir.Value], ir.Value], on_row: Callable[[ir.Value], None] | None = None
    ) -> None:
        """Advance `position_slot` over right rows while it is inside and `condition(row)` holds."""
        test = builder.append_basic_block("scan")
        inside_block = builder.append_basic_block("scan_inside")
        body = builder.append_basic_block("scan_body")
        end = builder.append_basic_block("scan_end")
        builder.branch(test)
        builder.position_at_end(test)
        position = builder.load(position_slot)
        builder.cbranch(builder.icmp_signed("<", position, right_rows), inside_block, end)
        builder.position_at_end(inside_block)
        builder.cbranch(condition(position), body, end)
        builder.position_at_end(body)
        if on_row is not None:
            on_row(position)
        builder.store(builder.add(position, i64(1)), position_slot)
        builder.branch(test)
        builder.position_at_end(end)

    with emitter.loop(i64(0), left_rows) as row:
        valid = left.is_valid(builder, row)
        matches = emitter.variable(i64(0), "matches")
        with builder.if_then(valid):
            value = left.value(builder, row)
            same_run = builder.and_(builder.load(has_run), builder.icmp_signed("==", builder.load(run_key), value))
            with builder.if_then(builder.not_(same_run)):
                # Skip right rows that are null or below this key, then collect the run equal to it.
                def below(position: ir.Value) -> ir.Value:
                    is_null = builder.not_(right.is_valid(builder, position))
                    return builder.or_(is_null, builder.icmp_signed("<", right.value(builder, position), value))

                def in_run(position: ir.Value) -> ir.Value:
                    is_null = builder.not_(right.is_valid(builder, position))
                    return builder.or_(is_null, builder.icmp_signed("==", right.value(builder, position), value))

                def extend_run(position: ir.Value) -> None:
                    with builder.if_then(right.is_valid(builder, position)):
                        builder.store(builder.add(position, i64(1)), run_stop)

                scan_while(cursor, below)
                start = builder.load(cursor)
                builder.store(start, run_start)
                builder.store(start, run_stop)
                scan = emitter.variable(start, "scan")
                scan_while(scan, in_run, extend_run)
                builder.store(value, run_key)
                builder.store(ir.Constant(ir.IntType(1), 1), has_run)
            with emitter.loop(builder.load(run_start), builder.load(run_stop)) as right_row:
                with builder.if_then(right.is_valid(builder, right_row)):
                    emit_pair(row, right_row)
                    emitter.increment(matches)
        no_match = builder.icmp_signed("==", builder.load(matches), i64(0))
        with builder.if_then(builder.and_(is_left, no_match)):
            emit_pair(row, i64(-1))
    builder.ret(builder.load(count))
    emitter.finish()


def emit_filter(module: ir.Module, name: str, kind: str) -> None:
    """Emit the filter of rows [start, stop) whose key may be among the build's keys.

    A row passes when its key lies inside [min, max] (integer keys), equals an in-list entry
    (the key for integers, its hash for strings), and is in the Bloom filter. The kernel
    writes the row numbers in order and returns their count.
    """
    emitter = KernelEmitter(module, name)
    builder = emitter.builder
    key = KeyColumn.read(emitter, kind, 0, stored_hashes=True)
    base = KeyColumn.field_count(kind)
    start, stop = emitter.field(base), emitter.field(base + 1)
    low, high = emitter.field(base + 2), emitter.field(base + 3)
    in_list = emitter.pointer_field(base + 4, I64)
    in_list_length = emitter.field(base + 5)
    words = emitter.pointer_field(base + 6, I64)
    word_mask = emitter.field(base + 7)
    out = emitter.pointer_field(base + 8, I64)
    has_bloom = builder.icmp_signed(">=", word_mask, i64(0))
    count = emitter.variable(i64(0), "count")

    with emitter.loop(start, stop) as row:
        passes = emitter.variable(key.is_valid(builder, row), "passes")
        with builder.if_then(builder.load(passes)):
            hashed = key.hash(emitter, row)
            if kind == "int":
                value = key.value(builder, row)
                inside = builder.and_(builder.icmp_signed(">=", value, low), builder.icmp_signed("<=", value, high))
                builder.store(inside, passes)
            else:
                value = hashed

            with builder.if_then(builder.icmp_signed(">", in_list_length, i64(0))):
                found = emitter.variable(ir.Constant(ir.IntType(1), 0), "found")
                with emitter.loop(i64(0), in_list_length) as entry:
                    listed = builder.load(builder.gep(in_list, [entry], inbounds=True))
                    builder.store(builder.or_(builder.load(found), builder.icmp_signed("==", listed, value)), found)
                builder.store(builder.and_(builder.load(passes), builder.load(found)), passes)

            with builder.if_then(has_bloom):
                word, bits = bloom_position(builder, hashed, word_mask)
                stored = builder.load(builder.gep(words, [word], inbounds=True))
                present = builder.icmp_signed("==", builder.and_(stored, bits), bits)
                builder.store(builder.and_(builder.load(passes), present), passes)

        with builder.if_then(builder.load(passes)):
            written = builder.load(count)
            builder.store(row, builder.gep(out, [written], inbounds=True))
            builder.store(builder.add(written, i64(1)), count)
    builder.ret(builder.load(count))
    emitter.finish()
