"""Scalar calls through the native entry: exact results, fallbacks, guards and reference counts."""

from __future__ import annotations

import functools
import math
import sys
import types

import pytest

from featurejit import jit_resolver
from tests.differential import check_scalar_calls, grid

LIMIT = 10
OFFSET = 2.5
settings_module = types.ModuleType("featurejit_test_settings")
settings_module.SCALE = 3  # type: ignore[attr-defined]
sys.modules[settings_module.__name__] = settings_module


@jit_resolver
def branchy(a: float, b: float, c: float) -> float:
    return (a * 1.07 + b) / (c + 1.0) if a > b else a - b


@jit_resolver(on_error="null")
def branchy_or_null(a: float, b: float, c: float) -> float:
    return (a * 1.07 + b) / (c + 1.0) if a > b else a - b


@jit_resolver
def kinds(x: int, flag: bool) -> float | None:
    if x < 0:
        return None
    if flag:
        return x // 3
    return x / 4


@jit_resolver
def either(x: int | None, y: float | None) -> float | None:
    if x is None or y is None:
        return None
    return x * y


@jit_resolver
def over_limit(x: int) -> bool:
    return x > LIMIT


@jit_resolver
def shifted(x: float) -> float:
    return math.floor(x + OFFSET)


@jit_resolver
def scaled_by_module(x: int) -> int:
    return x * settings_module.SCALE


@jit_resolver
def absolute(x: float) -> float:
    return abs(x)


def make_clipper(limit: float):  # type: ignore[no-untyped-def]
    @jit_resolver
    def clipped(x: float) -> float:
        return min(x, limit)

    def set_limit(value: float) -> None:
        nonlocal limit
        limit = value

    return clipped, set_limit


def is_native_entry(resolver: object) -> bool:
    return type(type(resolver).__dict__.get("__call__")).__name__ == "builtin_function_or_method"


def test_native_entry_becomes_call() -> None:
    assert branchy(3.0, 2.0, 3.0) == (3.0 * 1.07 + 2.0) / 4.0
    assert is_native_entry(branchy)
    assert branchy(1.0, 2.0, 3.0) == -1.0


def test_native_results_match_python() -> None:
    check_scalar_calls(branchy, grid(float, float, float))
    check_scalar_calls(kinds, grid(int, bool))
    assert is_native_entry(kinds)
    assert type(kinds(7, True)) is int
    assert type(kinds(7, False)) is float
    assert kinds(-1, True) is None


@jit_resolver
def halved(x: int) -> int:
    return x // 2


# Ints around the sizes of CPython's 30-bit digits, and beyond int64, where the call takes
# the interpreter.
DIGIT_BOUNDARIES = [
    sign * (value + offset)
    for sign in (1, -1)
    for value in (0, 2**30, 2**60, 2**63)
    for offset in (-1, 0, 1)
]


def test_int_arguments_around_digit_sizes() -> None:
    for value in DIGIT_BOUNDARIES:
        assert halved(value) == value // 2, value
    assert is_native_entry(halved)


def test_optional_arguments_take_none() -> None:
    assert either(2, 1.5) == 3.0
    assert either(None, 1.5) is None
    assert either(2, None) is None
    assert either(None, None) is None
    assert either(2, 1.5) == 3.0


def test_flagged_row_raises_as_python() -> None:
    assert branchy(3.0, 2.0, 3.0) > 0
    with pytest.raises(ZeroDivisionError):
        branchy(3.0, 2.0, -1.0)
    assert branchy.explain(show=False).last_slow_path_rows == 1
    assert branchy(3.0, 2.0, 3.0) > 0
    explanation = branchy.explain(show=False)
    assert explanation.last_rows == 1
    assert explanation.last_slow_path_rows == 0


def test_flagged_row_becomes_null() -> None:
    assert branchy_or_null(3.0, 2.0, 3.0) > 0
    assert branchy_or_null(3.0, 2.0, -1.0) is None
    assert branchy_or_null.explain(show=False).last_error_rows == 1


