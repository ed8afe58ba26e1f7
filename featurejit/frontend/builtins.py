"""Lowering of calls to Python builtins and `math` functions.

Callees are matched by identity, not by name, so a user's own `abs` or a shadowed `math`
is never mistaken for the builtin.
"""

from __future__ import annotations

import ast
import datetime
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from xdsl.dialects.builtin import f64, i1, i64
from xdsl.ir import Attribute, SSAValue

from featurejit.frontend.building import attribute_path
from featurejit.frontend.datetimes import is_temporal, kind_of
from featurejit.frontend.strings import is_str
from featurejit.ir import datetimes as dtops
from featurejit.ir import dialect as py
from featurejit.ir import strings as strops
from featurejit.ir.dialect import OptionalType, dyn, timedelta_type

if TYPE_CHECKING:
    from featurejit.frontend.building import Env
    from featurejit.frontend.lower import Lowering

Handler = Callable[["Lowering", ast.Call, "Env"], SSAValue]

SUPPORTED_CALLS_HINT = (
    "featurejit compiles calls to abs, min, max, round, int, float, bool, str, len, datetime, date, timedelta, "
    "other @jit_resolver functions, and math.sqrt, exp, expm1, log, log1p, log2, log10, pow, sin, cos, tan, asin, acos, "
    "atan, atan2, sinh, cosh, tanh, floor, ceil, trunc, fabs, isnan, isinf, isfinite, copysign and hypot."
)


def lower_builtin_call(lowering: Lowering, node: ast.Call, callee: Any, env: Env) -> SSAValue:
    """Lower a call to a builtin or math function; raise for any other callee."""
    handler = CALL_HANDLERS.get(id(callee))
    if handler is not None and handler[0] is callee:
        return handler[1](lowering, node, env)
    name = getattr(callee, "__qualname__", None) or type(callee).__name__
    if reads_clock(callee):
        raise lowering.unsupported(
            node,
            f"the call to {name} reads the clock, which a compiled resolver does not do",
            hint="Pass the current time as a parameter, as in def f(t: datetime, now: datetime), and call f(column, now).",
        )
    raise lowering.unsupported(node, f"the call to {name} is not compiled", hint=SUPPORTED_CALLS_HINT)


def reads_clock(callee: Any) -> bool:
    """Return whether `callee` is datetime.now, date.today or another function that reads the clock."""
    owner = getattr(callee, "__self__", None)
    name = getattr(callee, "__name__", "")
    if owner in (datetime.datetime, datetime.date) and name in ("now", "today", "utcnow"):
        return True
    return callee in (time.time, time.time_ns, time.monotonic, time.perf_counter)


def positional_arguments(
    lowering: Lowering, node: ast.Call, env: Env, minimum: int, maximum: int, keywords: tuple[str, ...] = ()
) -> list[SSAValue]:
    """Lower a call's arguments, allowing only the given keyword names, in signature order."""
    name = ast.unparse(node.func)
    if any(isinstance(argument, ast.Starred) for argument in node.args):
        raise lowering.unsupported(node, f"{name}() with *args is not compiled")
    values = [lowering.lower_expression(argument, env) for argument in node.args]
    for keyword in node.keywords:
        if keyword.arg not in keywords:
            raise lowering.unsupported(node, f"{name}() with keyword {keyword.arg!r} is not compiled")
        position = len(node.args) + keywords.index(keyword.arg)
        if position != len(values):
            raise lowering.unsupported(node, f"{name}() arguments are not compiled in this order")
        values.append(lowering.lower_expression(keyword.value, env))
    if not minimum <= len(values) <= maximum:
        expected = str(minimum) if minimum == maximum else f"{minimum} to {maximum}"
        raise lowering.unsupported(node, f"{name}() takes {expected} arguments here, but got {len(values)}")
    return values


def numeric(lowering: Lowering, node: ast.AST, value: SSAValue) -> SSAValue:
    """Prepare a numeric argument: None raises TypeError, bool becomes int."""
    prepared = lowering.numeric_operand(value)
    if prepared is None:
        lowering.emit(py.RaiseOp("TypeError"))
        return lowering.placeholder(i64)
    return prepared


def as_float(lowering: Lowering, node: ast.AST, value: SSAValue) -> SSAValue:
    prepared = numeric(lowering, node, value)
    return prepared if prepared.type == f64 else lowering.emit_value(py.ToFloatOp(prepared))


def lower_abs(lowering: Lowering, node: ast.Call, env: Env) -> SSAValue:
    (value,) = positional_arguments(lowering, node, env, 1, 1)
    if is_temporal(value):
        present = lowering.present_operand(value)
        assert present is not None
        if present.type != timedelta_type:
            return lowering.raise_error("TypeError")
        return lowering.emit_value(dtops.TimedeltaNegateOp("abs", present))
    return lowering.emit_value(py.AbsOp(numeric(lowering, node, value)))


