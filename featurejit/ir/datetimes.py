"""Datetime, date and timedelta ops of the `py` dialect, with CPython's `datetime` semantics.

Aware datetimes that share a zone compute on local clock times, as CPython does for values
that share a tzinfo object: `a - b` is the difference of the clock times and `a < b` compares
them. Aware datetimes of different zones compute on UTC instants, and CPython's exception for
equality (a value in a repeated or skipped hour equals no value of another zone) applies. The
local time of a zone comes from a table of its UTC offsets (featurejit/codegen/zonetables.py),
and a row outside the table takes the slow path. So do rows whose result leaves datetime's
range or int64 microseconds.
"""

from __future__ import annotations

import datetime
from typing import ClassVar

from xdsl.dialects.builtin import I64, IntegerAttr, StringAttr, f64, i1, i64
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    VarConstraint,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import ConstantLike, Pure
from xdsl.utils.exceptions import VerifyException

from featurejit.ir.dialect import (
    COMPARISON_PREDICATES,
    DatetimeType,
    DateType,
    MayTakeSlowPath,
    TimedeltaType,
    date_type,
    datetime_type,
    is_temporal_type,
    timedelta_type,
)
from featurejit.zones import zone_of_tzinfo

EPOCH_NAIVE = datetime.datetime(1970, 1, 1)
EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
EPOCH_ORDINAL = EPOCH_NAIVE.toordinal()
MICROSECOND = datetime.timedelta(microseconds=1)
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def encode_temporal(value: datetime.datetime | datetime.date | datetime.timedelta) -> tuple[int, int, Attribute]:
    """Return (clock value, UTC value, IR type) of a datetime, date or timedelta, as the IR represents it.

    Datetimes count microseconds since 1970-01-01T00:00, on the local clock and in UTC, and
    the two are equal for a naive datetime. Dates count days and timedeltas microseconds. Raises
    ValueError for a datetime in a zone without a zone name, or a timedelta beyond int64.
    """
    if type(value) is datetime.datetime:
        zone = zone_of_tzinfo(value.tzinfo)
        if zone is None:
            raise ValueError(f"the time zone {value.tzinfo!r} of {value!r} is not compiled")
        clock = (value.replace(tzinfo=None) - EPOCH_NAIVE) // MICROSECOND
        instant = clock if value.tzinfo is None else (value - EPOCH_UTC) // MICROSECOND
        return clock, instant, datetime_type(zone)
    if type(value) is datetime.date:
        days = value.toordinal() - EPOCH_ORDINAL
        return days, days, date_type
    if type(value) is datetime.timedelta:
        microseconds = value // MICROSECOND
        if not INT64_MIN <= microseconds <= INT64_MAX:
            raise ValueError(f"{value!r} does not fit in 64 bits of microseconds")
        return microseconds, microseconds, timedelta_type
    raise ValueError(f"{type(value).__name__} values are not compiled")


DATETIME_FIELDS = ("year", "month", "day", "hour", "minute", "second", "microsecond", "weekday", "isoweekday", "toordinal")
DATE_FIELDS = ("year", "month", "day", "weekday", "isoweekday", "toordinal")
TIMEDELTA_FIELDS = ("days", "seconds", "microseconds")


def fields_of(type_: Attribute) -> tuple[str, ...]:
    """Return the int fields that py.temporal_field reads from a value of `type_`."""
    if isinstance(type_, DatetimeType):
        return DATETIME_FIELDS
    if isinstance(type_, DateType):
        return DATE_FIELDS
    if isinstance(type_, TimedeltaType):
        return TIMEDELTA_FIELDS
    return ()


@irdl_op_definition
class TemporalConstantOp(IRDLOperation):
    """%r = py.temporal_constant V, U : T (wall-clock microseconds V and UTC microseconds U; days for a date)"""

    name = "py.temporal_constant"
    value = prop_def(IntegerAttr[I64])
    instant = prop_def(IntegerAttr[I64])
    result = result_def()
    traits = traits_def(Pure(), ConstantLike())
    assembly_format = "$value `,` $instant attr-dict `:` type($result)"

    def __init__(self, value: int, instant: int, result_type: Attribute):
        # The arguments are in the order encode_temporal returns them.
        super().__init__(
            result_types=[result_type],
            properties={"value": IntegerAttr(value, i64), "instant": IntegerAttr(instant, i64)},
        )

    def verify_(self) -> None:
        if not is_temporal_type(self.result.type):
            raise VerifyException(f"expected py.temporal_constant of a datetime, date or timedelta, but got {self.result.type}")


