"""The py dialect: printing and parsing back, and the verifiers' messages."""

from __future__ import annotations

import pytest
from xdsl.utils.exceptions import ParseError, VerifyException

import featurejit as fj
from featurejit.ir import parse_module, print_module
from featurejit.ir.context import value_name
from tests import test_builtins, test_control_flow


@fj.jit_resolver(mode="require")
def größe(höhe: int, 名前: int, ǅ: float) -> float:
    ä = höhe + 名前
    if ä > 3:
        ä = ä * 2
    return ä + ǅ


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


def test_non_ascii_names_compile_and_round_trip() -> None:
    assert größe(1, 5, 0.5) == 12.5
    assert größe.explain(show=False).native
    text = größe.dump("ir")
    assert "%hohe" in text
    assert print_module(parse_module(text)) == text


@pytest.mark.parametrize(
    ("name", "expected"),
    [("höhe", "hohe"), ("名前", "__"), ("2x", "_2x"), ("", "_"), ("a b-c", "a_b-c"), ("ǅ", "Dz")],
)
def test_value_name_is_ascii(name: str, expected: str) -> None:
    assert value_name(name) == expected


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


def test_datetime_ops_round_trip() -> None:
    text = """builtin.module {
  func.func @f(%t: !py.datetime<"UTC">, %u: !py.datetime<"Europe/Paris">, %d: !py.date, %td: !py.timedelta) -> f64 {
    %c = py.temporal_constant 5, 7 : !py.datetime<"UTC">
    %s = py.temporal_shift "sub", %t, %td : !py.datetime<"UTC">
    %h = py.temporal_field "hour", %s : !py.datetime<"UTC">
    %k = py.temporal_cmp "ne", %t, %u : !py.datetime<"UTC">, !py.datetime<"Europe/Paris">
    %e = py.temporal_diff %t, %u : !py.datetime<"UTC">, !py.datetime<"Europe/Paris">
    %r = py.timedelta_arith "truediv", %e, %td : !py.timedelta -> f64
    %z = py.astimezone %t : !py.datetime<"UTC"> to !py.datetime<"Europe/Paris">
    %day = py.datetime_date %z : !py.datetime<"Europe/Paris">
    %n = py.timedelta_negate "abs", %td
    %w = py.timedelta_from_us %h
    %x = py.temporal_seconds "timestamp", %t : !py.datetime<"UTC">
    func.return %r : f64
  }
}
"""
    assert print_module(parse_module(text)) == text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('%0 = py.temporal_field "hour", %d : !py.date', "expected a py.temporal_field among year, month, day"),
        ("%0 = py.temporal_diff %t, %a : !py.datetime<\"\">, !py.datetime<\"UTC\">", "both naive or both aware"),
        ('%0 = py.temporal_cmp "lt", %d, %td : !py.date, !py.timedelta', "expected py.temporal_cmp of two datetimes"),
        ('%0 = py.timedelta_arith "mul", %td, %td : !py.timedelta -> !py.timedelta', "to take i64 and give !py.timedelta"),
        ('%0 = py.temporal_shift "mul", %t, %td : !py.datetime<"">', 'expected py.temporal_shift "add" or "sub"'),
        ('%0 = py.temporal_seconds "timestamp", %td : !py.timedelta', 'expected py.temporal_seconds "total_seconds"'),
    ],
)
def test_datetime_verifiers_say_what_they_expected(body: str, message: str) -> None:
    signature = '(%t: !py.datetime<"">, %a: !py.datetime<"UTC">, %d: !py.date, %td: !py.timedelta)'
    with pytest.raises(VerifyException, match=message):
        parse_function(f"{body}\nfunc.return", signature, "()")