def lower_min(lowering: Lowering, node: ast.Call, env: Env) -> SSAValue:
    return lower_min_max(lowering, node, env, py.MinOp)


def lower_max(lowering: Lowering, node: ast.Call, env: Env) -> SSAValue:
    return lower_min_max(lowering, node, env, py.MaxOp)


def lower_min_max(lowering: Lowering, node: ast.Call, env: Env, op_class: type[py.BinaryOp]) -> SSAValue:
    """Fold min/max left to right; operands of different types keep their own via !py.dyn."""
    name = ast.unparse(node.func)
    if len(node.args) < 2 or node.keywords:
        raise lowering.unsupported(
            node,
            f"{name}() is compiled only with two or more positional arguments",
            hint=f"Write {name}(a, b, ...); iterables, key= and default= are not compiled.",
        )
    values = positional_arguments(lowering, node, env, 2, len(node.args))
    if any(is_temporal(value) for value in values):
        return lowering.temporal_min_max(node, values, "lt" if op_class is py.MinOp else "gt")
    if any(is_str(value) for value in values):
        raise lowering.unsupported(
            node, f"{name}() of str values is not compiled yet", hint="Compare the strings with < or > in an if instead."
        )
    result = values[0]
    for value in values[1:]:
        if result.type != value.type or isinstance(result.type, OptionalType) or result.type == py.none_type:
            result, value = lowering.coerce(result, dyn), lowering.coerce(value, dyn)
        result = lowering.emit_value(op_class(result, value))
    return result


def lower_round(lowering: Lowering, node: ast.Call, env: Env) -> SSAValue:
    values = positional_arguments(lowering, node, env, 1, 2, keywords=("ndigits",))
    number = numeric(lowering, node, values[0])
    if len(values) == 1 or values[1].type == py.none_type:
        return number if number.type == i64 else lowering.emit_value(py.RoundOp(number))
    ndigits = numeric(lowering, node, values[1])
    if ndigits.type != i64:
        raise lowering.unsupported(node.args[-1] if node.args else node, "round() needs an int number of digits")
    return lowering.emit_value(py.RoundDigitsOp(number, ndigits))


def literal_text(node: ast.Call) -> str | None:
    if len(node.args) == 1 and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        return node.args[0].value
    return None


def lower_len(lowering: Lowering, node: ast.Call, env: Env) -> SSAValue:
    if len(node.args) == 1 and not node.keywords:
        path = attribute_path(node.args[0])
        if path is not None and path[0] not in env:
            constant = lowering.resolve_static(node.args[0], env)
            if type(constant) in (tuple, frozenset):  # immutable, so its length is a constant
                return lowering.constant(len(constant))
    (value,) = positional_arguments(lowering, node, env, 1, 1)
    if not is_str(value):
        # Values of the other compiled types (numbers, bools, None, datetimes) have no len() in
        # CPython either, which raises TypeError.
        return lowering.raise_type_error(i64)
    text = lowering.string_operand(value)
    if text is None:
        return lowering.raise_type_error(i64)
    return lowering.emit_value(strops.StrLenOp(text))


def lower_str(lowering: Lowering, node: ast.Call, env: Env) -> SSAValue:
    if not node.args and not node.keywords:
        return lowering.emit_value(strops.StrConstantOp(""))
    (value,) = positional_arguments(lowering, node, env, 1, 1)
    return lowering.to_str(node, value)


def parse_string(lowering: Lowering, value: SSAValue, result_type: Attribute) -> SSAValue:
    """Lower int(s) or float(s) of a str: text the fast path cannot parse flags the row."""
    text = lowering.string_operand(value)
    if text is None:
        return lowering.raise_type_error(result_type)
    return lowering.emit_value(strops.StrParseOp(text, result_type))


def lower_int(lowering: Lowering, node: ast.Call, env: Env) -> SSAValue:
    if not node.args and not node.keywords:
        return lowering.constant(0)
    text = literal_text(node)
    if text is not None:
        try:
            return lowering.python_constant(node, int(text))
        except ValueError:  # CPython raises this when the call runs
            lowering.emit(py.RaiseOp("ValueError"))
            return lowering.placeholder(i64)
    (value,) = positional_arguments(lowering, node, env, 1, 1)
    if is_str(value):
        return parse_string(lowering, value, i64)
    if value.type == py.none_type or is_temporal(value):
        lowering.emit(py.RaiseOp("TypeError"))
        return lowering.placeholder(i64)
    if isinstance(value.type, OptionalType):
        value = lowering.emit_value(py.UnwrapOp(value))
    return value if value.type == i64 else lowering.emit_value(py.ToIntOp(value))


