"""Int division by a constant in a batch kernel's narrow loop, exact for dividends in [-2**31, 2**31) only.

A block of rows runs the narrow loop first and, if a row divided a larger dividend, the exact
loop again, which then runs alone for the rest of the call (see kernel.emit_group_block). These
tests put large dividends at the rows where a block or a call changes loops, and compare every
row with CPython.
"""

from __future__ import annotations

import random
import re
from types import ModuleType

import pyarrow as pa
import pytest

from featurejit import fuse, jit_resolver
from featurejit.codegen.arith import NARROW_LIMIT, narrow_division_magic
from featurejit.resolver import JitResolver
from tests.differential import INT64_MAX, INT64_MIN, check_batch_call, import_source

DIVISORS = [3, 7, 10, 60, 100, 1440, 86400, 1_000_003, NARROW_LIMIT - 1]
WIDE = [NARROW_LIMIT, -NARROW_LIMIT - 1, 2**32 + 500, -(2**40), 10**15, INT64_MAX, INT64_MIN]
BLOCK_ROWS = 64


@pytest.mark.parametrize("divisor", [*DIVISORS, 5, 641, 2**16 + 1, 2**30 + 1, 999_999_937])
def test_narrow_multiplier_is_exact(divisor: int) -> None:
    multiplier, shift = narrow_division_magic(divisor)
    assert multiplier < 2**32, "the multiplier must fit one 32-bit factor"
    top = NARROW_LIMIT - 1
    dividends = {0, 1, divisor - 1, divisor, divisor + 1, top, top - 1, top // divisor * divisor, top // divisor * divisor - 1}
    generator = random.Random(divisor)
    dividends |= {generator.randrange(NARROW_LIMIT) for _ in range(2000)}
    for n in dividends:
        assert (n * multiplier) >> shift == n // divisor, f"{n} // {divisor}"


def narrow_dividends(divisor: int, count: int, seed: int) -> list[int]:
    """Return `count` dividends in [-2**31, 2**31): the range's ends, multiples of the divisor and their neighbours, and random ones."""
    edges = [0, 1, -1, divisor - 1, divisor, divisor + 1, -divisor, -divisor - 1, -divisor + 1]
    edges += [NARROW_LIMIT - 1, -NARROW_LIMIT, (NARROW_LIMIT - 1) // divisor * divisor, -NARROW_LIMIT // divisor * divisor]
    generator = random.Random(seed)
    values = [value for value in edges if -NARROW_LIMIT <= value < NARROW_LIMIT]
    while len(values) < count:
        values.append(generator.randrange(-NARROW_LIMIT, NARROW_LIMIT))
    return values[:count]


def generated_source() -> str:
    lines = ["from featurejit import jit_resolver", ""]
    for divisor in DIVISORS:
        for name, symbol in (("floordiv", "//"), ("mod", "%")):
            lines += ["@jit_resolver", f"def {name}_by_{divisor}(a: int) -> int:", f"    return a {symbol} {divisor}", ""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return import_source(tmp_path_factory.mktemp("generated"), "generated_narrow_divisions", generated_source())


def resolvers_for(generated: ModuleType, divisor: int) -> list[JitResolver]:
    resolvers = [getattr(generated, f"floordiv_by_{divisor}"), getattr(generated, f"mod_by_{divisor}")]
    for resolver in resolvers:
        assert resolver.explain(show=False).native, resolver.explain(show=False).reason
    return resolvers


@pytest.mark.parametrize("divisor", DIVISORS)
def test_narrow_blocks_match_python(generated: ModuleType, divisor: int) -> None:
    rows = [(value,) for value in narrow_dividends(divisor, 5 * BLOCK_ROWS + 7, divisor)]
    for resolver in resolvers_for(generated, divisor):
        check_batch_call(resolver, rows, (int,))


@pytest.mark.parametrize("position", [0, 1, 63, 64, 65, 200, 5 * BLOCK_ROWS + 6])
@pytest.mark.parametrize("divisor", [7, 100, 86400])
def test_wide_dividend_at_each_row(generated: ModuleType, divisor: int, position: int) -> None:
    values = narrow_dividends(divisor, 5 * BLOCK_ROWS + 7, position)
    for wide in WIDE:
        rows = [(value,) for value in values]
        rows[position] = (wide,)
        for resolver in resolvers_for(generated, divisor):
            check_batch_call(resolver, rows, (int,))


def test_rows_after_wide_block(generated: ModuleType) -> None:
    """Check narrow and wide rows after a wide block, when the call runs the exact loop only."""
    generator = random.Random(5)
    values = narrow_dividends(100, 10 * BLOCK_ROWS, 5)
    for index in range(0, len(values), 37):
        values[index] = generator.choice(WIDE)
    for resolver in resolvers_for(generated, 100):
        check_batch_call(resolver, [(value,) for value in values], (int,))


@jit_resolver
def minutes_of_clock(clock: int | None) -> int | None:
    if clock is None:
        return None
    return clock // 100 * 60 + clock % 100


def test_optional_clock_nulls_and_slices() -> None:
    values: list[int | None] = narrow_dividends(100, 3 * BLOCK_ROWS, 11)
    values[5] = None
    values[70] = None
    values[150] = 2**40
    array = pa.array(values, type=pa.int64())
    for offset in (0, 1, 63, 64, 151):
        sliced = array.slice(offset)
        expected = [minutes_of_clock.function(value) for value in sliced.to_pylist()]
        assert minutes_of_clock(sliced).to_pylist() == expected, f"slice from row {offset}"
    chunked = pa.chunked_array([array.slice(0, 100), array.slice(100)])
    assert minutes_of_clock(chunked).to_pylist() == [minutes_of_clock.function(value) for value in values]
    assert minutes_of_clock(pa.array([], type=pa.int64())).to_pylist() == []
    assert minutes_of_clock.explain(show=False).native, "the division in a branch did not compile"


@jit_resolver
def sevenths_unless_five_hundreds(a: int) -> int:
    if a // 100 == 5:
        raise ValueError(f"{a} has 5 hundreds")
    return a % 7


@jit_resolver(on_error="null")
def sevenths_unless_five_hundreds_or_null(a: int) -> int:
    if a // 100 == 5:
        raise ValueError(f"{a} has 5 hundreds")
    return a % 7


def test_wide_rows_drop_narrow_errors() -> None:
    """Check that a block run again drops the narrow loop's errors.

    The narrow loop divides only the low 32 bits of 2**32 + 500, so its quotient is 5 and the
    row raises there. The exact quotient is 42949677.
    """
    assert "wide_rows:" in sevenths_unless_five_hundreds.dump("llvm")
    assert "wide_rows:" in sevenths_unless_five_hundreds_or_null.dump("llvm")
    rows = [(value,) for value in [1, 2**32 + 500, 700, 500, -3]]
    check_batch_call(sevenths_unless_five_hundreds, rows, (int,))
    values = [row[0] for row in rows]
    expected = [None if value // 100 == 5 else value % 7 for value in values]
    assert sevenths_unless_five_hundreds_or_null(pa.array(values, type=pa.int64())).to_pylist() == expected
    assert sevenths_unless_five_hundreds_or_null.explain(show=False).native


@jit_resolver
def hour_of_clock(clock: int) -> int:
    return clock // 100


@jit_resolver
def doubled(clock: int) -> int:
    return clock * 2


def test_fused_group_with_wide_row() -> None:
    values = narrow_dividends(100, 4 * BLOCK_ROWS, 3)
    values[100] = 2**45 + 17
    table = pa.table({"clock": pa.array(values, type=pa.int64())})
    fused = fuse(hour_of_clock, minutes_of_clock, doubled)
    result = fused(table)
    assert "native" in fused.explain(show=False).splitlines()[0]
    assert result.column("hour_of_clock").to_pylist() == [value // 100 for value in values]
    assert result.column("minutes_of_clock").to_pylist() == [minutes_of_clock.function(value) for value in values]
    assert result.column("doubled").to_pylist() == [value * 2 for value in values]


@pytest.mark.parametrize("resolver", [hour_of_clock, minutes_of_clock], ids=lambda resolver: resolver.name)
def test_dividing_loops_get_a_narrow_copy(resolver: JitResolver) -> None:
    kernel = resolver.dump("llvm")
    assert "wide_rows:" in kernel, "no exact loop beside the narrow one"
    narrow_check = rf"icmp ugt <\d+ x i64> %\S+, splat \(i64 {NARROW_LIMIT - 1}\)"
    assert re.search(narrow_check, kernel), "the narrow loop's range check is not vectorized"


def test_non_dividing_loop_has_no_copy() -> None:
    assert "wide_rows:" not in doubled.dump("llvm")
    fused = fuse(hour_of_clock, doubled).dump("llvm")
    assert fused.count("wide_rows:") == 1, "the loop of `doubled` divides nothing"
