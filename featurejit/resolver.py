"""The `jit_resolver` decorator and the object it returns."""

from __future__ import annotations

import datetime
import functools
import inspect
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

from featurejit.errors import CompileError
from featurejit.frontend.annotations import Signature, ValueSpec
from featurejit.source_lines import remember_file

if TYPE_CHECKING:
    from featurejit.runtime.state import ResolverState

logger = logging.getLogger("featurejit")

MODES = ("auto", "require")
ON_ERROR = ("raise", "null")
STAGES = ("ir", "optimized", "llvm", "asm")



@dataclass
class Explanation:
    """The report of explain(): how the resolver runs and why, its types, and its last call."""

    name: str
    native: bool
    reason: str
    mode: str
    on_error: str
    parameters: list[tuple[str, str, str]]
    result: tuple[str, str]
    kernels: int
    last_rows: int
    last_slow_path_rows: int
    last_error_rows: int
    compile_ms: dict[str, float] = field(default_factory=dict)
    called: bool = True  # False until the resolver's first call
    last_quick_kernel: bool = False  # the last call ran a quick kernel
    last_raised: str = ""  # the class of the exception that the last call raised, if any

    def __repr__(self) -> str:
        how = "native" if self.native else "interpreted"
        return f"<Explanation {self.name}: {how}; print() it for details>"

    def __str__(self) -> str:
        how = "compiled to native code" if self.native else "runs in the interpreter"
        if not self.native and self.mode == "require" and self.reason != "FEATUREJIT_DISABLE_JIT is set":
            how = "does not compile, so its calls raise CompileError"
        lines = [f"{self.name}: {how} (mode={self.mode!r}, on_error={self.on_error!r})"]
        if self.reason:
            lines.append(f"  reason: {self.reason}".replace("\n", "\n          "))
        for name, annotation, native in self.parameters:
            lines.append(f"  parameter {name}: {annotation} -> {native}")
        lines.append(f"  returns: {self.result[0]} -> {self.result[1]}")
        lines.append(f"  kernels compiled: {self.kernels}")
        if self.compile_ms:
            stages = ", ".join(f"{stage} {ms:.1f} ms" for stage, ms in self.compile_ms.items())
            lines.append(f"  last compile: {stages}")
            if "quick llvm" in self.compile_ms:
                later = "optimized llvm" in self.compile_ms
                then = "then the optimized one, compiled on a background thread" if later else "no optimized one yet"
                lines.append(f"  kernel tiers: a quick kernel for the first call, {then}")
        last_call = last_call_line(
            self.called, self.last_rows, self.last_slow_path_rows, self.last_error_rows, self.last_raised
        )
        lines.append(f"{last_call}, on the quick kernel" if self.last_quick_kernel else last_call)
        return "\n".join(lines)


def last_call_line(called: bool, rows: int, slow_path_rows: int, error_rows: int, raised: str = "") -> str:
    """Return explain()'s line on the last call's row counts, or on the exception it raised."""
    if not called:
        return "  last call: none yet"
    if raised:
        return f"  last call: {counted(rows, 'row')}, raised {raised}"
    return (
        f"  last call: {counted(rows, 'row')}, {slow_path_rows:,} on the slow path, "
        f"{counted(error_rows, 'error')} set to null"
    )


def counted(count: int, noun: str) -> str:
    """Return "1 row" or "3 rows": the count with the noun in the matching number."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def positional_count_message(signature: inspect.Signature, passed: int) -> str:
    """Return CPython's words for a call with too many positional arguments, such as "takes 2 positional arguments but 3 were given"."""
    positional = [
        parameter
        for parameter in signature.parameters.values()
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    ]
    required = sum(parameter.default is parameter.empty for parameter in positional)
    if required < len(positional):
        takes = f"takes from {required} to {len(positional)} positional arguments"
    else:
        takes = f"takes {counted(len(positional), 'positional argument')}"
    return f"{takes} but {passed} {'was' if passed == 1 else 'were'} given"


class CodeText(str):
    """Code returned by dump(): a str that an interactive session shows as text, not as a repr."""

    def __repr__(self) -> str:
        return str(self)


NATIVE_NAMES = {
    bool: "i1",
    int: "i64",
    float: "f64",
    str: "!py.str",
    datetime.datetime: "!py.datetime",
    datetime.date: "!py.date",
    datetime.timedelta: "!py.timedelta",
}
COLUMN_NAMES = {
    bool: "bool",
    int: "int64",
    float: "float64",
    str: "string",
    datetime.datetime: "timestamp[us]",
    datetime.date: "date32",
    datetime.timedelta: "duration[us]",
}


