"""Join keys as the kernels read them: type checks, widening, packing and buffer checks.

A key of one integer-like column (any integer width, bool, date, timestamp) becomes int64
values, and a string or binary key keeps its Arrow offsets and data. A key of several
columns is packed into one int64 when every part is integer-like and the product of the
parts' ranges fits in 63 bits. Otherwise each row's parts are concatenated into one binary
value: an integer part as its 8 bytes, a string part as its length in 4 bytes and its
bytes, so that equal binaries mean equal parts. A row with a null part has a null key, and
null keys never match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurejit.runtime.batch import EMPTY_ADDRESS

INT64_MAX = 2**63 - 1
PACKED_BITS = 63  # packed keys stay non-negative int64 values


# The key classes of key_class that are not a date or timestamp type.
BASIC_CLASSES = ("int", "str", "binary")


class KeyTypeError(TypeError):
    """Join keys whose types cannot be compared, such as an integer column against a string column."""


def key_class(arrow_type: pa.DataType) -> str | None:
    """Return "int" for integer-like types, "str" for string and binary types, a type name for
    dates and timestamps (which match only the same type), or None for other types."""
    if pa.types.is_dictionary(arrow_type):
        return key_class(arrow_type.value_type)
    if pa.types.is_integer(arrow_type) or pa.types.is_boolean(arrow_type):
        return "int"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "str"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return "binary"
    if pa.types.is_temporal(arrow_type) and not pa.types.is_interval(arrow_type):
        return str(arrow_type)
    return None


def check_key_types(left: Sequence[tuple[str, pa.DataType]], right: Sequence[tuple[str, pa.DataType]]) -> list[str]:
    """Return the class of each key part; raise KeyTypeError naming both columns of a mismatch."""
    if len(left) != len(right):
        raise ValueError(
            f"the left key has {len(left)} column(s) ({', '.join(name for name, _ in left)}) and the right key "
            f"{len(right)} ({', '.join(name for name, _ in right)}); give the same number on both sides"
        )
    classes = []
    for (left_name, left_type), (right_name, right_type) in zip(left, right, strict=True):
        left_class, right_class = key_class(left_type), key_class(right_type)
        for name, arrow_type, found in ((left_name, left_type, left_class), (right_name, right_type, right_class)):
            if found is None and pa.types.is_null(arrow_type):
                raise KeyTypeError(
                    f"the key column {name!r} has only nulls (Arrow type null), which match no key; "
                    f"cast it to the other key's type"
                )
            if found is None:
                raise KeyTypeError(
                    f"the key column {name!r} is {arrow_type}; join keys must be integers, strings, binary, dates "
                    f"or timestamps (cast {'decimals' if pa.types.is_decimal(arrow_type) else 'floats'} to int or string first)"
                )
        if left_class != right_class:
            both_temporal = left_class not in BASIC_CLASSES and right_class not in BASIC_CLASSES
            reason = (
                "dates and timestamps join only with keys of the same type, unit and zone"
                if both_temporal
                else f"{describe_class(left_class)} never equals {describe_class(right_class)}"
            )
            raise KeyTypeError(
                f"cannot join the key column {left_name!r} ({left_type}) with {right_name!r} ({right_type}): "
                f"{reason}; cast one of them first"
            )
        classes.append(left_class)
    return classes  # type: ignore[return-value]


def describe_class(key_class_name: str | None) -> str:
    return {"int": "an integer", "str": "a string", "binary": "a binary value"}.get(key_class_name or "", f"a {key_class_name}")


def contiguous(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return a column as one array; a dictionary-encoded one is decoded."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return column


def check_buffer(name: str, what: str, buffer: pa.Buffer | None, needed: int) -> None:
    size = 0 if buffer is None else buffer.size
    if size < needed:
        raise ValueError(
            f"the Arrow array of the key column {name!r} is malformed: its {what} has {size} bytes but needs "
            f"{needed}; rebuild it with pyarrow, or call .validate(full=True) on it to see what is wrong"
        )


def validity_bits(array: pa.Array, name: str) -> np.ndarray:
    """Return the validity of each row as booleans."""
    if array.null_count == 0:
        return np.ones(len(array), dtype=bool)
    bitmap = array.buffers()[0]
    check_buffer(name, "validity bitmap", bitmap, (array.offset + len(array) + 7) // 8)
    assert bitmap is not None
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little", count=array.offset + len(array))
    return bits[array.offset :].astype(bool)


def int64_values(array: pa.Array, name: str) -> np.ndarray:
    """Return an integer-like array's values widened to int64; uint64 values keep their bits."""
    if pa.types.is_boolean(array.type):
        return np.asarray(array.fill_null(False).cast(pa.int8()), dtype=np.int64)
    if pa.types.is_null(array.type):
        return np.zeros(len(array), dtype=np.int64)
    width = array.type.bit_width // 8
    dtype = np.dtype(f"{'u' if pa.types.is_unsigned_integer(array.type) else 'i'}{width}")
    data = array.buffers()[1]
    check_buffer(name, "data buffer", data, (array.offset + len(array)) * width)
    assert data is not None or len(array) == 0
    if data is None:
        return np.zeros(0, dtype=np.int64)
    values = np.frombuffer(data, dtype=dtype, count=array.offset + len(array))[array.offset :]
    if dtype == np.dtype(np.uint64):
        return values.view(np.int64)
    return values.astype(np.int64, copy=False)


