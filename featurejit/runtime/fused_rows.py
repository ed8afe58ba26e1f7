"""Calling a fused kernel on numpy columns: the lean path for the few rows of an online request.

`FusedState.run` takes Arrow arrays and returns an Arrow table, and building those costs far
more than the kernel for one row. Here each input is a numpy array of int64, float64 or bool
values with a boolean validity mask, and so is each output. Calls of up to SMALL_ROWS rows
copy their values into buffers allocated once per thread. The kernel's argument arrays over
those buffers are written once, and each thread remembers the kernel of each null pattern, so
a call does little besides the kernel itself. The kernel is the one `FusedState.run` compiles
for int64, float64 and bool columns, and rows it flags go through the same slow path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from featurejit.codegen.layout import FIELDS_PER_COLUMN, FIELDS_PER_OUTPUT, ColumnLayout
from featurejit.compiled_kernel import CompiledKernel
from featurejit.runtime.batch import (
    CallStats,
    OutputBuffers,
    ParameterKey,
    Scratch,
    flagged_rows,
    needed_masks,
    output_flag_arrays,
    run_morsels,
    store_results,
    word_count,
)
from featurejit.runtime.memory import address
from featurejit.runtime.state import log_fused_null_rows
from featurejit.settings import settings

if TYPE_CHECKING:
    from featurejit.runtime.fused import FusedState

SMALL_ROWS = 64
# The arguments run_morsels passes a kernel: rows, then the addresses of the column fields,
# the output fields, the flag bitmap and the scratch context.
KERNEL_ARGUMENTS = 5
NumericColumn = tuple[np.ndarray, np.ndarray]  # values, and a boolean mask of the present ones

PYTHON_TYPES: dict[np.dtype, type] = {np.dtype(np.int64): int, np.dtype(np.float64): float, np.dtype(np.bool_): bool}
PHYSICAL_NAMES: dict[type, str] = {int: "int64", float: "float64", bool: "bool"}


@dataclass(frozen=True)
class ContiguousInput:
    """An input that run_morsels reads as a SegmentInput: one that is not broadcast, so morsels shift its offset."""

    broadcast: bool = False


class CallBuffers:
    """Buffers for calls of up to `capacity` rows, the kernel's argument arrays over them, and the kernels used."""

    def __init__(self, input_types: list[type], output_types: list[type], capacity: int):
        self.capacity = capacity
        self.input_types = input_types
        words = word_count(capacity)
        self.data = [
            np.zeros(words * 8, dtype=np.uint8) if kind is bool else np.zeros(capacity, dtype=PHYSICAL_NAMES[kind])
            for kind in input_types
        ]
        self.valid = [np.zeros(words * 8, dtype=np.uint8) for _ in input_types]
        # The validity bitmaps of all outputs are rows of one array, so one unpackbits reads them all.
        self.output_valid = np.zeros((len(output_types), words), dtype=np.uint64)
        self.outputs = [cast(OutputBuffers, OutputBuffers.allocate(kind, capacity)) for kind in output_types]
        for buffer, bitmap in zip(self.outputs, self.output_valid, strict=True):
            buffer.valid = bitmap
        self.flags = np.zeros(words, dtype=np.uint64)
        self.output_flags = output_flag_arrays(output_types, capacity)
        self.scratch = Scratch()
        # Numeric columns use the first five fields (data, validity, offset and both sizes); the rest stay 0.
        self.fields: list[int] = []
        for data, valid in zip(self.data, self.valid, strict=True):
            column = [address(data), address(valid), 0, data.nbytes, valid.nbytes]
            self.fields += column + [0] * (FIELDS_PER_COLUMN - len(column))
        self.inputs = [ContiguousInput()] * len(input_types)
        self.field_array = np.array(self.fields or [0], dtype=np.int64)
        self.output_array = np.array(self.output_fields(), dtype=np.int64)
        self.arguments = (address(self.field_array), address(self.output_array), address(self.flags), self.scratch.address)
        self.kernels: dict[tuple[bool, ...], CompiledKernel | None] = {}

    def output_fields(self) -> list[int]:
        """Return the output fields of a call from row 0, laid out as run_morsels lays them out."""
        fields = []
        for index, buffer in enumerate(self.outputs):
            flags = 0 if self.output_flags is None else address(self.output_flags[index])
            fields += [*buffer.addresses(0), flags, 0]  # no raise bitmap: flagged rows raise in the slow path
        return fields

    def load(self, columns: list[NumericColumn], rows: int) -> None:
        """Copy the input values and validity bits of `rows` rows into the buffers, and clear the flags."""
        for index, (values, valid) in enumerate(columns):
            if rows == 1:
                self.data[index][0] = values[0]
                self.valid[index][0] = valid[0]
                continue
            if self.input_types[index] is bool:
                packed = np.packbits(values, bitorder="little")
                self.data[index][: len(packed)] = packed
            else:
                self.data[index][:rows] = values
            packed = np.packbits(valid, bitorder="little")
            self.valid[index][: len(packed)] = packed
        words = word_count(rows)
        self.flags[:words] = 0
        if self.output_flags is not None:
            for output_flags in self.output_flags:
                output_flags[:words] = 0
        self.scratch.context[2] = 0

    def read_outputs(self, rows: int) -> list[NumericColumn]:
        """Return copies of the first `rows` values and validity masks of each output."""
        if rows == 1:
            valid = (self.output_valid[:, :1] & 1).astype(bool)
        else:
            valid = np.unpackbits(self.output_valid.view(np.uint8), axis=1, bitorder="little")[:, :rows].astype(bool)
        results = []
        for buffer, output_valid in zip(self.outputs, valid, strict=True):
            if buffer.output is bool:
                values = np.unpackbits(buffer.data.view(np.uint8), bitorder="little", count=rows).astype(bool)
            else:
                values = buffer.data[:rows].copy()
            results.append((values, output_valid))
        return results

    def direct_call(self, kernel: CompiledKernel) -> bool:
        """Return whether the kernel takes the arguments that `arguments` holds; if not, run_morsels calls it."""
        entry: Any = kernel.entry
        fields_per_output = len(self.output_array) // max(len(self.outputs), 1)
        return len(entry.argtypes) == KERNEL_ARGUMENTS and fields_per_output == FIELDS_PER_OUTPUT


