"""A resolver's compiled kernels and the dispatch of each call to a kernel or the interpreter."""

from __future__ import annotations

import datetime
import logging
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from featurejit import cache
from featurejit.codegen.layout import ColumnLayout
from featurejit.compiled_kernel import CompiledKernel
from featurejit.errors import CompileError
from featurejit.frontend.annotations import Signature, read_signature
from featurejit.frontend.captures import Capture
from featurejit.runtime.batch import BatchRunner, CallStats, KernelFunction, ParameterKey
from featurejit.runtime.inputs import BoundCall, bind_arguments, fits_int64
from featurejit.runtime.native_call import NativeEntries
from featurejit.runtime.slow_path import ResultCheck, RowResults, located_error, run_rows
from featurejit.runtime.temporal import DATETIME_RESULT_TEXT, arrow_type_of_result
from featurejit.settings import settings

if TYPE_CHECKING:
    from xdsl.ir import Attribute

    from featurejit.resolver import Explanation, JitResolver

logger = logging.getLogger("featurejit")

DEFAULT_PHYSICAL = {
    bool: "bool",
    int: "int64",
    float: "float64",
    str: "utf8",
    datetime.datetime: "timestamp_us",
    datetime.date: "date32",
    datetime.timedelta: "duration_us",
}
# Scalar calls with arguments or results of these types run the plain function.
INTERPRETED_SCALAR_TYPES = (str, datetime.datetime, datetime.date, datetime.timedelta)
NATIVE_SCALAR_TYPES = (bool, int, float)
# The Python type of each argument of a scalar call. A None argument of an optional parameter
# counts as its annotated type, because the kernel takes such a parameter as !py.optional<T>
# and so serves None and values of type T alike.
ScalarKey = tuple[type, ...]

FAST_CALL_STATS = CallStats(rows=1, native=True)


def takes_quick_kernel(rows: int | None) -> bool:
    """Return whether a call of `rows` rows runs a quick kernel rather than wait for the optimized one.

    A small call, such as an online request, gains more from a kernel compiled in a few
    milliseconds than it loses to the kernel's slower code. A large call gains from waiting.
    None means an explicit compile, which always gets the optimized kernel.
    """
    return rows is not None and rows < settings.quick_rows


def ir_type_of(python_type: type, optional: bool, zone: str = "") -> Attribute:
    """Return the IR type of a parameter; a datetime is in `zone` ("" for naive)."""
    from featurejit.frontend.annotations import ValueSpec
    from featurejit.ir.dialect import OptionalType

    element = ValueSpec(python_type, False).ir_type(zone)
    return OptionalType(element) if optional else element


# The IR types of parameters as xDSL prints them. A test checks them against ir_type_of.
IR_TYPE_TEXTS = {
    bool: "i1",
    int: "i64",
    float: "f64",
    str: "!py.str",
    datetime.date: "!py.date",
    datetime.timedelta: "!py.timedelta",
}


def ir_type_text(python_type: type, optional: bool, zone: str = "") -> str:
    """Return the printed form of ir_type_of(python_type, optional, zone), without importing xDSL."""
    if python_type is datetime.datetime:
        element = f'!py.datetime<"{zone}">'
    else:
        element = IR_TYPE_TEXTS[python_type]
    return f"!py.optional<{element}>" if optional else element


# The Python spelling of result types as xDSL prints them, for explain(). A test checks it
# against featurejit.ir.dialect.python_name of the parsed type.
PYTHON_NAMES_OF_TEXTS = {
    **{text: python_type.__name__ for python_type, text in IR_TYPE_TEXTS.items()},
    "!py.none": "None",
    "!py.dyn": "int | float",
}


def python_name_of_text(type_text: str) -> str:
    """Return the Python spelling of an IR type printed by xDSL, such as "float | None" for `!py.optional<f64>`."""
    optional = type_text.startswith("!py.optional<") and type_text.endswith(">")
    element = type_text[len("!py.optional<") : -1] if optional else type_text
    name = PYTHON_NAMES_OF_TEXTS.get(element)
    if name is None:
        zone = DATETIME_RESULT_TEXT.fullmatch(element)
        if zone is None:
            return type_text
        name = f"datetime in {zone.group(1)}" if zone.group(1) else "naive datetime"
    return f"{name} | None" if optional else name


