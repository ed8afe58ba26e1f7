"""Running a resolver over Arrow arrays: chunk alignment, buffer checks, kernel calls, results."""

from __future__ import annotations

import datetime
import threading
from array import array as int64_array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, overload

import numpy as np
import pyarrow as pa

from featurejit.codegen.layout import FIELDS_PER_COLUMN, PHYSICAL_TYPES, ColumnLayout
from featurejit.runtime.inputs import ARROW_TYPE_OF, Argument, BoundCall, arrow_info
from featurejit.runtime.memory import address, any_bits, count_bits, pool_array
from featurejit.runtime.parallel import run_morsels_on_threads
from featurejit.runtime.slow_path import RowResults, gather_values, read_bits
from featurejit.runtime.string_output import StringOutput
from featurejit.runtime.temporal import (
    TEMPORAL_ARROW_TYPES,
    TemporalOutput,
    encode_scalar,
    zone_of_array_type,
)
from featurejit.settings import settings

OUTPUT_DTYPES: dict[type, np.dtype] = {float: np.dtype(np.float64), int: np.dtype(np.int64), bool: np.dtype(np.uint64)}
ITEM_SIZES: dict[str, int] = {
    "int8": 1, "int16": 2, "int32": 4, "int64": 8, "uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8,
    "float32": 4, "float64": 8,
}

KernelFunction = Callable[[int, int, int, int, int], int]


class ParameterKey(NamedTuple):
    """The specialization of a batch kernel for one parameter (a named tuple, as ColumnLayout is).

    `zone` is the time zone of a datetime parameter ("" for naive). `unsupported` gives the
    reason when no kernel can take the argument, such as a datetime in a tzinfo without a
    zone name. Compiling for such a key raises CompileError.
    """

    python_type: type
    optional: bool
    layout: ColumnLayout
    zone: str = ""
    unsupported: str = ""


@dataclass
class CallStats:
    """Row counts of one call, for explain()."""

    rows: int = 0
    slow_path_rows: int = 0
    error_rows: int = 0
    native: bool = True
    kernels: list[str] = field(default_factory=list)
    quick_kernel: bool = False  # a quick kernel ran, while its optimized tier compiled
    raised: str = ""  # the class of the exception that the call raised, if it raised


@dataclass(slots=True)
class SegmentInput:
    """One argument over one segment: a contiguous Arrow array, or a broadcast one-element array."""

    argument: Argument
    array: pa.Array
    broadcast: bool
    python_type: type
    zone: str = ""  # of a datetime argument, see ParameterKey
    unsupported: str = ""
    physical: str = ""  # the kernel's layout of `array`, if known when the segment was cut

    def values_at(self, rows: np.ndarray) -> list[Any]:
        if self.broadcast and self.argument.array is None:
            return [self.argument.scalar] * len(rows)  # the caller's own object, tzinfo included
        try:
            return gather_values(self.array, self.broadcast, rows)
        except pa.ArrowIndexError as error:  # a dictionary index past the dictionary's end
            raise ValueError(
                f"the Arrow array for parameter {self.argument.name!r} is malformed: {error}; "
                f"array.validate(full=True) finds such problems"
            ) from None

    def key(self, layout: ColumnLayout) -> ParameterKey:
        return ParameterKey(self.python_type, self.argument.spec.optional, layout, self.zone, self.unsupported)


def segment_bounds(bound: BoundCall) -> list[tuple[int, int]]:
    """Return [start, stop) ranges that lie within one chunk of every chunked argument."""
    assert bound.length is not None
    cuts = {0, bound.length}
    for argument in bound.arguments:
        # A chunked array of one chunk adds no cut, and listing its chunks costs a microsecond or two.
        if isinstance(argument.array, pa.ChunkedArray) and argument.array.num_chunks > 1:
            position = 0
            for chunk in argument.array.chunks:
                position += len(chunk)
                cuts.add(position)
    if len(cuts) <= 2:
        return [(0, bound.length)] if bound.length else []
    ordered = sorted(cuts)
    return [(start, stop) for start, stop in zip(ordered, ordered[1:], strict=False) if stop > start]


