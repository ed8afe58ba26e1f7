"""The py dialect: printing and parsing back, and the verifiers' messages."""

from __future__ import annotations

import pytest
from xdsl.utils.exceptions import ParseError, VerifyException

from featurejit.ir import parse_module, print_module
from tests import test_builtins, test_control_flow


@pytest.mark.parametrize(
    "resolver",
    [
        test_control_flow.optional_guard,
        test_control_flow.dyn_arithmetic_chain,
        test_control_flow.asserts_positive,
        test_control_flow.membership,
        test_builtins.round_float_digits,
        test_builtins.min_three,
    ],
    ids=lambda resolver: resolver.name,
)
@pytest.mark.parametrize("stage", ["ir", "optimized"])
def test_lowered_module_round_trips(resolver, stage: str) -> None:
    text = resolver.dump(stage)
    reparsed = print_module(parse_module(text))
    assert reparsed == text


def parse_function(body: str, signature: str = "(%a: i64, %b: f64)", result: str = "i64") -> None:
    parse_module(f"func.func @f{signature} -> {result} {{\n{body}\n}}")


def test_binary_op_rejects_mixed_operands() -> None:
    with pytest.raises((VerifyException, ParseError)):
        parse_function('%0 = "py.add"(%a, %b) : (i64, f64) -> i64\nfunc.return %0 : i64')


def test_binary_op_rejects_i1_operands() -> None:
    with pytest.raises(VerifyException, match="expected py.add operands of one type among i64, f64"):
        parse_function("%t = py.constant true\n%0 = py.add %t, %t : i1\nfunc.return %a : i64")


def test_cmp_rejects_unknown_predicate() -> None:
    with pytest.raises(VerifyException, match="expected a py.cmp predicate among eq, ne, lt, le, gt, ge, but got 'lg'"):
        parse_function('%0 = py.cmp "lg", %a, %a : i64, i64\nfunc.return %a : i64')


def test_math_rejects_wrong_arity() -> None:
    with pytest.raises(VerifyException, match="expected math.atan2 to take 2 f64"):
        parse_function('%0 = py.math "atan2"(%b) : f64\nfunc.return %a : i64')


def test_math_rejects_unknown_function() -> None:
    with pytest.raises(VerifyException, match="expected a math function among"):
        parse_function('%0 = py.math "gamma"(%b) : f64\nfunc.return %a : i64')


def test_wrap_rejects_unrelated_optional() -> None:
    with pytest.raises(VerifyException, match="expected py.wrap from T or !py.none"):
        parse_function("%0 = py.wrap %b : f64 to !py.optional<i64>\nfunc.return %a : i64")


def test_optional_of_optional_is_rejected() -> None:
    with pytest.raises(VerifyException, match=r"expected !py.optional of i1, i64, f64, !py.str, !py.datetime, !py.date or !py.timedelta"):
        parse_function("func.return %a : i64", signature="(%a: i64, %c: !py.optional<!py.dyn>)")


def test_constant_type_must_match_result() -> None:
    with pytest.raises((VerifyException, ParseError)):
        parse_function('%0 = "py.constant"() <{value = 1 : i32}> : () -> i32\nfunc.return %a : i64')


def test_unclosed_string_is_rejected_quickly() -> None:
    text = 'func.func @f() {\n  py.raise "ValueError' + "x" * 60 + "\n}\n"
    with pytest.raises(ParseError, match="has no closing quote"):
        parse_module(text)


def test_quotes_in_comments_and_escapes_are_fine() -> None:
    from featurejit.ir.context import find_unclosed_string

    assert find_unclosed_string('// a " quote in a comment\n') is None
    assert find_unclosed_string('py.raise "a \\" b"\n') is None
    assert find_unclosed_string('x\n  py.raise "open\n') == 4 + 9
