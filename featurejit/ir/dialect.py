"""The `py` dialect: scalar operations with CPython semantics.

Values have the builtin types `i1` (bool), `i64` (int) and `f64` (float), or one of the
dialect's types. `!py.optional<T>` is T or None, and `!py.none` is the None literal.
`!py.dyn` is None, a bool, an int or a float, with the Python type known only per row.

Control flow reuses the standard dialects: `func.func` / `func.return` for the resolver and
`scf.if` / `scf.yield` for branches, so a function body is a tree of structured regions.

Ops that can raise in CPython, or whose exact result the native code cannot always compute,
carry the `MayTakeSlowPath` trait. At run time such an op flags its row instead of raising,
and the runtime re-runs flagged rows in the interpreter, which gives the exact result or the
exact exception. Passes keep these ops even when their result is unused, unless the operand
types or constant operands show that the op cannot flag (see featurejit/passes/effects.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from xdsl.dialects.builtin import (
    Float64Type,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    f64,
    i1,
    i64,
)
from xdsl.ir import Attribute, Operation, ParametrizedAttribute, SSAValue, TypeAttribute
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    ParamAttrConstraint,
    VarConstraint,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.traits import ConstantLike, OpTrait, Pure
from xdsl.utils.exceptions import VerifyException

# --------------------------------------------------------------------------------------
# Types
# --------------------------------------------------------------------------------------


@irdl_attr_definition
class OptionalType(ParametrizedAttribute, TypeAttribute):
    """`!py.optional<T>`: a value of type T, or None."""

    name = "py.optional"
    element_type: Attribute

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_attribute(self.element_type)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            element = parser.parse_type()
        return (element,)

    def verify(self) -> None:
        element = self.element_type
        if not is_scalar_type(element) and not isinstance(element, StrType | DatetimeType | DateType | TimedeltaType):
            raise VerifyException(
                f"expected !py.optional of i1, i64, f64, !py.str, !py.datetime, !py.date or !py.timedelta, "
                f"but got {element}"
            )


@irdl_attr_definition
class NoneType(ParametrizedAttribute, TypeAttribute):
    """`!py.none`: the type of the None literal before it meets another type."""

    name = "py.none"


@irdl_attr_definition
class StrType(ParametrizedAttribute, TypeAttribute):
    """`!py.str`: a str, held as UTF-8 bytes."""

    name = "py.str"


@irdl_attr_definition
class DatetimeType(ParametrizedAttribute, TypeAttribute):
    """`!py.datetime<"zone">`: a datetime, naive for the zone "" (zone names: featurejit/zones.py).

    Codegen holds its local clock time and, for an aware datetime, its UTC instant, both as
    microseconds since 1970-01-01T00:00.
    """

    name = "py.datetime"
    zone: StringAttr

    @property
    def is_aware(self) -> bool:
        return self.zone.data != ""


@irdl_attr_definition
class DateType(ParametrizedAttribute, TypeAttribute):
    """`!py.date`: a date, held as days since 1970-01-01."""

    name = "py.date"


@irdl_attr_definition
class TimedeltaType(ParametrizedAttribute, TypeAttribute):
    """`!py.timedelta`: a timedelta, held as microseconds (one beyond int64 takes the slow path)."""

    name = "py.timedelta"


@irdl_attr_definition
class DynType(ParametrizedAttribute, TypeAttribute):
    """`!py.dyn`: None, a bool, an int or a float, chosen per row."""

    name = "py.dyn"


none_type = NoneType()
dyn = DynType()
str_type = StrType()
date_type = DateType()
timedelta_type = TimedeltaType()


def datetime_type(zone: str) -> DatetimeType:
    """Return the type of datetimes in `zone`, "" for naive ones."""
    return DatetimeType(StringAttr(zone))


def is_temporal_type(type_: Attribute) -> bool:
    """Return whether `type_` is a datetime, date or timedelta type."""
    return isinstance(type_, DatetimeType | DateType | TimedeltaType)


def is_scalar_type(type_: Attribute) -> bool:
    """Return whether `type_` is one of i1, i64 and f64."""
    return type_ in (i1, i64, f64)


def is_value_type(type_: Attribute) -> bool:
    """Return whether `type_` is a type of resolver values: a scalar, optional, None or dynamic."""
    return is_scalar_type(type_) or is_temporal_type(type_) or isinstance(type_, OptionalType | NoneType | DynType | StrType)


def is_numeric_type(type_: Attribute) -> bool:
    """Return whether `type_` is i64, f64 or !py.dyn, the operand types of arithmetic."""
    return type_ in (i64, f64, dyn)


def python_name(type_: Attribute) -> str:
    """Return the Python spelling of an IR type, for messages."""
    names = {i1: "bool", i64: "int", f64: "float", none_type: "None", dyn: "int | float", str_type: "str"}
    if type_ in names:
        return names[type_]
    if isinstance(type_, OptionalType):
        return f"{python_name(type_.element_type)} | None"
    if isinstance(type_, DatetimeType):
        return f"datetime in {type_.zone.data}" if type_.is_aware else "naive datetime"
    if isinstance(type_, DateType | TimedeltaType):
        return "date" if isinstance(type_, DateType) else "timedelta"
    return str(type_)


# --------------------------------------------------------------------------------------
# Traits
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MayTakeSlowPath(OpTrait):
    """An op that flags its row for the interpreter on some inputs (see the module doc)."""


def may_take_slow_path(op: Operation) -> bool:
    """Return whether `op` can flag its row, so passes must not drop it unused."""
    return op.has_trait(MayTakeSlowPath)


# --------------------------------------------------------------------------------------
# Constants and conversions
# --------------------------------------------------------------------------------------


@irdl_op_definition
class ConstantOp(IRDLOperation):
    """%r = py.constant V : T"""

    name = "py.constant"
    _T: ClassVar = VarConstraint("T", AnyAttr())
    result = result_def(_T)
    value = prop_def(
        IntegerAttr.constr(type=_T)  # type: ignore[type-var]
        | ParamAttrConstraint(FloatAttr, (AnyAttr(), _T))
    )
    traits = traits_def(Pure(), ConstantLike())
    assembly_format = "$value attr-dict"

    def __init__(self, value: IntegerAttr | FloatAttr):
        super().__init__(result_types=[value.type], properties={"value": value})

    @staticmethod
    def of_bool(value: bool) -> ConstantOp:
        return ConstantOp(IntegerAttr(int(value), i1))

    @staticmethod
    def of_int(value: int) -> ConstantOp:
        return ConstantOp(IntegerAttr(value, i64))

    @staticmethod
    def of_float(value: float) -> ConstantOp:
        return ConstantOp(FloatAttr(value, f64))

    def python_value(self) -> bool | int | float:
        """Return the constant as the Python value it stands for."""
        attr = self.value
        if isinstance(attr, FloatAttr):
            return float(attr.value.data)
        if attr.type == i1:
            return bool(attr.value.data)
        return int(attr.value.data)

    def verify_(self) -> None:
        if self.result.type != self.value.type or not is_scalar_type(self.result.type):
            raise VerifyException(
                f"expected a constant of type i1, i64 or f64 matching its result, "
                f"but got {self.value.type} for result {self.result.type}"
            )


@irdl_op_definition
class NoneOp(IRDLOperation):
    """%r = py.none : !py.none"""

    name = "py.none"
    result = result_def(NoneType)
    traits = traits_def(Pure(), ConstantLike())
    assembly_format = "attr-dict"

    def __init__(self) -> None:
        super().__init__(result_types=[none_type])


@irdl_op_definition
class WrapOp(IRDLOperation):
    """%r = py.wrap %x : T to !py.optional<T> | !py.dyn (boxing, which cannot flag a row)"""

    name = "py.wrap"
    input = operand_def()
    result = result_def()
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `to` type($result)"

    def __init__(self, value: SSAValue | Operation, result_type: Attribute):
        super().__init__(operands=[value], result_types=[result_type])

    def verify_(self) -> None:
        source, target = self.input.type, self.result.type
        if target == dyn and (is_scalar_type(source) or source == none_type or isinstance(source, OptionalType)):
            return
        if isinstance(target, OptionalType) and source in (target.element_type, none_type):
            return
        raise VerifyException(
            f"expected py.wrap from T or !py.none to !py.optional<T>, or from any type to "
            f"!py.dyn, but got {source} to {target}"
        )


@irdl_op_definition
class UnwrapOp(IRDLOperation):
    """%r = py.unwrap %x : !py.optional<T> to T (flags the row when %x is None)"""

    name = "py.unwrap"
    input = operand_def(OptionalType)
    result = result_def()
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$input attr-dict `:` type($input) `to` type($result)"

    def __init__(self, value: SSAValue | Operation):
        value = SSAValue.get(value)
        assert isinstance(value.type, OptionalType)
        super().__init__(operands=[value], result_types=[value.type.element_type])

    def verify_(self) -> None:
        source = self.input.type
        assert isinstance(source, OptionalType)
        if self.result.type != source.element_type:
            raise VerifyException(
                f"expected py.unwrap of {source} to give {source.element_type}, "
                f"but got {self.result.type}"
            )


@irdl_op_definition
class NarrowOp(IRDLOperation):
    """%r = py.narrow %x : !py.optional<T> to T (x after a test proved it is not None)"""

    name = "py.narrow"
    input = operand_def(OptionalType)
    result = result_def()
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `to` type($result)"

    def __init__(self, value: SSAValue | Operation):
        value = SSAValue.get(value)
        assert isinstance(value.type, OptionalType)
        super().__init__(operands=[value], result_types=[value.type.element_type])

    def verify_(self) -> None:
        source = self.input.type
        assert isinstance(source, OptionalType)
        if self.result.type != source.element_type:
            raise VerifyException(
                f"expected py.narrow of {source} to give {source.element_type}, "
                f"but got {self.result.type}"
            )


@irdl_op_definition
class IsNoneOp(IRDLOperation):
    """%r = py.is_none %x : T (x is None)"""

    name = "py.is_none"
    input = operand_def()
    result = result_def(i1)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input)"

    def __init__(self, value: SSAValue | Operation):
        super().__init__(operands=[value], result_types=[i1])

    def verify_(self) -> None:
        if not is_value_type(self.input.type):
            raise VerifyException(
                f"expected py.is_none of i1, i64, f64, !py.optional, !py.none or !py.dyn, but got {self.input.type}"
            )


@irdl_op_definition
class TruthOp(IRDLOperation):
    """%r = py.truth %x : T (bool(x); None is false and NaN is true)"""

    name = "py.truth"
    input = operand_def()
    result = result_def(i1)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input)"

    def __init__(self, value: SSAValue | Operation):
        super().__init__(operands=[value], result_types=[i1])

    def verify_(self) -> None:
        if not is_value_type(self.input.type):
            raise VerifyException(
                f"expected py.truth of i1, i64, f64, !py.optional, !py.none or !py.dyn, but got {self.input.type}"
            )


@irdl_op_definition
class ToIntOp(IRDLOperation):
    """%r = py.to_int %x : T (int(x); flags NaN, inf, None and results beyond int64)"""

    name = "py.to_int"
    input = operand_def()
    result = result_def(i64)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$input attr-dict `:` type($input)"

    def __init__(self, value: SSAValue | Operation):
        super().__init__(operands=[value], result_types=[i64])

    def verify_(self) -> None:
        if self.input.type not in (i1, i64, f64, dyn) or self.result.type != i64:
            raise VerifyException(
                f"expected py.to_int from i1, i64, f64 or !py.dyn to i64, "
                f"but got {self.input.type} to {self.result.type}"
            )


@irdl_op_definition
class ToFloatOp(IRDLOperation):
    """%r = py.to_float %x : T (float(x), rounding an int to nearest; flags None)"""

    name = "py.to_float"
    input = operand_def()
    result = result_def(f64)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$input attr-dict `:` type($input)"

    def __init__(self, value: SSAValue | Operation):
        super().__init__(operands=[value], result_types=[f64])

    def verify_(self) -> None:
        if self.input.type not in (i1, i64, f64, dyn):
            raise VerifyException(
                f"expected py.to_float from i1, i64, f64 or !py.dyn, but got {self.input.type}"
            )


# --------------------------------------------------------------------------------------
# Arithmetic
# --------------------------------------------------------------------------------------


class BinaryOp(IRDLOperation):
    """Base of the binary arithmetic ops: operands and result share one type among i64, f64, !py.dyn."""

    _T: ClassVar = VarConstraint("T", AnyAttr())
    lhs = operand_def(_T)
    rhs = operand_def(_T)
    result = result_def(_T)
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($result)"
    OPERAND_TYPES: ClassVar[tuple[Attribute, ...]] = (i64, f64, dyn)

    def __init__(self, lhs: SSAValue | Operation, rhs: SSAValue | Operation):
        super().__init__(operands=[lhs, rhs], result_types=[SSAValue.get(lhs).type])

    def verify_(self) -> None:
        if self.lhs.type not in self.OPERAND_TYPES:
            allowed = ", ".join(str(t) for t in self.OPERAND_TYPES)
            raise VerifyException(
                f"expected {self.name} operands of one type among {allowed}, but got {self.lhs.type}"
            )


@irdl_op_definition
class AddOp(BinaryOp):
    """%r = py.add %a, %b : T (a + b; flags int64 overflow)"""

    name = "py.add"
    traits = traits_def(MayTakeSlowPath())


@irdl_op_definition
class SubOp(BinaryOp):
    """%r = py.sub %a, %b : T (a - b; flags int64 overflow)"""

    name = "py.sub"
    traits = traits_def(MayTakeSlowPath())


@irdl_op_definition
class MulOp(BinaryOp):
    """%r = py.mul %a, %b : T (a * b; flags int64 overflow)"""

    name = "py.mul"
    traits = traits_def(MayTakeSlowPath())


@irdl_op_definition
class TrueDivOp(IRDLOperation):
    """%r = py.truediv %a, %b : T (a / b as f64; flags division by zero and ints beyond 2**53)"""

    name = "py.truediv"
    _T: ClassVar = VarConstraint("T", AnyAttr())
    lhs = operand_def(_T)
    rhs = operand_def(_T)
    result = result_def(f64)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($lhs)"

    def __init__(self, lhs: SSAValue | Operation, rhs: SSAValue | Operation):
        super().__init__(operands=[lhs, rhs], result_types=[f64])

    def verify_(self) -> None:
        if not is_numeric_type(self.lhs.type):
            raise VerifyException(
                f"expected py.truediv operands of one type among i64, f64 and !py.dyn, "
                f"but got {self.lhs.type}"
            )


@irdl_op_definition
class FloorDivOp(BinaryOp):
    """%r = py.floordiv %a, %b : T (a // b, rounding toward -inf; flags b == 0 and overflow)"""

    name = "py.floordiv"
    traits = traits_def(MayTakeSlowPath())


@irdl_op_definition
class ModOp(BinaryOp):
    """%r = py.mod %a, %b : T (a % b, with the sign of b; flags b == 0)"""

    name = "py.mod"
    traits = traits_def(MayTakeSlowPath())


@irdl_op_definition
class PowOp(BinaryOp):
    """%r = py.pow %a, %b : T (a ** b; flags overflow, 0 ** -n, negative int exponents and complex results)"""

    name = "py.pow"
    traits = traits_def(MayTakeSlowPath())


@irdl_op_definition
class MinOp(BinaryOp):
    """%r = py.min %a, %b : T (min(a, b): b if b < a else a, so NaN order matters)"""

    name = "py.min"
    traits = traits_def(MayTakeSlowPath())
    OPERAND_TYPES: ClassVar[tuple[Attribute, ...]] = (i1, i64, f64, dyn)


@irdl_op_definition
class MaxOp(BinaryOp):
    """%r = py.max %a, %b : T (max(a, b): b if b > a else a, so NaN order matters)"""

    name = "py.max"
    traits = traits_def(MayTakeSlowPath())
    OPERAND_TYPES: ClassVar[tuple[Attribute, ...]] = (i1, i64, f64, dyn)


class UnaryOp(IRDLOperation):
    """Base of the unary arithmetic ops on i64, f64 and !py.dyn."""

    _T: ClassVar = VarConstraint("T", AnyAttr())
    input = operand_def(_T)
    result = result_def(_T)
    assembly_format = "$input attr-dict `:` type($input)"
    OPERAND_TYPES: ClassVar[tuple[Attribute, ...]] = (i64, f64, dyn)

    def __init__(self, value: SSAValue | Operation):
        super().__init__(operands=[value], result_types=[SSAValue.get(value).type])

    def verify_(self) -> None:
        if self.input.type not in self.OPERAND_TYPES or self.result.type != self.input.type:
            allowed = ", ".join(str(t) for t in self.OPERAND_TYPES)
            raise VerifyException(
                f"expected {self.name} on one of {allowed} giving the same type, "
                f"but got {self.input.type} to {self.result.type}"
            )


@irdl_op_definition
class NegOp(UnaryOp):
    """%r = py.neg %x : T (-x; flags -INT64_MIN)"""

    name = "py.neg"
    traits = traits_def(MayTakeSlowPath())


@irdl_op_definition
class InvertOp(UnaryOp):
    """%r = py.invert %x : T (~x, for ints; flags a float in !py.dyn)"""

    name = "py.invert"
    traits = traits_def(MayTakeSlowPath())
    OPERAND_TYPES: ClassVar[tuple[Attribute, ...]] = (i64, dyn)


@irdl_op_definition
class AbsOp(UnaryOp):
    """%r = py.abs %x : T (abs(x); flags abs(INT64_MIN))"""

    name = "py.abs"
    traits = traits_def(MayTakeSlowPath())


@irdl_op_definition
class NotOp(IRDLOperation):
    """%r = py.not %x : i1 (not x)"""

    name = "py.not"
    input = operand_def(i1)
    result = result_def(i1)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict"

    def __init__(self, value: SSAValue | Operation):
        super().__init__(operands=[value], result_types=[i1])


COMPARISON_PREDICATES = ("eq", "ne", "lt", "le", "gt", "ge")


@irdl_op_definition
class CmpOp(IRDLOperation):
    """%r = py.cmp "lt", %a, %b : A, B (exact comparison, also between int and float)"""

    name = "py.cmp"
    predicate = prop_def(StringAttr)
    lhs = operand_def()
    rhs = operand_def()
    result = result_def(i1)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$predicate `,` $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs)"

    def __init__(self, predicate: str, lhs: SSAValue | Operation, rhs: SSAValue | Operation):
        super().__init__(
            operands=[lhs, rhs], result_types=[i1], properties={"predicate": StringAttr(predicate)}
        )

    def verify_(self) -> None:
        if self.predicate.data not in COMPARISON_PREDICATES:
            raise VerifyException(
                f"expected a py.cmp predicate among {', '.join(COMPARISON_PREDICATES)}, "
                f"but got {self.predicate.data!r}"
            )
        types = {self.lhs.type, self.rhs.type}
        if not types <= {i1, i64, f64, dyn} or (i1 in types and len(types) > 1):
            raise VerifyException(
                f"expected py.cmp operands among i1, i64, f64 and !py.dyn (i1 only with i1), "
                f"but got {self.lhs.type} and {self.rhs.type}"
            )


