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
INT64_MAX = 2**63 - 1
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
    """Return x * y and whether it overflows int64.

    A product with a constant tests the other operand against the range that the constant
    allows, which LLVM vectorizes, unlike smul.with.overflow.
    """
    if isinstance(x, ir.Constant) and not isinstance(y, ir.Constant):
        x, y = y, x
    if isinstance(y, ir.Constant) and isinstance(y.constant, int):
        factor = y.constant
        if factor == 0:
            return i64(0), FALSE
        low, high = product_range(factor)
        outside = builder.or_(builder.icmp_signed("<", x, i64(low)), builder.icmp_signed(">", x, i64(high)))
        return builder.mul(x, y), outside
    return int_overflowing(builder, "smul", x, y)


def product_range(factor: int) -> tuple[int, int]:
    """Return the least and greatest int64 x whose product x * factor is an int64, for a factor other than 0."""
    ends = (INT64_MIN, INT64_MAX) if factor > 0 else (INT64_MAX, INT64_MIN)
    low = -(-ends[0] // factor)  # ceil(ends[0] / factor)
    high = ends[1] // factor  # floor(ends[1] / factor)
    return max(low, INT64_MIN), min(high, INT64_MAX)


# The minimum and maximum that an int value may have. A kernel tracks such bounds (see
# RowEmitter.bounds), and an add, sub or mul whose bounds fit int64 needs no overflow check.
Bounds = tuple[int, int]
INT64_BOUNDS: Bounds = (INT64_MIN, INT64_MAX)


def result_bounds(operation: str, x: Bounds, y: Bounds) -> Bounds:
    """Return the bounds of x + y, x - y or x * y ("add", "sub", "mul") in Python ints, which may exceed int64."""
    if operation == "add":
        return x[0] + y[0], x[1] + y[1]
    if operation == "sub":
        return x[0] - y[1], x[1] - y[0]
    products = [left * right for left in x for right in y]
    return min(products), max(products)


def fits_int64(bounds: Bounds) -> bool:
    return INT64_MIN <= bounds[0] and bounds[1] <= INT64_MAX


def division_bounds(x: Bounds, divisor: int, modulo: bool) -> Bounds:
    """Return the bounds of x // divisor, or of x % divisor with `modulo`, for a positive divisor."""
    if not modulo:
        return x[0] // divisor, x[1] // divisor
    if 0 <= x[0] and x[1] < divisor:
        return x
    return 0, divisor - 1


def positive_constant(y: ir.Value) -> int | None:
    """Return y's value if it is a positive int constant, else None."""
    if isinstance(y, ir.Constant) and isinstance(y.constant, int) and y.constant > 0:
        return y.constant
    return None


def division_magic(divisor: int) -> tuple[int, int]:
    """Return (m, s) such that n // divisor == (n * m >> 64) >> s for every n in [0, 2**63).

    With l = ceil(log2(divisor)), m = 2**(63 + l) // divisor + 1 is below 2**64, so it fits
    in a register, and m * divisor - 2**(63 + l) <= 2**l, which makes floor(n * m / 2**(63 + l))
    equal n // divisor for every n below 2**63. The divisor is at least 3 and not a power of two.
    """
    bits = (divisor - 1).bit_length()
    return (1 << (63 + bits)) // divisor + 1, bits - 1


def unsigned_multiply_high(builder: ir.IRBuilder, n: ir.Value, m: int) -> ir.Value:
    """Return the high 64 bits of the unsigned 128-bit product n * m, from 32-bit partial products.

    x86 has no vector instruction for a 64-bit multiply-high, but one for 32 x 32 -> 64 bits
    (pmuludq), so LLVM vectorizes this where it does not vectorize a 128-bit multiply.
    """
    low_mask = i64(0xFFFFFFFF)
    n_low, n_high = builder.and_(n, low_mask), builder.lshr(n, i64(32))
    m_low, m_high = i64(m & 0xFFFFFFFF), i64(m >> 32)
    low_low = builder.mul(n_low, m_low)
    low_high = builder.mul(n_low, m_high)
    high_low = builder.mul(n_high, m_low)
    high_high = builder.mul(n_high, m_high)
    middle = builder.add(
        builder.add(builder.lshr(low_low, i64(32)), builder.and_(low_high, low_mask)), builder.and_(high_low, low_mask)
    )
    carries = builder.add(builder.add(builder.lshr(low_high, i64(32)), builder.lshr(high_low, i64(32))), builder.lshr(middle, i64(32)))
    return builder.add(high_high, carries)


def floordiv_by_constant(builder: ir.IRBuilder, x: ir.Value, divisor: int) -> ir.Value:
    """Return x // divisor for a positive constant divisor, in code LLVM can vectorize.

    For x < 0, x // divisor == ~(~x // divisor), and ~x is in [0, 2**63), so one unsigned
    division by a multiply-high serves both signs.
    """
    if divisor & (divisor - 1) == 0:  # a power of two, 1 included
        return builder.ashr(x, i64(divisor.bit_length() - 1))
    multiplier, shift = division_magic(divisor)
    sign = builder.ashr(x, i64(63))
    magnitude = builder.xor(x, sign)
    quotient = builder.lshr(unsigned_multiply_high(builder, magnitude, multiplier), i64(shift))
    return builder.xor(quotient, sign)


# Dividends of magnitude below NARROW_LIMIT divide by a constant with one 32 x 32 -> 64-bit
# product (see floordiv_by_constant_narrow), where other dividends take four.
NARROW_LIMIT = 2**31


def narrow_divisor(y: ir.Value) -> int | None:
    """Return y's value if floordiv_by_constant_narrow divides by it, else None.

    Powers of two are left out: a shift divides by them already.
    """
    divisor = positive_constant(y)
    if divisor is None or divisor & (divisor - 1) == 0 or divisor >= NARROW_LIMIT:
        return None
    return divisor


def narrow_division_magic(divisor: int) -> tuple[int, int]:
    """Return (m, s) such that n // divisor == n * m >> s for every n in [0, 2**31).

    As in division_magic with 31 bits instead of 63: with l = ceil(log2(divisor)),
    m = 2**(31 + l) // divisor + 1 is below 2**32, because divisor > 2**(l - 1), so n * m is one
    32 x 32 -> 64-bit product, and m * divisor - 2**(31 + l) <= 2**l. The divisor is at least 3,
    below 2**31 and not a power of two.
    """
    bits = (divisor - 1).bit_length()
    return (1 << (31 + bits)) // divisor + 1, 31 + bits


def floordiv_by_constant_narrow(builder: ir.IRBuilder, x: ir.Value, divisor: int) -> Result:
    """Return x // divisor, exact if x is in [-2**31, 2**31), and whether x is outside that range.

    The quotient of a dividend outside the range is wrong: a kernel that divides this way
    computes such a block of rows again with floordiv_by_constant (see kernel.emit_group_block).
    `divisor` is one that narrow_divisor accepts.
    """
    multiplier, shift = narrow_division_magic(divisor)
    sign = builder.ashr(x, i64(63))
    magnitude = builder.xor(x, sign)
    # With the mask, both factors visibly fit in 32 bits, so LLVM multiplies with one pmuludq.
    low = builder.and_(magnitude, i64(0xFFFFFFFF))
    quotient = builder.lshr(builder.mul(low, i64(multiplier)), i64(shift))
    return builder.xor(quotient, sign), builder.icmp_unsigned(">=", magnitude, i64(NARROW_LIMIT))


def int_floordiv(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> Result:
    """x // y rounding toward -inf; flags y == 0 and INT64_MIN // -1."""
    divisor_value = positive_constant(y)
    if divisor_value is not None:
        return floordiv_by_constant(builder, x, divisor_value), FALSE
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
    divisor_value = positive_constant(y)
    if divisor_value is not None:
        return builder.sub(x, builder.mul(floordiv_by_constant(builder, x, divisor_value), y)), FALSE
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
