"""LLVM IR for `**`, `round(x, n)` and the `math` functions, with CPython's special cases.

Transcendental functions call the C library through symbols named `fj_libm_<name>`, bound
to the libm that CPython itself calls. The unfamiliar names keep LLVM from recognizing the
calls and rewriting them (it turns pow(x, 0.5) into sqrt(x), which differs from glibc's
pow in the last bit for some x), so results match CPython's bit for bit.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from dataclasses import dataclass

from llvmlite import ir

from featurejit.codegen.arith import (
    F64,
    FALSE,
    I1,
    I64,
    TRUE,
    Result,
    any_of,
    counted_loop,
    f64,
    float_to_int,
    i64,
    intrinsic,
    is_finite,
    is_inf,
    is_nan,
)

LIBM_UNARY = (
    "exp", "expm1", "log", "log1p", "log2", "log10", "sin", "cos", "tan",
    "asin", "acos", "atan", "sinh", "cosh", "tanh",
)
LIBM_BINARY = ("pow", "atan2")


@functools.cache
def libm_symbols() -> dict[str, int]:
    """Return the addresses of the libm functions kernels call, keyed by their JIT symbol names."""
    path = ctypes.util.find_library("m")
    library = ctypes.CDLL(path) if path else ctypes.CDLL(None)
    return {
        f"fj_libm_{name}": ctypes.cast(getattr(library, name), ctypes.c_void_p).value or 0
        for name in (*LIBM_UNARY, *LIBM_BINARY)
    }


@functools.cache
def memory_symbols() -> dict[str, int]:
    """Return the addresses of the C library's malloc and free, which kernels call for their call caches."""
    library = ctypes.CDLL(None)
    return {f"fj_{name}": ctypes.cast(getattr(library, name), ctypes.c_void_p).value or 0 for name in ("malloc", "free")}


def call_libm(builder: ir.IRBuilder, name: str, arguments: list[ir.Value]) -> ir.Value:
    module = builder.module
    symbol = f"fj_libm_{name}"
    try:
        function = module.get_global(symbol)
    except KeyError:
        function = ir.Function(module, ir.FunctionType(F64, [F64] * len(arguments)), symbol)
        function.attributes.add("nounwind")
        # The functions read no memory that kernels write. They may set errno, which kernels
        # never read, so LLVM may treat them as pure, as clang does under -fno-math-errno:
        # it keeps values in registers across a call and computes identical calls once.
        function.attributes.add("readnone")
    return builder.call(function, arguments)


# A batch kernel caches the results of its first CALL_CACHE_SITES one-argument libm calls,
# keyed by the argument's 64 bits. Feature columns repeat values (a distance, a delay in whole
# minutes), and on the flights columns a log1p call costs about five times a cache hit (12.1
# against 2.2 ns per row). A cached result is the one the call returned for the same bits, so
# results stay bit for bit CPython's.
CALL_CACHE_BITS = 12
CALL_CACHE_SLOTS = 1 << CALL_CACHE_BITS  # 64 KiB per call site
# A slot is a key followed by its result, so that a hit reads one cache line, not two.
CALL_CACHE_SITES = 4
# Kernel calls over fewer rows skip the cache: clearing its keys would cost more than it saves.
CALL_CACHE_MIN_ROWS = 4096
# The cache turns itself off for the rest of a kernel call once it has missed more than
# CALL_CACHE_MISSES times and on more than half of its lookups, because then its misses cost
# more than its hits save.
CALL_CACHE_MISSES = CALL_CACHE_SLOTS
# The key of an empty slot: the bits of one NaN, whose lookups always miss.
EMPTY_KEY = -1
FIBONACCI_MULTIPLIER = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, the hash of the argument's bits


@dataclass
class CallCache:
    """One libm call site's cache in a batch kernel (see CALL_CACHE_SLOTS), and its counters.

    The keys and results live in memory from malloc, which release_call_cache frees, so that a
    kernel needs little stack whichever thread runs it.
    """

    memory: ir.Value  # i8*, from malloc, or null when the cache is off for the whole call
    keys: ir.Value  # i64*, the key of slot s at element 2 * s
    results: ir.Value  # double*, the result of slot s at element 2 * s
    enabled: ir.Value  # i1
    lookups: ir.Value  # i64
    misses: ir.Value  # i64
    missed: ir.Value  # i64: a bit per lane of the block whose lookup missed
    empty_key: ir.Value  # i64* to EMPTY_KEY, the one slot of a cache that is off
    empty_result: ir.Value  # double*