@irdl_op_definition
class TemporalFieldOp(IRDLOperation):
    """%r = py.temporal_field "hour", %x : T (t.hour, t.weekday(), d.year, td.days, ...; local time for aware t)"""

    name = "py.temporal_field"
    field = prop_def(StringAttr)
    input = operand_def()
    result = result_def(i64)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$field `,` $input attr-dict `:` type($input)"

    def __init__(self, field: str, value: SSAValue | Operation):
        super().__init__(operands=[value], result_types=[i64], properties={"field": StringAttr(field)})

    def verify_(self) -> None:
        allowed = fields_of(self.input.type)
        if self.field.data not in allowed:
            raise VerifyException(
                f"expected a py.temporal_field among {', '.join(allowed) or 'none'} for {self.input.type}, "
                f"but got {self.field.data!r}"
            )


@irdl_op_definition
class DatetimeDateOp(IRDLOperation):
    """%r = py.datetime_date %t : T (t.date(), the local date)"""

    name = "py.datetime_date"
    input = operand_def(DatetimeType)
    result = result_def(DateType)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$input attr-dict `:` type($input)"

    def __init__(self, value: SSAValue | Operation):
        super().__init__(operands=[value], result_types=[date_type])


@irdl_op_definition
class TemporalSecondsOp(IRDLOperation):
    """%r = py.temporal_seconds "total_seconds", %x : T (td.total_seconds(), or t.timestamp() of a datetime)"""

    name = "py.temporal_seconds"
    kind = prop_def(StringAttr)
    input = operand_def()
    result = result_def(f64)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$kind `,` $input attr-dict `:` type($input)"

    def __init__(self, kind: str, value: SSAValue | Operation):
        super().__init__(operands=[value], result_types=[f64], properties={"kind": StringAttr(kind)})

    def verify_(self) -> None:
        expected = {"total_seconds": TimedeltaType, "timestamp": DatetimeType}.get(self.kind.data)
        if expected is None or not isinstance(self.input.type, expected):
            raise VerifyException(
                f"expected py.temporal_seconds \"total_seconds\" of a timedelta or \"timestamp\" of a datetime, "
                f"but got {self.kind.data!r} of {self.input.type}"
            )


@irdl_op_definition
class ShiftOp(IRDLOperation):
    """%r = py.temporal_shift "add", %t, %delta : T (t + delta or t - delta for a datetime or date; flags overflow)

    A date moves by whole days: by delta.days for "add" and by -delta.days for "sub", as CPython does.
    """

    name = "py.temporal_shift"
    _T: ClassVar = VarConstraint("T", AnyAttr())
    kind = prop_def(StringAttr)
    input = operand_def(_T)
    delta = operand_def(TimedeltaType)
    result = result_def(_T)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$kind `,` $input `,` $delta attr-dict `:` type($input)"

    def __init__(self, kind: str, value: SSAValue | Operation, delta: SSAValue | Operation):
        value = SSAValue.get(value)
        super().__init__(operands=[value, delta], result_types=[value.type], properties={"kind": StringAttr(kind)})

    def verify_(self) -> None:
        if self.kind.data not in ("add", "sub") or not isinstance(self.input.type, DatetimeType | DateType):
            raise VerifyException(
                f"expected py.temporal_shift \"add\" or \"sub\" of a datetime or date, "
                f"but got {self.kind.data!r} of {self.input.type}"
            )


@irdl_op_definition
class DifferenceOp(IRDLOperation):
    """%r = py.temporal_diff %a, %b : A, B (a - b of two datetimes of equal awareness, or two dates)"""

    name = "py.temporal_diff"
    lhs = operand_def()
    rhs = operand_def()
    result = result_def(TimedeltaType)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs)"

    def __init__(self, lhs: SSAValue | Operation, rhs: SSAValue | Operation):
        super().__init__(operands=[lhs, rhs], result_types=[timedelta_type])

    def verify_(self) -> None:
        left, right = self.lhs.type, self.rhs.type
        both_dates = isinstance(left, DateType) and isinstance(right, DateType)
        same_awareness = (
            isinstance(left, DatetimeType) and isinstance(right, DatetimeType) and left.is_aware == right.is_aware
        )
        if not both_dates and not same_awareness:
            raise VerifyException(
                f"expected py.temporal_diff of two dates, or two datetimes both naive or both aware, "
                f"but got {left} and {right}"
            )


TIMEDELTA_ARITHMETIC: dict[str, tuple[Attribute, Attribute]] = {
    # kind: (right operand type, result type); the left operand is a timedelta
    "add": (timedelta_type, timedelta_type),
    "sub": (timedelta_type, timedelta_type),
    "mul": (i64, timedelta_type),
    "floordiv": (timedelta_type, i64),
    "floordiv_int": (i64, timedelta_type),
    "truediv": (timedelta_type, f64),
    "mod": (timedelta_type, timedelta_type),
}


