"""Lowering of datetime, date and timedelta expressions: arithmetic, comparisons, fields and methods.

CPython's rules on mixed types are kept: a datetime never equals a date, a number or a value
of the other awareness, and ordering them or adding the wrong types raises TypeError. Rows
that raise reach the interpreter through `py.raise` or a checked unwrap. Arithmetic that
CPython rounds in ways the kernels do not (a timedelta times or divided by a float, or divided
by an int) is a compile error, so such resolvers run in the interpreter.
"""

from __future__ import annotations

import ast
import datetime
from collections.abc import Callable
from typing import Any

from xdsl.dialects.builtin import f64, i1, i64
from xdsl.ir import Attribute, SSAValue

from featurejit.frontend.building import Env, LoweringBase
from featurejit.ir import datetimes as dtops
from featurejit.ir import dialect as py
from featurejit.ir.dialect import (
    DatetimeType,
    DateType,
    OptionalType,
    TimedeltaType,
    datetime_type,
    dyn,
    is_temporal_type,
    none_type,
    str_type,
)
from featurejit.zones import zone_hint, zone_of_tzinfo

TemporalMethod = Callable[["DatetimeLowering", ast.Call, SSAValue, list[ast.expr], Env], SSAValue]

VALUE_FIELDS: dict[type[Attribute], tuple[str, ...]] = {
    DatetimeType: ("year", "month", "day", "hour", "minute", "second", "microsecond"),
    DateType: ("year", "month", "day"),
    TimedeltaType: ("days", "seconds", "microseconds"),
}


def is_temporal(value: SSAValue) -> bool:
    """Return whether `value` is a datetime, date or timedelta, or one of them that may be None."""
    type_ = value.type
    if isinstance(type_, OptionalType):
        type_ = type_.element_type
    return is_temporal_type(type_)


def kind_of(type_: Attribute) -> str:
    """Return the kind of operand a present value of `type_` is in arithmetic and comparisons."""
    if isinstance(type_, DatetimeType):
        return "datetime"
    if isinstance(type_, DateType):
        return "date"
    if isinstance(type_, TimedeltaType):
        return "timedelta"
    kinds: dict[Attribute, str] = {i1: "int", i64: "int", f64: "float", none_type: "none", str_type: "str", dyn: "dyn"}
    return kinds.get(type_, "other")


def type_name(type_: Attribute) -> str:
    return {DatetimeType: "datetime", DateType: "date", TimedeltaType: "timedelta"}.get(type(type_), "value")


