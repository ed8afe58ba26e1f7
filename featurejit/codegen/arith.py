"""LLVM IR for CPython's int and float arithmetic.

Each function emits straight-line code at the builder's position and returns the result and
an i1 `bad` that is true where CPython would raise, or where the exact result is out of the
fast path's reach. Every operation stays defined for every input: a divisor that would be
undefined behaviour in LLVM (zero, or -1 under INT64_MIN) is replaced before dividing, and
the row is flagged instead.
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
F64 = ir.DoubleType()

INT64_MIN = -(2**63)
TWO_POW_53 = 2**53
TWO_POW_63 = 2.0**63

TRUE = ir.Constant(I1, 1)
FALSE = ir.Constant(I1, 0)

Result = tuple[ir.Value, ir.Value]


def i64(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


def f64(value: float) -> ir.Constant:
    return ir.Constant(F64, value)


def intrinsic(builder: ir.IRBuilder, name: str, return_type: ir.Type, arguments: list[ir.Value]) -> ir.Value:
    """Call an LLVM intrinsic such as llvm.floor.f64, declaring it on first use."""
    module = builder.module
    try:
        function = module.get_global(name)
    except KeyError:
        function = ir.Function(module, ir.FunctionType(return_type, [a.type for a in arguments]), name)
    return builder.call(function, arguments)


def counted_loop(builder: ir.IRBuilder, count: ir.Value, label: str, body: Callable[[ir.Value], None]) -> None:
    """Emit `for index in range(count): body(index)` at the builder's position, for a count of at least 1."""
    head = builder.function.append_basic_block(label)
    end = builder.function.append_basic_block(f"{label}_end")
    before = builder.block
    builder.branch(head)
    builder.position_at_end(head)
    index = builder.phi(I64, "index")
    body(index)
    following = builder.add(index, i64(1))
    builder.cbranch(builder.icmp_signed("<", following, count), head, end)
    index.add_incoming(i64(0), before)
    index.add_incoming(following, builder.block)  # the body may have added blocks
    builder.position_at_end(end)


def any_of(builder: ir.IRBuilder, *conditions: ir.Value) -> ir.Value:
    result = conditions[0]
    for condition in conditions[1:]:
        result = builder.or_(result, condition)
    return result


# --------------------------------------------------------------------------------------
# int (i64)
# --------------------------------------------------------------------------------------


def int_overflowing(builder: ir.IRBuilder, name: str, x: ir.Value, y: ir.Value) -> Result:
    pair = intrinsic(builder, f"llvm.{name}.with.overflow.i64", ir.LiteralStructType([I64, I1]), [x, y])
    return builder.extract_value(pair, 0), builder.extract_value(pair, 1)


# Addition and subtraction test overflow on the sign bits rather than with LLVM's
# s*.with.overflow intrinsics, whose pair result keeps the loop vectorizer from a loop.