def load_or_compile(
    function: Callable[..., Any],
    name: str,
    parameters: Sequence[tuple[type, bool, str]],
    layouts: Sequence[ColumnLayout] | None,
    output: type,
    quick: bool,
) -> CompiledKernel:
    """Load the kernel for these parameters from the disk cache, or compile it on a miss.

    A parameter is its Python type, whether it is optional, and a datetime's zone ("" for
    naive). Without `layouts` the kernel is a scalar entry. The cache key contains the
    parameters' IR types as text, so a hit imports neither the compiler nor xDSL.
    """
    parameter_texts = tuple(ir_type_text(*parameter) for parameter in parameters)
    request = cache.KernelRequest(function, parameter_texts, None if layouts is None else tuple(layouts), output)
    cached = cache.load_kernel(request, name)
    if cached is not None:
        return cached
    from featurejit.compiler import compile_kernel

    return compile_kernel(request, name, [ir_type_of(*parameter) for parameter in parameters], quick)


def log_null_rows(owner: Any, name: str, stats: CallStats, fused_resolvers: int = 0, explained: bool = True) -> None:
    """Log the rows a call set to null: the first call at WARNING, later calls at DEBUG.

    A fused call of `fused_resolvers` resolvers counts a row once per resolver that raised on
    it, and `name` names the members with on_error="null", which are the only ones whose rows
    become null. `explained` says whether the resolver's explain() reports
    the call, which it does not for a resolver that a feature graph runs.
    """
    from featurejit.resolver import counted

    level = logging.DEBUG if getattr(owner, "nulls_logged", False) else logging.WARNING
    verb = "was" if stats.error_rows == 1 else "were"
    if not fused_resolvers:
        count = f"{stats.error_rows:,} of {counted(stats.rows, 'row')}"
        hint = "explain() reports the count of each call, and later calls log it" if explained else "later calls log this"
        logger.log(level, "%s: %s raised and %s set to null (on_error='null'); %s at DEBUG level", name, count, verb, hint)
    else:
        count = f"{counted(stats.error_rows, 'resolver result')} in {counted(stats.rows, 'row')}"
        logger.log(
            level,
            "%s (in a fused call of %s): %s raised and %s set to null (on_error='null'); later calls log this at DEBUG level",
            name,
            counted(fused_resolvers, "resolver"),
            count,
            verb,
        )
    owner.nulls_logged = True


def log_fused_null_rows(state: Any, stats: CallStats) -> None:
    """Log the rows a fused call set to null, naming the members with on_error="null"."""
    resolvers = state.fused.resolvers
    if len(resolvers) == 1:  # such as a graph stage of one resolver
        log_null_rows(state, resolvers[0].name, stats, explained=False)
        return
    nulling = [resolver.name for resolver in resolvers if resolver.on_error == "null"]
    log_null_rows(state, " and ".join(nulling) or state.name, stats, fused_resolvers=len(resolvers))