@irdl_op_definition
class RoundOp(IRDLOperation):
    """%r = py.round %x : T (round(x) to the nearest int, halves to even; flags NaN and inf)"""

    name = "py.round"
    input = operand_def()
    result = result_def(i64)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$input attr-dict `:` type($input)"

    def __init__(self, value: SSAValue | Operation):
        super().__init__(operands=[value], result_types=[i64])

    def verify_(self) -> None:
        if not is_numeric_type(self.input.type) or self.result.type != i64:
            raise VerifyException(
                f"expected py.round from i64, f64 or !py.dyn to i64, "
                f"but got {self.input.type} to {self.result.type}"
            )


@irdl_op_definition
class RoundDigitsOp(IRDLOperation):
    """%r = py.round_digits %x, %n : T (round(x, n), correctly rounded as CPython does)"""

    name = "py.round_digits"
    _T: ClassVar = VarConstraint("T", AnyAttr())
    input = operand_def(_T)
    ndigits = operand_def(i64)
    result = result_def(_T)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$input `,` $ndigits attr-dict `:` type($input)"

    def __init__(self, value: SSAValue | Operation, ndigits: SSAValue | Operation):
        super().__init__(operands=[value, ndigits], result_types=[SSAValue.get(value).type])

    def verify_(self) -> None:
        if not is_numeric_type(self.input.type) or self.result.type != self.input.type:
            raise VerifyException(
                f"expected py.round_digits on i64, f64 or !py.dyn giving the same type, "
                f"but got {self.input.type} to {self.result.type}"
            )
        if self.ndigits.type != i64:
            raise VerifyException(f"expected py.round_digits digits of type i64, but got {self.ndigits.type}")