BYTE_POINTER = ir.IntType(8).as_pointer()


def memory_function(module: ir.Module, name: str, function_type: ir.FunctionType) -> ir.Function:
    try:
        return module.get_global(name)
    except KeyError:
        function = ir.Function(module, function_type, name)
        function.attributes.add("nounwind")
        return function


def allocate_call_cache(builder: ir.IRBuilder, rows: ir.Value) -> CallCache:
    """Allocate a call site's cache in the kernel's entry block; enable it if `rows` is large enough.

    The builder must be in the entry block, so that LLVM keeps the counters in registers. If
    malloc fails, the cache stays off.
    """
    malloc = memory_function(builder.module, "fj_malloc", ir.FunctionType(BYTE_POINTER, [I64]))
    address = builder.alloca(BYTE_POINTER)
    builder.store(ir.Constant(BYTE_POINTER, None), address)
    with builder.if_then(builder.icmp_signed(">=", rows, i64(CALL_CACHE_MIN_ROWS))):
        builder.store(builder.call(malloc, [i64(16 * CALL_CACHE_SLOTS)]), address)
    memory = builder.load(address)
    enabled = builder.icmp_unsigned("!=", memory, ir.Constant(BYTE_POINTER, None))
    keys = builder.bitcast(memory, I64.as_pointer())
    results = builder.bitcast(builder.gep(memory, [i64(8)]), F64.as_pointer())
    empty_key = builder.alloca(I64)
    builder.store(i64(EMPTY_KEY), empty_key)
    empty_result = builder.alloca(F64)
    builder.store(f64(0.0), empty_result)
    counters = (builder.alloca(I1), builder.alloca(I64), builder.alloca(I64), builder.alloca(I64))
    cache = CallCache(memory, keys, results, *counters, empty_key, empty_result)
    builder.store(enabled, cache.enabled)
    builder.store(i64(0), cache.lookups)
    builder.store(i64(0), cache.misses)
    with builder.if_then(enabled):
        memset = builder.module.declare_intrinsic("llvm.memset", [BYTE_POINTER, I64])
        all_ones = ir.Constant(ir.IntType(8), EMPTY_KEY & 0xFF)
        builder.call(memset, [memory, all_ones, i64(16 * CALL_CACHE_SLOTS), FALSE])
    return cache


def release_call_cache(builder: ir.IRBuilder, cache: CallCache) -> None:
    """Free a cache's memory; emit this on the kernel's way out (free of null does nothing)."""
    free = memory_function(builder.module, "fj_free", ir.FunctionType(ir.VoidType(), [BYTE_POINTER]))
    builder.call(free, [cache.memory])


def slot_index(builder: ir.IRBuilder, bits: ir.Value) -> ir.Value:
    """Return the index of the cache slot for an argument's bits: the top bits of their hash."""
    hashed = builder.mul(bits, ir.Constant(I64, FIBONACCI_MULTIPLIER - 2**64))
    return builder.lshr(hashed, i64(64 - CALL_CACHE_BITS))


def cache_slot(builder: ir.IRBuilder, cache: CallCache, bits: ir.Value) -> tuple[ir.Value, ir.Value]:
    """Return the addresses of the key and the result of the slot for an argument's bits."""
    element = builder.shl(slot_index(builder, bits), i64(1))
    return builder.gep(cache.keys, [element], inbounds=True), builder.gep(cache.results, [element], inbounds=True)


def holds(builder: ir.IRBuilder, key_pointer: ir.Value, bits: ir.Value) -> ir.Value:
    """Return whether a slot of an enabled cache contains the result for these bits."""
    same = builder.icmp_signed("==", builder.load(key_pointer), bits)
    return builder.and_(same, builder.icmp_signed("!=", bits, i64(EMPTY_KEY)))


def count_lookups(builder: ir.IRBuilder, cache: CallCache, lookups: ir.Value, misses: ir.Value) -> None:
    """Add to an enabled cache's counters, and turn it off if it misses too often (see CALL_CACHE_MISSES)."""
    lookups = builder.add(builder.load(cache.lookups), lookups)
    misses = builder.add(builder.load(cache.misses), misses)
    builder.store(lookups, cache.lookups)
    builder.store(misses, cache.misses)
    useless = builder.and_(
        builder.icmp_signed(">", misses, i64(CALL_CACHE_MISSES)),
        builder.icmp_signed(">", builder.shl(misses, i64(1)), lookups),
    )
    builder.store(builder.not_(useless), cache.enabled)


