"""Differential tests of every arithmetic and comparison operator on every pair of types."""

from __future__ import annotations

import importlib.util
import itertools
import random
import sys
from types import ModuleType

import pytest

from featurejit import jit_resolver
from tests.differential import EDGES, INT64_MAX, INT64_MIN, check_resolver, grid

BINARY_OPERATORS = {
    "add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%", "pow": "**",
    "eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
}
UNARY_OPERATORS = {"neg": "-", "pos": "+", "invert": "~", "not": "not "}
TYPES = (int, float, bool)
SAMPLES = {int: 3, float: 2.5, bool: True}

# Divisors known when compiling, which LLVM divides by with shifts and multiplications.
CONSTANT_DIVISORS = [2, 3, 7, 10, 60, 64, 100, 1440, 86400, 2**31 + 1, 2**32, 10**18, 2**62 + 1, INT64_MAX, -3, -100]
# Factors known when compiling, whose products test the other operand against a range.
CONSTANT_FACTORS = [0, 1, -1, 2, -2, 3, 60, -60, 2**31, 2**32 + 1, 2**62, -(2**62), INT64_MAX]
# Dividends around multiples of the divisor and the int64 limits, where rounding would show.
DIVIDEND_OFFSETS = [-1, 0, 1]


# Exponents for int ** int stay small: CPython itself would take hours on INT64_MAX ** INT64_MAX.
SMALL_EXPONENTS = [0, 1, 2, 3, 7, 62, 63, 64, -1, -2]


def result_annotation(symbol: str, left: type, right: type) -> str:
    value = eval(f"a {symbol} b", {"a": SAMPLES[left], "b": SAMPLES[right]})  # noqa: S307 - test data only
    return type(value).__name__


def generated_source() -> str:
    lines = ["import math", ""]
    for (name, symbol), left, right in itertools.product(BINARY_OPERATORS.items(), TYPES, TYPES):
        lines += [
            "@jit_resolver",
            f"def {name}_{left.__name__}_{right.__name__}(a: {left.__name__}, b: {right.__name__}) -> "
            f"{result_annotation(symbol, left, right)}:",
            f"    return a {symbol} b",
            "",
        ]
    for (name, symbol), type_ in itertools.product(UNARY_OPERATORS.items(), TYPES):
        if symbol == "~" and type_ is float:
            result = "int"  # ~ of a float raises TypeError on every row
        else:
            result = type(eval(f"{symbol}x", {"x": SAMPLES[type_]})).__name__  # noqa: S307
        lines += ["@jit_resolver", f"def {name}_{type_.__name__}(x: {type_.__name__}) -> {result}:", f"    return {symbol}x", ""]
    for divisor in CONSTANT_DIVISORS:
        for name, symbol in (("floordiv", "//"), ("mod", "%")):
            lines += [
                "@jit_resolver",
                f"def {name}_by_{constant_name(divisor)}(a: int) -> int:",
                f"    return a {symbol} {divisor}",
                "",
            ]
    for factor in CONSTANT_FACTORS:
        lines += [
            "@jit_resolver",
            f"def mul_by_{constant_name(factor)}(a: int) -> int:",
            f"    return a * {factor}",
            "",
            "@jit_resolver",
            f"def mul_{constant_name(factor)}_by(a: int) -> int:",
            f"    return {factor} * a",
            "",
        ]
    return "\n".join(lines)


def constant_name(divisor: int) -> str:
    return str(divisor).replace("-", "minus_")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """Write the generated resolvers to a real file, so that their source can be read, and import it."""
    path = tmp_path_factory.mktemp("generated") / "operators.py"
    path.write_text("from featurejit import jit_resolver\n" + generated_source())
    spec = importlib.util.spec_from_file_location("generated_operators", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("left", TYPES, ids=lambda t: t.__name__)
@pytest.mark.parametrize("right", TYPES, ids=lambda t: t.__name__)
@pytest.mark.parametrize("name", list(BINARY_OPERATORS))
def test_binary_operator_matches_python(generated: ModuleType, name: str, left: type, right: type) -> None:
    resolver = getattr(generated, f"{name}_{left.__name__}_{right.__name__}")
    rows = grid(left, right)
    if name == "pow" and left in (int, bool) and right in (int, bool):
        rows = [(a, b) for a, b in itertools.product(EDGES[left], SMALL_EXPONENTS if right is int else EDGES[bool])]
    check_resolver(resolver, rows, (left, right))


@pytest.mark.parametrize("type_", TYPES, ids=lambda t: t.__name__)
@pytest.mark.parametrize("name", list(UNARY_OPERATORS))
def test_unary_operator_matches_python(generated: ModuleType, name: str, type_: type) -> None:
    resolver = getattr(generated, f"{name}_{type_.__name__}")
    check_resolver(resolver, grid(type_), (type_,))


@pytest.mark.parametrize("divisor", CONSTANT_DIVISORS, ids=constant_name)
@pytest.mark.parametrize("name", ["floordiv", "mod"])
def test_division_by_constant_matches_python(generated: ModuleType, name: str, divisor: int) -> None:
    resolver = getattr(generated, f"{name}_by_{constant_name(divisor)}")
    multiples = [0, 1, -1, 5, -5, INT64_MAX // divisor, INT64_MIN // divisor]
    dividends = [multiple * divisor + offset for multiple in multiples for offset in DIVIDEND_OFFSETS]
    generator = random.Random(divisor)
    dividends += [generator.randrange(INT64_MIN, INT64_MAX + 1) for _ in range(300)]
    dividends += [generator.randrange(-100_000, 100_000) for _ in range(300)]
    dividends = [value for value in [*EDGES[int], *dividends] if INT64_MIN <= value <= INT64_MAX]
    check_resolver(resolver, [(value,) for value in dividends], (int,))


@pytest.mark.parametrize("factor", CONSTANT_FACTORS, ids=constant_name)
@pytest.mark.parametrize("order", ["mul_by_{}", "mul_{}_by"])
def test_multiplication_by_constant_matches_python(generated: ModuleType, order: str, factor: int) -> None:
    resolver = getattr(generated, order.format(constant_name(factor)))
    limits = [INT64_MIN // factor, INT64_MAX // factor, -(INT64_MIN // -factor), -(INT64_MAX // -factor)] if factor else []
    values = [limit + offset for limit in limits for offset in (-1, 0, 1)]
    generator = random.Random(factor)
    values += [generator.randrange(INT64_MIN, INT64_MAX + 1) for _ in range(200)]
    values = [value for value in [*EDGES[int], *values] if INT64_MIN <= value <= INT64_MAX]
    check_resolver(resolver, [(value,) for value in values], (int,))


@jit_resolver
def below_lowest(n: int) -> int:
    return -9223372036854775808 - n if n > -9223372036854775808 else -9223372036854775808


def test_int64_min_literal_compiles() -> None:
    assert below_lowest.explain(show=False).native
    check_resolver(below_lowest, grid(int), (int,))
