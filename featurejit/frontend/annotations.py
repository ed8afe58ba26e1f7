"""Reading resolver annotations into the value types featurejit compiles."""

from __future__ import annotations

import datetime
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featurejit.errors import CompileError, SourceLocation

if TYPE_CHECKING:
    from xdsl.ir import Attribute

TEMPORAL_TYPES: tuple[type, ...] = (datetime.datetime, datetime.date, datetime.timedelta)
SUPPORTED_TYPES: tuple[type, ...] = (bool, int, float, str, *TEMPORAL_TYPES)
SUPPORTED_SPELLING = "int, float, bool, str, datetime, date, timedelta, or one of them | None"

# Python types a parameter annotated with the key accepts, as in the numeric tower. A datetime
# is not accepted for a date, although it is a subclass, because arithmetic differs.
ACCEPTED_TYPES: dict[type, tuple[type, ...]] = {
    float: (float, int, bool),
    int: (int, bool),
    bool: (bool,),
    str: (str,),
    datetime.datetime: (datetime.datetime,),
    datetime.date: (datetime.date,),
    datetime.timedelta: (datetime.timedelta,),
}


@dataclass(frozen=True)
class ValueSpec:
    """A parameter or return type: bool, int or float, and whether None is allowed."""

    python_type: type
    optional: bool

    def ir_type(self, zone: str = "") -> Attribute:
        """Return the IR type of a present value of this spec; a datetime is in `zone` ("" for naive)."""
        from xdsl.dialects.builtin import f64, i1, i64  # imported late: xDSL takes 0.1 s to import

        from featurejit.ir.dialect import date_type, datetime_type, str_type, timedelta_type

        if self.python_type is datetime.datetime:
            return datetime_type(zone)
        types = {bool: i1, int: i64, float: f64, str: str_type, datetime.date: date_type, datetime.timedelta: timedelta_type}
        return types[self.python_type]

    def __str__(self) -> str:
        name = self.python_type.__name__
        return f"{name} | None" if self.optional else name


def python_type_of(type_: Attribute) -> type:
    """Return the Python type of the values of a present IR type (i64 is int, !py.date is date, ...)."""
    from xdsl.dialects.builtin import f64, i1, i64

    from featurejit.ir.dialect import DatetimeType, date_type, str_type, timedelta_type

    if isinstance(type_, DatetimeType):
        return datetime.datetime
    types: dict[Attribute, type] = {
        i1: bool, i64: int, f64: float, str_type: str, date_type: datetime.date, timedelta_type: datetime.timedelta
    }
    return types[type_]


@dataclass(frozen=True)
class Signature:
    """The annotated parameters and return of a resolver."""

    parameters: tuple[tuple[str, ValueSpec], ...]
    result: ValueSpec

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.parameters)

    def excluding_none(self) -> dict[str, str]:
        """Return the parameters whose annotation excludes None, with the annotation as text."""
        return {name: str(spec) for name, spec in self.parameters if not spec.optional}


def parse_spec(annotation: Any, what: str) -> ValueSpec:
    """Turn one annotation object into a ValueSpec; raise CompileError naming `what` otherwise.

    Besides types, an annotation may be an object with a `__featurejit_annotation__()` method,
    such as a feature of a declared entity, which returns the type annotation it stands for.
    """
    declared = getattr(annotation, "__featurejit_annotation__", None)
    if callable(declared):
        return parse_spec(declared(), what)
    if annotation in SUPPORTED_TYPES:
        return ValueSpec(annotation, optional=False)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [member for member in typing.get_args(annotation) if member is not type(None)]
        has_none = len(members) < len(typing.get_args(annotation))
        if has_none and len(members) == 1 and members[0] in SUPPORTED_TYPES:
            return ValueSpec(members[0], optional=True)
    shown = getattr(annotation, "__name__", None) or repr(annotation)
    hint = f"Annotate it with {SUPPORTED_SPELLING}."
    if origin is tuple:
        shown = repr(annotation)
        hint = (
            "A resolver that returns a tuple, such as one that writes several features of a graph, runs in the "
            "interpreter; write one resolver per value to compile each."
        )
    raise CompileError(f"{what} is annotated {shown}, which featurejit cannot compile yet", hint=hint)


def def_location(function: Callable[..., Any]) -> SourceLocation | None:
    """Return the location of the `def` line of a function, or None if its source cannot be read."""
    try:
        lines, first = inspect.getsourcelines(function)
        path = inspect.getsourcefile(function)
    except (OSError, TypeError):
        return None
    for offset, text in enumerate(lines):
        stripped = text.lstrip()
        if stripped.startswith(("def ", "async def ")):
            column = len(text) - len(stripped)
            return SourceLocation(path or "<unknown>", first + offset, column, text, column + len("def"))
    return None


def annotation_location(function: Callable[..., Any], parameter: str | None) -> SourceLocation | None:
    """Return the location of a parameter's annotation, or of the return's for None, else of the `def` line."""
    from featurejit.frontend.source import read_function_source

    try:
        source = read_function_source(function)
    except CompileError:
        return def_location(function)
    arguments = source.node.args
    if parameter is None:
        annotation = source.node.returns
    else:
        every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        annotation = next((argument.annotation for argument in every if argument.arg == parameter), None)
    if annotation is None:
        return def_location(function)
    return source.location(annotation)


def read_signature(function: Callable[..., Any]) -> Signature:
    """Read the annotated signature of `function`; raise CompileError for a missing or unsupported one."""
    try:
        annotations = inspect.get_annotations(function, eval_str=True)
    except Exception as error:  # noqa: BLE001 - any failure to evaluate a string annotation
        raise CompileError(f"the annotations of {function.__qualname__} could not be evaluated: {error}") from None
    parameters = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise CompileError(
                f"parameter *{parameter.name} of {function.__qualname__} is variadic",
                location=def_location(function),
                hint="Resolvers take a fixed list of named parameters.",
            )
        if parameter.name not in annotations:
            raise CompileError(
                f"parameter {parameter.name!r} of {function.__qualname__} has no annotation",
                location=def_location(function),
                hint=f"Annotate it with {SUPPORTED_SPELLING}.",
            )
        parameters.append((parameter.name, located_spec(function, parameter.name, annotations[parameter.name])))
    if "return" not in annotations:
        raise CompileError(
            f"{function.__qualname__} has no return annotation",
            location=def_location(function),
            hint=f"Annotate the return with {SUPPORTED_SPELLING}.",
        )
    return Signature(tuple(parameters), located_spec(function, None, annotations["return"]))


def located_spec(function: Callable[..., Any], parameter: str | None, annotation: Any) -> ValueSpec:
    """Return parse_spec of a parameter's annotation (None: the return's), located in the file if it fails."""
    try:
        return parse_spec(annotation, "the return value" if parameter is None else f"parameter {parameter!r}")
    except CompileError as error:
        if error.location is None:
            error.location = annotation_location(function, parameter)
            error.args = (error.render(),)
        raise