def cached_call(builder: ir.IRBuilder, cache: CallCache, name: str, x: ir.Value) -> ir.Value:
    """Return libm's name(x), from the cache if it contains x's bits, else from a call that fills it."""
    function = builder.function
    lookup, hit, fill, miss, done = (
        function.append_basic_block(f"{name}_cache_{part}") for part in ("lookup", "hit", "fill", "miss", "done")
    )
    bits = builder.bitcast(x, I64)
    key_pointer, result_pointer = cache_slot(builder, cache, bits)
    builder.cbranch(builder.load(cache.enabled), lookup, miss)

    builder.position_at_end(lookup)
    builder.cbranch(holds(builder, key_pointer, bits), hit, fill)

    builder.position_at_end(hit)
    cached = builder.load(result_pointer)
    count_lookups(builder, cache, i64(1), i64(0))
    builder.branch(done)

    builder.position_at_end(fill)
    filled = call_libm(builder, name, [x])
    builder.store(bits, key_pointer)
    builder.store(filled, result_pointer)
    count_lookups(builder, cache, i64(1), i64(1))
    builder.branch(done)

    builder.position_at_end(miss)
    computed = call_libm(builder, name, [x])
    builder.branch(done)

    builder.position_at_end(done)
    result = builder.phi(F64)
    result.add_incoming(cached, hit)
    result.add_incoming(filled, fill)
    result.add_incoming(computed, miss)
    return result


def call_lanes(builder: ir.IRBuilder, name: str, arguments: ir.Value, results: ir.Value, count: ir.Value) -> None:
    """Store libm's name(x) for the first `count` (1 to 64) doubles x of `arguments` into `results`."""

    def call(lane: ir.Value) -> None:
        argument = builder.load(builder.gep(arguments, [lane], inbounds=True))
        builder.store(call_libm(builder, name, [argument]), builder.gep(results, [lane], inbounds=True))

    counted_loop(builder, count, f"{name}_calls", call)


@dataclass
class BlockLookups:
    """A cache's state for one block of rows: whether it is on, and where its lanes look."""

    cache: CallCache
    enabled: ir.Value  # i1, read at the start of the block
    keys: ir.Value  # the cache's keys, or a slot whose key always misses while it is off
    results: ir.Value
    mask: ir.Value  # the slot mask: CALL_CACHE_SLOTS - 1, or 0 while the cache is off


def begin_block_lookups(builder: ir.IRBuilder, cache: CallCache) -> BlockLookups:
    """Read a cache's state before a block's loop that looks its rows up (see look_up_lane)."""
    enabled = builder.load(cache.enabled)
    builder.store(i64(0), cache.missed)
    return BlockLookups(
        cache,
        enabled,
        builder.select(enabled, cache.keys, cache.empty_key),
        builder.select(enabled, cache.results, cache.empty_result),
        builder.select(enabled, i64(CALL_CACHE_SLOTS - 1), i64(0)),
    )


def look_up_lane(builder: ir.IRBuilder, lookups: BlockLookups, argument: ir.Value, lane: ir.Value, results: ir.Value) -> None:
    """Store the cached result for one lane's argument into `results`, or mark the lane missed.

    The code has no branches, so LLVM vectorizes the loop around it: a cache that is off
    points every lane at one slot whose key never matches.
    """
    bits = builder.bitcast(argument, I64)
    element = builder.shl(builder.and_(slot_index(builder, bits), lookups.mask), i64(1))
    key_pointer = builder.gep(lookups.keys, [element], inbounds=True)
    result_pointer = builder.gep(lookups.results, [element], inbounds=True)
    missing = builder.zext(builder.not_(holds(builder, key_pointer, bits)), I64)
    builder.store(builder.load(result_pointer), builder.gep(results, [lane], inbounds=True))
    missed = lookups.cache.missed
    builder.store(builder.or_(builder.load(missed), builder.shl(missing, lane)), missed)