def parameter_keys(state: FusedState, nullable: tuple[bool, ...], input_types: list[type]) -> tuple[ParameterKey, ...]:
    return tuple(
        ParameterKey(kind, spec.optional, ColumnLayout(PHYSICAL_NAMES[kind], has_validity, False))
        for spec, has_validity, kind in zip(state.specs.values(), nullable, input_types, strict=True)
    )


def null_pattern(state: FusedState, columns: list[NumericColumn], rows: int) -> tuple[bool, ...]:
    """Return which columns the kernel reads a validity bitmap of: optional ones, and those with nulls."""
    pattern = []
    for spec, (_, valid) in zip(state.specs.values(), columns, strict=True):
        if spec.optional:
            pattern.append(True)
        elif rows <= SMALL_ROWS:
            pattern.append(not all(valid.tolist()))
        else:
            pattern.append(not bool(valid.all()))
    return tuple(pattern)


def captures_current(kernel: CompiledKernel) -> bool:
    """Return whether every module constant and closure value the kernel captured is unchanged."""
    return all(capture.is_current() for capture in kernel.captures)


def kernel_for(
    state: FusedState, buffers: CallBuffers, pattern: tuple[bool, ...], input_types: list[type], rows: int
) -> CompiledKernel | None:
    """Return the kernel for this null pattern, remembered per thread while its captured values stay current.

    A call of `rows` rows may get a quick kernel, which switches to the optimized one in place.
    """
    kernel = buffers.kernels.get(pattern)
    if kernel is not None and captures_current(kernel):
        return kernel
    buffers.kernels.clear()
    state.drop_stale_kernels()
    keys = parameter_keys(state, pattern, input_types)
    state.kernel(keys, rows)
    kernel = state.kernels.get(keys)
    if kernel is not None:
        buffers.kernels[pattern] = kernel
    return kernel


def thread_buffers(state: FusedState, input_types: list[type], output_types: list[type], rows: int) -> CallBuffers:
    """Return this thread's buffers for the state, or new ones for a call of more than SMALL_ROWS rows."""
    if rows > SMALL_ROWS:
        return CallBuffers(input_types, output_types, rows)
    buffers: CallBuffers | None = getattr(state.thread_buffers, "buffers", None)
    if buffers is None or buffers.input_types != input_types:
        buffers = CallBuffers(input_types, output_types, SMALL_ROWS)
        state.thread_buffers.buffers = buffers
    return buffers


def run_kernel(kernel: CompiledKernel, buffers: CallBuffers, rows: int) -> int:
    """Call the kernel on the loaded buffers; return the number of flagged rows."""
    if rows <= buffers.capacity and buffers.direct_call(kernel):
        entry: Any = kernel.entry
        return int(entry(rows, *buffers.arguments))
    inputs: Any = buffers.inputs
    assert kernel.entry is not None, "fused kernels are batch kernels"
    return run_morsels(kernel.entry, rows, buffers.fields, inputs, list(buffers.outputs), buffers.flags, buffers.output_flags)


def run_fused_rows(state: FusedState, columns: list[NumericColumn]) -> list[NumericColumn]:
    """Run the fused resolvers over numpy columns, one per input column in `fused.inputs` order."""
    fused = state.fused
    rows = len(columns[0][0]) if columns else 0
    input_types = [PYTHON_TYPES[values.dtype] for values, _ in columns]
    output_types = [state.output_specs[name].python_type for name in fused.outputs]
    buffers = thread_buffers(state, input_types, output_types, rows)
    kernel = None
    if not settings.disable_jit:
        kernel = kernel_for(state, buffers, null_pattern(state, columns, rows), input_types, rows)
    buffers.load(columns, rows)
    output_flags = buffers.output_flags
    if kernel is not None and rows:
        flagged = run_kernel(kernel, buffers, rows)
        slow_rows = flagged_rows(buffers.flags[: word_count(rows)]) if flagged else np.zeros(0, dtype=np.int64)
    else:
        slow_rows = np.arange(rows, dtype=np.int64)
        output_flags = None
    stats = CallStats(rows=rows, slow_path_rows=len(slow_rows), native=kernel is not None)
    if len(slow_rows):
        values = [python_values(column, slow_rows) for column in columns]
        needed = needed_masks(output_flags, len(buffers.outputs), slow_rows)
        results = state.slow_path(list(fused.inputs), values, slow_rows, 0, needed, checks={})
        store_results(buffers.outputs, results, slow_rows, needed, stats)
    state.stats = stats
    state.called = True
    if stats.error_rows:
        log_fused_null_rows(state, stats)
    return buffers.read_outputs(rows)


def python_values(column: NumericColumn, rows: np.ndarray) -> list[Any]:
    """Return the Python values of a column at `rows`, None where the row is null."""
    values, valid = column
    return [value if present else None for value, present in zip(values[rows].tolist(), valid[rows].tolist(), strict=True)]