class ResolverState:
    """Kernels compiled for one resolver, keyed by input specialization, and its last call's counts."""

    def __init__(self, resolver: JitResolver):
        self.resolver = resolver
        self.function = resolver.function
        self.row_function = resolver.row_function  # takes one value per parameter, keyword-only ones included
        self.name = resolver.name
        self.cached_signature: Signature | None = None
        self.batch_kernels: dict[tuple[ParameterKey, ...], CompiledKernel | None] = {}
        self.scalar_kernels: dict[ScalarKey, CompiledKernel | None] = {}
        # Builtins over the scalar kernels' unchecked entries, for calls that took the general path
        self.unchecked_calls: dict[ScalarKey, Callable[..., Any]] = {}
        self.native: NativeEntries | None = None
        self.native_calls_seen = 0
        self.captures: dict[tuple[int, str, tuple[str, ...]], Capture] = {}
        self.default: CompiledKernel | None = None
        self.failure: CompileError | None = None
        self.last_kernel: CompiledKernel | None = None
        self.recorded_stats = CallStats(native=False)
        self.called = False  # set by every call that goes through Python; native calls count in `stats`
        self.ran_quick_kernel = False  # set by batch_kernel, read by call_batch

    @property
    def stats(self) -> CallStats:
        """The last call's counts. Native scalar calls do not run Python code, so a count they keep tells of them."""
        if self.native is not None and self.native.counter.value != self.native_calls_seen:
            return FAST_CALL_STATS
        return self.recorded_stats

    @stats.setter
    def stats(self, stats: CallStats) -> None:
        self.recorded_stats = stats
        self.called = True
        self.native_calls_seen = 0 if self.native is None else self.native.counter.value

    # ----------------------------------------------------------------------------------
    # Compilation, with the fallback to the interpreter
    # ----------------------------------------------------------------------------------

    def signature(self) -> Signature:
        if self.cached_signature is None:
            self.cached_signature = read_signature(self.function)
        return self.cached_signature

    def default_kernel(self) -> CompiledKernel:
        """Compile the optimized batch kernel for the annotated types, raising CompileError if it cannot."""
        with self.resolver.lock:
            self.drop_stale_kernels()
            if self.default is None:
                signature = self.signature()
                keys = tuple(
                    ParameterKey(spec.python_type, spec.optional, ColumnLayout(DEFAULT_PHYSICAL[spec.python_type], spec.optional, False))
                    for _, spec in signature.parameters
                )
                # A call may have compiled a quick kernel for these keys already.
                self.default = self.batch_kernels.get(keys) or self.compile_batch(keys)
            default = self.default
        default.wait_optimized()
        return default

    def compile_batch(self, keys: tuple[ParameterKey, ...], quick: bool = False) -> CompiledKernel:
        for (name, _), key in zip(self.signature().parameters, keys, strict=True):
            if key.unsupported:
                raise CompileError(f"parameter {name!r}: {key.unsupported}", hint="Such calls run in the interpreter.")
        kernel = load_or_compile(
            self.function,
            self.name,
            [(key.python_type, key.optional, key.zone) for key in keys],
            [key.layout for key in keys],
            self.signature().result.python_type,
            quick,
        )
        self.remember(kernel)
        self.batch_kernels[keys] = kernel
        return kernel

    def compile_scalar(self, key: ScalarKey) -> CompiledKernel:
        parameters = [
            (python_type, spec.optional, "")
            for python_type, (_, spec) in zip(key, self.signature().parameters, strict=True)
        ]
        # A scalar call is one row, so it gets a quick kernel unless quick kernels are off.
        output = self.signature().result.python_type
        kernel = load_or_compile(self.function, self.name, parameters, None, output, takes_quick_kernel(1))
        self.remember(kernel)
        self.scalar_kernels[key] = kernel
        # Read the tier before installing, because the optimized tier may replace the quick one meanwhile.
        quick = kernel.tier == "quick"
        self.install_native_entries(key, kernel)
        if quick:
            kernel.when_optimized(lambda: self.reinstall_native_entries(key, kernel))
        return kernel

    def reinstall_native_entries(self, key: ScalarKey, kernel: CompiledKernel) -> None:
        """Point the native entries of `key` at the kernel's optimized tier, unless the kernel was dropped meanwhile."""
        with self.resolver.lock:
            if self.scalar_kernels.get(key) is not kernel or self.native is None:
                return
            assert kernel.python_entries is not None, "a scalar kernel has Python entries"
            checked, unchecked = kernel.python_entries
            self.unchecked_calls[key] = self.native.unchecked(unchecked, kernel.symbol)
            self.native.replace(kernel.symbol, checked)

    def install_native_entries(self, key: ScalarKey, kernel: CompiledKernel) -> None:
        """Make the kernel's checked entry the resolver's `__call__` for these types, and keep its unchecked one."""
        assert kernel.python_entries is not None, "a scalar kernel has Python entries"
        if self.native is None:
            self.native = NativeEntries(type(self.resolver), self.resolver.call_general, self.run_interpreted)
        checked, unchecked = kernel.python_entries
        self.unchecked_calls[key] = self.native.unchecked(unchecked, kernel.symbol)
        # The native guards compare captured objects by identity, which misses a change inside a
        # dict, so a kernel that looks up a dict is called after the Python check of its contents.
        if all(capture.contents is None for capture in kernel.captures):
            self.native.add(checked, kernel.captures, kernel.symbol)

    def remember(self, kernel: CompiledKernel) -> None:
        self.last_kernel = kernel
        for capture in kernel.captures:
            self.captures.setdefault((id(capture.function), capture.name, capture.attributes), capture)

    def drop_stale_kernels(self) -> None:
        """Forget every kernel if a module constant or closure value it captured has changed."""
        stale = [capture for capture in self.captures.values() if not capture.is_current()]
        if not stale:
            return
        logger.debug("%s: %s changed, recompiling", self.name, ", ".join(c.describe() for c in stale))
        self.batch_kernels.clear()
        self.scalar_kernels.clear()
        self.unchecked_calls.clear()
        if self.native is not None:
            self.native.clear()
        self.captures.clear()
        self.default = None
        self.failure = None

    def guarded(self, compile_step: Callable[[], CompiledKernel], annotated: bool = True) -> CompiledKernel | None:
        """Run a compile step; on failure fall back to the interpreter, or raise in mode "require".

        A step for other types than the annotated ones (`annotated` false, such as an int for a
        float parameter) may fail to compile. Then only those calls run in the interpreter. The
        resolver still counts as compiled, and mode "require" does not raise.
        """
        try:
            return compile_step()
        except CompileError as error:
            if not annotated and self.annotated_types_compile():
                logger.debug("%s: calls with these argument types run in the interpreter: %s", self.name, error)
                return None
            if self.resolver.mode == "require":
                raise
            self.note_failure(error)
        except Exception as error:  # noqa: BLE001 - a compiler bug must not break the user's call
            details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            failure = CompileError(
                f"internal compiler error while compiling {self.name}: {type(error).__name__}: {error}",
                hint="This is a featurejit bug; the resolver runs in the interpreter meanwhile.",
            )
            if self.resolver.mode == "require":
                raise failure from error
            logger.error("%s\n%s", failure.message, details)
            self.note_failure(failure)
        return None

    def annotated_types_compile(self) -> bool:
        """Return whether the batch kernel for the annotated types compiles (it may compile now)."""
        try:
            self.default_kernel()
        except CompileError:
            return False
        return True

    def note_failure(self, error: CompileError) -> None:
        self.failure = error
        for capture in error.captures:
            self.captures.setdefault((id(capture.function), capture.name, capture.attributes), capture)
        if not self.resolver.warned:
            self.resolver.warned = True
            logger.warning("%s runs in the interpreter: %s", self.name, error)

    # ----------------------------------------------------------------------------------
    # Calls
    # ----------------------------------------------------------------------------------

    def call(self, values: list[Any]) -> Any:
        try:
            signature = self.signature()
        except CompileError as error:
            if self.resolver.mode == "require":
                raise
            self.note_failure(error)
            return self.call_without_signature(values)
        bound = bind_arguments(self.name, signature, values)
        with self.resolver.lock:
            self.drop_stale_kernels()
            if self.native is not None:
                self.native.refresh_if_rebound()
        if bound.length is None:
            return self.call_scalar(bound.scalar_values())
        return self.call_batch(bound, signature)

    def compile_for(self, values: list[Any]) -> None:
        """Compile the optimized kernels that a batch call with these arguments runs, without running them.

        Columns whose Arrow layout differs from the annotations' default, such as ASCII text or a
        timestamp in seconds, need kernels of their own. A scalar call compiles nothing here.
        """
        bound = bind_arguments(self.name, self.signature(), values)
        if bound.length is None or settings.disable_jit:
            return
        with self.resolver.lock:
            self.drop_stale_kernels()
        runner = BatchRunner([self.signature().result.python_type], lambda *_: [], self.batch_kernel)
        runner.compile_kernels(bound)

    def call_batch(self, bound: BoundCall, signature: Signature) -> pa.Array | pa.ChunkedArray:
        stats = CallStats()
        self.ran_quick_kernel = False
        get_kernel = None if settings.disable_jit else self.batch_kernel
        output = signature.result.python_type
        check = ResultCheck(output)  # one for every segment, so that chunks of a call agree
        excluding_none = signature.excluding_none()

        def slow_path(
            names: list[str], values: Sequence[list[Any]], rows: np.ndarray, first_row: int, needed: list[np.ndarray]
        ) -> list[RowResults]:
            on_error = self.resolver.on_error
            return [run_rows(self.row_function, self.name, names, values, rows, first_row, on_error, output, check, excluding_none)]

        null_raising_rows = [self.resolver.on_error == "null"]
        runner = BatchRunner([output], slow_path, get_kernel, self.kernel_arrow_types, null_raising_rows)
        try:
            (result,) = runner.run(bound, stats)
        except Exception as error:
            stats.raised = type(error).__name__
            self.stats = stats
            raise
        stats.quick_kernel = self.ran_quick_kernel
        self.stats = stats
        if stats.error_rows:
            log_null_rows(self.resolver, self.name, stats)
        return result

    def batch_kernel(self, keys: tuple[ParameterKey, ...], rows: int | None = None) -> KernelFunction | None:
        """Return the kernel for these inputs, compiling it on first use (see takes_quick_kernel for `rows`)."""
        quick = takes_quick_kernel(rows)
        parameters = self.signature().parameters
        of_annotated_types = all(key.python_type is spec.python_type for key, (_, spec) in zip(keys, parameters, strict=True))
        with self.resolver.lock:
            if keys not in self.batch_kernels:
                self.batch_kernels[keys] = self.guarded(lambda: self.compile_batch(keys, quick), of_annotated_types)
            kernel = self.batch_kernels[keys]
        if kernel is None:
            return None
        if not quick:
            kernel.wait_optimized()
        self.ran_quick_kernel = self.ran_quick_kernel or kernel.tier == "quick"
        if not kernel.runs_in_this_locale():
            return None  # every row runs in the interpreter
        return kernel.entry

    def kernel_arrow_types(self, keys: tuple[ParameterKey, ...]) -> list[pa.DataType | None]:
        """Return the Arrow type of the result that the kernel for `keys` fixes (a datetime's zone), if any."""
        kernel = self.batch_kernels.get(keys)
        return [None if kernel is None else arrow_type_of_result(kernel.result_type_text)]

    def call_scalar(self, values: list[Any]) -> Any:
        """Run a scalar call that did not match a native entry, compiling a kernel for its types if it can."""
        signature = self.signature()
        # NOTE: scalar calls with str, datetime, date or timedelta arguments or results run in the
        # interpreter; only batch kernels read and write those values.
        annotated = [signature.result.python_type, *(spec.python_type for _, spec in signature.parameters)]
        native = not settings.disable_jit and not any(kind in INTERPRETED_SCALAR_TYPES for kind in annotated)
        native = native and all(fits_int64(value) and not isinstance(value, INTERPRETED_SCALAR_TYPES) for value in values)
        # Values of subclasses, such as IntEnum members, keep their own behaviour in the plain function.
        native = native and all(value is None or type(value) in NATIVE_SCALAR_TYPES for value in values)
        native = native and all(
            value is not None or spec.optional for value, (_, spec) in zip(values, signature.parameters, strict=True)
        )
        if native:
            key: ScalarKey = tuple(
                spec.python_type if value is None else type(value)
                for value, (_, spec) in zip(values, signature.parameters, strict=True)
            )
            of_annotated_types = all(kind is spec.python_type for kind, (_, spec) in zip(key, signature.parameters, strict=True))
            with self.resolver.lock:
                if key not in self.scalar_kernels:
                    self.scalar_kernels[key] = self.guarded(lambda: self.compile_scalar(key), of_annotated_types)
                call = self.unchecked_calls.get(key)
            if call is not None:
                self.stats = CallStats(rows=1, native=True)
                # A row the kernel flags comes back through run_interpreted.
                return call(*values)
        self.stats = CallStats(rows=1, slow_path_rows=1, native=False)
        return self.run_python(values)

    def run_interpreted(self, *values: Any) -> Any:
        """Run a row that a native entry flagged, or whose int does not fit in int64, in the interpreter."""
        self.stats = CallStats(rows=1, slow_path_rows=1, native=False)
        return self.run_python(list(values))

    def run_python(self, values: list[Any]) -> Any:
        """Run one call in the interpreter, applying on_error."""
        try:
            return self.row_function(*values)
        except Exception:
            if self.resolver.on_error == "null":
                self.stats.error_rows = 1
                return None
            raise

    def call_without_signature(self, values: list[Any]) -> Any:
        """Run a resolver whose annotations cannot be read, row by row if given arrays.

        Without a return annotation, Arrow infers the result type from the values.
        """
        arrays = [value for value in values if isinstance(value, pa.Array | pa.ChunkedArray)]
        if not arrays:
            self.stats = CallStats(rows=1, slow_path_rows=1, native=False)
            return self.run_python(values)
        length = len(arrays[0])
        if any(len(array) != length for array in arrays):
            shown = ", ".join(str(len(array)) for array in arrays)
            raise ValueError(f"{self.name}(): array arguments have different lengths ({shown}); pass arrays of one length")
        columns = [value.to_pylist() if isinstance(value, pa.Array | pa.ChunkedArray) else None for value in values]
        names = list(self.resolver.python_signature.parameters)
        stats = CallStats(rows=length, slow_path_rows=length, native=False)
        results = []
        for row in range(length):
            row_values = [value if column is None else column[row] for value, column in zip(values, columns, strict=True)]
            try:
                results.append(self.row_function(*row_values))
            except Exception as error:
                if self.resolver.on_error == "null":
                    stats.error_rows += 1
                    results.append(None)
                    continue
                raise located_error(error, self.name, row, names, row_values) from error
        self.stats = stats
        try:
            result = pa.array(results)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise TypeError(
                f"{self.name} has no return annotation that featurejit reads, and Arrow cannot build one column "
                f"from its results: {error}. Annotate the return as int, float, bool, str, a datetime type, "
                f"or T | None of one of those"
            ) from None
        if any(isinstance(array, pa.ChunkedArray) for array in arrays):
            return pa.chunked_array([result])
        return result

    # ----------------------------------------------------------------------------------
    # explain()
    # ----------------------------------------------------------------------------------

    def explain(self) -> Explanation:
        from featurejit.resolver import COLUMN_NAMES, Explanation, native_name, uncompiled_types

        failure = self.failure
        if failure is None and self.default is None and not settings.disable_jit:
            try:
                self.guarded(self.default_kernel)
            except CompileError as error:  # mode "require" raises it, and explain() reports it instead
                failure = error
            else:
                failure = self.failure
        native = failure is None and not settings.disable_jit
        reason = ""
        if settings.disable_jit:
            reason = "FEATUREJIT_DISABLE_JIT is set"
        elif failure is not None:
            reason = str(failure)
        try:
            signature = self.signature()
            parameters = [(name, str(spec), native_name(spec)) for name, spec in signature.parameters]
            kernel = self.last_kernel or self.default
            ir_result = f", IR type {python_name_of_text(kernel.result_type_text)}" if kernel is not None else ""
            result = (str(signature.result), f"{COLUMN_NAMES[signature.result.python_type]} column{ir_result}")
        except CompileError:
            parameters, result = uncompiled_types(self.resolver.python_signature)
        kernels = sum(kernel is not None for kernel in (*self.batch_kernels.values(), *self.scalar_kernels.values()))
        compile_ms = {}
        if self.last_kernel is not None:
            # The last compile may be a quick kernel, such as a first scalar call's, whose
            # optimized one is still compiling. Its stages are reported once both are done.
            self.last_kernel.wait_optimized()
            compile_ms = {stage: seconds * 1000 for stage, seconds in self.last_kernel.stage_seconds.items()}
        return Explanation(
            name=self.name,
            native=native,
            reason=reason,
            mode=self.resolver.mode,
            on_error=self.resolver.on_error,
            parameters=parameters,
            result=result,
            kernels=kernels,
            last_rows=self.stats.rows,
            last_slow_path_rows=self.stats.slow_path_rows,
            last_error_rows=self.stats.error_rows,
            compile_ms=compile_ms,
            called=self.called or self.stats is FAST_CALL_STATS,
            last_quick_kernel=self.stats.quick_kernel,
            last_raised=self.stats.raised,
        )