def int_add(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> Result:
    """Return x + y and whether it overflows int64: both operands' signs differ from the sum's."""
    total = builder.add(x, y)
    signs = builder.and_(builder.xor(x, total), builder.xor(y, total))
    return total, builder.icmp_signed("<", signs, i64(0))


def int_sub(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> Result:
    """Return x - y and whether it overflows int64: the operands' signs differ and x's differs from the result's."""
    difference = builder.sub(x, y)
    signs = builder.and_(builder.xor(x, y), builder.xor(x, difference))
    return difference, builder.icmp_signed("<", signs, i64(0))


def int_mul(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> Result:
    return int_overflowing(builder, "smul", x, y)


def int_floordiv(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> Result:
    """x // y rounding toward -inf; flags y == 0 and INT64_MIN // -1."""
    zero = builder.icmp_signed("==", y, i64(0))
    overflow = builder.and_(builder.icmp_signed("==", x, i64(INT64_MIN)), builder.icmp_signed("==", y, i64(-1)))
    divisor = builder.select(builder.or_(zero, overflow), i64(1), y)  # sdiv by these is undefined
    quotient = builder.sdiv(x, divisor)
    remainder = builder.srem(x, divisor)
    signs_differ = builder.icmp_signed("<", builder.xor(remainder, divisor), i64(0))
    adjust = builder.and_(builder.icmp_signed("!=", remainder, i64(0)), signs_differ)
    return builder.sub(quotient, builder.zext(adjust, I64)), builder.or_(zero, overflow)


def int_mod(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> Result:
    """x % y with the sign of y; flags y == 0 (INT64_MIN % -1 is 0, as in CPython)."""
    zero = builder.icmp_signed("==", y, i64(0))
    minus_one = builder.icmp_signed("==", y, i64(-1))
    divisor = builder.select(builder.or_(zero, minus_one), i64(1), y)
    remainder = builder.srem(x, divisor)
    signs_differ = builder.icmp_signed("<", builder.xor(remainder, divisor), i64(0))
    adjust = builder.and_(builder.icmp_signed("!=", remainder, i64(0)), signs_differ)
    return builder.select(adjust, builder.add(remainder, divisor), remainder), zero


def beyond_float_precision(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Return whether |x| > 2**53, past which int to float conversion may round."""
    offset = builder.add(x, i64(TWO_POW_53))
    return builder.icmp_unsigned(">", offset, i64(2 * TWO_POW_53))


def int_truediv(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> Result:
    """x / y for ints, exact when both fit in a double; larger ints take the slow path."""
    zero = builder.icmp_signed("==", y, i64(0))
    divisor = builder.select(zero, i64(1), y)
    quotient = builder.fdiv(builder.sitofp(x, F64), builder.sitofp(divisor, F64))
    bad = any_of(builder, zero, beyond_float_precision(builder, x), beyond_float_precision(builder, y))
    return quotient, bad


def int_neg(builder: ir.IRBuilder, x: ir.Value) -> Result:
    return builder.sub(i64(0), x), builder.icmp_signed("==", x, i64(INT64_MIN))


def int_abs(builder: ir.IRBuilder, x: ir.Value) -> Result:
    negative = builder.icmp_signed("<", x, i64(0))
    return builder.select(negative, builder.sub(i64(0), x), x), builder.icmp_signed("==", x, i64(INT64_MIN))


def int_invert(builder: ir.IRBuilder, x: ir.Value) -> Result:
    return builder.xor(x, i64(-1)), FALSE


def int_compare(builder: ir.IRBuilder, predicate: str, x: ir.Value, y: ir.Value) -> ir.Value:
    return builder.icmp_signed(INT_PREDICATES[predicate], x, y)


INT_PREDICATES = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
FLOAT_PREDICATES = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def int_round_digits(builder: ir.IRBuilder, x: ir.Value, ndigits: ir.Value) -> Result:
    """round(x, n) for an int x: x itself for n >= 0, else the nearest multiple of 10**-n, ties to even."""
    exponent = builder.sub(i64(0), ndigits)
    bad = builder.icmp_signed(">", exponent, i64(18))  # 10**19 does not fit in int64
    # The table index stays in [0, 18] for every ndigits; out-of-range rows are flagged or kept as x.
    in_table = builder.and_(builder.icmp_signed(">=", exponent, i64(0)), builder.not_(bad))
    power = power_of_ten(builder, builder.select(in_table, exponent, i64(0)))
    quotient, _ = int_floordiv(builder, x, power)
    remainder = builder.sub(x, builder.mul(quotient, power))
    twice = builder.shl(remainder, i64(1))
    above_half = builder.icmp_signed(">", twice, power)
    at_half = builder.icmp_signed("==", twice, power)
    odd = builder.icmp_signed("!=", builder.and_(quotient, i64(1)), i64(0))
    round_up = builder.or_(above_half, builder.and_(at_half, odd))
    rounded, overflow = int_mul(builder, builder.add(quotient, builder.zext(round_up, I64)), power)
    keep = builder.icmp_signed(">=", ndigits, i64(0))
    return builder.select(keep, x, rounded), builder.and_(builder.not_(keep), builder.or_(bad, overflow))


def power_of_ten(builder: ir.IRBuilder, exponent: ir.Value) -> ir.Value:
    """Return 10**exponent for exponent in [0, 18], from a constant table."""
    table_type = ir.ArrayType(I64, 19)
    module = builder.module
    try:
        table = module.get_global("fj.powers_of_ten")
    except KeyError:
        table = ir.GlobalVariable(module, table_type, "fj.powers_of_ten")
        table.initializer = ir.Constant(table_type, [10**k for k in range(19)])
        table.global_constant = True
        table.linkage = "internal"
    pointer = builder.gep(table, [i64(0), exponent], inbounds=True)
    return builder.load(pointer)


# --------------------------------------------------------------------------------------
# float (f64)
# --------------------------------------------------------------------------------------


def float_truediv(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> Result:
    return builder.fdiv(x, y), builder.fcmp_ordered("==", y, f64(0.0))


def float_divmod(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """Return (x // y, x % y, y == 0) computed the way CPython's float divmod does."""
    zero_divisor = builder.fcmp_ordered("==", y, f64(0.0))
    mod = builder.frem(x, y)
    div = builder.fdiv(builder.fsub(x, mod), y)
    mod_nonzero = builder.fcmp_unordered("!=", mod, f64(0.0))
    signs_differ = builder.icmp_unsigned(
        "!=", builder.fcmp_ordered("<", y, f64(0.0)), builder.fcmp_ordered("<", mod, f64(0.0))
    )
    shift = builder.and_(mod_nonzero, signs_differ)
    mod = builder.select(shift, builder.fadd(mod, y), mod)
    div = builder.select(shift, builder.fsub(div, f64(1.0)), div)
    mod = builder.select(mod_nonzero, mod, intrinsic(builder, "llvm.copysign.f64", F64, [f64(0.0), y]))
    floor_div = intrinsic(builder, "llvm.floor.f64", F64, [div])
    above_half = builder.fcmp_ordered(">", builder.fsub(div, floor_div), f64(0.5))
    floor_div = builder.select(above_half, builder.fadd(floor_div, f64(1.0)), floor_div)
    div_nonzero = builder.fcmp_unordered("!=", div, f64(0.0))
    signed_zero = intrinsic(builder, "llvm.copysign.f64", F64, [f64(0.0), builder.fdiv(x, y)])
    floor_div = builder.select(div_nonzero, floor_div, signed_zero)
    return floor_div, mod, zero_divisor


def float_floordiv(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> Result:
    quotient, _, zero = float_divmod(builder, x, y)
    return quotient, zero


def float_mod(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> Result:
    _, remainder, zero = float_divmod(builder, x, y)
    return remainder, zero


def float_neg(builder: ir.IRBuilder, x: ir.Value) -> Result:
    return builder.fneg(x), FALSE


def float_abs(builder: ir.IRBuilder, x: ir.Value) -> Result:
    return intrinsic(builder, "llvm.fabs.f64", F64, [x]), FALSE


def float_compare(builder: ir.IRBuilder, predicate: str, x: ir.Value, y: ir.Value) -> ir.Value:
    if predicate == "ne":
        return builder.fcmp_unordered("!=", x, y)  # NaN != anything is True
    return builder.fcmp_ordered(FLOAT_PREDICATES[predicate], x, y)


def float_to_int(builder: ir.IRBuilder, x: ir.Value) -> Result:
    """int(x) truncating toward zero; flags NaN, inf and values outside int64."""
    in_range = builder.and_(
        builder.fcmp_ordered(">=", x, f64(-TWO_POW_63)), builder.fcmp_ordered("<", x, f64(TWO_POW_63))
    )
    safe = builder.select(in_range, x, f64(0.0))
    return builder.fptosi(safe, I64), builder.not_(in_range)


def float_round(builder: ir.IRBuilder, x: ir.Value) -> Result:
    """round(x) to the nearest int with ties to even; flags NaN and inf."""
    return float_to_int(builder, intrinsic(builder, "llvm.roundeven.f64", F64, [x]))


def is_nan(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return builder.fcmp_unordered("uno", x, x)


def is_finite(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return builder.fcmp_ordered("<", intrinsic(builder, "llvm.fabs.f64", F64, [x]), f64(float("inf")))


def is_inf(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return builder.fcmp_ordered("==", intrinsic(builder, "llvm.fabs.f64", F64, [x]), f64(float("inf")))


def mixed_compare(builder: ir.IRBuilder, predicate: str, x: ir.Value, y: ir.Value) -> ir.Value:
    """Compare int x with float y exactly, as CPython does, without converting x to a double."""
    nan = is_nan(builder, y)
    above = builder.fcmp_ordered(">=", y, f64(TWO_POW_63))
    below = builder.fcmp_ordered("<", y, f64(-TWO_POW_63))
    whole = intrinsic(builder, "llvm.trunc.f64", F64, [y])
    out_of_range = any_of(builder, nan, above, below)
    whole_int = builder.fptosi(builder.select(out_of_range, f64(0.0), whole), I64)
    fraction = builder.fsub(y, whole)
    same_whole = builder.icmp_signed("==", x, whole_int)
    less = builder.or_(
        builder.icmp_signed("<", x, whole_int), builder.and_(same_whole, builder.fcmp_ordered(">", fraction, f64(0.0)))
    )
    greater = builder.or_(
        builder.icmp_signed(">", x, whole_int), builder.and_(same_whole, builder.fcmp_ordered("<", fraction, f64(0.0)))
    )
    less = builder.select(above, TRUE, builder.select(below, FALSE, less))
    greater = builder.select(above, FALSE, builder.select(below, TRUE, greater))
    ordered = builder.not_(nan)
    equal = builder.and_(ordered, builder.not_(builder.or_(less, greater)))
    results = {
        "eq": equal,
        "ne": builder.not_(equal),
        "lt": builder.and_(ordered, less),
        "le": builder.and_(ordered, builder.or_(less, equal)),
        "gt": builder.and_(ordered, greater),
        "ge": builder.and_(ordered, builder.or_(greater, equal)),
    }
    return results[predicate]


SWAPPED_PREDICATES = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