def native_name(spec: ValueSpec) -> str:
    name = NATIVE_NAMES[spec.python_type]
    return f"!py.optional<{name}>" if spec.optional else name


NO_NATIVE_TYPE = "no native type"


def uncompiled_types(signature: inspect.Signature) -> tuple[list[tuple[str, str, str]], tuple[str, str]]:
    """Return explain()'s parameter and result types from the annotations, for a signature that does not compile."""
    parameters = [
        (starred_name(parameter), annotation_text(parameter.annotation), NO_NATIVE_TYPE)
        for parameter in signature.parameters.values()
    ]
    return parameters, (annotation_text(signature.return_annotation), NO_NATIVE_TYPE)


def starred_name(parameter: inspect.Parameter) -> str:
    """Return the parameter's name as the def spells it, with the stars of *args and **kwargs."""
    if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
        return f"*{parameter.name}"
    if parameter.kind is inspect.Parameter.VAR_KEYWORD:
        return f"**{parameter.name}"
    return parameter.name


def annotation_text(annotation: Any) -> str:
    """Return an annotation as inspect.signature shows it, or as is if it is a string, as under postponed evaluation."""
    if annotation is inspect.Parameter.empty:
        return "no annotation"
    if isinstance(annotation, str):
        return annotation
    return inspect.formatannotation(annotation)


