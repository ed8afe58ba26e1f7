"""Differential tests of abs, min, max, round, int, float, bool and the math module."""

from __future__ import annotations

import math
import random
import struct

import pytest

from featurejit import jit_resolver
from featurejit.codegen.mathlib import CALL_CACHE_MIN_ROWS, CALL_CACHE_SLOTS, LIBM_UNARY
from tests.differential import EDGE_FLOATS, check_batch_call, check_resolver, grid, outcome


@jit_resolver
def abs_int(x: int) -> int:
    return abs(x)


@jit_resolver
def abs_float(x: float) -> float:
    return abs(x)


@jit_resolver
def max_float_first(x: float, y: float) -> float:
    return max(x, y)


@jit_resolver
def min_three(x: float, y: float, z: float) -> float:
    return min(x, y, z)


@jit_resolver
def max_mixed(x: int, y: float) -> float:
    return max(x, y)


@jit_resolver
def min_int_constant(x: int) -> int:
    return min(x, 100)


@jit_resolver
def round_float(x: float) -> int:
    return round(x)


@jit_resolver
def round_float_digits(x: float, n: int) -> float:
    return round(x, n)


@jit_resolver
def round_two_digits(x: float) -> float:
    return round(x, 2)


@jit_resolver
def round_int_digits(x: int, n: int) -> int:
    return round(x, n)


@jit_resolver
def int_of_float(x: float) -> int:
    return int(x)


@jit_resolver
def float_of_int(x: int) -> float:
    return float(x)


@jit_resolver
def bool_of_float(x: float) -> bool:
    return bool(x)


@jit_resolver
def float_literal() -> float:
    return float("inf") - float("nan")


@jit_resolver
def nan_is_not_equal(x: float) -> bool:
    return x != x


@jit_resolver
def bool_arithmetic(a: bool, b: bool) -> int:
    return a + b * 2 - (not a)


CASES = [
    (abs_int, (int,)),
    (abs_float, (float,)),
    (max_float_first, (float, float)),
    (max_mixed, (int, float)),
    (min_int_constant, (int,)),
    (round_float, (float,)),
    (round_two_digits, (float,)),
    (int_of_float, (float,)),
    (float_of_int, (int,)),
    (bool_of_float, (float,)),
    (nan_is_not_equal, (float,)),
    (bool_arithmetic, (bool, bool)),
]


@pytest.mark.parametrize("resolver, types", CASES, ids=[case[0].name for case in CASES])
def test_builtin_matches_python(resolver, types) -> None:
    check_resolver(resolver, grid(*types), types)


def test_min_of_three_matches_python() -> None:
    check_resolver(min_three, grid(float, float, float)[::5], (float, float, float))


def test_max_with_nan_depends_on_order() -> None:
    assert math.isnan(max_float_first(math.nan, 1.0))
    assert max_float_first(1.0, math.nan) == 1.0


def test_round_halves_to_even() -> None:
    assert [round_float(x) for x in (0.5, 1.5, 2.5, -0.5, -1.5)] == [0, 2, 2, 0, -2]
    assert round_two_digits(2.675) == 2.67  # 2.675 is stored just below the half
    assert round_two_digits(0.125) == 0.12


def test_round_with_digits_matches_python_on_random_values() -> None:
    generator = random.Random(20261204)
    values = [generator.uniform(-1e6, 1e6) for _ in range(300)]
    values += [round(generator.uniform(-100, 100), 3) + 0.0005 for _ in range(300)]  # near decimal halves
    values += EDGE_FLOATS
    rows = [(value, digits) for value in values for digits in (-3, -1, 0, 1, 2, 3, 6, 15, 22, 30, -30)]
    check_resolver(round_float_digits, rows, (float, int))


def test_round_int_with_digits_matches_python() -> None:
    rows = [(x, n) for x in (0, 5, 15, 25, -25, 1234, 9_223_372_036_854_775_807, -(2**63)) for n in (-1, -2, -3, -18, -19, 0, 2)]
    check_resolver(round_int_digits, rows, (int, int))


def test_float_constructor_of_literal() -> None:
    assert math.isnan(float_literal())


# --------------------------------------------------------------------------------------
# The math module
# --------------------------------------------------------------------------------------

MATH_UNARY = [
    "sqrt", "exp", "expm1", "log", "log1p", "log2", "log10", "sin", "cos", "tan", "asin", "acos", "atan",
    "sinh", "cosh", "tanh", "fabs", "floor", "ceil", "trunc", "isnan", "isinf", "isfinite",
]
MATH_BINARY = ["pow", "atan2", "copysign", "hypot", "log"]


