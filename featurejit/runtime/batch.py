"""Running a resolver over Arrow arrays: chunk alignment, buffer checks, kernel calls, results."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from featurejit.codegen.kernel import ColumnLayout
from featurejit.runtime.inputs import ARROW_TYPE_OF, ARROW_TYPES, Argument, BoundCall
from featurejit.runtime.slow_path import gather_values, run_rows

OUTPUT_DTYPES: dict[type, np.dtype] = {float: np.dtype(np.float64), int: np.dtype(np.int64), bool: np.dtype(np.uint8)}
ITEM_SIZES: dict[str, int] = {
    "int8": 1, "int16": 2, "int32": 4, "int64": 8, "uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8,
    "float32": 4, "float64": 8,
}

KernelFunction = Callable[[int, int, int, int, int], int]


@dataclass(frozen=True)
class ParameterKey:
    """The specialization of a batch kernel for one parameter."""

    python_type: type
    optional: bool
    layout: ColumnLayout


@dataclass
class CallStats:
    """Row counts of one call, for explain()."""

    rows: int = 0
    slow_path_rows: int = 0
    error_rows: int = 0
    native: bool = True
    kernels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SegmentInput:
    """One argument over one segment: a contiguous Arrow array, or a broadcast one-element array."""

    argument: Argument
    array: pa.Array
    broadcast: bool
    python_type: type

    def values_at(self, rows: np.ndarray) -> list[Any]:
        return gather_values(self.array, self.broadcast, rows)


def segment_bounds(bound: BoundCall) -> list[tuple[int, int]]:
    """Return [start, stop) ranges that lie within one chunk of every chunked argument."""
    assert bound.length is not None
    cuts = {0, bound.length}
    for argument in bound.arguments:
        if isinstance(argument.array, pa.ChunkedArray):
            position = 0
            for chunk in argument.array.chunks:
                position += len(chunk)
                cuts.add(position)
    ordered = sorted(cuts)
    return [(start, stop) for start, stop in zip(ordered, ordered[1:], strict=False) if stop > start]


def slice_argument(argument: Argument, start: int, stop: int) -> SegmentInput:
    """Return the argument's values in [start, stop) as one contiguous array, or a broadcast."""
    spec_type = argument.spec.python_type
    array = argument.array
    if array is None or pa.types.is_null(array.type):
        value = argument.scalar if array is None else None
        python_type = type(value) if value is not None else spec_type
        return SegmentInput(argument, pa.array([value], type=ARROW_TYPE_OF[python_type]), True, python_type)
    piece = array.slice(start, stop - start)
    if isinstance(piece, pa.ChunkedArray):
        chunks = [chunk for chunk in piece.chunks if len(chunk)]
        assert len(chunks) == 1, "segments lie within one chunk"
        piece = chunks[0]
    return SegmentInput(argument, piece, False, ARROW_TYPES[piece.type][1])