class JitResolver:
    """A resolver compiled on first call.

    Called with scalars it returns what the function returns. Called with arrays it returns an
    Arrow array, or a chunked array for chunked input.
    """

    __featurejit_resolver__ = True

    def __new__(cls, *args: Any, **kwargs: Any) -> JitResolver:
        # Each resolver gets a class of its own, so that the builtin over its compiled scalar
        # entry can become that class's __call__ (see featurejit.runtime.native_call).
        own_class = type(cls.__name__, (cls,), {"__module__": cls.__module__, "__qualname__": cls.__qualname__})
        return super().__new__(own_class)

    def __init__(self, function: Callable[..., Any], mode: str = "auto", on_error: str = "raise"):
        if mode not in MODES:
            raise ValueError(f"jit_resolver(mode={mode!r}) is invalid; use one of {', '.join(map(repr, MODES))}")
        if on_error not in ON_ERROR:
            raise ValueError(
                f"jit_resolver(on_error={on_error!r}) is invalid; use one of {', '.join(map(repr, ON_ERROR))}"
            )
        if not inspect.isfunction(function):
            raise TypeError(f"jit_resolver expects a function, but got {type(function).__name__}")
        outer = function.__qualname__.rpartition(".")[0]
        if outer and not outer.endswith("<locals>"):
            raise TypeError(
                f"jit_resolver cannot decorate the method {function.__qualname__}; "
                f"define the resolver at module level and call it from the method"
            )
        functools.update_wrapper(self, function)
        remember_file(function)
        self.function = function
        self.mode = mode
        self.on_error = on_error
        self.name = function.__qualname__
        self.python_signature = inspect.signature(function)
        # Calls with exactly this many positional arguments and no keywords skip Signature.bind,
        # which costs a few microseconds. It is None when the function has *args, **kwargs or
        # keyword-only parameters.
        simple = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        parameters = self.python_signature.parameters.values()
        self.positional_arity = len(parameters) if all(p.kind in simple for p in parameters) else None
        self.row_function = row_caller(function, self.python_signature)
        self.lock = threading.RLock()
        self.state: ResolverState | None = None
        self.warned = False
        self.nulls_logged = False  # set once a call logged its rows set to null at WARNING
        if mode == "require":
            self.compile(defer_unresolved_names=True)

    # ----------------------------------------------------------------------------------
    # Compilation
    # ----------------------------------------------------------------------------------

    def compiled_state(self) -> ResolverState:
        """Return the resolver's compile state, creating it on first use."""
        if self.state is None:
            with self.lock:
                if self.state is None:
                    from featurejit.runtime.state import ResolverState

                    self.state = ResolverState(self)
        return self.state

    def compile(self, defer_unresolved_names: bool = False) -> JitResolver:
        """Compile the resolver for its annotated types now, instead of on the first call.

        In mode "require" a construct that cannot be compiled raises CompileError. In mode
        "auto" the resolver falls back to the interpreter, and explain() gives the reason.
        """
        state = self.compiled_state()
        try:
            state.guarded(state.default_kernel)
        except CompileError as error:
            if defer_unresolved_names and error.unresolved_name:
                return self
            # The traceback would lead into the compiler; the error's own location is the useful part.
            raise error.with_traceback(None) from None
        return self

    def signature(self) -> Signature:
        return self.compiled_state().signature()

    # ----------------------------------------------------------------------------------
    # Calls
    # ----------------------------------------------------------------------------------

    def call_general(self, *args: Any, **kwargs: Any) -> Any:
        """Bind the arguments, then run a batch, or a scalar call that no native entry took.

        Once a scalar kernel has compiled, `__call__` is a builtin over its native entry, which
        hands every call it does not match to this method.
        """
        if not kwargs and len(args) == self.positional_arity:
            values = list(args)
        else:
            values = self.bind_values(args, kwargs)
        try:
            return self.compiled_state().call(values)
        except CompileError as error:  # only in mode "require"
            raise error.with_traceback(None) from None

    __call__ = call_general

    def bind_values(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        """Return the argument of every parameter in order, defaults applied, as a plain call binds them."""
        unknown = [keyword for keyword in kwargs if keyword not in self.python_signature.parameters]
        if unknown:
            raise TypeError(f"{self.name}() got an unexpected keyword argument {unknown[0]!r}")
        try:
            bound = self.python_signature.bind(*args, **kwargs)
        except TypeError as error:
            if str(error) == "too many positional arguments":  # inspect's message, without the counts CPython gives
                raise TypeError(f"{self.name}() {positional_count_message(self.python_signature, len(args))}") from None
            raise TypeError(f"{self.name}(): {error}") from None
        bound.apply_defaults()
        return list(bound.arguments.values())

    # ----------------------------------------------------------------------------------
    # Introspection
    # ----------------------------------------------------------------------------------

    def explain(self, *, show: bool = True) -> Explanation:
        """Report whether the resolver runs natively and why, its types and its last call's row counts."""
        explanation = self.compiled_state().explain()
        if show:
            print(explanation)
        return explanation

    def dump(self, stage: str = "ir") -> CodeText:
        """Return the resolver's code at one stage: "ir", "optimized", "llvm" or "asm"."""
        if stage not in STAGES:
            raise ValueError(f"dump({stage!r}) is invalid; use one of {', '.join(map(repr, STAGES))}")
        kernel = self.compiled_state().default_kernel()
        texts = {
            "ir": kernel.ir_text,
            "optimized": kernel.optimized_ir_text,
            "llvm": kernel.optimized_llvm_text,
            "asm": kernel.assembly,
        }
        return CodeText(texts[stage])

    def __repr__(self) -> str:
        return f"<jit_resolver {self.name} mode={self.mode!r} on_error={self.on_error!r}>"


@overload
def jit_resolver(function: Callable[..., Any], /) -> JitResolver: ...


@overload
def jit_resolver(*, mode: str = "auto", on_error: str = "raise") -> Callable[[Callable[..., Any]], JitResolver]: ...


def jit_resolver(
    function: Callable[..., Any] | None = None, /, *, mode: str = "auto", on_error: str = "raise"
) -> JitResolver | Callable[[Callable[..., Any]], JitResolver]:
    """Compile a type-annotated resolver to native code on its first call.

    Use as `@jit_resolver` or `@jit_resolver(mode="require", on_error="null")`.
    mode="auto" runs unsupported code in the interpreter, and explain() gives the reason.
    mode="require" raises CompileError instead. on_error="raise" raises a row's CPython
    exception with the row index; on_error="null" makes that row null and counts it.
    """
    if function is not None:
        return JitResolver(function, mode=mode, on_error=on_error)

    def decorate(inner: Callable[..., Any]) -> JitResolver:
        return JitResolver(inner, mode=mode, on_error=on_error)

    return decorate


def row_caller(function: Callable[..., Any], signature: inspect.Signature) -> Callable[..., Any]:
    """Return a function that takes one value per parameter, in the signature's order, and calls `function`.

    Rows that run in the interpreter hold their values in parameter order, and keyword-only
    parameters must be passed by keyword.
    """
    keyword_only = [name for name, parameter in signature.parameters.items() if parameter.kind == parameter.KEYWORD_ONLY]
    if not keyword_only:
        return function
    positional = len(signature.parameters) - len(keyword_only)

    def call(*values: Any) -> Any:
        return function(*values[:positional], **dict(zip(keyword_only, values[positional:], strict=True)))

    return call
