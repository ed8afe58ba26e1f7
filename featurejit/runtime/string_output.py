"""A str output column: the bytes a kernel appends, its offsets, and the strings the slow path adds.

The kernel appends each row's UTF-8 bytes to a buffer that it grows with realloc, described by
a struct {data, length, capacity, failed} of four int64, and writes the end offset of every
row into an int64 offsets array. Flagged rows append nothing, so the interpreter's strings are
spliced in afterwards. The result is an Arrow `string` array, or `large_string` when the bytes
need 64-bit offsets.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from featurejit.runtime.memory import address, count_bits

INT32_LIMIT = 2**31 - 1
_libc = ctypes.CDLL(None)
_free = _libc.free
_free.argtypes = [ctypes.c_void_p]
_free.restype = None


class MallocBlock:
    """Owns memory the kernel allocated with realloc, and frees it when no Arrow buffer uses it."""

    def __init__(self, address: int):
        self.address = address

    def __del__(self) -> None:
        if self.address:
            _free(self.address)
            self.address = 0


@dataclass
class StringOutput:
    """The buffers of one str output column for one segment."""

    rows: int
    builder: np.ndarray  # int64[4]: data address, length, capacity, failed
    offsets: np.ndarray  # int64[rows + 1]
    valid: np.ndarray  # validity bitmap, 64-bit words
    splices: list[tuple[np.ndarray, list[Any], list[bool]]]

    @classmethod
    def allocate(cls, rows: int) -> StringOutput:
        return cls(rows, np.zeros(4, dtype=np.int64), np.zeros(rows + 1, dtype=np.int64), np.zeros((rows + 63) // 64, dtype=np.uint64), [])

    def addresses(self, first_row: int) -> list[int]:
        """Return the kernel's three output fields; a str column runs as one morsel, from row 0."""
        assert first_row == 0, "str outputs are not split into morsels"
        return [address(self.builder), address(self.valid), address(self.offsets)]

    def store(self, rows: np.ndarray, values: list[Any], present: list[bool]) -> None:
        """Remember the interpreter's strings for the slow-path rows, spliced in by to_array."""
        from featurejit.runtime.batch import set_bits

        set_bits(self.valid, rows, np.array(present, dtype=bool))
        self.splices.append((rows, values, present))

    def take_bytes(self) -> tuple[MallocBlock, int]:
        if self.builder[3]:
            raise MemoryError("the kernel ran out of memory while building a str column")
        block = MallocBlock(int(self.builder[0]))
        return block, int(self.builder[1])

    def to_array(self) -> pa.Array:
        taken, size = self.take_bytes()
        block: MallocBlock | None = taken
        kernel_bytes = np.ctypeslib.as_array((ctypes.c_uint8 * size).from_address(taken.address)) if size else np.zeros(0, np.uint8)
        offsets = self.offsets
        if self.splices:
            kernel_bytes, offsets = self.splice(kernel_bytes)
            block = None  # the spliced copy no longer refers to the kernel's memory
        if block is None or size == 0:
            data = pa.py_buffer(kernel_bytes)
        else:
            data = pa.foreign_buffer(block.address, size, base=block)
        return wrap_strings(self.rows, offsets, data, self.valid)

    def splice(self, kernel_bytes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Insert the slow path's strings at their rows, which the kernel left empty."""
        lengths = np.diff(self.offsets)
        pieces: dict[int, bytes] = {}
        for rows, values, present in self.splices:
            for row, value, is_present in zip(rows.tolist(), values, present, strict=True):
                pieces[row] = value.encode("utf-8") if is_present else b""
        slow_rows = np.array(sorted(pieces), dtype=np.int64)
        lengths = lengths.copy()
        lengths[slow_rows] = [len(pieces[row]) for row in slow_rows.tolist()]
        new_offsets = np.zeros(self.rows + 1, dtype=np.int64)
        np.cumsum(lengths, out=new_offsets[1:])
        parts: list[bytes | np.ndarray] = []
        previous = 0
        for row in slow_rows.tolist():
            parts.append(kernel_bytes[self.offsets[previous] : self.offsets[row]])
            parts.append(np.frombuffer(pieces[row], dtype=np.uint8))
            previous = row + 1
        parts.append(kernel_bytes[self.offsets[previous] : self.offsets[self.rows]])
        return np.concatenate(parts) if parts else np.zeros(0, np.uint8), new_offsets


def wrap_strings(rows: int, offsets: np.ndarray, data: pa.Buffer, valid: np.ndarray) -> pa.Array:
    """Build a string array (large_string beyond 2**31 - 1 bytes) from int64 offsets and bytes."""
    null_count = rows - count_bits(valid)
    validity = pa.py_buffer(valid) if null_count else None
    if offsets[-1] <= INT32_LIMIT:
        return pa.Array.from_buffers(pa.string(), rows, [validity, pa.py_buffer(offsets.astype(np.int32)), data], null_count=null_count)
    return pa.Array.from_buffers(pa.large_string(), rows, [validity, pa.py_buffer(offsets), data], null_count=null_count)