# Arrow type -> (kernel layout, Python type, zone) of the arrays slice_argument has cut before.
SEGMENT_TYPES: dict[pa.DataType, tuple[str, type, str]] = {}
SEGMENT_TYPES_LIMIT = 1024  # past this many, the cache is cleared (types of distinct zones add entries)


def segment_type(arrow_type: pa.DataType) -> tuple[str, type, str]:
    """Return the kernel layout, Python type and zone of a contiguous array's type (checked when bound)."""
    known = SEGMENT_TYPES.get(arrow_type)
    if known is None:
        info = arrow_info(arrow_type)
        assert info is not None, "arrays are checked when bound"
        if len(SEGMENT_TYPES) >= SEGMENT_TYPES_LIMIT:
            SEGMENT_TYPES.clear()
        known = SEGMENT_TYPES[arrow_type] = (info[0], info[1], zone_of_array_type(arrow_type))
    return known


def slice_argument(argument: Argument, start: int, stop: int) -> SegmentInput:
    """Return the argument's values in [start, stop) as one contiguous array, or a broadcast."""
    array = argument.array
    if array is not None and start == 0 and stop == len(array):
        # The whole array, or the one chunk of a chunked array: slicing would only build a new one.
        whole = array
        if isinstance(array, pa.ChunkedArray):
            whole = array.chunk(0) if array.num_chunks == 1 else None
        known = None if whole is None else SEGMENT_TYPES.get(whole.type)
        if known is not None:  # a type cut before, which is never the null type
            return SegmentInput(argument, whole, False, known[1], known[2], physical=known[0])
    if array is None or pa.types.is_null(array.type):
        value = argument.scalar if array is None else None
        python_type = type(value) if value is not None else argument.spec.python_type
        if python_type in TEMPORAL_ARROW_TYPES:
            encoded = encode_scalar(value, python_type)
            return SegmentInput(argument, encoded.array, True, python_type, encoded.zone, encoded.unsupported)
        return SegmentInput(argument, pa.array([value], type=ARROW_TYPE_OF[python_type]), True, python_type)
    piece = array.slice(start, stop - start)
    if isinstance(piece, pa.ChunkedArray):
        chunks = [chunk for chunk in piece.chunks if len(chunk)]
        assert len(chunks) == 1, "segments lie within one chunk"
        piece = chunks[0]
    physical, python_type, zone = segment_type(piece.type)
    return SegmentInput(argument, piece, False, python_type, zone, physical=physical)


