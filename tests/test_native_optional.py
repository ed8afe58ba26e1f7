"""Scalar calls with None for optional parameters: one native kernel serves None and values alike."""

from __future__ import annotations

import math
from typing import Any, Optional

import pytest

from featurejit import jit_resolver
from featurejit.resolver import JitResolver
from tests.differential import (
    EDGE_FLOATS,
    EDGE_INTS,
    INT64_MAX,
    INT64_MIN,
    check_scalar_calls,
    outcome,
    same_value,
)

BEYOND_INT64 = [INT64_MAX + 1, INT64_MIN - 1, 2**70, -(2**70)]
INTS = [*EDGE_INTS, *BEYOND_INT64, True, False, None]
FLOATS = [*EDGE_FLOATS, 3, -2, True, False, None]
CEILING = 100.0


@jit_resolver
def speed(distance: int, air_time: int | None) -> float | None:
    if air_time is None or air_time == 0:
        return None
    return distance / (air_time / 60)


@jit_resolver
def ratio(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return a / b


@jit_resolver
def shifted(x: Optional[int], y: int) -> int:  # noqa: UP045 - the Optional spelling is part of what is tested
    return x + y  # None raises TypeError, as in CPython


@jit_resolver
def fallback(x: int | None, default: int) -> int:
    return x or default


@jit_resolver
def scored(flag: bool | None, x: int | None) -> int | None:
    if flag is None:
        return x
    if x is None:
        return flag
    return x + flag


@jit_resolver
def capped(x: float | None) -> float:
    if x is None:
        return CEILING
    return min(x, CEILING)


@jit_resolver(on_error="null")
def shifted_or_null(x: int | None, y: int) -> int:
    return x + y


def native_calls(resolver: JitResolver) -> int:
    """Return how many calls the resolver's native entries have run to the end."""
    entries = resolver.compiled_state().native
    return 0 if entries is None else entries.counter.value


def check_keyword_calls(resolver: JitResolver, rows: list[dict[str, Any]]) -> None:
    """Each call with keyword arguments returns CPython's value or raises CPython's exception class."""
    for arguments in rows:
        kind, expected = outcome(lambda keywords=arguments: resolver.function(**keywords), ())
        if kind == "error":
            with pytest.raises(expected):
                resolver(**arguments)
            continue
        actual = resolver(**arguments)
        assert same_value(expected, actual), f"{resolver.name}(**{arguments}) = {actual!r}, CPython gives {expected!r}"


def test_none_and_values_share_one_kernel() -> None:
    assert speed(1400, 227) == 1400 / (227 / 60)
    before = native_calls(speed)
    assert speed(1400, None) is None
    assert speed(1400, 0) is None
    assert speed(-1400, 227) == -1400 / (227 / 60)
    assert native_calls(speed) == before + 3
    assert list(speed.compiled_state().scalar_kernels) == [(int, int)]


def test_none_first_compiles_annotated_type() -> None:
    @jit_resolver
    def late(x: int | None) -> int | None:
        return None if x is None else x * 2

    assert late(None) is None
    assert late(21) == 42
    assert list(late.compiled_state().scalar_kernels) == [(int,)]
    before = native_calls(late)
    assert late(None) is None
    assert late(-4) == -8
    assert native_calls(late) == before + 2


def test_speed_matches_python() -> None:
    check_scalar_calls(speed, [(distance, air_time) for distance in INTS for air_time in INTS])


def test_ratio_matches_python() -> None:
    check_scalar_calls(ratio, [(a, b) for a in FLOATS for b in FLOATS])


def test_none_in_arithmetic_raises() -> None:
    check_scalar_calls(shifted, [(x, y) for x in INTS for y in INTS])
    with pytest.raises(TypeError, match="unsupported operand"):
        shifted(None, 1)
    assert shifted(2, 3) == 5
    assert type(shifted(True, True)) is int


def test_or_returns_value() -> None:
    check_scalar_calls(fallback, [(x, default) for x in INTS for default in INTS])
    assert fallback(None, 7) == 7
    assert fallback(0, 7) == 7
    assert fallback(False, 7) == 7
    assert fallback(3, 7) == 3


def test_bool_and_int_stay_distinct() -> None:
    check_scalar_calls(scored, [(flag, x) for flag in (True, False, None) for x in INTS])
    assert scored(True, None) is True
    assert scored(None, True) is True
    assert type(scored(True, 1)) is int
    assert scored(None, None) is None


def test_none_calls_are_native() -> None:
    assert ratio(1.0, 2.0) == 0.5
    before = native_calls(ratio)
    assert ratio(None, 2.0) == 2.0
    assert ratio(1.0, None) == 1.0
    assert ratio(None, None) is None
    assert math.isnan(ratio(math.nan, None))
    assert ratio(-math.inf, None) == -math.inf
    assert native_calls(ratio) == before + 5


def test_beyond_int64_with_none_runs_python() -> None:
    assert speed(1400, 227) > 0
    before = native_calls(speed)
    assert speed(2**70, None) is None
    assert speed(2**70, 60) == float(2**70)
    assert speed(1400, -(2**70)) == 1400 / (-(2**70) / 60)
    assert native_calls(speed) == before


def test_keyword_calls_match_python() -> None:
    rows = [
        {"distance": 1400, "air_time": None},
        {"distance": 1400, "air_time": 227},
        {"air_time": None, "distance": INT64_MIN},
        {"distance": None, "air_time": None},
        {"distance": 2**70, "air_time": None},
    ]
    check_keyword_calls(speed, rows)
    assert speed(1400, air_time=None) is None
    assert speed(1400, air_time=60) == 1400.0


def test_none_for_required_parameter_runs_python() -> None:
    assert shifted(1, 2) == 3
    before = native_calls(shifted)
    with pytest.raises(TypeError, match="unsupported operand"):
        shifted(1, None)
    with pytest.raises(TypeError, match="unsupported operand"):
        shifted(None, None)
    assert speed(None, None) is None
    with pytest.raises(TypeError, match="unsupported operand"):
        speed(None, 60)
    assert native_calls(shifted) == before


def test_none_with_null_on_error() -> None:
    assert shifted_or_null(1, 2) == 3
    assert shifted_or_null(None, 2) is None
    assert shifted_or_null.explain(show=False).last_error_rows == 1
    assert shifted_or_null(INT64_MAX, 1) == INT64_MAX + 1


def test_guard_with_none_argument() -> None:
    global CEILING
    assert capped(None) == 100.0
    assert capped(250.0) == 100.0
    CEILING = 50.0
    try:
        assert capped(None) == 50.0
        assert capped(70.0) == 50.0
        assert math.isnan(capped(math.nan))
    finally:
        CEILING = 100.0
    assert capped(None) == 100.0
    check_scalar_calls(capped, [(x,) for x in FLOATS])