def math_values() -> list[float]:
    generator = random.Random(7)
    values = list(EDGE_FLOATS) + [-2.0, 0.9999, 1.0001, 700.0, 710.0, -745.0, 1e-310, 3.141592653589793]
    values += [generator.uniform(-10, 10) for _ in range(60)]
    values += [generator.uniform(-1, 1) * 10 ** generator.randint(-300, 300) for _ in range(60)]
    return values


def make_math_resolver(name: str, arity: int):
    """Build a resolver calling math.<name>, from a file so that its source is readable."""
    result = {"floor": "int", "ceil": "int", "trunc": "int", "isnan": "bool", "isinf": "bool", "isfinite": "bool"}.get(
        name, "float"
    )
    parameters = ", ".join(f"x{index}: float" for index in range(arity))
    arguments = ", ".join(f"x{index}" for index in range(arity))
    return parameters, arguments, result


@pytest.fixture(scope="module")
def math_module(tmp_path_factory: pytest.TempPathFactory):
    import importlib.util
    import sys

    lines = ["import math", "from featurejit import jit_resolver", ""]
    for name in MATH_UNARY:
        parameters, arguments, result = make_math_resolver(name, 1)
        lines += ["@jit_resolver", f"def unary_{name}({parameters}) -> {result}:", f"    return math.{name}({arguments})", ""]
    for name in MATH_BINARY:
        parameters, arguments, result = make_math_resolver(name, 2)
        lines += ["@jit_resolver", f"def binary_{name}({parameters}) -> {result}:", f"    return math.{name}({arguments})", ""]
    lines += [
        "@jit_resolver",
        "def int_argument(x: int) -> float:",
        "    return math.sqrt(x) + math.log(x) + math.floor(x)",
        "",
        "@jit_resolver",
        "def constants() -> float:",
        "    return math.pi + math.e + math.tau - math.inf",
    ]
    path = tmp_path_factory.mktemp("generated") / "math_resolvers.py"
    path.write_text("\n".join(lines) + "\n")
    spec = importlib.util.spec_from_file_location("generated_math_resolvers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", MATH_UNARY)
def test_math_function_matches_python(math_module, name: str) -> None:
    rows = [(value,) for value in math_values()]
    check_resolver(getattr(math_module, f"unary_{name}"), rows, (float,))


@pytest.mark.parametrize("name", MATH_BINARY)
def test_math_binary_function_matches_python(math_module, name: str) -> None:
    values = math_values()[::3]
    rows = [(x, y) for x in values for y in values]
    check_resolver(getattr(math_module, f"binary_{name}"), rows, (float, float))


def test_math_hypot_matches_python_on_random_values(math_module) -> None:
    generator = random.Random(11)
    rows = [
        (generator.uniform(-1e3, 1e3) * 10 ** generator.randint(-5, 5), generator.uniform(-1e3, 1e3) * 10 ** generator.randint(-5, 5))
        for _ in range(20000)
    ]
    check_resolver(math_module.binary_hypot, rows, (float, float))


def result_cache_rows() -> list[tuple[float]]:
    """Return rows for the batch kernel's cache of libm results: repeated values, then distinct ones.

    The repeated values hit the cache. They include both zeros, whose results differ in sign,
    and the NaN whose bits mark an empty slot. Then more distinct values than the cache has
    slots make it turn itself off, and repeated values follow again.
    """
    generator = random.Random(13)
    empty_slot_key = struct.unpack("<d", b"\xff" * 8)[0]
    repeated = [*math_values(), 0.0, -0.0, empty_slot_key]
    values = [generator.choice(repeated) for _ in range(3 * CALL_CACHE_SLOTS)]
    values += [generator.uniform(-5, 5) for _ in range(4 * CALL_CACHE_SLOTS)]
    values += [generator.choice(repeated) for _ in range(CALL_CACHE_SLOTS)]
    assert len(values) >= CALL_CACHE_MIN_ROWS
    return [(value,) for value in values]


@pytest.mark.parametrize("name", LIBM_UNARY)
def test_math_function_matches_python_through_result_cache(math_module, name: str) -> None:
    resolver = getattr(math_module, f"unary_{name}")
    rows = result_cache_rows()
    check_batch_call(resolver, [row for row in rows if outcome(resolver.function, row)[0] == "value"], (float,))
    check_batch_call(resolver, rows, (float,))


def test_math_with_int_argument_matches_python(math_module) -> None:
    check_resolver(math_module.int_argument, grid(int), (int,))


def test_math_constants(math_module) -> None:
    assert math_module.constants() == -math.inf