class DatetimeLowering(LoweringBase):
    """Lowers the datetime parts of expressions, which ExpressionLowering dispatches here."""

    # Provided by ExpressionLowering and StringLowering, which this class is mixed into.
    lower_expression: Callable[[ast.expr, Env], SSAValue]
    build_if: Any

    def present_operand(self, value: SSAValue) -> SSAValue | None:
        """Return a value unwrapped if it may be None (None flags the row), or None if it is the None literal."""
        if value.type == none_type:
            return None
        if isinstance(value.type, OptionalType):
            return self.emit_value(py.UnwrapOp(value))
        return value

    def raise_error(self, exception: str, result_type: Attribute = dyn) -> SSAValue:
        self.emit(py.RaiseOp(exception))
        return self.placeholder(result_type)

    def integer_operand(self, value: SSAValue) -> SSAValue:
        """Return an int operand as i64: a bool becomes 0 or 1."""
        return self.emit_value(py.ToIntOp(value)) if value.type == i1 else value

    # ----------------------------------------------------------------------------------
    # Arithmetic
    # ----------------------------------------------------------------------------------

    def temporal_arithmetic(self, node: ast.AST, operator: ast.operator, left: SSAValue, right: SSAValue) -> SSAValue:
        """Lower a binary operator with a datetime, date or timedelta operand."""
        prepared_left, prepared_right = self.present_operand(left), self.present_operand(right)
        if prepared_left is None or prepared_right is None:
            return self.raise_error("TypeError")
        kinds = (kind_of(prepared_left.type), kind_of(prepared_right.type))
        if "dyn" in kinds:
            temporal = next((kind for kind in kinds if kind != "dyn"), "datetime")
            raise self.unsupported(
                node, f"arithmetic of a {temporal} value with a value whose type differs between rows is not compiled"
            )
        handler = ARITHMETIC.get((type(operator), *kinds))
        if handler is None:
            return self.raise_error("TypeError")
        return handler(self, node, prepared_left, prepared_right)

    def shift(self, kind: str, moment: SSAValue, delta: SSAValue) -> SSAValue:
        return self.emit_value(dtops.ShiftOp(kind, moment, delta))

    def difference(self, node: ast.AST, left: SSAValue, right: SSAValue) -> SSAValue:
        if isinstance(left.type, DatetimeType) and isinstance(right.type, DatetimeType):
            if left.type.is_aware != right.type.is_aware:  # naive minus aware
                return self.raise_error("TypeError", py.timedelta_type)
        return self.emit_value(dtops.DifferenceOp(left, right))

    def timedelta_arithmetic(self, kind: str, left: SSAValue, right: SSAValue) -> SSAValue:
        if kind_of(right.type) == "int":
            right = self.integer_operand(right)
        return self.emit_value(dtops.TimedeltaArithmeticOp(kind, left, right))

    def temporal_unary(self, operator: ast.unaryop, value: SSAValue) -> SSAValue:
        """Lower `-td` and `+td`. Other unary operators, and any on a datetime or date, raise TypeError."""
        present = self.present_operand(value)
        assert present is not None
        if present.type != py.timedelta_type or isinstance(operator, ast.Invert):
            return self.raise_error("TypeError")
        if isinstance(operator, ast.UAdd):
            return present
        return self.emit_value(dtops.TimedeltaNegateOp("neg", present))

    def float_timedelta_arithmetic(self, node: ast.AST, left: SSAValue, right: SSAValue) -> SSAValue:
        raise self.unsupported(
            node,
            "multiplying or dividing a timedelta by a float, or dividing it by an int, is not compiled",
            hint="CPython rounds these to the microsecond. Divide two timedeltas, or use // for whole units.",
        )

    # ----------------------------------------------------------------------------------
    # Comparisons
    # ----------------------------------------------------------------------------------

    def compare_temporal(self, predicate: str, left: SSAValue, right: SSAValue) -> SSAValue:
        """Compare where at least one side is a datetime, date or timedelta, with CPython's rules."""
        nullable = any(value.type == none_type or isinstance(value.type, OptionalType) for value in (left, right))
        if predicate in ("eq", "ne") and nullable:
            return self.nullable_temporal_equality(predicate, left, right)
        prepared_left, prepared_right = self.present_operand(left), self.present_operand(right)
        if prepared_left is None or prepared_right is None:
            return self.raise_error("TypeError", i1)  # ordering against None
        return self.compare_present(predicate, prepared_left, prepared_right)

    def compare_present(self, predicate: str, left: SSAValue, right: SSAValue) -> SSAValue:
        """Compare two values that are not None."""
        comparable = is_temporal_type(left.type) and type(left.type) is type(right.type)
        if comparable and isinstance(left.type, DatetimeType) and isinstance(right.type, DatetimeType):
            comparable = left.type.is_aware == right.type.is_aware  # naive and aware never compare
        if not comparable:
            if predicate in ("eq", "ne"):
                return self.constant(predicate == "ne")
            return self.raise_error("TypeError", i1)
        return self.emit_value(dtops.TemporalCmpOp(predicate, left, right))

    def nullable_temporal_equality(self, predicate: str, left: SSAValue, right: SSAValue) -> SSAValue:
        """`a == b` where a side may be None: None equals only None, and present values compare."""
        left_none = self.emit_value(py.IsNoneOp(left))
        right_none = self.emit_value(py.IsNoneOp(right))
        either_none = self.emit_value(py.MaxOp(left_none, right_none))

        def none_case() -> SSAValue:
            both_none = self.emit_value(py.MinOp(left_none, right_none))
            return both_none if predicate == "eq" else self.emit_value(py.NotOp(both_none))

        def present_case() -> SSAValue:
            if left.type == none_type or right.type == none_type:
                return self.constant(predicate == "ne")  # not reached: a None side takes the other branch
            present = [
                self.emit_value(py.NarrowOp(value)) if isinstance(value.type, OptionalType) else value
                for value in (left, right)
            ]
            if dyn in (present[0].type, present[1].type):
                return self.constant(predicate == "ne")  # a number is never equal to a datetime
            return self.compare_present(predicate, present[0], present[1])

        result = self.build_if(either_none, none_case, present_case)
        assert result is not None
        return result

    def temporal_min_max(self, node: ast.AST, values: list[SSAValue], predicate: str) -> SSAValue:
        """Lower min() ("lt") or max() ("gt") of datetimes, dates or timedeltas, keeping the first of equals."""
        result = values[0]
        for value in values[1:]:
            present_result, present_value = self.present_operand(result), self.present_operand(value)
            if present_result is None or present_value is None:
                return self.raise_error("TypeError")
            if present_result.type != present_value.type:
                if type(present_result.type) is type(present_value.type) and isinstance(present_value.type, DatetimeType):
                    if present_result.type.is_aware == present_value.type.is_aware:  # type: ignore[attr-defined]
                        raise self.unsupported(node, "min() and max() of datetimes in different time zones are not compiled")
                return self.raise_error("TypeError")
            takes_value = self.emit_value(dtops.TemporalCmpOp(predicate, present_value, present_result))
            result = self.emit_value(py.SelectOp(takes_value, present_value, present_result))
        return result

    # ----------------------------------------------------------------------------------
    # Fields and methods
    # ----------------------------------------------------------------------------------

    def temporal_attribute(self, node: ast.Attribute, value: SSAValue) -> SSAValue:
        """Lower `t.hour`, `d.year`, `td.days` and the other fields."""
        if value.type == none_type:
            return self.raise_error("AttributeError", i64)
        if not is_temporal(value):
            raise self.unsupported(node, "attributes are compiled only on datetime, date and timedelta values")
        present = self.present_operand(value)
        assert present is not None
        fields = VALUE_FIELDS[type(present.type)]
        if node.attr not in fields:
            name = type_name(present.type)
            raise self.unsupported(
                node, f"{name}.{node.attr} is not compiled", hint=f"Compiled {name} attributes: {', '.join(fields)}."
            )
        return self.emit_value(dtops.TemporalFieldOp(node.attr, present))

    def lower_temporal_method(self, node: ast.Call, receiver: SSAValue, method: str, env: Env) -> SSAValue:
        """Lower `t.weekday()`, `t.date()`, `td.total_seconds()` and the other methods."""
        present = self.present_operand(receiver)
        assert present is not None
        methods = TEMPORAL_METHODS[type(present.type)]
        handler = methods.get(method)
        if handler is None:
            name = type_name(present.type)
            raise self.unsupported(
                node, f"{name}.{method}() is not compiled", hint=f"Compiled {name} methods: {', '.join(sorted(methods))}."
            )
        if node.keywords or any(isinstance(argument, ast.Starred) for argument in node.args):
            raise self.unsupported(node, f"{method}() with keyword or *arguments is not compiled")
        return handler(self, node, present, node.args, env)

    def expect_arguments(self, node: ast.Call, arguments: list[ast.expr], count: int) -> None:
        if len(arguments) != count:
            assert isinstance(node.func, ast.Attribute)
            raise self.unsupported(node, f"{node.func.attr}() takes {count} arguments here, but got {len(arguments)}")

    def astimezone(self, node: ast.Call, value: SSAValue, arguments: list[ast.expr], env: Env) -> SSAValue:
        """Lower `t.astimezone(ZONE)` for a zone that is a module constant or closure value."""
        if not arguments:
            raise self.unsupported(
                node,
                "astimezone() without a zone converts to the machine's local time zone, which is not compiled",
                hint="Pass a zone, as in t.astimezone(zoneinfo.ZoneInfo('Europe/Paris')) held in a module constant.",
            )
        self.expect_arguments(node, arguments, 1)
        zone_node = arguments[0]
        if isinstance(zone_node, ast.Call):
            raise self.unsupported(zone_node, "astimezone() takes its zone from a module constant here", hint="Write NAME = zoneinfo.ZoneInfo('Europe/Paris') at module level.")
        zone_object = self.resolve_static(zone_node, env)
        if not isinstance(zone_object, datetime.tzinfo):
            raise self.unsupported(zone_node, f"astimezone() needs a tzinfo, but got a {type(zone_object).__name__}")
        zone = zone_of_tzinfo(zone_object)
        if zone is None or zone == "":
            raise self.unsupported(
                zone_node,
                f"the time zone {zone_object!r} is not compiled",
                hint=zone_hint(zone_object) if zone is None else "Use datetime.timezone or zoneinfo.ZoneInfo(key).",
            )
        assert isinstance(value.type, DatetimeType)
        if value.type.zone.data == zone:
            return value  # CPython returns the datetime itself when its tzinfo is the zone
        return self.emit_value(dtops.AstimezoneOp(value, datetime_type(zone)))


