"""Compiling and running fused resolvers: one kernel per input specialization, and their slow path."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from featurejit import cache
from featurejit.codegen.layout import ColumnLayout
from featurejit.compiled_kernel import CompiledKernel
from featurejit.errors import CompileError
from featurejit.frontend.annotations import Signature, ValueSpec
from featurejit.runtime.batch import BatchRunner, CallStats, KernelFunction, ParameterKey
from featurejit.runtime.inputs import bind_arguments, check_array, readable_strings
from featurejit.runtime.slow_path import ResultCheck, RowResults, located_error, row_location
from featurejit.runtime.state import (
    DEFAULT_PHYSICAL,
    ir_type_of,
    ir_type_text,
    log_fused_null_rows,
    takes_quick_kernel,
)
from featurejit.runtime.temporal import arrow_type_of_result, raise_invalid
from featurejit.settings import settings

if TYPE_CHECKING:
    from featurejit.fusion import FusedMember, FusedResolvers

logger = logging.getLogger("featurejit")

STAGES = ("ir", "optimized", "llvm", "asm")


def fused_state(fused: FusedResolvers) -> FusedState:
    with fused.lock:
        if fused.state is None:
            fused.state = FusedState(fused)
        state: FusedState = fused.state
        return state


def run_fused(fused: FusedResolvers, columns: list[pa.Array | pa.ChunkedArray]) -> pa.Table:
    return fused_state(fused).run(columns)


def single_chunk(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Return the chunk of a chunked array of one chunk, and any other column as it is."""
    if isinstance(column, pa.ChunkedArray) and column.num_chunks == 1:
        return column.chunk(0)
    return column


class ColumnValues:
    """The Python values of the input columns and of the members computed so far, at the slow-path rows.

    An input column's values are read from `values` only when a member that runs reads them.
    """

    def __init__(self, names: list[str], values: Sequence[list[Any]]):
        self.positions = {name: index for index, name in enumerate(names)}
        self.values = values
        self.computed: dict[str, list[Any]] = {}

    def __getitem__(self, name: str) -> list[Any]:
        if name in self.computed:
            return self.computed[name]
        return self.values[self.positions[name]]

    def __setitem__(self, name: str, values: list[Any]) -> None:
        self.computed[name] = values