# --------------------------------------------------------------------------------------
# The math module
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MathFunction:
    """A `math` function compiled natively: its arity and result type (operands are f64)."""

    arity: int
    result_type: Attribute


MATH_FUNCTIONS: dict[str, MathFunction] = {
    **{
        name: MathFunction(1, f64)
        for name in ("sqrt", "exp", "log", "log1p", "log2", "log10", "sin", "cos", "tan", "fabs",
                     "asin", "acos", "atan", "sinh", "cosh", "tanh", "expm1")
    },
    **{name: MathFunction(2, f64) for name in ("log_base", "pow", "atan2", "copysign", "hypot")},
    **{name: MathFunction(1, i64) for name in ("floor", "ceil", "trunc")},
    **{name: MathFunction(1, i1) for name in ("isnan", "isinf", "isfinite")},
}


@irdl_op_definition
class MathCallOp(IRDLOperation):
    """%r = py.math "sqrt"(%x) : f64 (a math function; flags CPython's ValueError and OverflowError)"""

    name = "py.math"
    function = prop_def(StringAttr)
    arguments = var_operand_def(Float64Type)
    result = result_def()
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$function `(` $arguments `)` attr-dict `:` type($result)"

    def __init__(self, function: str, arguments: Sequence[SSAValue | Operation]):
        spec = MATH_FUNCTIONS[function]
        super().__init__(
            operands=[arguments], result_types=[spec.result_type], properties={"function": StringAttr(function)}
        )

    def verify_(self) -> None:
        spec = MATH_FUNCTIONS.get(self.function.data)
        if spec is None:
            raise VerifyException(
                f"expected a math function among {', '.join(sorted(MATH_FUNCTIONS))}, "
                f"but got {self.function.data!r}"
            )
        if len(self.arguments) != spec.arity or self.result.type != spec.result_type:
            raise VerifyException(
                f"expected math.{self.function.data} to take {spec.arity} f64 and give "
                f"{spec.result_type}, but got {len(self.arguments)} operands giving {self.result.type}"
            )