@irdl_op_definition
class TimedeltaArithmeticOp(IRDLOperation):
    """%r = py.timedelta_arith "add", %a, %b : B -> R (timedelta arithmetic; flags overflow and division by zero)"""

    name = "py.timedelta_arith"
    kind = prop_def(StringAttr)
    lhs = operand_def(TimedeltaType)
    rhs = operand_def()
    result = result_def()
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$kind `,` $lhs `,` $rhs attr-dict `:` type($rhs) `->` type($result)"

    def __init__(self, kind: str, lhs: SSAValue | Operation, rhs: SSAValue | Operation):
        super().__init__(
            operands=[lhs, rhs], result_types=[TIMEDELTA_ARITHMETIC[kind][1]], properties={"kind": StringAttr(kind)}
        )

    def verify_(self) -> None:
        expected = TIMEDELTA_ARITHMETIC.get(self.kind.data)
        if expected is None:
            raise VerifyException(
                f"expected py.timedelta_arith among {', '.join(TIMEDELTA_ARITHMETIC)}, but got {self.kind.data!r}"
            )
        if (self.rhs.type, self.result.type) != expected:
            raise VerifyException(
                f"expected py.timedelta_arith {self.kind.data!r} to take {expected[0]} and give {expected[1]}, "
                f"but got {self.rhs.type} giving {self.result.type}"
            )


@irdl_op_definition
class TimedeltaNegateOp(IRDLOperation):
    """%r = py.timedelta_negate "neg", %td (-td, or abs(td) for "abs"; flags int64 overflow)"""

    name = "py.timedelta_negate"
    kind = prop_def(StringAttr)
    input = operand_def(TimedeltaType)
    result = result_def(TimedeltaType)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$kind `,` $input attr-dict"
    KINDS: ClassVar[tuple[str, ...]] = ("neg", "abs")

    def __init__(self, kind: str, value: SSAValue | Operation):
        super().__init__(operands=[value], result_types=[timedelta_type], properties={"kind": StringAttr(kind)})

    def verify_(self) -> None:
        if self.kind.data not in self.KINDS:
            raise VerifyException(f"expected py.timedelta_negate of {', '.join(self.KINDS)}, but got {self.kind.data!r}")


@irdl_op_definition
class TimedeltaFromMicrosecondsOp(IRDLOperation):
    """%r = py.timedelta_from_us %n (timedelta(microseconds=n) of an int64)"""

    name = "py.timedelta_from_us"
    input = operand_def(i64)
    result = result_def(TimedeltaType)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict"

    def __init__(self, value: SSAValue | Operation):
        super().__init__(operands=[value], result_types=[timedelta_type])


@irdl_op_definition
class TemporalCmpOp(IRDLOperation):
    """%r = py.temporal_cmp "lt", %a, %b : A, B (comparison of two datetimes, two dates or two timedeltas)"""

    name = "py.temporal_cmp"
    predicate = prop_def(StringAttr)
    lhs = operand_def()
    rhs = operand_def()
    result = result_def(i1)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$predicate `,` $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs)"

    def __init__(self, predicate: str, lhs: SSAValue | Operation, rhs: SSAValue | Operation):
        super().__init__(operands=[lhs, rhs], result_types=[i1], properties={"predicate": StringAttr(predicate)})

    def verify_(self) -> None:
        if self.predicate.data not in COMPARISON_PREDICATES:
            raise VerifyException(
                f"expected a py.temporal_cmp predicate among {', '.join(COMPARISON_PREDICATES)}, "
                f"but got {self.predicate.data!r}"
            )
        left, right = self.lhs.type, self.rhs.type
        if isinstance(left, DatetimeType) and isinstance(right, DatetimeType) and left.is_aware == right.is_aware:
            return
        if isinstance(left, DateType | TimedeltaType) and left == right:
            return
        raise VerifyException(
            f"expected py.temporal_cmp of two datetimes both naive or both aware, two dates or two timedeltas, "
            f"but got {left} and {right}"
        )


@irdl_op_definition
class AstimezoneOp(IRDLOperation):
    """%r = py.astimezone %t : A to B (t.astimezone(zone of B); a naive t always takes the slow path)"""

    name = "py.astimezone"
    input = operand_def(DatetimeType)
    result = result_def(DatetimeType)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$input attr-dict `:` type($input) `to` type($result)"

    def __init__(self, value: SSAValue | Operation, result_type: DatetimeType):
        super().__init__(operands=[value], result_types=[result_type])

    def verify_(self) -> None:
        assert isinstance(self.result.type, DatetimeType)
        if not self.result.type.is_aware:
            raise VerifyException(f"expected py.astimezone to give an aware datetime, but got {self.result.type}")


DATETIME_OPS: list[type[IRDLOperation]] = [
    TemporalConstantOp,
    TemporalFieldOp,
    DatetimeDateOp,
    TemporalSecondsOp,
    ShiftOp,
    DifferenceOp,
    TimedeltaArithmeticOp,
    TimedeltaNegateOp,
    TimedeltaFromMicrosecondsOp,
    TemporalCmpOp,
    AstimezoneOp,
]