class FusedState:
    """The kernels compiled for a group of fused resolvers, and the counts of its last call."""

    def __init__(self, fused: FusedResolvers):
        self.fused = fused
        self.name = "+".join(member.output for member in fused.members)
        self.kernels: dict[tuple[ParameterKey, ...], CompiledKernel | None] = {}
        self.failure: CompileError | None = None
        self.last_kernel: CompiledKernel | None = None
        self.stats = CallStats(native=False)
        self.called = False  # set by the first call, on either path
        self.specs = {name: self.column_spec(name, readers) for name, readers in fused.inputs.items()}
        self.output_specs = {member.output: member.resolver.signature().result for member in fused.members}
        on_error = {member.output: member.resolver.on_error for member in fused.members}
        self.null_raising_rows = [on_error[name] == "null" for name in fused.outputs]
        # The signature that binds the input columns, and the output types, built once for every call.
        self.column_signature = Signature(tuple(self.specs.items()), ValueSpec(int, False))
        self.output_types = [self.output_specs[name].python_type for name in fused.outputs]
        self.readers: dict[str, list[str]] = {}  # see readers_of
        self.thread_buffers = threading.local()  # buffers of small calls, see featurejit.runtime.fused_rows
        # Column types that every reader's annotation accepts, so later calls skip the checks.
        self.accepted_types: set[tuple[pa.DataType, ...]] = set()

    @staticmethod
    def column_spec(name: str, readers: list[tuple[FusedMember, str]]) -> ValueSpec:
        """Merge the annotations of a column's readers: optional if any reader allows None."""
        specs = [dict(member.resolver.signature().parameters)[parameter] for member, parameter in readers]
        return ValueSpec(specs[0].python_type, any(spec.optional for spec in specs))

    # ----------------------------------------------------------------------------------
    # Calls
    # ----------------------------------------------------------------------------------

    def run(self, columns: list[pa.Array | pa.ChunkedArray]) -> pa.Table:
        fused = self.fused
        names = list(fused.inputs)
        # A table's columns are chunked arrays, mostly of one chunk. That chunk runs as a plain
        # array, so the results need no chunked arrays, which the table would only wrap again.
        columns = [single_chunk(column) for column in columns]
        columns = [
            readable_strings(self.name, name, column, self.specs[name].python_type)
            for name, column in zip(names, columns, strict=True)
        ]
        column_types = tuple(column.type for column in columns)
        if column_types not in self.accepted_types:
            for name, column in zip(names, columns, strict=True):
                for member, parameter in fused.inputs[name]:
                    resolver = member.resolver
                    check_array(resolver.name, parameter, dict(resolver.signature().parameters)[parameter], column)
            self.accepted_types.add(column_types)
        bound = bind_arguments(self.name, self.column_signature, list(columns))
        self.drop_stale_kernels()
        stats = CallStats()
        get_kernel = None if settings.disable_jit else self.kernel
        checks: dict[str, ResultCheck] = {}  # each member's, for every segment of the call
        runner = BatchRunner(
            self.output_types,
            functools.partial(self.slow_path, checks=checks),
            get_kernel,
            self.kernel_arrow_types,
            null_raising_rows=self.null_raising_rows,
        )
        try:
            arrays = runner.run(bound, stats)
        except Exception as error:
            stats.raised = type(error).__name__
            first = self.first_error_in_member_order(error, columns)
            if first is error:
                raise
            raise first from first.__cause__
        finally:
            self.stats = stats
            self.called = True
        if stats.error_rows:
            log_fused_null_rows(self, stats)
        return pa.Table.from_arrays(arrays, names=list(fused.outputs))

    def first_error_in_member_order(self, error: Exception, columns: list[pa.Array | pa.ChunkedArray]) -> Exception:
        """Return the row error that running the resolvers one after another over the columns raises.

        Chunks run one after another, and the rows of a chunk through one resolver after
        another, so a later resolver's error in one chunk comes before an earlier resolver's
        in the next. On such an error the call runs again over the columns as one chunk, where
        the rows run resolver by resolver, and returns what that call raises.
        """
        chunked = any(isinstance(column, pa.ChunkedArray) and column.num_chunks > 1 for column in columns)
        if not chunked or len(self.fused.members) < 2 or row_location(error) is None:
            return error
        try:
            combined = [column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column for column in columns]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return error
        try:
            self.run(combined)
        except Exception as first:  # noqa: BLE001 - the same call's error, raised in its place
            return first
        return error

    def slow_path(
        self,
        names: list[str],
        values: Sequence[list[Any]],
        rows: np.ndarray,
        first_row: int,
        needed: list[np.ndarray],
        checks: dict[str, ResultCheck],
    ) -> list[RowResults]:
        """Run the resolvers on the rows, one resolver after another, as separate calls over the table would.

        `needed` gives, for each output, the rows whose value of it the kernel could not
        compute. A resolver runs on the rows where its output is needed, or where a needed
        output reads it. Each RowResults holds the output's values at its needed rows only.
        `checks` contains the result check of each member that ran in the call so far.
        """
        fused = self.fused
        needed_rows = dict(zip(fused.outputs, needed, strict=True))
        columns = ColumnValues(names, values)
        results: dict[str, RowResults] = {}
        for member in fused.members:
            runs = self.member_mask(member, needed_rows)
            if runs is None or not runs.any():
                continue
            check = checks.setdefault(member.output, ResultCheck(member.resolver.signature().result.python_type))
            computed, failed = self.run_member(member, columns, np.flatnonzero(runs), rows, first_row, check)
            columns[member.output] = computed
            mask = needed_rows.get(member.output)
            if mask is not None:
                kept = [computed[position] for position in np.flatnonzero(mask).tolist()]
                stored = [0 if value is None else value for value in kept]
                errors = int(np.count_nonzero(failed & mask))
                results[member.output] = RowResults(stored, [value is not None for value in kept], errors)
        return [results.get(name, RowResults([], [], 0)) for name in fused.outputs]

    def member_mask(self, member: FusedMember, needed_rows: dict[str, np.ndarray]) -> np.ndarray | None:
        """Return the rows on which a member must run: those where it or an output that reads it is needed."""
        mask: np.ndarray | None = None
        for output in self.readers_of(member.output):
            if output in needed_rows:
                mask = needed_rows[output] if mask is None else mask | needed_rows[output]
        return mask

    def readers_of(self, feature: str) -> list[str]:
        """Return `feature` and the members that read it, directly or through other members."""
        cached = self.readers.get(feature)
        if cached is None:
            cached = [feature]
            for member in self.fused.members:  # in dependency order, so readers of readers follow
                if any(column in cached for column in member.columns.values()):
                    cached.append(member.output)
            self.readers[feature] = cached
        return cached

    def run_member(
        self, member: FusedMember, columns: ColumnValues, positions: np.ndarray, rows: np.ndarray, first_row: int, check: ResultCheck
    ) -> tuple[list[Any], np.ndarray]:
        """Run one resolver at `positions` of the slow-path rows.

        Returns the value to store for every slow-path row (None where the resolver did not
        run, returned None, or raised with on_error="null") and a mask of the rows that raised.
        """
        resolver = member.resolver
        names = resolver.signature().names
        arguments = [columns[member.columns[name]] for name in names]
        function = resolver.row_function
        computed: list[Any] = [None] * len(rows)
        failed = np.zeros(len(rows), dtype=bool)
        for position in positions.tolist():
            row_arguments = [argument[position] for argument in arguments]
            try:
                raise_invalid(row_arguments)
                stored, present = check(function(*row_arguments))
            except Exception as error:  # noqa: BLE001 - any exception of user code is a row error
                if resolver.on_error == "raise":
                    row = first_row + int(rows[position])
                    excluding_none = resolver.signature().excluding_none()
                    raise located_error(error, resolver.name, row, names, row_arguments, excluding_none) from error
                failed[position] = True
                continue
            if present:
                computed[position] = stored
        return computed, failed

    # ----------------------------------------------------------------------------------
    # Kernels
    # ----------------------------------------------------------------------------------

    def kernel(self, keys: tuple[ParameterKey, ...], rows: int | None = None) -> KernelFunction | None:
        """Return the kernel for these inputs, compiling it on first use.

        A call of `rows` rows may get a quick kernel (see takes_quick_kernel); without `rows`
        the kernel is the optimized one.
        """
        quick = takes_quick_kernel(rows)
        with self.fused.lock:
            if keys not in self.kernels:
                self.kernels[keys] = self.compile(keys, quick)
            kernel = self.kernels[keys]
        if kernel is None:
            return None
        if not quick:
            kernel.wait_optimized()
        if not kernel.runs_in_this_locale():
            return None  # every row runs in the interpreter
        return kernel.entry

    def kernel_arrow_types(self, keys: tuple[ParameterKey, ...]) -> list[pa.DataType | None]:
        """Return the Arrow type that the kernel for `keys` fixes for each output (a datetime's zone), or None."""
        kernel = self.kernels.get(keys)
        if kernel is None:
            return [None] * len(self.fused.outputs)
        return [arrow_type_of_result(text) for text in kernel.result_type_texts]

    def compile(self, keys: tuple[ParameterKey, ...], quick: bool = False) -> CompiledKernel | None:
        """Compile the fused kernel for these inputs; on a CompileError run in the interpreter."""
        fused = self.fused
        for name, key in zip(fused.inputs, keys, strict=True):
            if key.unsupported:
                self.note_failure(CompileError(f"column {name!r}: {key.unsupported}"))
                return None
        outputs = self.output_types
        request = cache.FusedKernelRequest(
            fused.members[0].resolver.function,
            tuple(ir_type_text(key.python_type, key.optional, key.zone) for key in keys),
            tuple(key.layout for key in keys),
            outputs[0],
            members=tuple(
                (member.resolver.function, member.output, tuple(member.columns.items())) for member in fused.members
            ),
            outputs=tuple(fused.outputs),
            output_types=tuple(outputs),
        )
        cached = cache.load_kernel(request, self.name)
        if cached is not None:
            self.last_kernel = cached
            return cached

        # Only a miss imports the compiler, and xDSL with it.
        from featurejit.compiler import compile_lowered, symbol_for
        from featurejit.frontend.fusion import lower_fused

        column_types = {
            name: ir_type_of(key.python_type, key.optional, key.zone) for name, key in zip(fused.inputs, keys, strict=True)
        }
        symbol = symbol_for(self.name)
        try:
            kernel = compile_lowered(
                self.name,
                symbol,
                lambda: lower_fused(fused.members, column_types, fused.outputs, symbol),
                [key.layout for key in keys],
                outputs,
                quick=quick,
                store=lambda kernel: cache.store_kernel(request, kernel),
            )
        except CompileError as error:
            required = [resolver.name for resolver in fused.resolvers if resolver.mode == "require"]
            if required:
                reason = (
                    f"{', '.join(required)} {'has' if len(required) == 1 else 'have'} mode=\"require\", so the fused "
                    f"call raises instead of running the group in the interpreter"
                )
                hint = reason if error.hint is None else f"{error.hint}\n{reason}"
                raise CompileError(error.message, error.location, hint) from None
            self.note_failure(error)
            return None
        except Exception as error:  # noqa: BLE001 - a compiler bug must not break the user's call
            failure = CompileError(
                f"internal compiler error while compiling {self.name}: {type(error).__name__}: {error}",
                hint="This is a featurejit bug; the resolvers run in the interpreter meanwhile.",
            )
            if any(resolver.mode == "require" for resolver in fused.resolvers):
                raise failure from error
            logger.exception(failure.message)
            self.note_failure(failure)
            return None
        self.last_kernel = kernel
        return kernel

    def note_failure(self, error: CompileError) -> None:
        if self.failure is None:
            logger.warning("%s runs in the interpreter: %s", self.name, error)
        self.failure = error

    def drop_stale_kernels(self) -> None:
        with self.fused.lock:
            stale = any(
                not capture.is_current()
                for kernel in self.kernels.values()
                if kernel is not None
                for capture in kernel.captures
            )
            if stale:
                self.kernels.clear()
                self.failure = None

    def default_keys(self) -> tuple[ParameterKey, ...]:
        return tuple(
            ParameterKey(spec.python_type, spec.optional, ColumnLayout(DEFAULT_PHYSICAL[spec.python_type], spec.optional, False))
            for spec in self.specs.values()
        )

    # ----------------------------------------------------------------------------------
    # Introspection
    # ----------------------------------------------------------------------------------

    def explain(self) -> str:
        fused = self.fused
        status = "runs in the interpreter"
        if not self.kernels and not settings.disable_jit:
            try:
                self.kernel(self.default_keys())
            except CompileError as error:  # a member with mode="require"; calls raise it
                self.failure = error
                status = "does not compile, so calls raise CompileError"
        if self.failure is None and not settings.disable_jit:
            status = "compiled to one native kernel"
        described = ", ".join(member.describe() for member in fused.members)
        lines = [f"fused {described}: {status}"]
        if self.failure is not None:
            lines.append(f"  reason: {self.failure}".replace("\n", "\n          "))
        lines.append(f"  resolvers in order: {described}")
        lines.append(f"  columns read: {', '.join(f'{name}: {spec}' for name, spec in self.specs.items())}")
        lines.append(f"  outputs written: {', '.join(fused.outputs)}")
        kept = [member.output for member in fused.members if member.output not in fused.outputs]
        if kept:
            lines.append(f"  computed but not written: {', '.join(kept)}")
        lines.append(f"  kernels compiled: {sum(kernel is not None for kernel in self.kernels.values())}")
        from featurejit.resolver import last_call_line

        stats = self.stats
        lines.append(last_call_line(self.called, stats.rows, stats.slow_path_rows, stats.error_rows, stats.raised))
        return "\n".join(lines)

    def dump(self, stage: str) -> str:
        from featurejit.resolver import CodeText

        if stage not in STAGES:
            raise ValueError(f"dump({stage!r}) is invalid; use one of {', '.join(map(repr, STAGES))}")
        keys = self.default_keys()
        self.kernel(keys)
        kernel = self.kernels.get(keys)
        if kernel is None:
            raise ValueError(f"{self.name} runs in the interpreter, so it has no compiled code: {self.failure}")
        texts = {
            "ir": kernel.ir_text,
            "optimized": kernel.optimized_ir_text,
            "llvm": kernel.optimized_llvm_text,
            "asm": kernel.assembly,
        }
        return CodeText(texts[stage])
