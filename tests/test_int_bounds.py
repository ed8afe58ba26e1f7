"""Overflow checks that a kernel leaves out where the bounds of the operands keep a result in int64.

The code generator tracks the bounds of int constants, of quotients and remainders by positive
constants, and of what +, -, *, selects and branches make of them (see RowEmitter.bounds).
Most resolvers here have an operation whose check is left out and one whose check must stay,
where bounds narrower than the rule's would leave out the second check too. The rows reach
both ends of int64.
"""

from __future__ import annotations

import pytest

from featurejit import jit_resolver
from featurejit.codegen.arith import NARROW_LIMIT
from tests.differential import EDGE_INTS, INT64_MAX, INT64_MIN, check_resolver

DIVIDENDS = [
    *EDGE_INTS,
    NARROW_LIMIT - 1,
    -NARROW_LIMIT,
    INT64_MAX - 1,
    INT64_MIN + 1,
    INT64_MAX // 7 * 7,
    -(INT64_MAX // 7) * 7 - 1,
    123_456_789_012,
    -987_654_321,
    2_359,
]


@jit_resolver
def clock_minutes(clock: int) -> int:
    # Fits: |clock // 100 * 60| <= 5.6e18.
    return clock // 100 * 60 + clock % 100


@jit_resolver
def half_tripled(x: int) -> int:
    # Overflows near the limits: |x // 2 * 3| reaches 1.4e19.
    return x // 2 * 3


@jit_resolver
def sevenths_scaled(x: int) -> int:
    # Overflows for large x only, so a narrow loop may leave the check out and the exact loop may not.
    return x // 7 * 15 + 4


@jit_resolver
def remainder_scaled(x: int) -> int:
    fits = x % 100 * 90_000_000_000_000_000  # at most 8.9e18
    overflows = x % 100 * 100_000_000_000_000_000  # up to 9.9e18
    return fits - overflows


@jit_resolver
def chosen_scaled(x: int, flag: bool) -> int:
    fits = x % 100 if flag else 5  # at most 99 * 10**16
    overflows = x % 10 if flag else x % 10_000  # up to 9,999 * 10**15
    return fits * 10**16 - overflows * 10**15


@jit_resolver
def branch_scaled(x: int) -> int:
    if x > 0:
        fits = x % 1000
        overflows = x % 10
    else:
        fits = x % 10
        overflows = x % 10_000
    return fits * 9_000_000_000_000_000 - overflows * 10**15


@jit_resolver
def bounded_dividend(x: int) -> int:
    # A power of two divides with a shift, and x % 1024 is narrow in every row, so the
    # divisions by 7 and 9 need no range check.
    return x % 1024 // 7 * 3 + (x % 1024) % 9


@pytest.mark.parametrize(
    "resolver", [clock_minutes, half_tripled, sevenths_scaled, remainder_scaled, branch_scaled, bounded_dividend]
)
def test_int_bounds_match_python(resolver) -> None:
    check_resolver(resolver, [(value,) for value in DIVIDENDS], (int,))


def test_select_bounds_match_python() -> None:
    rows = [(value, flag) for value in DIVIDENDS for flag in (True, False)]
    check_resolver(chosen_scaled, rows, (int, bool))


@pytest.mark.parametrize("resolver", [branch_scaled, chosen_scaled], ids=lambda resolver: resolver.name)
def test_merged_bounds_keep_overflow(resolver) -> None:
    """Check a result past int64 that only one side of a branch or select allows.

    -1 % 10_000 is 9,999, and 9,999 * 10**15 leaves int64, so the kernel must flag the row for
    the interpreter, which returns CPython's int.
    """
    arguments = (-1,) if resolver is branch_scaled else (-1, False)
    expected = resolver.function(*arguments)
    assert expected < INT64_MIN
    assert resolver(*arguments) == expected


def test_narrow_dividend_needs_no_exact_loop() -> None:
    """x % 1024 is narrow in every row, so its divisions need no exact copy of the loop."""
    assert "wide_rows:" not in bounded_dividend.dump("llvm")


def test_bounded_kernel_flags_no_row() -> None:
    """clock_minutes cannot overflow, so its kernel has no check left and returns 0 flagged rows."""
    assert "ret i64 0" in clock_minutes.dump("llvm")
    assert "ret i64 0" not in half_tripled.dump("llvm")
