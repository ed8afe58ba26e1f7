"""Differential tests of control flow: if/elif/else, early returns, locals, and/or, None narrowing."""

from __future__ import annotations

import math

import pytest

from featurejit import jit_resolver
from tests.differential import check_resolver, grid


@jit_resolver
def bucket(hour: int) -> int:
    if hour < 6:
        return 0
    elif hour < 12:
        return 1
    elif hour < 18:
        return 2
    return 3


@jit_resolver
def unify_int_float(x: int) -> float:
    if x > 0:
        rate = x / 3
    else:
        rate = 0
    return rate * 2


@jit_resolver
def reassign(x: float, y: float) -> float:
    total = x
    total = total + y
    total *= 2
    total -= x
    if total > 10:
        total = total / 10
    return total


@jit_resolver
def nested_returns(a: int, b: int) -> int:
    if a > 0:
        if b > 0:
            return a + b
        c = a - b
    else:
        c = b - a
    if c > 100:
        return 100
    return c


@jit_resolver
def or_value(a: int, b: float) -> float:
    return a or b


@jit_resolver
def and_value(a: float, b: int) -> float:
    return a and b


@jit_resolver
def chained(a: int, b: float, c: int) -> bool:
    return a < b <= c


@jit_resolver
def conditional_expression(a: float, b: float) -> float:
    return a / b if b != 0 else a


@jit_resolver
def short_circuit_avoids_error(a: int, b: int) -> bool:
    return b != 0 and a // b > 1


@jit_resolver
def optional_guard(distance: int, air_time: int | None) -> float | None:
    if air_time is None or air_time == 0:
        return None
    return distance / (air_time / 60)


@jit_resolver
def optional_or_default(x: int | None) -> int:
    return x or -1


@jit_resolver
def optional_not_none_branch(x: float | None, y: float | None) -> float | None:
    if x is not None and y is not None:
        return x * y
    if x is not None:
        return x
    return y


@jit_resolver
def optional_unguarded(x: int | None) -> int:
    return x + 1


@jit_resolver
def optional_equality(x: int | None, y: int | None) -> bool:
    return x == y


@jit_resolver
def optional_truthiness(x: float | None) -> int:
    if x:
        return 1
    return 0


@jit_resolver
def local_none_then_value(x: int) -> int | None:
    result = None
    if x > 5:
        result = x * 2
    return result


@jit_resolver
def mixed_returns(x: int) -> float:
    if x > 0:
        return 1
    if x < 0:
        return 2.5
    return True


@jit_resolver
def raises_on_negative(x: float) -> float:
    if x < 0:
        raise ValueError("negative")
    return x * 2


@jit_resolver
def asserts_positive(x: int) -> int:
    assert x >= 0, "x must not be negative"
    return x


@jit_resolver
def tuple_assignment(a: int, b: int) -> int:
    a, b = b, a
    return a - b


@jit_resolver
def membership(x: int) -> bool:
    return x in (1, 2, 3) or x not in [10, 20]


@jit_resolver
def docstring_and_pass(x: int) -> int:
    """Return x."""
    pass
    return x


@jit_resolver
def falls_off_end(x: int) -> int | None:
    if x > 0:
        return x


@jit_resolver
def not_operator(x: float) -> bool:
    return not x


@jit_resolver
def dyn_arithmetic_chain(x: int, y: float) -> float:
    value = x if x > 0 else y
    value = value * 3 + 1
    value = value // 2 - value % 3
    return -abs(value) if value > 5 else value


CASES = [
    (bucket, (int,)),
    (unify_int_float, (int,)),
    (reassign, (float, float)),
    (nested_returns, (int, int)),
    (or_value, (int, float)),
    (and_value, (float, int)),
    (chained, (int, float, int)),
    (conditional_expression, (float, float)),
    (short_circuit_avoids_error, (int, int)),
    (raises_on_negative, (float,)),
    (asserts_positive, (int,)),
    (tuple_assignment, (int, int)),
    (membership, (int,)),
    (docstring_and_pass, (int,)),
    (falls_off_end, (int,)),
    (not_operator, (float,)),
    (mixed_returns, (int,)),
    (dyn_arithmetic_chain, (int, float)),
]


@pytest.mark.parametrize("resolver, types", CASES, ids=[case[0].name for case in CASES])
def test_control_flow_matches_python(resolver, types) -> None:
    rows = grid(*types)
    if len(types) == 3:
        rows = rows[::7]
    check_resolver(resolver, rows, types)


OPTIONAL_CASES = [
    (optional_guard, (int, int)),
    (optional_or_default, (int,)),
    (optional_not_none_branch, (float, float)),
    (optional_unguarded, (int,)),
    (optional_equality, (int, int)),
    (optional_truthiness, (float,)),
    (local_none_then_value, (int,)),
]


@pytest.mark.parametrize("resolver, types", OPTIONAL_CASES, ids=[case[0].name for case in OPTIONAL_CASES])
def test_none_in_every_position_matches_python(resolver, types) -> None:
    check_resolver(resolver, grid(*types, with_none=True), types)


def test_mixed_returns_keep_python_types() -> None:
    assert type(mixed_returns(1)) is int
    assert type(mixed_returns(-1)) is float
    assert mixed_returns(0) is True


def test_or_returns_operand_not_bool() -> None:
    assert or_value(0, 2.5) == 2.5
    assert type(or_value(3, 2.5)) is int


NAN_CANDIDATE = math.nan


@jit_resolver
def among_nan(x: float) -> bool:
    return x in (1.0, NAN_CANDIDATE)


def test_in_with_nan_candidate_runs_python() -> None:
    # CPython's `in` matches the very same NaN object, which unboxed compiled code cannot see.
    explanation = among_nan.explain(show=False)
    assert not explanation.native
    assert "'in' with the NaN NAN_CANDIDATE as a candidate is not compiled" in explanation.reason
    assert among_nan(NAN_CANDIDATE) is True
    assert among_nan(float("nan")) is False
    assert among_nan(1.0) is True


@jit_resolver
def remainder_of(c: int) -> int:
    return c % 7


@jit_resolver
def defaulted_max(a: int | None, b: float | None) -> float:
    if a is None:
        a = 1
    if b is None:
        b = a / 2
    else:
        b = b * 2
    return remainder_of(max(a, a)) + b


def test_rebound_optional_merges_as_value() -> None:
    """`if a is None: a = 1` leaves an int, which an inlined resolver that takes an int accepts."""
    assert "-> f64" in defaulted_max.dump("ir").splitlines()[1]
    assert ": !py.dyn" not in defaulted_max.dump("ir")
    check_resolver(defaulted_max, grid(int, float, with_none=True), (int, float))


@jit_resolver
def remainder_after_raise(a: int | None) -> int:
    if a is None:
        raise ValueError("a is missing")
    return remainder_of(max(a, a))


@jit_resolver
def remainder_after_assert(a: int | None, s: str | None) -> int:
    assert a is not None and s is not None
    return remainder_of(max(a, len(s)))


@pytest.mark.parametrize("resolver", [remainder_after_raise, remainder_after_assert], ids=lambda resolver: resolver.name)
def test_narrowing_outlives_raise_and_assert(resolver) -> None:
    """After `if a is None: raise` or `assert a is not None`, a is an int for the rest of the body."""
    assert ": !py.dyn" not in resolver.dump("ir")
    types = (int,) if resolver is remainder_after_raise else (int, str)
    check_resolver(resolver, grid(*types, with_none=True), types)