def field_method(field: str) -> TemporalMethod:
    def lower(lowering: DatetimeLowering, node: ast.Call, value: SSAValue, arguments: list[ast.expr], env: Env) -> SSAValue:
        lowering.expect_arguments(node, arguments, 0)
        return lowering.emit_value(dtops.TemporalFieldOp(field, value))

    return lower


def seconds_method(kind: str) -> TemporalMethod:
    def lower(lowering: DatetimeLowering, node: ast.Call, value: SSAValue, arguments: list[ast.expr], env: Env) -> SSAValue:
        lowering.expect_arguments(node, arguments, 0)
        return lowering.emit_value(dtops.TemporalSecondsOp(kind, value))

    return lower


def date_method(lowering: DatetimeLowering, node: ast.Call, value: SSAValue, arguments: list[ast.expr], env: Env) -> SSAValue:
    lowering.expect_arguments(node, arguments, 0)
    return lowering.emit_value(dtops.DatetimeDateOp(value))


DATE_METHODS: dict[str, TemporalMethod] = {name: field_method(name) for name in ("weekday", "isoweekday", "toordinal")}
TEMPORAL_METHODS: dict[type[Attribute], dict[str, TemporalMethod]] = {
    DatetimeType: {
        **DATE_METHODS,
        "date": date_method,
        "timestamp": seconds_method("timestamp"),
        "astimezone": DatetimeLowering.astimezone,
    },
    DateType: DATE_METHODS,
    TimedeltaType: {"total_seconds": seconds_method("total_seconds")},
}