def call_missed_lanes(
    builder: ir.IRBuilder, lookups: BlockLookups, name: str, arguments: ir.Value, results: ir.Value, count: ir.Value
) -> None:
    """Call libm for the lanes that look_up_lane marked missed, and fill the cache with the results."""
    cache, enabled = lookups.cache, lookups.enabled
    function = builder.function
    misses_loop, miss, misses_end = (
        function.append_basic_block(f"{name}_block_{part}") for part in ("misses_loop", "miss", "misses_end")
    )
    to_call = builder.load(cache.missed)
    start = builder.block
    builder.branch(misses_loop)

    builder.position_at_end(misses_loop)
    remaining = builder.phi(I64, "remaining")
    builder.cbranch(builder.icmp_unsigned("!=", remaining, i64(0)), miss, misses_end)

    builder.position_at_end(miss)
    lane = intrinsic(builder, "llvm.cttz.i64", I64, [remaining, TRUE])
    argument = builder.load(builder.gep(arguments, [lane], inbounds=True))
    result = call_libm(builder, name, [argument])
    builder.store(result, builder.gep(results, [lane], inbounds=True))
    with builder.if_then(enabled):
        bits = builder.bitcast(argument, I64)
        key_pointer, result_pointer = cache_slot(builder, cache, bits)
        builder.store(bits, key_pointer)
        builder.store(result, result_pointer)
    next_remaining = builder.and_(remaining, builder.sub(remaining, i64(1)))
    builder.branch(misses_loop)
    remaining.add_incoming(to_call, start)
    remaining.add_incoming(next_remaining, builder.block)

    builder.position_at_end(misses_end)
    with builder.if_then(enabled):
        missed_count = intrinsic(builder, "llvm.ctpop.i64", I64, [to_call])
        count_lookups(builder, cache, count, missed_count)


