"""Calling a fused kernel on numpy columns: the lean path for the few rows of an online request.

`FusedState.run` takes Arrow arrays and returns an Arrow table, and building those costs far
more than the kernel for one row. Here each input is a numpy array of int64, float64 or bool
values with a boolean validity mask, and so is each output. Calls of up to SMALL_ROWS rows
copy their values into buffers allocated once per thread, so that a call does little besides
the kernel itself. The kernel is the one `FusedState.run` compiles for int64, float64 and
bool columns, it is called through the same `run_morsels`, and rows it flags go through the
same slow path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from featurejit.codegen.kernel import FIELDS_PER_COLUMN, ColumnLayout
from featurejit.runtime.batch import (
    CallStats,
    OutputBuffers,
    ParameterKey,
    flagged_rows,
    needed_masks,
    output_flag_arrays,
    run_morsels,
    store_results,
    word_count,
)
from featurejit.runtime.state import log_null_rows
from featurejit.settings import settings

if TYPE_CHECKING:
    from featurejit.runtime.fused import FusedState

SMALL_ROWS = 64
NumericColumn = tuple[np.ndarray, np.ndarray]  # values, and a boolean mask of the present ones

PYTHON_TYPES: dict[np.dtype, type] = {np.dtype(np.int64): int, np.dtype(np.float64): float, np.dtype(np.bool_): bool}
PHYSICAL_NAMES: dict[type, str] = {int: "int64", float: "float64", bool: "bool"}


@dataclass(frozen=True)
class ContiguousInput:
    """An input that run_morsels reads as a SegmentInput: one that is not broadcast, so morsels shift its offset."""

    broadcast: bool = False


class CallBuffers:
    """Input, output and flag buffers for calls of up to `capacity` rows, with the kernel's input fields filled in."""

    def __init__(self, input_types: list[type], output_types: list[type], capacity: int):
        self.capacity = capacity
        self.input_types = input_types
        words = word_count(capacity)
        self.data = [
            np.zeros(words * 8, dtype=np.uint8) if kind is bool else np.zeros(capacity, dtype=PHYSICAL_NAMES[kind])
            for kind in input_types
        ]
        self.valid = [np.zeros(words * 8, dtype=np.uint8) for _ in input_types]
        self.outputs = [cast(OutputBuffers, OutputBuffers.allocate(kind, capacity)) for kind in output_types]
        self.flags = np.zeros(words, dtype=np.uint64)
        self.output_flags = output_flag_arrays(output_types, capacity)
        # Numeric columns use the first five fields (data, validity, offset and both sizes); the rest stay 0.
        self.fields: list[int] = []
        for data, valid in zip(self.data, self.valid, strict=True):
            column = [int(data.ctypes.data), int(valid.ctypes.data), 0, data.nbytes, valid.nbytes]
            self.fields += column + [0] * (FIELDS_PER_COLUMN - len(column))
        self.inputs = [ContiguousInput()] * len(input_types)

    def load(self, columns: list[NumericColumn], rows: int) -> None:
        """Copy the input values and validity bits of `rows` rows into the buffers."""
        for index, (values, valid) in enumerate(columns):
            if self.input_types[index] is bool:
                packed = np.packbits(values, bitorder="little")
                self.data[index][: len(packed)] = packed
            else:
                self.data[index][:rows] = values
            packed = np.packbits(valid, bitorder="little")
            self.valid[index][: len(packed)] = packed
        self.flags[: word_count(rows)] = 0

    def read_outputs(self, rows: int) -> list[NumericColumn]:
        """Return copies of the first `rows` values and validity masks of each output."""
        results = []
        for buffer in self.outputs:
            valid = np.unpackbits(buffer.valid.view(np.uint8), bitorder="little", count=rows).astype(bool)
            if buffer.output is bool:
                values = np.unpackbits(buffer.data.view(np.uint8), bitorder="little", count=rows).astype(bool)
            else:
                values = buffer.data[:rows].copy()
            results.append((values, valid))
        return results


def parameter_keys(state: FusedState, columns: list[NumericColumn], input_types: list[type]) -> tuple[ParameterKey, ...]:
    """Return the kernel specialization: a validity bitmap for optional columns and for columns with nulls."""
    keys = []
    for spec, (_, valid), kind in zip(state.specs.values(), columns, input_types, strict=True):
        nullable = spec.optional or not valid.all()
        keys.append(ParameterKey(kind, spec.optional, ColumnLayout(PHYSICAL_NAMES[kind], nullable, False)))
    return tuple(keys)


def thread_buffers(state: FusedState, input_types: list[type], output_types: list[type], rows: int) -> CallBuffers:
    """Return this thread's buffers for the state, or new ones for a call of more than SMALL_ROWS rows."""
    if rows > SMALL_ROWS:
        return CallBuffers(input_types, output_types, rows)
    buffers: CallBuffers | None = getattr(state.thread_buffers, "buffers", None)
    if buffers is None or buffers.input_types != input_types:
        buffers = CallBuffers(input_types, output_types, SMALL_ROWS)
        state.thread_buffers.buffers = buffers
    return buffers


def run_fused_rows(state: FusedState, columns: list[NumericColumn]) -> list[NumericColumn]:
    """Run the fused resolvers over numpy columns, one per input column in `fused.inputs` order."""
    fused = state.fused
    rows = len(columns[0][0]) if columns else 0
    input_types = [PYTHON_TYPES[values.dtype] for values, _ in columns]
    output_types = [state.output_specs[name].python_type for name in fused.outputs]
    state.drop_stale_kernels()
    kernel = None if settings.disable_jit else state.kernel(parameter_keys(state, columns, input_types))
    buffers = thread_buffers(state, input_types, output_types, rows)
    buffers.load(columns, rows)
    output_flags = buffers.output_flags
    if kernel is not None and rows:
        inputs: Any = buffers.inputs
        flagged = run_morsels(kernel, rows, buffers.fields, inputs, list(buffers.outputs), buffers.flags, output_flags)
        slow_rows = flagged_rows(buffers.flags[: word_count(rows)]) if flagged else np.zeros(0, dtype=np.int64)
    else:
        slow_rows = np.arange(rows, dtype=np.int64)
        output_flags = None
    stats = CallStats(rows=rows, slow_path_rows=len(slow_rows), native=kernel is not None)
    if len(slow_rows):
        values = [python_values(column, slow_rows) for column in columns]
        needed = needed_masks(output_flags, len(buffers.outputs), slow_rows)
        results = state.slow_path(list(fused.inputs), values, slow_rows, 0, needed)
        store_results(buffers.outputs, results, slow_rows, needed, stats)
    state.stats = stats
    if stats.error_rows:
        log_null_rows(state, state.name, stats)
    return buffers.read_outputs(rows)


def python_values(column: NumericColumn, rows: np.ndarray) -> list[Any]:
    """Return the Python values of a column at `rows`, None where the row is null."""
    values, valid = column
    return [value if present else None for value, present in zip(values[rows].tolist(), valid[rows].tolist(), strict=True)]
