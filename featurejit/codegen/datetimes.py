"""LLVM IR for the datetime ops of the `py` dialect (see featurejit/ir/datetimes.py).

A datetime is a DatetimeValue: its local clock time and its UTC instant, as int64
microseconds since 1970-01-01T00:00. A date is an int64 count of days and a timedelta an
int64 count of microseconds. Calendar fields come from the day count with the days-to-civil
algorithm of the proleptic Gregorian calendar, in integer arithmetic that LLVM vectorizes.

A zone named by a fixed offset shifts by a constant. Any other zone is searched in its
offset table (featurejit/codegen/zonetables.py), held as constant arrays in the kernel's
module: a branch-free binary search over a power-of-two array, which reads only inside it.
Times at or after the table's end get a `bad` bit instead of an offset, and an op that needs
that part of the value flags the row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from llvmlite import ir
from xdsl.ir import Attribute, Operation

from featurejit.codegen import arith
from featurejit.codegen.arith import F64, FALSE, I32, I64, TRUE, i64
from featurejit.codegen.row import LOWERINGS, DatetimeValue, RowEmitter
from featurejit.codegen.zonetables import ZoneDataError, ZoneTable, zone_table
from featurejit.errors import CompileError
from featurejit.ir import datetimes as ops
from featurejit.ir.dialect import DatetimeType, DateType, OptionalType, TimedeltaType
from featurejit.zones import fixed_offset

US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
# datetime.min and datetime.max, and date.min and date.max, counted from 1970-01-01.
MIN_MICROSECONDS = -62_135_596_800 * US_PER_SECOND
MAX_MICROSECONDS = 253_402_300_799 * US_PER_SECOND + 999_999
MIN_DAYS = -719_162
MAX_DAYS = 2_932_896
EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()
# A UTC instant at least this far inside datetime's range has a local time inside it in every zone.
LIMIT_MARGIN = 2 * US_PER_DAY
# Local times this close to a table's end may map to UTC instants past it.
TABLE_MARGIN = 2 * US_PER_DAY
FLOAT_EXACT = 2**53

# Microseconds in one unit of each Arrow timestamp or duration unit.
UNIT_MICROSECONDS = {"s": US_PER_SECOND, "ms": 1_000, "us": 1}


# --------------------------------------------------------------------------------------
# Integer helpers
# --------------------------------------------------------------------------------------


def floor_divmod(builder: ir.IRBuilder, x: ir.Value, divisor: int) -> tuple[ir.Value, ir.Value]:
    """Return (x // divisor, x % divisor) of an int64 and a positive constant, rounding toward -inf.

    The quotient is estimated in double precision and then corrected by one either way,
    because x86-64 has no vector instruction for dividing 64-bit integers, but converts and
    divides doubles in vectors. The estimate is within one of the exact quotient for any x.
    Converting x to double changes it by at most 2**10, which moves the quotient by less than
    a half for a divisor of at least 2**11, and the division itself rounds by less than a half.
    """
    if divisor < 2**11:
        quotient = builder.sdiv(x, i64(divisor))
        remainder = builder.srem(x, i64(divisor))
        negative = builder.icmp_signed("<", remainder, i64(0))
        quotient = builder.sub(quotient, builder.zext(negative, I64))
        return quotient, builder.add(remainder, builder.select(negative, i64(divisor), i64(0)))
    estimate = builder.fdiv(builder.sitofp(x, F64), ir.Constant(F64, float(divisor)))
    quotient = builder.fptosi(arith.intrinsic(builder, "llvm.floor.f64", F64, [estimate]), I64)
    remainder = builder.sub(x, builder.mul(quotient, i64(divisor)))
    below = builder.icmp_signed("<", remainder, i64(0))
    above = builder.icmp_signed(">=", remainder, i64(divisor))
    quotient = builder.add(quotient, builder.select(below, i64(-1), builder.select(above, i64(1), i64(0))))
    remainder = builder.add(remainder, builder.select(below, i64(divisor), builder.select(above, i64(-divisor), i64(0))))
    return quotient, remainder


def floor_div(builder: ir.IRBuilder, x: ir.Value, divisor: int) -> ir.Value:
    """Return x // divisor for a positive constant divisor, rounding toward -inf."""
    return floor_divmod(builder, x, divisor)[0]


def floor_mod(builder: ir.IRBuilder, x: ir.Value, divisor: int) -> ir.Value:
    """Return x % divisor for a positive constant divisor, in [0, divisor)."""
    return floor_divmod(builder, x, divisor)[1]


def outside(builder: ir.IRBuilder, x: ir.Value, low: int, high: int) -> ir.Value:
    """Return whether x lies outside [low, high]."""
    return builder.or_(builder.icmp_signed("<", x, i64(low)), builder.icmp_signed(">", x, i64(high)))


def i32(value: int) -> ir.Constant:
    return ir.Constant(I32, value)


def civil_from_days(builder: ir.IRBuilder, days: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """Return (year, month, day) of a day count since 1970-01-01 in the proleptic Gregorian calendar.

    Days shift to 0000-03-01, then split into 400-year eras of 146097 days and the year of the
    era, so that leap days fall at the end of each year. The arithmetic is 32-bit, which
    x86-64 divides by constants in vectors: dates lie within 3.7 million days of 1970, and
    other rows are flagged before their fields are read.
    """
    shifted = builder.add(builder.trunc(days, I32), i32(719_468))
    era = builder.sdiv(builder.sub(shifted, builder.select(builder.icmp_signed("<", shifted, i32(0)), i32(146_096), i32(0))), i32(146_097))
    day_of_era = builder.sub(shifted, builder.mul(era, i32(146_097)))  # [0, 146096]
    year_of_era = builder.udiv(
        builder.sub(
            builder.add(
                builder.sub(day_of_era, builder.udiv(day_of_era, i32(1_460))), builder.udiv(day_of_era, i32(36_524))
            ),
            builder.udiv(day_of_era, i32(146_096)),
        ),
        i32(365),
    )  # [0, 399]
    day_of_year = builder.sub(
        day_of_era,
        builder.sub(
            builder.add(builder.mul(year_of_era, i32(365)), builder.udiv(year_of_era, i32(4))),
            builder.udiv(year_of_era, i32(100)),
        ),
    )  # [0, 365], from 1 March
    month_index = builder.udiv(builder.add(builder.mul(day_of_year, i32(5)), i32(2)), i32(153))  # [0, 11]
    day = builder.add(
        builder.sub(day_of_year, builder.udiv(builder.add(builder.mul(month_index, i32(153)), i32(2)), i32(5))), i32(1)
    )
    before_january = builder.icmp_signed("<", month_index, i32(10))
    month = builder.select(before_january, builder.add(month_index, i32(3)), builder.sub(month_index, i32(9)))
    year = builder.add(builder.add(year_of_era, builder.mul(era, i32(400))), builder.zext(builder.not_(before_january), I32))
    return builder.sext(year, I64), builder.sext(month, I64), builder.sext(day, I64)


# --------------------------------------------------------------------------------------
# Zones
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneArrays:
    """A zone table as constant arrays of one module, each of a power-of-two length."""

    instants: ir.GlobalVariable  # UTC microseconds of the transitions, after an INT64_MIN entry
    local_fold0: ir.GlobalVariable  # local microseconds of the transitions for fold 0
    local_fold1: ir.GlobalVariable
    offsets: ir.GlobalVariable  # microseconds east of UTC from each entry on
    length: int
    end: int | None  # UTC microseconds where the table stops


def load_zone_table(zone: str) -> ZoneTable:
    """Return the offset table of a zone key, or raise CompileError if the zone's data cannot be used."""
    try:
        return zone_table(zone)
    except ZoneDataError as error:
        raise CompileError(
            f"the time zone {zone!r} is not compiled: {error}",
            hint="Values in this zone run in the interpreter. Convert the column to UTC to compile it.",
        ) from None


def zone_arrays(builder: ir.IRBuilder, zone: str) -> ZoneArrays | int:
    """Return the zone's arrays in the builder's module, or its offset in microseconds for a fixed zone."""
    fixed = fixed_offset(zone)
    if fixed is not None:
        return fixed * US_PER_SECOND
    table = load_zone_table(zone)
    if table.is_fixed:
        return table.offsets[0] * US_PER_SECOND
    module = builder.module
    name = "fj.zone." + re.sub(r"[^A-Za-z0-9_]", "_", zone)
    length = 1
    while length < len(table.transitions) + 1:
        length *= 2
    padding = length - len(table.transitions) - 1
    int64_max = 2**63 - 1

    def array(suffix: str, values: list[int]) -> ir.GlobalVariable:
        try:
            return module.get_global(f"{name}.{suffix}")
        except KeyError:
            array_type = ir.ArrayType(I64, length)
            storage = ir.GlobalVariable(module, array_type, f"{name}.{suffix}")
            storage.initializer = ir.Constant(array_type, values)
            storage.global_constant = True
            storage.linkage = "internal"
            return storage

    def times(seconds: tuple[int, ...]) -> list[int]:
        return [-(2**63), *(value * US_PER_SECOND for value in seconds), *([int64_max] * padding)]

    offsets = [offset * US_PER_SECOND for offset in table.offsets] + [table.offsets[-1] * US_PER_SECOND] * padding
    return ZoneArrays(
        array("utc", times(table.transitions)),
        array("local0", times(table.local_transitions(0))),
        array("local1", times(table.local_transitions(1))),
        array("offsets", offsets),
        length,
        None if table.end is None else table.end * US_PER_SECOND,
    )


def search(builder: ir.IRBuilder, table: ir.GlobalVariable, length: int, key: ir.Value) -> ir.Value:
    """Return the last index of a sorted array whose entry is <= key (entry 0 is INT64_MIN)."""
    index: ir.Value = i64(0)
    step = length // 2
    while step:
        candidate = builder.add(index, i64(step))
        entry = builder.load(builder.gep(table, [i64(0), candidate], inbounds=True))
        index = builder.select(builder.icmp_signed("<=", entry, key), candidate, index)
        step //= 2
    return index


def offset_at(builder: ir.IRBuilder, arrays: ZoneArrays, table: ir.GlobalVariable, key: ir.Value) -> ir.Value:
    index = search(builder, table, arrays.length, key)
    return builder.load(builder.gep(arrays.offsets, [i64(0), index], inbounds=True))


def clock_of_instant(builder: ir.IRBuilder, zone: str, instant: ir.Value) -> tuple[ir.Value, ir.Value]:
    """Return (local clock time, bad) of a UTC instant in `zone`, where bad is set past the zone table's end."""
    arrays = zone_arrays(builder, zone)
    if isinstance(arrays, int):
        return builder.add(instant, i64(arrays)), FALSE
    offset = offset_at(builder, arrays, arrays.instants, instant)
    bad = FALSE if arrays.end is None else builder.icmp_signed(">=", instant, i64(arrays.end))
    return builder.add(instant, offset), bad


def instant_of_clock(builder: ir.IRBuilder, zone: str, clock: ir.Value) -> tuple[ir.Value, ir.Value]:
    """Return (UTC instant, bad) of a local clock time with fold 0 in `zone`, as zoneinfo's utcoffset gives."""
    arrays = zone_arrays(builder, zone)
    if isinstance(arrays, int):
        return builder.sub(clock, i64(arrays)), FALSE
    offset = offset_at(builder, arrays, arrays.local_fold0, clock)
    bad = FALSE if arrays.end is None else builder.icmp_signed(">=", clock, i64(arrays.end - TABLE_MARGIN))
    return builder.sub(clock, offset), bad


def is_ambiguous(builder: ir.IRBuilder, zone: str, clock: ir.Value) -> tuple[ir.Value, ir.Value]:
    """Return (whether fold changes the offset of a local time, bad): true in repeated and skipped hours."""
    arrays = zone_arrays(builder, zone)
    if isinstance(arrays, int):
        return FALSE, FALSE
    first = offset_at(builder, arrays, arrays.local_fold0, clock)
    second = offset_at(builder, arrays, arrays.local_fold1, clock)
    bad = FALSE if arrays.end is None else builder.icmp_signed(">=", clock, i64(arrays.end - TABLE_MARGIN))
    return builder.icmp_signed("!=", first, second), bad


def zone_of(type_: Attribute) -> str:
    if isinstance(type_, OptionalType):
        type_ = type_.element_type
    assert isinstance(type_, DatetimeType)
    return type_.zone.data


def datetime_of_instant(builder: ir.IRBuilder, zone: str, instant: ir.Value) -> DatetimeValue:
    """Return an aware datetime at a UTC instant, whose clock part is bad past the zone table's end."""
    clock, bad = clock_of_instant(builder, zone, instant)
    return DatetimeValue(clock, instant, bad, FALSE)


def datetime_of_clock(builder: ir.IRBuilder, zone: str, clock: ir.Value) -> DatetimeValue:
    """Return a datetime at a local clock time with fold 0, naive for the zone ""."""
    if zone == "":
        return DatetimeValue(clock, clock, FALSE, FALSE)
    instant, bad = instant_of_clock(builder, zone, clock)
    return DatetimeValue(clock, instant, FALSE, bad)


# --------------------------------------------------------------------------------------
# Loading Arrow values
# --------------------------------------------------------------------------------------


def load_temporal(
    builder: ir.IRBuilder, physical: str, argument_type: Attribute, data: ir.Value, index: ir.Value
) -> tuple[DatetimeValue | ir.Value, ir.Value]:
    """Load one timestamp, date or duration element as its IR value, with a flag for values Python cannot represent.

    Flagged: nanoseconds that are not whole microseconds, values beyond int64 microseconds or
    outside datetime's and date's range, and timestamps whose local time leaves that range.
    """
    raw = builder.load(builder.gep(data, [index], inbounds=True))
    kind, _, unit = physical.partition("_")
    if kind == "date32":
        days = builder.sext(raw, I64)
        return days, outside(builder, days, MIN_DAYS, MAX_DAYS)
    if kind == "date64":
        days = floor_div(builder, raw, 86_400_000)
        return days, outside(builder, days, MIN_DAYS, MAX_DAYS)
    microseconds, bad = to_microseconds(builder, raw, unit)
    if kind == "duration":
        return microseconds, bad
    zone = zone_of(argument_type)
    bad = builder.or_(bad, outside(builder, microseconds, MIN_MICROSECONDS, MAX_MICROSECONDS))
    if zone == "":
        return DatetimeValue(microseconds, microseconds, FALSE, FALSE), bad
    value = datetime_of_instant(builder, zone, microseconds)
    # Near datetime's limits the local time may leave its range, which CPython reports.
    near_limits = outside(builder, microseconds, MIN_MICROSECONDS + LIMIT_MARGIN, MAX_MICROSECONDS - LIMIT_MARGIN)
    local_outside = builder.or_(value.clock_bad, outside(builder, value.clock, MIN_MICROSECONDS, MAX_MICROSECONDS))
    return value, builder.or_(bad, builder.and_(near_limits, local_outside))


def to_microseconds(builder: ir.IRBuilder, raw: ir.Value, unit: str) -> tuple[ir.Value, ir.Value]:
    """Convert an int64 count of `unit` to microseconds, flagging overflow and sub-microsecond parts."""
    if unit == "ns":
        microseconds, rest = floor_divmod(builder, raw, 1_000)
        return microseconds, builder.icmp_signed("!=", rest, i64(0))
    scale = UNIT_MICROSECONDS[unit]
    if scale == 1:
        return raw, FALSE
    # A bounds test rather than an overflow intrinsic, which x86-64 cannot run in vectors.
    overflow = outside(builder, raw, -(2**63) // scale + 1, (2**63 - 1) // scale)
    return builder.mul(raw, i64(scale)), overflow


# --------------------------------------------------------------------------------------
# Lowerings
# --------------------------------------------------------------------------------------


def datetime_operand(emitter: RowEmitter, op: Operation, index: int) -> DatetimeValue:
    value = emitter.values[op.operands[index]]
    assert isinstance(value, DatetimeValue), "a !py.datetime operand is a DatetimeValue"
    return value


def integer_operand(emitter: RowEmitter, op: Operation, index: int) -> ir.Value:
    value = emitter.values[op.operands[index]]
    assert isinstance(value, ir.Value), "a !py.date or !py.timedelta operand is an i64"
    return value


def emit_constant(emitter: RowEmitter, op: ops.TemporalConstantOp) -> None:
    clock, instant = op.value.value.data, op.instant.value.data
    if isinstance(op.result.type, DatetimeType):
        emitter.define(op, DatetimeValue(i64(clock), i64(instant), FALSE, FALSE))
    else:
        emitter.define(op, i64(clock))


def emit_field(emitter: RowEmitter, op: ops.TemporalFieldOp) -> None:
    builder = emitter.builder
    field = op.field.data
    operand_type = op.input.type
    if isinstance(operand_type, TimedeltaType):
        emitter.define(op, timedelta_field(builder, integer_operand(emitter, op, 0), field))
        return
    if isinstance(operand_type, DateType):
        days, time_of_day = integer_operand(emitter, op, 0), i64(0)
    else:
        value = datetime_operand(emitter, op, 0)
        emitter.flag_if(value.clock_bad)
        days = floor_div(builder, value.clock, US_PER_DAY)
        time_of_day = builder.sub(value.clock, builder.mul(days, i64(US_PER_DAY)))
    emitter.define(op, calendar_field(builder, days, time_of_day, field))


def calendar_field(builder: ir.IRBuilder, days: ir.Value, time_of_day: ir.Value, field: str) -> ir.Value:
    """Return a field of the day count and microseconds into the day (both in range)."""
    if field in ("year", "month", "day"):
        return civil_from_days(builder, days)[("year", "month", "day").index(field)]
    if field in ("weekday", "isoweekday"):
        # 1970-01-01 was a Thursday, so the weekday is (days + 3) % 7. Adding 719169, which is 3
        # more than a multiple of 7, keeps the sum positive for every date.
        weekday = builder.sext(builder.urem(builder.add(builder.trunc(days, I32), i32(719_169)), i32(7)), I64)
        return weekday if field == "weekday" else builder.add(weekday, i64(1))
    if field == "toordinal":
        return builder.add(days, i64(EPOCH_ORDINAL))
    unit, within = {
        "hour": (3_600 * US_PER_SECOND, US_PER_DAY),
        "minute": (60 * US_PER_SECOND, 3_600 * US_PER_SECOND),
        "second": (US_PER_SECOND, 60 * US_PER_SECOND),
        "microsecond": (1, US_PER_SECOND),
    }[field]
    part = time_of_day if within == US_PER_DAY else floor_mod(builder, time_of_day, within)
    return part if unit == 1 else floor_div(builder, part, unit)


def timedelta_field(builder: ir.IRBuilder, microseconds: ir.Value, field: str) -> ir.Value:
    if field == "days":
        return floor_div(builder, microseconds, US_PER_DAY)
    if field == "seconds":
        return builder.udiv(floor_mod(builder, microseconds, US_PER_DAY), i64(US_PER_SECOND))
    return floor_mod(builder, microseconds, US_PER_SECOND)


def emit_date(emitter: RowEmitter, op: ops.DatetimeDateOp) -> None:
    value = datetime_operand(emitter, op, 0)
    emitter.flag_if(value.clock_bad)
    emitter.define(op, floor_div(emitter.builder, value.clock, US_PER_DAY))


def emit_seconds(emitter: RowEmitter, op: ops.TemporalSecondsOp) -> None:
    """Divide microseconds by 10**6 as CPython divides ints: exactly rounded, so only below 2**53."""
    builder = emitter.builder
    if op.kind.data == "total_seconds":
        microseconds = integer_operand(emitter, op, 0)
    else:
        value = datetime_operand(emitter, op, 0)
        assert isinstance(op.input.type, DatetimeType)
        if not op.input.type.is_aware:  # a naive datetime's timestamp is in the machine's zone
            emitter.flag_if(TRUE)
        emitter.flag_if(value.instant_bad)
        microseconds = value.instant
    emitter.flag_if(outside(builder, microseconds, -FLOAT_EXACT, FLOAT_EXACT))
    emitter.define(op, builder.fdiv(builder.sitofp(microseconds, F64), ir.Constant(F64, float(US_PER_SECOND))))


def emit_shift(emitter: RowEmitter, op: ops.ShiftOp) -> None:
    builder = emitter.builder
    delta = integer_operand(emitter, op, 1)
    subtract = op.kind.data == "sub"
    if isinstance(op.input.type, DateType):
        # A date moves by whole days: delta.days, negated for subtraction, as CPython does.
        days = floor_div(builder, delta, US_PER_DAY)
        shifted = (builder.sub if subtract else builder.add)(integer_operand(emitter, op, 0), days)
        emitter.flag_if(outside(builder, shifted, MIN_DAYS, MAX_DAYS))
        emitter.define(op, shifted)
        return
    value = datetime_operand(emitter, op, 0)
    clock, overflow = (arith.int_sub if subtract else arith.int_add)(builder, value.clock, delta)
    emitter.flag_if(arith.any_of(builder, value.clock_bad, overflow, outside(builder, clock, MIN_MICROSECONDS, MAX_MICROSECONDS)))
    # CPython adds to the clock time and keeps the tzinfo, with fold 0.
    emitter.define(op, datetime_of_clock(builder, zone_of(op.input.type), clock))


def emit_difference(emitter: RowEmitter, op: ops.DifferenceOp) -> None:
    builder = emitter.builder
    if isinstance(op.lhs.type, DateType):
        days = builder.sub(integer_operand(emitter, op, 0), integer_operand(emitter, op, 1))
        emitter.define(op, builder.mul(days, i64(US_PER_DAY)))
        return
    left, right = datetime_operand(emitter, op, 0), datetime_operand(emitter, op, 1)
    if zone_of(op.lhs.type) == zone_of(op.rhs.type):  # one tzinfo: clock times, as CPython does
        emitter.flag_if(builder.or_(left.clock_bad, right.clock_bad))
        emitter.define(op, builder.sub(left.clock, right.clock))
    else:
        emitter.flag_if(builder.or_(left.instant_bad, right.instant_bad))
        emitter.define(op, builder.sub(left.instant, right.instant))


TIMEDELTA_SEMANTICS: dict[str, Callable[[ir.IRBuilder, ir.Value, ir.Value], arith.Result]] = {
    "add": arith.int_add,
    "sub": arith.int_sub,
    "mul": arith.int_mul,
    "floordiv": arith.int_floordiv,
    "floordiv_int": arith.int_floordiv,
    "truediv": arith.int_truediv,
    "mod": arith.int_mod,
}


def emit_timedelta_arithmetic(emitter: RowEmitter, op: ops.TimedeltaArithmeticOp) -> None:
    semantics = TIMEDELTA_SEMANTICS[op.kind.data]
    emitter.checked(op, semantics(emitter.builder, integer_operand(emitter, op, 0), integer_operand(emitter, op, 1)))


def emit_timedelta_negate(emitter: RowEmitter, op: ops.TimedeltaNegateOp) -> None:
    semantics = arith.int_neg if op.kind.data == "neg" else arith.int_abs
    emitter.checked(op, semantics(emitter.builder, integer_operand(emitter, op, 0)))


def emit_from_microseconds(emitter: RowEmitter, op: ops.TimedeltaFromMicrosecondsOp) -> None:
    emitter.define(op, integer_operand(emitter, op, 0))


def emit_compare(emitter: RowEmitter, op: ops.TemporalCmpOp) -> None:
    builder = emitter.builder
    predicate = op.predicate.data
    if not isinstance(op.lhs.type, DatetimeType):
        emitter.define(op, arith.int_compare(builder, predicate, integer_operand(emitter, op, 0), integer_operand(emitter, op, 1)))
        return
    left, right = datetime_operand(emitter, op, 0), datetime_operand(emitter, op, 1)
    left_zone, right_zone = zone_of(op.lhs.type), zone_of(op.rhs.type)
    if left_zone == right_zone:  # one tzinfo: CPython compares clock times and ignores fold
        emitter.flag_if(builder.or_(left.clock_bad, right.clock_bad))
        emitter.define(op, arith.int_compare(builder, predicate, left.clock, right.clock))
        return
    emitter.flag_if(builder.or_(left.instant_bad, right.instant_bad))
    result = arith.int_compare(builder, predicate, left.instant, right.instant)
    if predicate in ("eq", "ne"):
        # Equal instants are unequal if fold would change either side's offset (PEP 495).
        same = builder.icmp_signed("==", left.instant, right.instant)
        left_ambiguous, left_bad = is_ambiguous(builder, left_zone, left.clock)
        right_ambiguous, right_bad = is_ambiguous(builder, right_zone, right.clock)
        emitter.flag_if(builder.and_(same, arith.any_of(builder, left.clock_bad, right.clock_bad, left_bad, right_bad)))
        equal = builder.and_(same, builder.not_(builder.or_(left_ambiguous, right_ambiguous)))
        result = equal if predicate == "eq" else builder.not_(equal)
    emitter.define(op, result)


def emit_astimezone(emitter: RowEmitter, op: ops.AstimezoneOp) -> None:
    builder = emitter.builder
    value = datetime_operand(emitter, op, 0)
    assert isinstance(op.input.type, DatetimeType)
    if not op.input.type.is_aware:  # CPython reads the machine's zone for a naive datetime
        emitter.flag_if(TRUE)
        emitter.define(op, DatetimeValue(i64(0), i64(0), FALSE, FALSE))
        return
    converted = datetime_of_instant(builder, zone_of(op.result.type), value.instant)
    near_limits = outside(builder, value.instant, MIN_MICROSECONDS + LIMIT_MARGIN, MAX_MICROSECONDS - LIMIT_MARGIN)
    local_outside = builder.or_(converted.clock_bad, outside(builder, converted.clock, MIN_MICROSECONDS, MAX_MICROSECONDS))
    emitter.flag_if(
        arith.any_of(
            builder,
            value.instant_bad,
            outside(builder, value.instant, MIN_MICROSECONDS, MAX_MICROSECONDS),
            builder.and_(near_limits, local_outside),
        )
    )
    emitter.define(op, converted)


DATETIME_LOWERINGS: dict[type[Operation], Callable[[RowEmitter, Operation], None]] = {
    ops.TemporalConstantOp: emit_constant,  # type: ignore[dict-item]
    ops.TemporalFieldOp: emit_field,  # type: ignore[dict-item]
    ops.DatetimeDateOp: emit_date,  # type: ignore[dict-item]
    ops.TemporalSecondsOp: emit_seconds,  # type: ignore[dict-item]
    ops.ShiftOp: emit_shift,  # type: ignore[dict-item]
    ops.DifferenceOp: emit_difference,  # type: ignore[dict-item]
    ops.TimedeltaArithmeticOp: emit_timedelta_arithmetic,  # type: ignore[dict-item]
    ops.TimedeltaNegateOp: emit_timedelta_negate,  # type: ignore[dict-item]
    ops.TimedeltaFromMicrosecondsOp: emit_from_microseconds,  # type: ignore[dict-item]
    ops.TemporalCmpOp: emit_compare,  # type: ignore[dict-item]
    ops.AstimezoneOp: emit_astimezone,  # type: ignore[dict-item]
}

LOWERINGS.update(DATETIME_LOWERINGS)