def lower_float(lowering: Lowering, node: ast.Call, env: Env) -> SSAValue:
    if not node.args and not node.keywords:
        return lowering.constant(0.0)
    text = literal_text(node)
    if text is not None:
        try:
            return lowering.python_constant(node, float(text))
        except ValueError:  # CPython raises this when the call runs
            lowering.emit(py.RaiseOp("ValueError"))
            return lowering.placeholder(f64)
    (value,) = positional_arguments(lowering, node, env, 1, 1)
    if is_str(value):
        return parse_string(lowering, value, f64)
    if value.type == py.none_type or is_temporal(value):
        lowering.emit(py.RaiseOp("TypeError"))
        return lowering.placeholder(f64)
    if isinstance(value.type, OptionalType):
        value = lowering.emit_value(py.UnwrapOp(value))
    return value if value.type == f64 else lowering.emit_value(py.ToFloatOp(value))


def lower_bool(lowering: Lowering, node: ast.Call, env: Env) -> SSAValue:
    if not node.args and not node.keywords:
        return lowering.constant(False)
    (value,) = positional_arguments(lowering, node, env, 1, 1)
    return value if value.type == i1 else lowering.emit_value(py.TruthOp(value))


def math_function(function_name: str, arity: int = 1) -> Handler:
    """Make a handler for a math function whose float arguments CPython converts with float()."""

    def lower(lowering: Lowering, node: ast.Call, env: Env) -> SSAValue:
        values = positional_arguments(lowering, node, env, arity, arity)
        arguments = [as_float(lowering, node, value) for value in values]
        return lowering.emit_value(py.MathCallOp(function_name, arguments))

    return lower


def math_rounding(function_name: str) -> Handler:
    """Make a handler for math.floor, ceil and trunc, which return ints as they are."""

    def lower(lowering: Lowering, node: ast.Call, env: Env) -> SSAValue:
        (value,) = positional_arguments(lowering, node, env, 1, 1)
        number = numeric(lowering, node, value)
        if number.type == i64:
            return number
        if number.type == dyn:
            raise lowering.unsupported(
                node, f"math.{function_name} of a value whose type differs between rows is not compiled"
            )
        return lowering.emit_value(py.MathCallOp(function_name, [number]))

    return lower


def lower_math_log(lowering: Lowering, node: ast.Call, env: Env) -> SSAValue:
    values = positional_arguments(lowering, node, env, 1, 2)
    arguments = [as_float(lowering, node, value) for value in values]
    return lowering.emit_value(py.MathCallOp("log" if len(arguments) == 1 else "log_base", arguments))


# The microseconds in one unit of each timedelta() argument, in the constructor's order.
TIMEDELTA_UNITS: dict[str, int] = {
    "days": 86_400_000_000,
    "seconds": 1_000_000,
    "microseconds": 1,
    "milliseconds": 1_000,
    "minutes": 60_000_000,
    "hours": 3_600_000_000,
    "weeks": 604_800_000_000,
}
NOT_STATIC: Any = object()


