"""Building blocks of the join kernels in LLVM IR: argument fields, loops, key reads and hashes.

Every join kernel takes its arguments as one array of int64 fields (addresses, counts and
flags), so that Python fills one numpy array per call. Loop counters and other mutable
values live in allocas of the entry block, which LLVM's SROA pass turns into registers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from llvmlite import ir

from featurejit.codegen.arith import I1, I8, I32, I64, i64, intrinsic

I8_POINTER = I8.as_pointer()
I64_POINTER = I64.as_pointer()

# Constants of the 64-bit finalizer of MurmurHash3 (Austin Appleby, public domain).
MIX_FIRST = 0xFF51AFD7ED558CCD
MIX_SECOND = 0xC4CEB9FE1A85EC53
# Odd multipliers for the word steps of the string hash: the 64-bit golden ratio and a prime.
WORD_MULTIPLIER = 0x9E3779B97F4A7C15
WORD_ROTATE = 29
LENGTH_MULTIPLIER = 0xC2B2AE3D27D4EB4F


def signed(value: int) -> int:
    """Return a 64-bit pattern as the signed value that ir.Constant takes."""
    return value - (1 << 64) if value >= 1 << 63 else value


class KernelEmitter:
    """One kernel function `i64 name(i64* fields)` under construction, with helpers for its body."""

    def __init__(self, module: ir.Module, name: str, extra: list[ir.Type] | None = None):
        arguments = [I64_POINTER, *(extra or [])]
        self.function = ir.Function(module, ir.FunctionType(I64, arguments), name)
        self.function.args[0].add_attribute("noalias")
        self.entry = self.function.append_basic_block("entry")
        self.body = self.function.append_basic_block("body")
        self.builder = ir.IRBuilder(self.body)
        self.fields = self.function.args[0]

    def field(self, index: int) -> ir.Value:
        return self.builder.load(self.builder.gep(self.fields, [i64(index)], inbounds=True))

    def pointer_field(self, index: int, element: ir.Type) -> ir.Value:
        return self.builder.inttoptr(self.field(index), element.as_pointer())

    def variable(self, initial: ir.Value, name: str = "") -> ir.Value:
        """Return an alloca in the entry block, set to `initial` at the current position."""
        with self.builder.goto_block(self.entry):
            slot = self.builder.alloca(initial.type, name=name)
        self.builder.store(initial, slot)
        return slot

    def finish(self) -> None:
        """Close the entry block with a branch to the body, once every alloca is in it."""
        with self.builder.goto_block(self.entry):
            self.builder.branch(self.body)

    @contextmanager
    def loop(self, start: ir.Value, stop: ir.Value, step: int = 1) -> Iterator[ir.Value]:
        """Emit `for index in range(start, stop, step)`; the block yields the index.

        A negative step counts down from `start` while the index is above `stop`.
        """
        builder = self.builder
        counter = self.variable(start, "index")
        head = builder.append_basic_block("loop")
        body = builder.append_basic_block("loop_body")
        end = builder.append_basic_block("loop_end")
        builder.branch(head)
        builder.position_at_end(head)
        index = builder.load(counter)
        inside = builder.icmp_signed("<" if step > 0 else ">", index, stop)
        builder.cbranch(inside, body, end)
        builder.position_at_end(body)
        yield index
        builder.store(builder.add(index, i64(step)), counter)
        builder.branch(head)
        builder.position_at_end(end)

    def increment(self, slot: ir.Value, amount: ir.Value | int = 1) -> None:
        value = self.builder.load(slot)
        self.builder.store(self.builder.add(value, i64(amount) if isinstance(amount, int) else amount), slot)


def bit_is_set(builder: ir.IRBuilder, bitmap: ir.Value, bit: ir.Value) -> ir.Value:
    """Return bit `bit` of an LSB-first bitmap of bytes, as an i1."""
    byte = builder.load(builder.gep(bitmap, [builder.lshr(bit, i64(3))], inbounds=True))
    shifted = builder.lshr(builder.zext(byte, I64), builder.and_(bit, i64(7)))
    return builder.trunc(shifted, I1)


def mix64(builder: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """Return the MurmurHash3 64-bit finalizer of `value`: every input bit affects every output bit."""
    value = builder.xor(value, builder.lshr(value, i64(33)))
    value = builder.mul(value, i64(signed(MIX_FIRST)))
    value = builder.xor(value, builder.lshr(value, i64(33)))
    value = builder.mul(value, i64(signed(MIX_SECOND)))
    return builder.xor(value, builder.lshr(value, i64(33)))


def rotate_left(builder: ir.IRBuilder, value: ir.Value, amount: int) -> ir.Value:
    return builder.or_(builder.shl(value, i64(amount)), builder.lshr(value, i64(64 - amount)))


def combine_word(builder: ir.IRBuilder, state: ir.Value, word: ir.Value) -> ir.Value:
    mixed = builder.xor(state, builder.mul(word, i64(signed(WORD_MULTIPLIER))))
    return builder.mul(rotate_left(builder, mixed, WORD_ROTATE), i64(signed(LENGTH_MULTIPLIER)))


def emit_bytes_hash(emitter: KernelEmitter, pointer: ir.Value, length: ir.Value) -> ir.Value:
    """Return a 64-bit hash of `length` bytes at `pointer`, reading no byte outside them.

    Whole 8-byte words are read with unaligned loads. The rest of a key of at least 8 bytes is
    read as the word that ends at its last byte, which overlaps the words before it. A
    shorter key is read as two 4-byte words that may overlap, or byte by byte below 4 bytes. The length enters the first state, so keys of different lengths whose
    words coincide still hash apart.
    """
    builder = emitter.builder
    state = emitter.variable(builder.mul(builder.add(length, i64(1)), i64(signed(LENGTH_MULTIPLIER))), "hash")
    words = builder.lshr(length, i64(3))
    with emitter.loop(i64(0), words) as word_index:
        address = builder.gep(pointer, [builder.shl(word_index, i64(3))], inbounds=True)
        word = builder.load(builder.bitcast(address, I64_POINTER), align=1)
        builder.store(combine_word(builder, builder.load(state), word), state)
    first, second = load_tail_words(emitter, pointer, length)
    tail = builder.xor(first, rotate_left(builder, second, 32))
    final = combine_word(builder, builder.load(state), tail)
    return mix64(builder, final)


def prefetch(builder: ir.IRBuilder, pointer: ir.Value, write: bool) -> None:
    """Ask the CPU to bring the cache line of `pointer` in; a hint that never faults."""
    address = builder.bitcast(pointer, I8_POINTER)
    flags = [ir.Constant(I32, 1 if write else 0), ir.Constant(I32, 3), ir.Constant(I32, 1)]
    intrinsic(builder, "llvm.prefetch.p0", ir.VoidType(), [address, *flags])


def load_tail_words(emitter: KernelEmitter, pointer: ir.Value, length: ir.Value) -> tuple[ir.Value, ir.Value]:
    """Return two words that together hold every byte past the whole 8-byte words of a key.

    For a key of at least 8 bytes, the first is the word that ends at its last byte and the
    second is 0. A shorter key gives its first and last 4 bytes, which may overlap, or its
    1 to 3 bytes in the first word. No byte outside the key is read.
    """
    builder = emitter.builder
    first = emitter.variable(i64(0), "tail_first")
    second = emitter.variable(i64(0), "tail_second")
    with builder.if_else(builder.icmp_signed(">=", length, i64(8))) as (long_key, short_key):
        with long_key:
            last = builder.gep(pointer, [builder.sub(length, i64(8))], inbounds=True)
            builder.store(builder.load(builder.bitcast(last, I64_POINTER), align=1), first)
        with short_key:
            with builder.if_else(builder.icmp_signed(">=", length, i64(4))) as (four, fewer):
                with four:
                    head = builder.load(builder.bitcast(pointer, I32.as_pointer()), align=1)
                    end = builder.gep(pointer, [builder.sub(length, i64(4))], inbounds=True)
                    builder.store(builder.zext(head, I64), first)
                    builder.store(builder.zext(builder.load(builder.bitcast(end, I32.as_pointer()), align=1), I64), second)
                with fewer:
                    with emitter.loop(i64(0), length) as position:
                        byte = builder.zext(builder.load(builder.gep(pointer, [position], inbounds=True)), I64)
                        placed = builder.shl(byte, builder.shl(position, i64(3)))
                        builder.store(builder.or_(builder.load(first), placed), first)
    return builder.load(first), builder.load(second)


def emit_bytes_equal(emitter: KernelEmitter, left: ir.Value, left_length: ir.Value, right: ir.Value, right_length: ir.Value) -> ir.Value:
    """Return whether two byte strings are equal, comparing 8-byte words inline.

    Keys are short, and a call of memcmp costs more than the comparison of a few words.
    """
    builder = emitter.builder
    result = emitter.variable(builder.icmp_signed("==", left_length, right_length), "equal")
    with builder.if_then(builder.load(result)):
        difference = emitter.variable(i64(0), "difference")
        with emitter.loop(i64(0), builder.lshr(left_length, i64(3))) as word_index:
            offset = builder.shl(word_index, i64(3))
            left_word = builder.load(builder.bitcast(builder.gep(left, [offset], inbounds=True), I64_POINTER), align=1)
            right_word = builder.load(builder.bitcast(builder.gep(right, [offset], inbounds=True), I64_POINTER), align=1)
            builder.store(builder.or_(builder.load(difference), builder.xor(left_word, right_word)), difference)
        left_first, left_second = load_tail_words(emitter, left, left_length)
        right_first, right_second = load_tail_words(emitter, right, right_length)
        tails = builder.or_(builder.xor(left_first, right_first), builder.xor(left_second, right_second))
        builder.store(builder.icmp_signed("==", builder.or_(builder.load(difference), tails), i64(0)), result)
    return builder.load(result)


@dataclass
class KeyColumn:
    """A key column's buffers inside a kernel, read from consecutive fields.

    Integer keys take three fields: the int64 values of the rows (already at the array's
    offset), the validity bitmap, and the bit offset of row 0 in it. String keys take six:
    the offsets of the rows (at the array's offset), the data, the data size in bytes, the
    validity bitmap and its bit offset, and the hash of each row's bytes. Hash builds, probes,
    Bloom filters and filters read those hashes instead of hashing again, and other kernels
    hash the bytes themselves.
    The runtime passes an all-ones bitmap for a column without nulls, and checks before the
    call that the offsets lie inside the data.
    """

    kind: str  # "int", "str32" or "str64"
    values: ir.Value  # int64 values, or the offsets
    data: ir.Value | None
    bitmap: ir.Value
    bit_offset: ir.Value
    hashes: ir.Value | None = None  # the stored hashes of string keys, when the kernel reads them

    @staticmethod
    def field_count(kind: str) -> int:
        return 3 if kind == "int" else 6

    @classmethod
    def read(cls, emitter: KernelEmitter, kind: str, first: int, stored_hashes: bool = False) -> KeyColumn:
        if kind == "int":
            values = emitter.pointer_field(first, I64)
            return cls(kind, values, None, emitter.pointer_field(first + 1, I8), emitter.field(first + 2))
        offsets = emitter.pointer_field(first, I32 if kind == "str32" else I64)
        data = emitter.pointer_field(first + 1, I8)
        hashes = emitter.pointer_field(first + 5, I64) if stored_hashes else None
        return cls(kind, offsets, data, emitter.pointer_field(first + 3, I8), emitter.field(first + 4), hashes)

    def is_valid(self, builder: ir.IRBuilder, row: ir.Value) -> ir.Value:
        return bit_is_set(builder, self.bitmap, builder.add(self.bit_offset, row))

    def value(self, builder: ir.IRBuilder, row: ir.Value) -> ir.Value:
        assert self.kind == "int", "only integer keys have an int64 value"
        return builder.load(builder.gep(self.values, [row], inbounds=True))

    def offsets_address(self, builder: ir.IRBuilder, row: ir.Value) -> ir.Value:
        return builder.gep(self.values, [row], inbounds=True)

    def string(self, builder: ir.IRBuilder, row: ir.Value) -> tuple[ir.Value, ir.Value]:
        """Return the address and length of row `row`'s bytes."""
        assert self.data is not None, "only string keys have bytes"
        start = builder.load(builder.gep(self.values, [row], inbounds=True))
        end = builder.load(builder.gep(self.values, [builder.add(row, i64(1))], inbounds=True))
        if start.type != I64:
            start, end = builder.sext(start, I64), builder.sext(end, I64)
        return builder.gep(self.data, [start], inbounds=True), builder.sub(end, start)

    def hash(self, emitter: KernelEmitter, row: ir.Value) -> ir.Value:
        if self.kind == "int":
            return mix64(emitter.builder, self.value(emitter.builder, row))
        if self.hashes is not None:
            return emitter.builder.load(emitter.builder.gep(self.hashes, [row], inbounds=True))
        pointer, length = self.string(emitter.builder, row)
        return emit_bytes_hash(emitter, pointer, length)


def count_leading_zeros(builder: ir.IRBuilder, value: ir.Value) -> ir.Value:
    return intrinsic(builder, "llvm.ctlz.i64", I64, [value, ir.Constant(I1, 0)])


def store_monotonic(builder: ir.IRBuilder, value: ir.Value, pointer: ir.Value) -> None:
    """Store with monotonic ordering: threads that set the same flag to the same value do not race."""
    builder.store_atomic(value, pointer, "monotonic", value.type.width // 8)