def test_other_argument_shapes_take_general_path() -> None:
    assert branchy(3.0, 2.0, 3.0) > 0
    assert branchy(a=3.0, b=2.0, c=3.0) == branchy(3.0, 2.0, 3.0)
    assert branchy(3, 2, 3) == (3 * 1.07 + 2) / 4.0
    assert branchy(True, False, 0.0) == branchy.function(True, False, 0.0)
    with pytest.raises(TypeError, match="missing"):
        branchy(3.0, 2.0)
    with pytest.raises(TypeError):
        branchy(3.0, 2.0, "x")
    assert branchy(3.0, 2.0, 3.0) == (3.0 * 1.07 + 2.0) / 4.0


def test_call_forms_match_python() -> None:
    assert either(2, 1.5) == 3.0
    arguments = (3, 0.5)
    assert either(*arguments) == 1.5
    assert either(*arguments, **{}) == 1.5
    assert either(3, y=0.5) == 1.5
    assert either(y=None, x=3) is None
    assert list(map(either, [1, None, 4], [2.0, 2.0, None])) == [2.0, None, None]
    assert functools.partial(either, 5)(0.5) == 2.5
    assert type(either).__call__(2, None) is None
    with pytest.raises(TypeError, match="multiple values"):
        either(1, 2.0, x=1)
    with pytest.raises(TypeError, match="unexpected keyword"):
        either(1, 2.0, z=1)
    with pytest.raises(TypeError, match="missing"):
        either(1)
    with pytest.raises(TypeError):
        either(1, 2.0, 3.0)


def test_types_seen_before_stay_native() -> None:
    @jit_resolver
    def plus(a: float, b: float) -> float:
        return a + b

    assert plus(1, 2) == 3
    assert type(plus(1, 2)) is int
    assert plus(1.5, 2.0) == 3.5
    assert plus(True, 2) == 3
    assert type(plus(1, 2)) is int
    assert plus(2**70, 1) == 2**70 + 1
    assert plus(-(2**63), -1) == -(2**63) - 1


# The guard tests call a resolver three times before a change: from the third call on, a
# guard skips its lookups while the dicts it read keep their versions.
WARM_CALLS = 3


def test_module_constant_guard() -> None:
    global LIMIT
    for _ in range(WARM_CALLS):
        assert over_limit(11) is True
    LIMIT = 12
    try:
        assert over_limit(11) is False
        assert over_limit(13) is True
    finally:
        LIMIT = 10
    for _ in range(WARM_CALLS):
        assert over_limit(11) is True


def test_equal_rebound_constant_stays_native() -> None:
    global OFFSET
    assert shifted(1.0) == 3
    OFFSET = float("2.5")  # an equal value in a new object
    assert shifted(1.0) == 3
    calls = shifted.compiled_state().native
    assert calls is not None
    before = calls.counter.value
    assert shifted(1.0) == 3
    assert calls.counter.value == before + 1


def test_module_attribute_guard() -> None:
    for _ in range(WARM_CALLS):
        assert scaled_by_module(2) == 6
    settings_module.SCALE = 5  # type: ignore[attr-defined]
    try:
        assert scaled_by_module(2) == 10
    finally:
        settings_module.SCALE = 3  # type: ignore[attr-defined]
    for _ in range(WARM_CALLS):
        assert scaled_by_module(2) == 6


def test_closure_guard() -> None:
    clipped, set_limit = make_clipper(1.0)
    assert clipped(5.0) == 1.0
    set_limit(4.0)
    assert clipped(5.0) == 4.0
    assert clipped(3.0) == 3.0


def test_shadowed_builtin_is_seen() -> None:
    for _ in range(WARM_CALLS):
        assert absolute(-2.0) == 2.0
    globals()["abs"] = lambda value: -value
    try:
        assert absolute(3.0) == -3.0
        assert absolute(-2.0) == 2.0
    finally:
        del globals()["abs"]
    assert absolute(3.0) == 3.0
    assert is_native_entry(absolute)


class ScaleSevenModule(types.ModuleType):
    @property
    def SCALE(self) -> int:  # noqa: N802 - takes precedence over the module's SCALE
        return 7


def test_module_class_change_is_seen() -> None:
    # The module keeps its dict and the dict its version, but getattr now finds SCALE on the class.
    for _ in range(WARM_CALLS):
        assert scaled_by_module(2) == 6
    settings_module.__class__ = ScaleSevenModule
    try:
        assert scaled_by_module(2) == 14
    finally:
        settings_module.__class__ = types.ModuleType
    for _ in range(WARM_CALLS):
        assert scaled_by_module(2) == 6
    assert is_native_entry(scaled_by_module)