class AllValidBitmap:
    """A bitmap of ones, grown as needed, for optional parameters whose array has no bitmap.

    Kernels for parameters annotated `T | None` always read a validity bitmap, so that arrays
    with and without nulls share one kernel. Kernels only read this buffer, so one copy serves
    every call and thread.
    """

    def __init__(self) -> None:
        self.buffer = np.full(1024, 0xFF, dtype=np.uint8)
        self.lock = threading.Lock()

    def address(self, bits: int) -> int:
        """Return the address of at least `bits` one bits."""
        with self.lock:
            if len(self.buffer) * 8 < bits:
                self.buffer = np.full(max((bits + 7) // 8, 2 * len(self.buffer)), 0xFF, dtype=np.uint8)
            return int(self.buffer.ctypes.data)


ALL_VALID = AllValidBitmap()


def column_descriptor(segment: SegmentInput, rows: int) -> tuple[ColumnLayout, list[int]]:
    """Return the kernel layout and the (data, validity, offset) addresses of one input.

    Raises ValueError if a buffer is smaller than the rows the kernel would read, which only a
    malformed array (one built with pa.Array.from_buffers, say) can cause.
    """
    array = segment.array
    physical = ARROW_TYPES[array.type][0]
    validity, data = array.buffers()[:2]
    elements = array.offset + (1 if segment.broadcast else rows)
    needed = (elements + 7) // 8 if physical == "bool" else elements * ITEM_SIZES[physical]
    if data is None or data.size < needed:
        raise ValueError(
            f"the Arrow array for parameter {segment.argument.name!r} is malformed: its data buffer has "
            f"{0 if data is None else data.size} bytes, but offset {array.offset} and length {len(array)} need {needed}"
        )
    has_nulls = validity is not None and array.null_count > 0
    if has_nulls and validity.size < (elements + 7) // 8:
        raise ValueError(
            f"the Arrow array for parameter {segment.argument.name!r} is malformed: its validity bitmap has "
            f"{validity.size} bytes, but offset {array.offset} and length {len(array)} need {(elements + 7) // 8}"
        )
    if has_nulls:
        validity_address = validity.address
    elif segment.argument.spec.optional:
        validity_address = ALL_VALID.address(elements)
    else:
        validity_address = 0
    layout = ColumnLayout(physical, has_nulls or segment.argument.spec.optional, segment.broadcast)
    return layout, [data.address, validity_address, array.offset]


def padded_length(rows: int) -> int:
    """Return `rows` rounded up to a multiple of 8, so flags can be read as 64-bit words."""
    return (rows + 7) // 8 * 8


def flagged_indices(flags: np.ndarray, count: int) -> np.ndarray:
    """Return the indices of the nonzero flag bytes, of which there are `count`.

    Flagged rows are usually rare, so the scan looks at 8 flags per step and expands only the
    words that contain a flag.
    """
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    words = np.flatnonzero(flags.view(np.uint64))
    if count > len(flags) // 64:
        return np.flatnonzero(flags)
    candidates = (words[:, None] * 8 + np.arange(8)).ravel()
    return candidates[flags[candidates] != 0]


def build_array(out_data: np.ndarray, out_valid: np.ndarray, output: type) -> pa.Array:
    """Wrap the kernel's output buffers as an Arrow array, packing bools and validity into bits."""
    length = len(out_data)
    arrow_type = ARROW_TYPE_OF[output]
    null_count = int(length - np.count_nonzero(out_valid))
    validity = None
    if null_count:
        validity = pa.py_buffer(np.packbits(out_valid.view(np.bool_), bitorder="little"))
    if output is bool:
        data = pa.py_buffer(np.packbits(out_data.view(np.bool_), bitorder="little"))
    else:
        data = pa.py_buffer(out_data)
    return pa.Array.from_buffers(arrow_type, length, [validity, data], null_count=null_count)


def empty_result(bound: BoundCall, output: type) -> pa.Array | pa.ChunkedArray:
    arrow_type = ARROW_TYPE_OF[output]
    if bound.chunked:
        return pa.chunked_array([], type=arrow_type)
    return pa.array([], type=arrow_type)


class BatchRunner:
    """Runs one call over arrays, with a kernel per input specialization or in the interpreter."""

    def __init__(
        self,
        function: Callable[..., Any],
        name: str,
        output: type,
        on_error: str,
        get_kernel: Callable[[tuple[ParameterKey, ...]], KernelFunction | None] | None,
    ):
        self.function = function
        self.name = name
        self.output = output
        self.on_error = on_error
        self.get_kernel = get_kernel  # None: run every row in the interpreter

    def run(self, bound: BoundCall, stats: CallStats) -> pa.Array | pa.ChunkedArray:
        assert bound.length is not None
        stats.rows = bound.length
        stats.native = self.get_kernel is not None
        if bound.length == 0:
            return empty_result(bound, self.output)
        pieces = [self.run_segment(bound, start, stop, stats) for start, stop in segment_bounds(bound)]
        if bound.chunked:
            return pa.chunked_array(pieces, type=ARROW_TYPE_OF[self.output])
        assert len(pieces) == 1
        return pieces[0]

    def run_segment(self, bound: BoundCall, start: int, stop: int, stats: CallStats) -> pa.Array:
        rows = stop - start
        inputs = [slice_argument(argument, start, stop) for argument in bound.arguments]
        out_data = np.zeros(rows, dtype=OUTPUT_DTYPES[self.output])
        out_valid = np.zeros(rows, dtype=np.uint8)
        flagged_rows = None
        if self.get_kernel is not None:
            flagged_rows = self.run_kernel(inputs, rows, out_data, out_valid)
        if flagged_rows is None:  # no kernel: every row runs in the interpreter
            stats.native = False
            flagged_rows = np.arange(rows)
        stats.slow_path_rows += len(flagged_rows)
        if len(flagged_rows):
            stats.error_rows += run_rows(
                self.function,
                self.name,
                [segment.argument.name for segment in inputs],
                [segment.values_at(flagged_rows) for segment in inputs],
                flagged_rows,
                start,
                self.on_error,
                self.output,
                out_data,
                out_valid,
            )
        return build_array(out_data, out_valid, self.output)

    def run_kernel(
        self, inputs: list[SegmentInput], rows: int, out_data: np.ndarray, out_valid: np.ndarray
    ) -> np.ndarray | None:
        """Call the kernel on one segment; return the local indices of the flagged rows.

        Returns None when no kernel could be compiled for these inputs.
        """
        assert self.get_kernel is not None
        keys = []
        addresses: list[int] = []
        for segment in inputs:
            layout, descriptor = column_descriptor(segment, rows)
            keys.append(ParameterKey(segment.python_type, segment.argument.spec.optional, layout))
            addresses.extend(descriptor)
        kernel = self.get_kernel(tuple(keys))
        if kernel is None:
            return None
        columns = np.array(addresses, dtype=np.int64) if addresses else np.zeros(1, dtype=np.int64)
        flags = np.zeros(padded_length(rows), dtype=np.uint8)
        flagged = kernel(rows, columns.ctypes.data, out_data.ctypes.data, out_valid.ctypes.data, flags.ctypes.data)
        return flagged_indices(flags, flagged)