def fabs(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return intrinsic(builder, "llvm.fabs.f64", F64, [x])


def copysign(builder: ir.IRBuilder, x: ir.Value, sign: ir.Value) -> ir.Value:
    return intrinsic(builder, "llvm.copysign.f64", F64, [x, sign])


def fma(builder: ir.IRBuilder, x: ir.Value, y: ir.Value, z: ir.Value) -> ir.Value:
    return intrinsic(builder, "llvm.fma.f64", F64, [x, y, z])


def is_odd_integer(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Return whether x is an odd integer, tested as fmod(fabs(x), 2.0) == 1.0."""
    return builder.fcmp_ordered("==", builder.frem(fabs(builder, x), f64(2.0)), f64(1.0))


def select_chain(builder: ir.IRBuilder, default: Result, cases: list[tuple[ir.Value, Result]]) -> Result:
    """Pick the first case whose condition holds, else the default; conditions in priority order."""
    value, bad = default
    for condition, (case_value, case_bad) in reversed(cases):
        value = builder.select(condition, case_value, value)
        bad = builder.select(condition, case_bad, bad)
    return value, bad


def float_pow(builder: ir.IRBuilder, v: ir.Value, w: ir.Value) -> Result:
    """v ** w for floats, with the special cases CPython handles before calling pow()."""
    odd = is_odd_integer(builder, w)
    magnitude = fabs(builder, v)
    negative = builder.fcmp_ordered("<", v, f64(0.0))
    negate = builder.and_(negative, odd)
    complex_result = builder.and_(
        negative, builder.fcmp_unordered("!=", w, intrinsic(builder, "llvm.floor.f64", F64, [w]))
    )
    general = call_libm(builder, "pow", [magnitude, w])
    overflow = is_inf(builder, general)
    general = builder.select(negate, builder.fneg(general), general)
    w_positive = builder.fcmp_ordered(">", w, f64(0.0))
    one_or_more = builder.fcmp_ordered(">", magnitude, f64(1.0))
    w_infinite = builder.select(
        builder.fcmp_ordered("==", magnitude, f64(1.0)),
        f64(1.0),
        builder.select(builder.icmp_unsigned("==", w_positive, one_or_more), fabs(builder, w), f64(0.0)),
    )
    v_infinite = builder.select(
        w_positive,
        builder.select(odd, v, magnitude),
        builder.select(odd, copysign(builder, f64(0.0), v), f64(0.0)),
    )
    return select_chain(
        builder,
        (general, builder.or_(overflow, complex_result)),
        [
            (builder.fcmp_ordered("==", w, f64(0.0)), (f64(1.0), FALSE)),
            (is_nan(builder, v), (v, FALSE)),
            (is_nan(builder, w), (builder.select(builder.fcmp_ordered("==", v, f64(1.0)), f64(1.0), w), FALSE)),
            (is_inf(builder, w), (w_infinite, FALSE)),
            (is_inf(builder, v), (v_infinite, FALSE)),
            (builder.fcmp_ordered("==", v, f64(0.0)),
             (builder.select(odd, v, f64(0.0)), builder.fcmp_ordered("<", w, f64(0.0)))),
            (complex_result, (f64(0.0), complex_result)),
            (builder.fcmp_ordered("==", magnitude, f64(1.0)),
             (builder.select(negate, f64(-1.0), f64(1.0)), FALSE)),
        ],
    )


def math_pow(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> Result:
    """math.pow(x, y): libm pow for finite operands, CPython's rules for the others."""
    finite = builder.and_(is_finite(builder, x), is_finite(builder, y))
    result = call_libm(builder, "pow", [x, y])
    bad = builder.and_(finite, builder.not_(is_finite(builder, result)))
    x_magnitude = fabs(builder, x)
    y_positive = builder.fcmp_ordered(">", y, f64(0.0))
    odd_y = builder.and_(is_finite(builder, y), is_odd_integer(builder, y))
    x_infinite = builder.select(
        y_positive,
        builder.select(odd_y, x, x_magnitude),
        builder.select(
            builder.fcmp_ordered("==", y, f64(0.0)),
            f64(1.0),
            builder.select(odd_y, copysign(builder, f64(0.0), x), f64(0.0)),
        ),
    )
    y_infinite = builder.select(
        builder.fcmp_ordered("==", x_magnitude, f64(1.0)),
        f64(1.0),
        builder.select(
            builder.and_(y_positive, builder.fcmp_ordered(">", x_magnitude, f64(1.0))),
            y,
            builder.select(
                builder.and_(builder.fcmp_ordered("<", y, f64(0.0)), builder.fcmp_ordered("<", x_magnitude, f64(1.0))),
                builder.fneg(y),
                f64(0.0),
            ),
        ),
    )
    return select_chain(
        builder,
        (result, bad),
        [
            (is_nan(builder, x), (builder.select(builder.fcmp_ordered("==", y, f64(0.0)), f64(1.0), x), FALSE)),
            (is_nan(builder, y), (builder.select(builder.fcmp_ordered("==", x, f64(1.0)), f64(1.0), y), FALSE)),
            (is_inf(builder, x), (x_infinite, FALSE)),
            (is_inf(builder, y), (y_infinite, FALSE)),
        ],
    )


def int_pow(builder: ir.IRBuilder, base: ir.Value, exponent: ir.Value) -> Result:
    """base ** exponent for ints by repeated squaring; flags overflow and negative exponents."""
    function = int_pow_function(builder.module)
    pair = builder.call(function, [base, exponent])
    return builder.extract_value(pair, 0), builder.extract_value(pair, 1)


def int_pow_function(module: ir.Module) -> ir.Function:
    name = "fj.int_pow"
    try:
        return module.get_global(name)
    except KeyError:
        pass
    result_type = ir.LiteralStructType([I64, I1])
    function = ir.Function(module, ir.FunctionType(result_type, [I64, I64]), name)
    function.linkage = "internal"
    function.attributes.add("alwaysinline")
    base, exponent = function.args
    entry, loop, done = (function.append_basic_block(label) for label in ("entry", "loop", "done"))
    builder = ir.IRBuilder(entry)
    negative = builder.icmp_signed("<", exponent, i64(0))
    start = builder.select(negative, i64(0), exponent)
    builder.branch(loop)

    builder.position_at_end(loop)
    result = builder.phi(I64)
    square = builder.phi(I64)
    remaining = builder.phi(I64)
    bad = builder.phi(I1)
    odd = builder.icmp_unsigned("!=", builder.and_(remaining, i64(1)), i64(0))
    product, product_overflow = _checked(builder, "smul", result, square)
    next_result = builder.select(odd, product, result)
    next_bad = builder.or_(bad, builder.and_(odd, product_overflow))
    next_remaining = builder.lshr(remaining, i64(1))
    more = builder.icmp_unsigned("!=", next_remaining, i64(0))
    next_square, square_overflow = _checked(builder, "smul", square, square)
    next_bad = builder.or_(next_bad, builder.and_(more, square_overflow))
    builder.cbranch(more, loop, done)
    result.add_incoming(i64(1), entry)
    result.add_incoming(next_result, loop)
    square.add_incoming(base, entry)
    square.add_incoming(next_square, loop)
    remaining.add_incoming(start, entry)
    remaining.add_incoming(next_remaining, loop)
    bad.add_incoming(negative, entry)
    bad.add_incoming(next_bad, loop)

    builder.position_at_end(done)
    pair = builder.insert_value(ir.Constant(result_type, ir.Undefined), next_result, 0)
    builder.ret(builder.insert_value(pair, next_bad, 1))
    return function


def _checked(builder: ir.IRBuilder, name: str, x: ir.Value, y: ir.Value) -> Result:
    pair = intrinsic(builder, f"llvm.{name}.with.overflow.i64", ir.LiteralStructType([I64, I1]), [x, y])
    return builder.extract_value(pair, 0), builder.extract_value(pair, 1)


def powers_of_ten_double(builder: ir.IRBuilder, exponent: ir.Value) -> ir.Value:
    """Return 10.0**exponent for exponent in [0, 22], all exact doubles."""
    table_type = ir.ArrayType(F64, 23)
    module = builder.module
    try:
        table = module.get_global("fj.powers_of_ten_double")
    except KeyError:
        table = ir.GlobalVariable(module, table_type, "fj.powers_of_ten_double")
        table.initializer = ir.Constant(table_type, [float(10**k) for k in range(23)])
        table.global_constant = True
        table.linkage = "internal"
    return builder.load(builder.gep(table, [i64(0), exponent], inbounds=True))


def float_round_digits(builder: ir.IRBuilder, x: ir.Value, ndigits: ir.Value) -> Result:
    """round(x, n) for a float: the correctly rounded decimal, ties to even, as CPython gives.

    The exact product x * 10**n is y + err (err from an fma), so halfway cases are decided
    on the exact value. Digits outside [-22, 22] and |x * 10**n| >= 2**52 take the slow path.
    """
    in_range = builder.and_(
        builder.icmp_signed(">=", ndigits, i64(-22)), builder.icmp_signed("<=", ndigits, i64(22))
    )
    digits = builder.select(in_range, ndigits, i64(0))
    positive = builder.icmp_signed(">=", digits, i64(0))
    power = powers_of_ten_double(builder, builder.select(positive, digits, builder.sub(i64(0), digits)))
    scaled = builder.select(positive, builder.fmul(x, power), builder.fdiv(x, power))
    error = builder.select(
        positive, fma(builder, x, power, builder.fneg(scaled)), fma(builder, builder.fneg(scaled), power, x)
    )
    floor = intrinsic(builder, "llvm.floor.f64", F64, [scaled])
    fraction = builder.fsub(scaled, floor)
    floor_is_odd = builder.fcmp_ordered("!=", builder.frem(floor, f64(2.0)), f64(0.0))
    at_half = builder.fcmp_ordered("==", fraction, f64(0.5))
    tie_up = builder.or_(
        builder.fcmp_ordered(">", error, f64(0.0)),
        builder.and_(builder.fcmp_ordered("==", error, f64(0.0)), floor_is_odd),
    )
    round_up = builder.or_(builder.fcmp_ordered(">", fraction, f64(0.5)), builder.and_(at_half, tie_up))
    rounded = builder.fadd(floor, builder.uitofp(round_up, F64))
    result = builder.select(positive, builder.fdiv(rounded, power), builder.fmul(rounded, power))
    result = copysign(builder, result, x)
    finite = is_finite(builder, x)
    too_large = builder.fcmp_ordered(">=", fabs(builder, scaled), f64(2.0**52))
    bad = builder.and_(finite, any_of(builder, builder.not_(in_range), too_large, is_inf(builder, result)))
    return builder.select(finite, result, x), bad


def hypot(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> Result:
    """math.hypot(x, y) with CPython's algorithm: scaled, exactly squared, compensated sums."""
    ax, ay = fabs(builder, x), fabs(builder, y)
    found_nan = builder.or_(is_nan(builder, x), is_nan(builder, y))
    largest = builder.select(builder.fcmp_ordered(">", ax, f64(0.0)), ax, f64(0.0))
    largest = builder.select(builder.fcmp_ordered(">", ay, largest), ay, largest)
    bits = builder.bitcast(largest, I64)
    exponent_bits = builder.and_(builder.lshr(bits, i64(52)), i64(0x7FF))
    exponent = builder.sub(exponent_bits, i64(1022))  # frexp's exponent for normal numbers
    scale_exponent = builder.sub(i64(1023), exponent)
    # Subnormal and near-overflow maxima need a second scaling step; they take the slow path.
    unusual = builder.or_(
        builder.icmp_signed("<", scale_exponent, i64(1)), builder.icmp_signed(">", scale_exponent, i64(2044))
    )
    safe_exponent = builder.select(unusual, i64(1023), scale_exponent)
    scale = builder.bitcast(builder.shl(safe_exponent, i64(52)), F64)

    total, low_sum, rounding_sum = f64(1.0), f64(0.0), f64(0.0)
    for value in (ax, ay):
        scaled = builder.fmul(value, scale)
        square = builder.fmul(scaled, scaled)
        low_sum = builder.fadd(low_sum, fma(builder, scaled, scaled, builder.fneg(square)))
        new_total = builder.fadd(total, square)
        rounding_sum = builder.fadd(rounding_sum, builder.fadd(builder.fsub(total, new_total), square))
        total = new_total
    root = intrinsic(
        builder, "llvm.sqrt.f64", F64,
        [builder.fadd(builder.fsub(total, f64(1.0)), builder.fadd(low_sum, rounding_sum))],
    )
    minus_square = builder.fmul(builder.fneg(root), root)
    low_sum = builder.fadd(low_sum, fma(builder, builder.fneg(root), root, builder.fneg(minus_square)))
    new_total = builder.fadd(total, minus_square)
    rounding_sum = builder.fadd(rounding_sum, builder.fadd(builder.fsub(total, new_total), minus_square))
    residual = builder.fadd(builder.fsub(new_total, f64(1.0)), builder.fadd(low_sum, rounding_sum))
    root = builder.fadd(root, builder.fdiv(residual, builder.fmul(f64(2.0), root)))
    result = builder.fdiv(root, scale)

    zero = builder.fcmp_ordered("==", largest, f64(0.0))
    value, _ = select_chain(
        builder,
        (result, FALSE),
        [(is_inf(builder, largest), (largest, FALSE)), (found_nan, (f64(float("nan")), FALSE)), (zero, (largest, FALSE))],
    )
    ordinary = builder.not_(any_of(builder, is_inf(builder, largest), found_nan, zero))
    return value, builder.and_(ordinary, unusual)


def domain_error(builder: ir.IRBuilder, result: ir.Value, arguments: list[ir.Value]) -> ir.Value:
    """CPython's math errors: a NaN from non-NaN arguments, or an infinity from finite ones."""
    no_nan_argument = builder.not_(any_of(builder, *(is_nan(builder, a) for a in arguments)))
    finite = is_finite(builder, arguments[0])
    for argument in arguments[1:]:
        finite = builder.and_(finite, is_finite(builder, argument))
    return builder.or_(
        builder.and_(is_nan(builder, result), no_nan_argument), builder.and_(is_inf(builder, result), finite)
    )


def math_call(builder: ir.IRBuilder, name: str, arguments: list[ir.Value], cache: CallCache | None = None) -> Result:
    """Emit math.<name>(*arguments) and whether CPython would raise for these arguments.

    A one-argument libm function reads and fills `cache` if one is given.
    """
    if name in ("floor", "ceil", "trunc"):
        return float_to_int(builder, intrinsic(builder, f"llvm.{name}.f64", F64, arguments))
    if name == "isnan":
        return is_nan(builder, arguments[0]), FALSE
    if name == "isinf":
        return is_inf(builder, arguments[0]), FALSE
    if name == "isfinite":
        return is_finite(builder, arguments[0]), FALSE
    if name == "fabs":
        return fabs(builder, arguments[0]), FALSE
    if name == "copysign":
        return copysign(builder, *arguments), FALSE
    if name == "pow":
        return math_pow(builder, *arguments)
    if name == "hypot":
        return hypot(builder, *arguments)
    if name == "log_base":
        x, base = arguments
        numerator = call_libm(builder, "log", [x])
        denominator = call_libm(builder, "log", [base])
        bad = any_of(
            builder,
            domain_error(builder, numerator, [x]),
            domain_error(builder, denominator, [base]),
            builder.fcmp_ordered("==", denominator, f64(0.0)),
        )
        return builder.fdiv(numerator, denominator), bad
    if name == "sqrt":
        result = intrinsic(builder, "llvm.sqrt.f64", F64, arguments)
    elif cache is not None and name in LIBM_UNARY:
        result = cached_call(builder, cache, name, arguments[0])
    else:
        result = call_libm(builder, name, arguments)
    return result, domain_error(builder, result, arguments)