Arithmetic = Callable[[DatetimeLowering, ast.AST, SSAValue, SSAValue], SSAValue]


def shift_by(kind: str, swapped: bool = False) -> Arithmetic:
    def lower(lowering: DatetimeLowering, node: ast.AST, left: SSAValue, right: SSAValue) -> SSAValue:
        moment, delta = (right, left) if swapped else (left, right)
        return lowering.shift(kind, moment, delta)

    return lower


def timedelta_by(kind: str, swapped: bool = False) -> Arithmetic:
    def lower(lowering: DatetimeLowering, node: ast.AST, left: SSAValue, right: SSAValue) -> SSAValue:
        return lowering.timedelta_arithmetic(kind, *((right, left) if swapped else (left, right)))

    return lower


ARITHMETIC: dict[tuple[type[ast.operator], str, str], Arithmetic] = {
    (ast.Add, "datetime", "timedelta"): shift_by("add"),
    (ast.Add, "timedelta", "datetime"): shift_by("add", swapped=True),
    (ast.Add, "date", "timedelta"): shift_by("add"),
    (ast.Add, "timedelta", "date"): shift_by("add", swapped=True),
    (ast.Sub, "datetime", "timedelta"): shift_by("sub"),
    (ast.Sub, "date", "timedelta"): shift_by("sub"),
    (ast.Sub, "datetime", "datetime"): DatetimeLowering.difference,
    (ast.Sub, "date", "date"): DatetimeLowering.difference,
    (ast.Add, "timedelta", "timedelta"): timedelta_by("add"),
    (ast.Sub, "timedelta", "timedelta"): timedelta_by("sub"),
    (ast.Mult, "timedelta", "int"): timedelta_by("mul"),
    (ast.Mult, "int", "timedelta"): timedelta_by("mul", swapped=True),
    (ast.Mult, "timedelta", "float"): DatetimeLowering.float_timedelta_arithmetic,
    (ast.Mult, "float", "timedelta"): DatetimeLowering.float_timedelta_arithmetic,
    (ast.Div, "timedelta", "timedelta"): timedelta_by("truediv"),
    (ast.Div, "timedelta", "int"): DatetimeLowering.float_timedelta_arithmetic,
    (ast.Div, "timedelta", "float"): DatetimeLowering.float_timedelta_arithmetic,
    (ast.FloorDiv, "timedelta", "timedelta"): timedelta_by("floordiv"),
    (ast.FloorDiv, "timedelta", "int"): timedelta_by("floordiv_int"),
    (ast.Mod, "timedelta", "timedelta"): timedelta_by("mod"),
}