@irdl_op_definition
class SelectOp(IRDLOperation):
    """%r = py.select %cond, %a, %b : T (a if cond else b, both already computed)"""

    name = "py.select"
    _T: ClassVar = VarConstraint("T", AnyAttr())
    condition = operand_def(i1)
    true_value = operand_def(_T)
    false_value = operand_def(_T)
    result = result_def(_T)
    traits = traits_def(Pure())
    assembly_format = "$condition `,` $true_value `,` $false_value attr-dict `:` type($result)"

    def __init__(self, condition: SSAValue | Operation, true_value: SSAValue | Operation, false_value: SSAValue | Operation):
        super().__init__(
            operands=[condition, true_value, false_value], result_types=[SSAValue.get(true_value).type]
        )

    def verify_(self) -> None:
        if not is_value_type(self.result.type):
            raise VerifyException(
                f"expected py.select of i1, i64, f64, !py.optional, !py.none or !py.dyn, but got {self.result.type}"
            )


# --------------------------------------------------------------------------------------
# Output columns
# --------------------------------------------------------------------------------------


@irdl_op_definition
class ColumnValueOp(IRDLOperation):
    """%r = py.column_value %x : T to !py.optional<C> (what an output column of type C stores for x)

    None becomes a null. A bool, int or float is converted as the column requires: an int to a
    float column, a bool to an int column. A value the column cannot hold, such as a float for
    an int column, flags the row, so that the interpreter reports it.
    """

    name = "py.column_value"
    input = operand_def()
    result = result_def(OptionalType)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$input attr-dict `:` type($input) `to` type($result)"

    def __init__(self, value: SSAValue | Operation, column_type: Attribute):
        super().__init__(operands=[value], result_types=[OptionalType(column_type)])

    def verify_(self) -> None:
        if not is_value_type(self.input.type):
            raise VerifyException(
                f"expected py.column_value of i1, i64, f64, !py.optional, !py.none or !py.dyn, "
                f"but got {self.input.type}"
            )


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


@irdl_op_definition
class RaiseOp(IRDLOperation):
    """py.raise "ExceptionName" (the row raises in CPython, so the interpreter re-runs it)"""

    name = "py.raise"
    exception = prop_def(StringAttr)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$exception attr-dict"

    def __init__(self, exception: str):
        super().__init__(properties={"exception": StringAttr(exception)})


SCALAR_OPS: list[type[IRDLOperation]] = [
    ConstantOp,
    NoneOp,
    WrapOp,
    UnwrapOp,
    NarrowOp,
    IsNoneOp,
    TruthOp,
    ToIntOp,
    ToFloatOp,
    AddOp,
    SubOp,
    MulOp,
    TrueDivOp,
    FloorDivOp,
    ModOp,
    PowOp,
    MinOp,
    MaxOp,
    NegOp,
    InvertOp,
    AbsOp,
    NotOp,
    CmpOp,
    RoundOp,
    RoundDigitsOp,
    MathCallOp,
    ColumnValueOp,
    SelectOp,
    RaiseOp,
]

TYPES: list[type[Attribute]] = [OptionalType, NoneType, DynType, StrType, DatetimeType, DateType, TimedeltaType]