class AllValidBitmap:
    """A bitmap of ones, grown as needed, for optional parameters whose array has no bitmap.

    Kernels for parameters annotated `T | None` always read a validity bitmap, so that arrays
    with and without nulls share one kernel. Kernels only read this buffer, so one copy serves
    every call and thread.
    """

    def __init__(self) -> None:
        self.buffer = np.full(1024, 0xFF, dtype=np.uint8)
        # Buffers replaced by larger ones stay allocated, because a kernel on another thread may
        # still read them. Each is half the size of the next, so they add at most one more copy.
        self.outgrown: list[np.ndarray] = []
        self.lock = threading.Lock()

    def get(self, bits: int) -> tuple[int, int]:
        """Return the address and size in bytes of at least `bits` one bits, valid for the process's life."""
        with self.lock:
            if len(self.buffer) * 8 < bits:
                self.outgrown.append(self.buffer)
                self.buffer = np.full(max((bits + 7) // 8, 2 * len(self.buffer)), 0xFF, dtype=np.uint8)
            return address(self.buffer), len(self.buffer)


ALL_VALID = AllValidBitmap()


def column_descriptor(segment: SegmentInput, rows: int) -> tuple[ColumnLayout, list[int]]:
    """Return the kernel layout and the FIELDS_PER_COLUMN kernel fields of one input.

    The fields are described in featurejit/codegen/kernel.py. Raises ValueError if a buffer is
    smaller than the rows the kernel would read, which only a malformed array (one built with
    pa.Array.from_buffers, say) can cause.
    """
    array = segment.array
    physical = segment.physical
    if not physical:
        info = arrow_info(array.type)
        assert info is not None, "arrays are checked when bound"
        physical = info[0]
    kind = PHYSICAL_TYPES[physical][1]
    buffers = array.buffers()
    validity = buffers[0]
    offset = array.offset
    elements = offset + (1 if segment.broadcast else rows)
    extra = [0, 0, 0, 0, 0]
    item_size = ITEM_SIZES.get(physical)
    if item_size is not None:  # numbers: the common case first
        primary = buffers[1]
        check_size(segment, "data buffer", primary, elements * item_size)
    elif kind == "string":
        offsets, data = buffers[1], buffers[2]
        check_size(segment, "offsets buffer", offsets, (elements + 1) * (4 if physical == "utf8" else 8))
        primary = offsets
        extra[:2] = [data.address if data is not None else EMPTY_ADDRESS, data.size if data is not None else 0]
    elif kind == "dictionary":
        primary = buffers[1]
        check_size(segment, "index buffer", primary, elements * array.type.index_type.bit_width // 8)
        extra = dictionary_fields(segment, array.dictionary)
    elif kind == "temporal":
        primary = buffers[1]
        check_size(segment, "data buffer", primary, elements * (4 if physical == "date32" else 8))
    else:
        assert physical == "bool", f"unexpected kernel layout {physical}"
        primary = buffers[1]
        check_size(segment, "data buffer", primary, (elements + 7) // 8)
    has_nulls = validity is not None and array.null_count > 0
    if has_nulls:
        check_size(segment, "validity bitmap", validity, (elements + 7) // 8)
        validity_address, validity_size = validity.address, validity.size
    elif segment.argument.spec.optional:
        validity_address, validity_size = ALL_VALID.get(elements)
    else:
        validity_address, validity_size = 0, 0
    assert primary is not None
    text_is_ascii = kind in ("string", "dictionary") and strings_are_ascii(array, elements)
    layout = ColumnLayout(physical, has_nulls or segment.argument.spec.optional, segment.broadcast, text_is_ascii)
    fields = [primary.address, validity_address, offset, primary.size, validity_size, *extra]
    assert len(fields) == FIELDS_PER_COLUMN
    return layout, fields


def strings_are_ascii(array: pa.Array, elements: int) -> bool:
    """Return whether the bytes of a str array's first `elements` strings, or of its dictionary, are all ASCII.

    A kernel specialized for ASCII text counts code points as bytes. Offsets that do not
    fit the data give False, and the kernel flags those rows.
    """
    if pa.types.is_dictionary(array.type):
        array, elements = array.dictionary, len(array.dictionary) + array.dictionary.offset
    _, offsets_buffer, data = array.buffers()[:3]
    if offsets_buffer is None:
        return True
    offset_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type, count=elements + 1)
    start, end = int(offsets[array.offset]), int(offsets[elements])
    if start == end:
        return True
    if not 0 <= start < end <= (0 if data is None else data.size):
        return False
    return bool(np.frombuffer(data, dtype=np.uint8, count=end - start, offset=start).max() < 0x80)


def check_size(segment: SegmentInput, what: str, buffer: pa.Buffer | None, needed: int) -> None:
    """Raise ValueError if `buffer` has fewer than `needed` bytes."""
    size = 0 if buffer is None else buffer.size
    if size < needed:
        array = segment.array
        raise ValueError(
            f"the Arrow array for parameter {segment.argument.name!r} is malformed: its {what} has "
            f"{size} bytes, but offset {array.offset} and length {len(array)} need {needed}"
        )


def dictionary_fields(segment: SegmentInput, dictionary: pa.Array) -> list[int]:
    """Return the dictionary's offsets and data addresses, data size, length and offset."""
    _, offsets, data = dictionary.buffers()[:3]
    check_size(segment, "dictionary offsets buffer", offsets, (dictionary.offset + len(dictionary) + 1) * 4)
    assert offsets is not None
    data_address = data.address if data is not None else EMPTY_ADDRESS
    return [offsets.address, data_address, data.size if data is not None else 0, len(dictionary), dictionary.offset]


# An address to stand for the data of strings that are all empty, which Arrow may leave unallocated.
_EMPTY_BYTES = np.zeros(8, dtype=np.uint8)
EMPTY_ADDRESS = int(_EMPTY_BYTES.ctypes.data)


def word_count(rows: int) -> int:
    """Return the number of 64-bit words of a bitmap of `rows` bits."""
    return (rows + 63) // 64


def set_bits(words: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """Set the bits of an LSB-first bitmap of 64-bit words at `rows` to `values`."""
    positions = rows.astype(np.uint64)
    indices = (positions >> np.uint64(6)).astype(np.int64)
    masks = np.left_shift(np.uint64(1), positions & np.uint64(63))
    np.bitwise_and.at(words, indices, ~masks)
    np.bitwise_or.at(words, indices[values], masks[values])


NO_ROWS = np.zeros(0, dtype=np.int64)
NO_ROWS.flags.writeable = False


def flagged_rows(flags: np.ndarray) -> np.ndarray:
    """Return the indices of the set bits of a flag bitmap of 64-bit words, in order."""
    words = np.flatnonzero(flags)
    if len(words) == 0:
        return np.zeros(0, dtype=np.int64)
    bits = np.unpackbits(flags[words].view(np.uint8), bitorder="little").reshape(-1, 64)
    word_index, bit_index = np.nonzero(bits)
    return words[word_index] * 64 + bit_index


def build_array(out_data: np.ndarray, out_valid: np.ndarray, rows: int, output: type) -> pa.Array:
    """Wrap the output buffers, values and a validity bitmap of 64-bit words, as an Arrow array."""
    valid_count = count_bits(out_valid)
    null_count = rows - valid_count
    validity = pa.py_buffer(out_valid) if null_count else None
    return pa.Array.from_buffers(ARROW_TYPE_OF[output], rows, [validity, pa.py_buffer(out_data)], null_count=null_count)


def empty_result(bound: BoundCall, output: type, arrow_type: pa.DataType | None = None) -> pa.Array | pa.ChunkedArray:
    arrow_type = arrow_type or ARROW_TYPE_OF[output]
    if bound.chunked:
        return pa.chunked_array([], type=arrow_type)
    return pa.array([], type=arrow_type)


class KernelCall(NamedTuple):
    """A compiled kernel for one segment's inputs: the kernel, its key and the column fields it reads."""

    kernel: Any
    key: tuple
    fields: list[int]


@dataclass
class OutputBuffers:
    """The buffers of one output column for one segment: values (a bitmap for bool) and validity."""

    output: type
    rows: int
    data: np.ndarray
    valid: np.ndarray

    @classmethod
    def allocate(cls, output: type, rows: int, zeroed: bool = True) -> OutputBuffers | StringOutput | TemporalOutput:
        """Allocate the buffers; without `zeroed`, a kernel must write every element and validity word."""
        if output is str:
            return StringOutput.allocate(rows)
        if output in TEMPORAL_ARROW_TYPES:
            return TemporalOutput.allocate(output, rows)
        if output is bool:
            data = pool_array(word_count(rows), np.uint64, zeroed)
        else:
            data = pool_array(rows, OUTPUT_DTYPES[output], zeroed)
        return cls(output, rows, data, pool_array(word_count(rows), np.uint64, zeroed))

    def addresses(self, first_row: int) -> list[int]:
        """Return the first three kernel output fields (see kernel.py) for rows from `first_row`, a multiple of 64."""
        data_offset = first_row // 64 * 8 if self.output is bool else first_row * self.data.itemsize
        return [address(self.data) + data_offset, address(self.valid) + first_row // 64 * 8, 0]

    def store(self, rows: np.ndarray, values: list[Any], present: list[bool]) -> None:
        """Write the interpreter's results over the kernel's for the slow-path rows."""
        present_array = np.array(present, dtype=bool)
        set_bits(self.valid, rows, present_array)
        if self.output is bool:
            set_bits(self.data, rows, np.array(values, dtype=bool) & present_array)
        else:
            self.data[rows] = np.array(values, dtype=self.data.dtype)

    def to_array(self) -> pa.Array:
        return build_array(self.data, self.valid, self.rows, self.output)


# Runs the slow-path rows in the interpreter: (argument names, each argument's values at the rows,
# the rows, the index of the segment's first row in the call, and for each output a boolean mask
# of the rows whose value of that output is needed) -> one RowResults per output, with the
# output's values at its needed rows.
SlowPath = Callable[[list[str], Sequence[list[Any]], np.ndarray, int, list[np.ndarray]], list[RowResults]]


class GatheredValues(Sequence[list[Any]]):
    """Each input's Python values at the slow-path rows, gathered when first read.

    A fused slow path that re-runs one resolver reads only that resolver's inputs.
    """

    def __init__(self, inputs: list[SegmentInput], rows: np.ndarray):
        self.inputs = inputs
        self.rows = rows
        self.gathered: dict[int, list[Any]] = {}

    def __len__(self) -> int:
        return len(self.inputs)

    @overload
    def __getitem__(self, index: int) -> list[Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[list[Any]]: ...

    def __getitem__(self, index: int | slice) -> list[Any] | Sequence[list[Any]]:
        if isinstance(index, slice):
            return [self[position] for position in range(len(self))[index]]
        if index not in self.gathered:
            self.gathered[index] = self.inputs[index].values_at(self.rows)
        return self.gathered[index]


def output_flag_arrays(outputs: list[type], rows: int) -> list[np.ndarray] | None:
    """Return a flag bitmap per output for a kernel with several outputs, or None for one output."""
    if len(outputs) < 2:
        return None
    return [pool_array(word_count(rows), np.uint64, zeroed=True) for _ in outputs]


def needed_masks(output_flags: list[np.ndarray] | None, outputs: int, slow_rows: np.ndarray) -> list[np.ndarray]:
    """Return, for each output, which of the slow-path rows its kernel value cannot stand for."""
    if output_flags is None:
        return [np.ones(len(slow_rows), dtype=bool) for _ in range(outputs)]
    return [read_bits(pa.py_buffer(flags), slow_rows) for flags in output_flags]


class BatchRunner:
    """Runs one call over arrays, with a kernel per input specialization or in the interpreter.

    A kernel computes one or more output columns; `slow_path` computes the same outputs for the
    rows the kernel flags, or for every row when no kernel could be compiled.
    """

    def __init__(
        self,
        outputs: list[type],
        slow_path: SlowPath,
        get_kernel: Callable[[tuple[ParameterKey, ...], int | None], KernelFunction | None] | None,
        output_arrow_types: Callable[[tuple[ParameterKey, ...]], list[pa.DataType | None]] | None = None,
        null_raising_rows: list[bool] | None = None,
    ):
        self.outputs = outputs
        self.slow_path = slow_path
        self.get_kernel = get_kernel  # None: run every row in the interpreter
        # Per output, whether its resolver has on_error="null": rows on which the kernel finds
        # that the resolver raises then become null here, without running in the interpreter.
        self.null_raising_rows = null_raising_rows or [False] * len(outputs)
        # The Arrow types that the kernel for these keys fixes for its outputs (None where it does
        # not), for datetime columns whose zone comes from the kernel's result type.
        self.output_arrow_types = output_arrow_types

    def run(self, bound: BoundCall, stats: CallStats) -> list[pa.Array | pa.ChunkedArray]:
        """Return the output columns, chunked like the input if it was chunked."""
        assert bound.length is not None
        stats.rows = bound.length
        stats.native = self.get_kernel is not None
        if bound.length == 0:
            types = self.empty_arrow_types(bound)
            return [empty_result(bound, output, arrow_type) for output, arrow_type in zip(self.outputs, types, strict=True)]
        segments = [self.run_segment(bound, start, stop, stats) for start, stop in segment_bounds(bound)]
        results: list[pa.Array | pa.ChunkedArray] = []
        for index, output in enumerate(self.outputs):
            pieces = [segment[index] for segment in segments]
            if bound.chunked:
                results.append(chunk_results(pieces, output))
            else:
                assert len(pieces) == 1
                results.append(pieces[0])
        return results

    def empty_arrow_types(self, bound: BoundCall) -> list[pa.DataType | None]:
        """Return the output types of a call without rows: those the kernel for its inputs fixes, if any."""
        if self.get_kernel is None or self.output_arrow_types is None or not any(o is datetime.datetime for o in self.outputs):
            return [None] * len(self.outputs)
        arguments = [
            Argument(argument.name, argument.spec, argument.scalar, pa.array([], argument.array.type))
            if isinstance(argument.array, pa.ChunkedArray)
            else argument
            for argument in bound.arguments
        ]
        inputs = [slice_argument(argument, 0, 0) for argument in arguments]
        keys = tuple(segment.key(column_descriptor(segment, 0)[0]) for segment in inputs)
        if self.get_kernel(keys, 0) is None:
            return [None] * len(self.outputs)
        return self.output_arrow_types(keys)

    def run_segment(self, bound: BoundCall, start: int, stop: int, stats: CallStats) -> list[pa.Array]:
        rows = stop - start
        inputs = [slice_argument(argument, start, stop) for argument in bound.arguments]
        call = self.kernel_call(inputs, rows, stats) if self.get_kernel is not None else None
        # A kernel writes every element and bitmap word of its outputs, so they need no zeroing.
        buffers = [OutputBuffers.allocate(output, rows, zeroed=call is None) for output in self.outputs]
        output_flags = output_flag_arrays(self.outputs, rows)
        slow_rows = None
        if call is not None:
            slow_rows = self.run_kernel(call, inputs, rows, buffers, output_flags, stats)
        if slow_rows is None:  # no kernel: every row runs in the interpreter
            stats.native = False
            slow_rows = np.arange(rows, dtype=np.int64)
            output_flags = None
        stats.slow_path_rows += len(slow_rows)
        if len(slow_rows):
            names = [segment.argument.name for segment in inputs]
            values = GatheredValues(inputs, slow_rows)
            needed = needed_masks(output_flags, len(self.outputs), slow_rows)
            results = self.slow_path(names, values, slow_rows, start, needed)
            store_results(buffers, results, slow_rows, needed, stats)
        return [buffer.to_array() for buffer in buffers]

    def compile_kernels(self, bound: BoundCall) -> None:
        """Compile the optimized kernel of every segment of a call with these arguments, without running it."""
        assert self.get_kernel is not None
        assert bound.length is not None
        for start, stop in segment_bounds(bound):
            inputs = [slice_argument(argument, start, stop) for argument in bound.arguments]
            keys = tuple(segment.key(column_descriptor(segment, stop - start)[0]) for segment in inputs)
            self.get_kernel(keys, None)

    def kernel_call(self, inputs: list[SegmentInput], rows: int, stats: CallStats) -> KernelCall | None:
        """Return the kernel for one segment's inputs and its column fields, or None if none could be compiled."""
        assert self.get_kernel is not None
        keys = []
        fields: list[int] = []
        for segment in inputs:
            layout, descriptor = column_descriptor(segment, rows)
            keys.append(segment.key(layout))
            fields.extend(descriptor)
        key = tuple(keys)
        kernel = self.get_kernel(key, stats.rows)
        return None if kernel is None else KernelCall(kernel, key, fields)

    def run_kernel(
        self,
        call: KernelCall,
        inputs: list[SegmentInput],
        rows: int,
        buffers: list[OutputBuffers | StringOutput | TemporalOutput],
        output_flags: list[np.ndarray] | None,
        stats: CallStats,
    ) -> np.ndarray:
        """Call the kernel on one segment; return the local indices of the rows for the slow path."""
        kernel, key, fields = call
        if self.output_arrow_types is not None and any(isinstance(buffer, TemporalOutput) for buffer in buffers):
            for buffer, arrow_type in zip(buffers, self.output_arrow_types(key), strict=True):
                if arrow_type is not None and isinstance(buffer, TemporalOutput):
                    buffer.arrow_type = arrow_type
        flags = pool_array(word_count(rows), np.uint64, zeroed=False)
        raises = [pool_array(word_count(rows), np.uint64, zeroed=False) if wanted else None for wanted in self.null_raising_rows]
        flagged = run_morsels(kernel, rows, fields, inputs, buffers, flags, output_flags, raises)
        if flagged == 0:
            return NO_ROWS
        assert count_bits(flags) == flagged, "the kernel's count matches its flag bitmap"
        self.null_raising(buffers, raises, flags, output_flags, stats)
        return flagged_rows(flags)

    def null_raising(
        self,
        buffers: list[OutputBuffers | StringOutput | TemporalOutput],
        raises: list[np.ndarray | None],
        flags: np.ndarray,
        output_flags: list[np.ndarray] | None,
        stats: CallStats,
    ) -> None:
        """Make the rows on which an output's resolver raises null, and clear their flags for that output.

        Raising rows are flagged too. A row whose flags are all cleared needs no interpreter.
        """
        cleared = False
        for index, (buffer, output_raises) in enumerate(zip(buffers, raises, strict=True)):
            if output_raises is None or not any_bits(output_raises):
                continue
            cleared = True
            if isinstance(buffer, OutputBuffers | TemporalOutput):
                # The validity bitmap has the raise bitmap's layout, so whole words clear at once.
                # The values under the cleared bits stay as the kernel wrote them.
                buffer.valid &= ~output_raises
                if buffer.output is bool:
                    buffer.data &= ~output_raises
                stats.error_rows += count_bits(output_raises)
            else:
                raising_rows = flagged_rows(output_raises)
                buffer.store(raising_rows, [0] * len(raising_rows), [False] * len(raising_rows))
                stats.error_rows += len(raising_rows)
            if output_flags is None:
                flags &= ~output_raises
            else:
                output_flags[index] &= ~output_raises
        if cleared and output_flags is not None:
            np.bitwise_or.reduce(output_flags, out=flags)


def chunk_results(pieces: list[pa.Array], output: type) -> pa.ChunkedArray:
    """Join the segments of one output; datetime segments take the zone of the first one with a value.

    Segments that ran in the interpreter find their zone from their values, so chunks can
    differ: aware ones are cast, which keeps their instants, and naive with aware raises. A
    segment of nulls only has no zone to find, so it takes the others'.
    """
    arrow_type = pieces[0].type if pieces else ARROW_TYPE_OF[output]
    if output is datetime.datetime:
        arrow_type = next((piece.type for piece in pieces if piece.null_count < len(piece)), arrow_type)
        for position, piece in enumerate(pieces):
            if piece.type != arrow_type:
                if (piece.type.tz is None) != (arrow_type.tz is None) and piece.null_count < len(piece):
                    raise TypeError(
                        f"chunk {position} of the result contains {piece.type} values, but chunk 0 contains {arrow_type}; "
                        f"return one kind of datetime on every row"
                    )
                pieces[position] = piece.cast(arrow_type)
    return pa.chunked_array(pieces, type=arrow_type)


def store_results(
    buffers: list[OutputBuffers] | list[OutputBuffers | StringOutput | TemporalOutput],
    results: list[RowResults],
    slow_rows: np.ndarray,
    needed: list[np.ndarray],
    stats: CallStats,
) -> None:
    """Write the interpreter's results over the kernel's, for the rows each output needs."""
    for buffer, result, mask in zip(buffers, results, needed, strict=True):
        stats.error_rows += result.errors
        buffer.store(slow_rows[mask], result.values, result.present)


def run_morsels(
    kernel: KernelFunction,
    rows: int,
    fields: list[int],
    inputs: list[SegmentInput],
    buffers: list[OutputBuffers | StringOutput | TemporalOutput],
    flags: np.ndarray,
    output_flags: list[np.ndarray] | None = None,
    raises: list[np.ndarray | None] | None = None,
) -> int:
    """Run the kernel over the rows, split into morsels across threads; return the flagged count.

    Morsels start at multiples of 64 rows, so that each writes whole bitmap words, and the
    kernel runs with the GIL released. A call runs on several threads only if that pays (see
    featurejit.runtime.parallel). Results do not depend on the thread count. A kernel with a
    str output runs as one morsel, because its strings go to one growing buffer.
    """
    # A few morsels per thread balance the load; more would only add dispatch overhead.
    wanted = max(settings.morsel_rows, -(-rows // (4 * settings.threads)))
    morsel = max(64, (wanted + 63) // 64 * 64)
    if any(isinstance(buffer, StringOutput) for buffer in buffers):
        morsel = max(rows, 64)

    flags_address = address(flags)
    flag_addresses = [0] * len(buffers) if output_flags is None else [address(words) for words in output_flags]
    raise_addresses = [0 if words is None else address(words) for words in raises or [None] * len(buffers)]

    def run(start: int) -> int:
        shifted = int64_array("q", fields or [0])  # built and addressed faster than a numpy array
        if start:
            for index, segment in enumerate(inputs):
                if not segment.broadcast:
                    shifted[FIELDS_PER_COLUMN * index + 2] += start  # the offset field
        words = start // 64 * 8
        addresses = int64_array("q")
        for index, buffer in enumerate(buffers):
            addresses.extend(buffer.addresses(start))
            addresses.append(flag_addresses[index] + words if flag_addresses[index] else 0)
            addresses.append(raise_addresses[index] + words if raise_addresses[index] else 0)
        scratch = Scratch.for_this_thread()
        count = min(morsel, rows - start)
        # The arrays live until the kernel returns, so their addresses stay valid for the call.
        return int(kernel(count, shifted.buffer_info()[0], addresses.buffer_info()[0], flags_address + words, scratch.reset()))

    return run_morsels_on_threads(id(kernel), rows, morsel, run)


SCRATCH_BYTES = 1 << 20


class Scratch:
    """A kernel call's scratch memory for new strings, and the context struct that describes it.

    The context is {base address, capacity, used} as three int64. A row that needs more than
    SCRATCH_BYTES for the strings it builds takes the slow path. Kernels reset `used` on every
    row, and nothing reads the memory after a call, so each thread keeps one Scratch.
    """

    _per_thread = threading.local()

    def __init__(self) -> None:
        self.memory = np.empty(SCRATCH_BYTES, dtype=np.uint8)  # pages are touched only if used
        self.context = np.array([address(self.memory), SCRATCH_BYTES, 0], dtype=np.int64)
        self.address = address(self.context)

    @classmethod
    def for_this_thread(cls) -> Scratch:
        """Return this thread's Scratch, creating it on first use."""
        scratch = getattr(cls._per_thread, "scratch", None)
        if scratch is None:
            scratch = cls._per_thread.scratch = cls()
        return scratch

    def reset(self) -> int:
        """Mark the memory unused and return the context's address."""
        self.context[2] = 0
        return self.address