@dataclass
class KeyBuffers:
    """A key column as the kernels read it: the kind, the row count, the fields, and what keeps them alive."""

    kind: str  # "int", "str32" or "str64"
    rows: int
    fields: list[int]
    null_count: int
    values: np.ndarray | None = None  # the int64 values of an integer key
    keep: list[Any] = field(default_factory=list)


# A bitmap of ones for keys without nulls, allocated once and never freed, so that fields that
# point into it stay valid. Longer columns get a bitmap of their own.
SHARED_ONES_BITS = 1 << 16
SHARED_ONES = np.full(SHARED_ONES_BITS // 8, 0xFF, dtype=np.uint8)


def ones_bitmap(rows: int) -> np.ndarray:
    """Return a bitmap of at least `rows` one bits, which the caller keeps alive while kernels read it."""
    if rows <= SHARED_ONES_BITS:
        return SHARED_ONES
    return np.full((rows + 7) // 8, 0xFF, dtype=np.uint8)


def bitmap_fields(valid: np.ndarray | None, array: pa.Array | None, name: str) -> tuple[list[int], list[Any], int]:
    """Return the bitmap fields (address, bit offset), what keeps them alive, and the null count.

    `valid`, when given, replaces the array's own validity.
    """
    if valid is not None:
        nulls = int(len(valid) - np.count_nonzero(valid))
        if nulls == 0:
            ones = ones_bitmap(len(valid))
            return [int(ones.ctypes.data), 0], [ones], 0
        packed = np.packbits(valid, bitorder="little")
        packed = np.concatenate([packed, np.zeros(1, dtype=np.uint8)])
        return [int(packed.ctypes.data), 0], [packed], nulls
    assert array is not None
    if array.null_count == 0:
        ones = ones_bitmap(len(array))
        return [int(ones.ctypes.data), 0], [ones], 0
    bitmap = array.buffers()[0]
    check_buffer(name, "validity bitmap", bitmap, (array.offset + len(array) + 7) // 8)
    assert bitmap is not None
    return [bitmap.address, array.offset], [bitmap], array.null_count


def int_key(values: np.ndarray, valid: np.ndarray | None, array: pa.Array | None, name: str) -> KeyBuffers:
    """Describe int64 key values; null rows are those `valid` clears, or the array's nulls."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    address = int(values.ctypes.data) if len(values) else EMPTY_ADDRESS
    bitmap, keep, nulls = bitmap_fields(valid, array, name)
    return KeyBuffers("int", len(values), [address, *bitmap], nulls, values, [values, *keep])


def string_key(array: pa.Array, name: str) -> KeyBuffers:
    """Describe a string or binary key column, after checking that its offsets lie inside its data."""
    large = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    width = 8 if large else 4
    _, offsets, data = array.buffers()[:3]
    rows = len(array)
    check_buffer(name, "offsets buffer", offsets, (array.offset + rows + 1) * width)
    assert offsets is not None
    positions: np.ndarray = np.frombuffer(offsets, dtype=np.int64 if large else np.int32, count=array.offset + rows + 1)
    positions = positions[array.offset :]
    data_size = 0 if data is None else data.size
    if rows and (positions[0] < 0 or positions[-1] > data_size or bool(np.any(positions[1:] < positions[:-1]))):
        raise ValueError(
            f"the Arrow array of the key column {name!r} is malformed: its offsets are not ascending within its "
            f"{data_size} data bytes; rebuild it with pyarrow, or call .validate(full=True) on it"
        )
    bitmap, keep, nulls = bitmap_fields(None, array, name)
    data_address = data.address if data is not None and data.size else EMPTY_ADDRESS
    # The last field is the address of the rows' hashes, which operators.ensure_hashes fills in.
    fields = [offsets.address + array.offset * width, data_address, data_size, *bitmap, 0]
    return KeyBuffers("str64" if large else "str32", rows, fields, nulls, None, [offsets, data, array, *keep])


# --------------------------------------------------------------------------------------
# Keys of one or more columns
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Packing:
    """The packing of integer parts into one int64: the sum of (part - minimum) * stride, first part most significant."""

    minimums: tuple[int, ...]
    spans: tuple[int, ...]
    strides: tuple[int, ...]


def plan_packing(ranges: Sequence[tuple[int, int]]) -> Packing | None:
    """Return the packing for parts with these (min, max) ranges, or None if they need more than 63 bits."""
    spans = [high - low + 1 for low, high in ranges]
    total = 1
    for span in spans:
        total *= max(span, 1)
    if total >= 2**PACKED_BITS:
        return None
    strides = []
    stride = 1
    for span in reversed(spans):
        strides.append(stride)
        stride *= max(span, 1)
    return Packing(tuple(low for low, _ in ranges), tuple(spans), tuple(reversed(strides)))


@dataclass
class IntPart:
    """One integer-like key part as int64 values and a mask of the rows that may match."""

    values: np.ndarray
    valid: np.ndarray
    unsigned64: bool


def int_part(array: pa.Array, name: str) -> IntPart:
    values = int64_values(array, name)
    return IntPart(values, validity_bits(array, name), pa.types.is_uint64(array.type))


def signed_view(part: IntPart, other_unsigned64: bool) -> IntPart:
    """Clear the rows of a uint64 part above the int64 range unless the other side is uint64 too.

    Such a value equals no signed value, and as int64 bits it would equal a negative one.
    """
    if part.unsigned64 and not other_unsigned64:
        return IntPart(part.values, part.valid & (part.values >= 0), False)
    if other_unsigned64 and not part.unsigned64:
        return IntPart(part.values, part.valid & (part.values >= 0), False)
    return part


def part_range(part: IntPart) -> tuple[int, int] | None:
    if not part.valid.any():
        return None
    chosen = part.values[part.valid]
    return int(chosen.min()), int(chosen.max())


def pack_parts(parts: Sequence[IntPart], packing: Packing) -> tuple[np.ndarray, np.ndarray]:
    """Return the packed int64 keys and their validity; rows with a part outside the packing's range are null."""
    rows = len(parts[0].values)
    packed = np.zeros(rows, dtype=np.uint64)
    valid = np.ones(rows, dtype=bool)
    for part, low, span, stride in zip(parts, packing.minimums, packing.spans, packing.strides, strict=True):
        offset = part.values.astype(np.int64) - np.int64(low) if span else np.zeros(rows, dtype=np.int64)
        # A value far from the minimum may wrap in int64; the comparison with the original catches that.
        inside = (part.values >= low) & (offset < span) & (offset >= 0)
        valid &= part.valid & inside
        packed += np.where(inside, offset, 0).astype(np.uint64) * np.uint64(stride)
    return packed.view(np.int64), valid


def binary_parts(columns: Sequence[tuple[pa.Array, str]], other_unsigned: Sequence[bool]) -> pa.Array:
    """Concatenate each row's parts into one large_binary value; null where any part is null."""
    pieces = []
    for (array, name), unsigned in zip(columns, other_unsigned, strict=True):
        if key_class(array.type) in ("str", "binary"):
            as_binary = array.cast(pa.large_binary())
            lengths = pc.binary_length(as_binary).cast(pa.int32()).fill_null(0)
            pieces.append(fixed_bytes(np.asarray(lengths, dtype=np.int32).view(np.uint8), 4, len(array), None))
            pieces.append(as_binary)
        else:
            part = signed_view(int_part(integer_view(array), name), unsigned)
            pieces.append(fixed_bytes(part.values.view(np.uint8), 8, len(array), part.valid))
    return pc.binary_join_element_wise(*pieces, pa.scalar(b"", pa.large_binary()))


def fixed_bytes(data: np.ndarray, width: int, rows: int, valid: np.ndarray | None) -> pa.Array:
    """Return `rows` values of `width` bytes each from `data`, as large_binary, null where `valid` is false."""
    validity = None
    if valid is not None and not valid.all():
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), rows, [validity, pa.py_buffer(np.ascontiguousarray(data))])
    return fixed.cast(pa.large_binary())


def integer_view(array: pa.Array) -> pa.Array:
    """Return a date or timestamp array as integers of the same width; other arrays unchanged."""
    if pa.types.is_temporal(array.type):
        width = array.type.bit_width
        return array.view(pa.int32() if width == 32 else pa.int64())
    return array


@dataclass
class KeySpec:
    """The key columns of both sides of a join, and how their values become kernel keys."""

    left_names: list[str]
    right_names: list[str]
    classes: list[str]
    packing: Packing | None = None
    unsigned: list[tuple[bool, bool]] = field(default_factory=list)

    @property
    def is_integer(self) -> bool:
        return all(kind not in ("str", "binary") for kind in self.classes)

    @property
    def encoding(self) -> str:
        """"int" for one integer-like part, "packed", "binary" for concatenated parts, or "str"."""
        if len(self.classes) == 1:
            return "int" if self.is_integer else "str"
        return "packed" if self.packing is not None else "binary"


def key_spec(
    left: pa.Table, right: pa.Table, left_names: Sequence[str], right_names: Sequence[str]
) -> KeySpec:
    """Check the key types of two tables and choose their encoding, packing by both sides' ranges."""
    left_types = [(name, left.schema.field(name).type) for name in left_names]
    right_types = [(name, right.schema.field(name).type) for name in right_names]
    classes = check_key_types(left_types, right_types)
    unsigned = [
        (pa.types.is_uint64(left_type), pa.types.is_uint64(right_type))
        for (_, left_type), (_, right_type) in zip(left_types, right_types, strict=True)
    ]
    spec = KeySpec(list(left_names), list(right_names), classes, None, unsigned)
    if len(classes) > 1 and spec.is_integer:
        ranges = []
        for index, (left_name, right_name) in enumerate(zip(left_names, right_names, strict=True)):
            found = [
                part_range(signed_view(int_part(integer_view(contiguous(table.column(name))), name), other))
                for table, name, other in ((left, left_name, unsigned[index][1]), (right, right_name, unsigned[index][0]))
            ]
            present = [item for item in found if item is not None]
            ranges.append((min(low for low, _ in present), max(high for _, high in present)) if present else (0, 0))
        spec.packing = plan_packing(ranges)
    return spec


def encode_keys(table: pa.Table, names: Sequence[str], spec: KeySpec, side: int) -> KeyBuffers:
    """Return the kernel keys of one side (0 left, 1 right) of a join."""
    others = [pair[1 - side] for pair in spec.unsigned]
    arrays = [contiguous(table.column(name)) for name in names]
    label = ", ".join(names)
    encoding = spec.encoding
    if encoding == "int":
        array = integer_view(arrays[0])
        if pa.types.is_uint64(array.type) == others[0]:  # no value needs clearing: read the array's bitmap
            return int_key(int64_values(array, label), None, array, label)
        part = signed_view(int_part(array, label), others[0])
        return int_key(part.values, part.valid, None, label)
    if encoding == "str":
        return string_key(arrays[0], label)
    if encoding == "packed":
        assert spec.packing is not None
        parts = [signed_view(int_part(integer_view(array), name), other) for array, name, other in zip(arrays, names, others, strict=True)]
        packed, valid = pack_parts(parts, spec.packing)
        return int_key(packed, valid, None, label)
    return string_key(binary_parts(list(zip(arrays, names, strict=True)), others), label)
