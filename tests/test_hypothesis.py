"""Random inputs from hypothesis, compared with CPython row by row."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurejit import jit_resolver
from tests.differential import check_batch_call, check_scalar_calls

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
SMALL_INTS = st.integers(min_value=-1000, max_value=1000)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
OPTIONAL_INTS = st.none() | INT64
OPTIONAL_FLOATS = st.none() | FLOATS

CHECKS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@jit_resolver
def risk_score(amount: float, age_days: int, chargebacks: int | None) -> float:
    base = math.log1p(abs(amount)) * 10
    if chargebacks is not None and chargebacks > 0:
        base += chargebacks * 25
    if age_days < 30:
        base *= 1.5
    elif age_days > 365 * 5:
        base = base / 2
    return min(max(base, 0.0), 100.0)


@jit_resolver
def integer_mix(a: int, b: int) -> int:
    c = a % 97 - b // 13
    if c < 0:
        c = -c
    return c * 3 + (a - b) % 7


@jit_resolver
def float_mix(x: float, y: float) -> float:
    return (x // 3.5 + y % 2.25) ** 2 if x != y else x - y


@jit_resolver
def mixed_types(a: int, x: float | None) -> float | None:
    if x is None:
        return None
    value = a if a > x else x
    return value * 2 + round(x, 1)


@jit_resolver
def wrapping_arithmetic(a: int, b: int) -> int:
    return a * b + a - b


@CHECKS
@given(st.lists(st.tuples(FLOATS, SMALL_INTS | INT64, OPTIONAL_INTS), min_size=1, max_size=40))
def test_risk_score_matches_python(rows) -> None:
    check_scalar_calls(risk_score, rows)
    check_batch_call(risk_score, rows, (float, int, int))


@CHECKS
@given(st.lists(st.tuples(INT64, INT64), min_size=1, max_size=40))
def test_integer_mix_matches_python(rows) -> None:
    check_scalar_calls(integer_mix, rows)
    check_batch_call(integer_mix, rows, (int, int))


@CHECKS
@given(st.lists(st.tuples(FLOATS, FLOATS), min_size=1, max_size=40))
def test_float_mix_matches_python(rows) -> None:
    check_scalar_calls(float_mix, rows)
    check_batch_call(float_mix, rows, (float, float))


@CHECKS
@given(st.lists(st.tuples(INT64, OPTIONAL_FLOATS), min_size=1, max_size=40))
def test_mixed_types_match_python(rows) -> None:
    check_scalar_calls(mixed_types, rows)
    check_batch_call(mixed_types, rows, (int, float))


@CHECKS
@given(st.lists(st.tuples(INT64, INT64), min_size=1, max_size=40))
def test_overflowing_arithmetic_matches_python(rows) -> None:
    check_scalar_calls(wrapping_arithmetic, rows)
    check_batch_call(wrapping_arithmetic, rows, (int, int))