def test_reference_counts_stay_balanced() -> None:
    @jit_resolver
    def sign(x: int) -> bool | None:
        if x == 0:
            return None
        return x > 0

    def count_references(calls: int) -> tuple[list[int], list[int]]:
        """Return the counts of True and None before the calls, while their results live, and after."""
        before = [sys.getrefcount(True), sys.getrefcount(None)]
        trues = [sign(1) for _ in range(calls)]
        nones = [sign(0) for _ in range(calls)]
        during = [sys.getrefcount(True), sys.getrefcount(None)]
        del trues, nones
        after = [sys.getrefcount(True), sys.getrefcount(None)]
        return [during[0] - before[0], during[1] - before[1]], [after[0] - before[0], after[1] - before[1]]

    sign(1)
    sign(0)
    # Assertions are kept out of the measured code, because pytest's rewritten asserts hold None.
    growth, leftover = count_references(1000)
    assert growth == [1000, 1000]
    assert leftover == [0, 0]


def test_resolver_keeps_its_class_name() -> None:
    assert type(branchy).__name__ == "JitResolver"
    assert isinstance(branchy, type(over_limit).__mro__[1])


def test_module_replaced_by_other_object() -> None:
    global settings_module
    assert scaled_by_module(2) == 6
    saved = settings_module
    settings_module = types.SimpleNamespace(SCALE=3)  # type: ignore[assignment]
    try:
        assert scaled_by_module(2) == 6
        settings_module.SCALE = 4  # type: ignore[attr-defined]
        assert scaled_by_module(2) == 8
    finally:
        settings_module = saved
    assert scaled_by_module(2) == 6


class Limits:
    HIGH = 5


@jit_resolver
def above_high(x: int) -> bool:
    return x > Limits.HIGH


def make_module_closure():  # type: ignore[no-untyped-def]
    functions = math

    @jit_resolver
    def root(x: float) -> float:
        return functions.sqrt(x)

    return root


def test_class_attribute_guard() -> None:
    assert above_high(6) is True
    assert is_native_entry(above_high)
    Limits.HIGH = 7
    try:
        assert above_high(6) is False
    finally:
        Limits.HIGH = 5
    assert above_high(6) is True
    before = sys.getrefcount(Limits)
    for _ in range(1000):
        above_high(6)
    assert sys.getrefcount(Limits) == before


def test_module_in_closure_guard() -> None:
    root = make_module_closure()
    assert root(9.0) == 3.0
    assert is_native_entry(root)
    before = [sys.getrefcount(math), sys.getrefcount(math.sqrt)]
    for _ in range(1000):
        root(9.0)
    assert [sys.getrefcount(math), sys.getrefcount(math.sqrt)] == before


def test_call_slot_points_at_compiled_function() -> None:
    import ctypes

    from featurejit.runtime.native_call import PY_TP_CALL, TP_CALL_OFFSET

    @jit_resolver
    def ratio(a: int, b: int | None) -> float | None:
        if b is None or b == 0:
            return None
        return a / b

    class Plain:
        def __call__(self, a: int, b: int) -> int:
            return a + b

    get_slot = ctypes.pythonapi.PyType_GetSlot
    get_slot.restype, get_slot.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_int]
    assert ratio(7, 2) == 3.5
    slot = ctypes.c_void_p.from_address(id(type(ratio)) + TP_CALL_OFFSET).value
    assert slot == get_slot(type(ratio), PY_TP_CALL)
    assert slot != get_slot(Plain, PY_TP_CALL), "the class's tp_call is CPython's generic __call__ slot"
    # Every kind of call through the compiled slot gives the plain function's result.
    assert ratio(7, None) is None
    assert ratio(7, 0) is None
    assert ratio(b=4, a=2) == 0.5
    assert ratio(2**70, 2) == 2**69
    assert ratio(True, 2) == 0.5
    with pytest.raises(TypeError, match="missing a required argument|required positional argument"):
        ratio(7)
    with pytest.raises(TypeError):
        ratio(7, 2, 3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'c'"):
        ratio(7, c=2)
    with pytest.raises(TypeError):
        ratio("7", 2)