def static_argument(lowering: Lowering, node: ast.expr, env: Env) -> Any:
    """Return the value of an argument known when compiling (a literal or a module constant), else NOT_STATIC."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = static_argument(lowering, node.operand, env)
        if isinstance(inner, int | float) and not isinstance(inner, bool):
            return -inner if isinstance(node.op, ast.USub) else inner
        return NOT_STATIC
    if isinstance(node, ast.Name | ast.Attribute):
        path = attribute_path(node)
        if path is None or path[0] in env or path[0] in lowering.local_names():
            return NOT_STATIC
        return lowering.resolve_static(node, env)
    return NOT_STATIC


def call_arguments(lowering: Lowering, node: ast.Call, env: Env) -> tuple[list[Any], dict[str, Any]]:
    name = ast.unparse(node.func)
    if any(isinstance(argument, ast.Starred) for argument in node.args) or any(k.arg is None for k in node.keywords):
        raise lowering.unsupported(node, f"{name}() with *args or **kwargs is not compiled")
    positional = [static_argument(lowering, argument, env) for argument in node.args]
    keywords = {k.arg: static_argument(lowering, k.value, env) for k in node.keywords if k.arg is not None}
    return positional, keywords


def constant_of_call(lowering: Lowering, node: ast.Call, callee: type, result_type: Any, env: Env) -> SSAValue:
    """Call a datetime, date or timedelta constructor whose arguments are all known when compiling."""
    positional, keywords = call_arguments(lowering, node, env)
    if any(value is NOT_STATIC for value in [*positional, *keywords.values()]):
        raise lowering.unsupported(
            node,
            f"{callee.__name__}() is compiled only with literal or module-constant arguments",
            hint=f"Build the {callee.__name__} at module level, or pass it as a parameter.",
        )
    try:
        value = callee(*positional, **keywords)
    except Exception as error:  # noqa: BLE001 - CPython raises this class on every row
        lowering.emit(py.RaiseOp(type(error).__name__))
        return lowering.placeholder(result_type)
    return lowering.temporal_constant(node, value)


def lower_datetime_call(lowering: Lowering, node: ast.Call, env: Env) -> SSAValue:
    return constant_of_call(lowering, node, datetime.datetime, py.datetime_type(""), env)


def lower_date_call(lowering: Lowering, node: ast.Call, env: Env) -> SSAValue:
    return constant_of_call(lowering, node, datetime.date, py.date_type, env)


def lower_timedelta_call(lowering: Lowering, node: ast.Call, env: Env) -> SSAValue:
    """Lower timedelta(...): a constant, or a sum of int arguments times their units with overflow flagged."""
    positional, keywords = call_arguments(lowering, node, env)
    names = list(TIMEDELTA_UNITS)
    if len(positional) > len(names) or any(name not in TIMEDELTA_UNITS for name in keywords):
        return constant_of_call(lowering, node, datetime.timedelta, timedelta_type, env)  # raises TypeError per row

    # Bind the arguments to the constructor's parameters, as CPython does.
    arguments = dict(zip(names, positional, strict=False))
    argument_nodes = dict(zip(names, node.args, strict=False))
    if set(arguments) & set(keywords):
        return constant_of_call(lowering, node, datetime.timedelta, timedelta_type, env)
    arguments.update(keywords)
    argument_nodes.update({k.arg: k.value for k in node.keywords if k.arg is not None})
    dynamic = [name for name, value in arguments.items() if value is NOT_STATIC]
    if not dynamic:
        return constant_of_call(lowering, node, datetime.timedelta, timedelta_type, env)

    # Sum the constant arguments in Python, then add each computed one times its unit.
    static_total = 0
    for name, value in arguments.items():
        if value is NOT_STATIC:
            continue
        if type(value) not in (int, bool):
            raise lowering.unsupported(
                argument_nodes[name],
                "timedelta() with a computed argument is compiled only when every argument is an int",
                hint="CPython rounds float arguments together; pass whole units, or compute the timedelta outside.",
            )
        static_total += value * TIMEDELTA_UNITS[name]
    total = lowering.python_constant(node, static_total) if static_total else None

    for name in dynamic:
        value = lowering.lower_expression(argument_nodes[name], env)
        if isinstance(value.type, OptionalType):
            value = lowering.emit_value(py.UnwrapOp(value))  # None raises TypeError
        if kind_of(value.type) != "int":
            if kind_of(value.type) in ("float", "dyn"):
                raise lowering.unsupported(
                    argument_nodes[name], "timedelta() with a computed float argument is not compiled",
                    hint="CPython rounds float arguments together; pass whole units as ints.",
                )
            return lowering.raise_error("TypeError", timedelta_type)
        if value.type == i1:
            value = lowering.emit_value(py.ToIntOp(value))
        scaled = value if TIMEDELTA_UNITS[name] == 1 else lowering.emit_value(py.MulOp(value, lowering.constant(TIMEDELTA_UNITS[name])))
        total = scaled if total is None else lowering.emit_value(py.AddOp(total, scaled))
    assert total is not None
    return lowering.emit_value(dtops.TimedeltaFromMicrosecondsOp(total))


HANDLERS: list[tuple[Any, Handler]] = [
    (abs, lower_abs),
    (min, lower_min),
    (max, lower_max),
    (round, lower_round),
    (int, lower_int),
    (float, lower_float),
    (bool, lower_bool),
    (len, lower_len),
    (str, lower_str),
    (datetime.datetime, lower_datetime_call),
    (datetime.date, lower_date_call),
    (datetime.timedelta, lower_timedelta_call),
    (math.log, lower_math_log),
    (math.floor, math_rounding("floor")),
    (math.ceil, math_rounding("ceil")),
    (math.trunc, math_rounding("trunc")),
    *[
        (getattr(math, name), math_function(name))
        for name in ("sqrt", "exp", "expm1", "log1p", "log2", "log10", "sin", "cos", "tan", "asin", "acos",
                     "atan", "sinh", "cosh", "tanh", "fabs", "isnan", "isinf", "isfinite")
    ],
    *[(getattr(math, name), math_function(name, 2)) for name in ("pow", "atan2", "copysign", "hypot")],
]

CALL_HANDLERS: dict[int, tuple[Any, Handler]] = {id(callee): (callee, handler) for callee, handler in HANDLERS}
