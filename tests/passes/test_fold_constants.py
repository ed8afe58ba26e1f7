"""IR text tests of the fold-constants pass: what it folds, and what it must leave to the slow path."""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from xdsl.dialects import func
from xdsl.dialects.builtin import f64, i1, i64
from xdsl.ir import Operation

from featurejit.ir import parse_module
from featurejit.ir.dialect import ConstantOp
from featurejit.passes import run_pipeline
from featurejit.passes.fold_constants import make_constant

CheckPass = Callable[[str, str, str], None]


def test_folds_constant_add(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> i64 {
          %a = py.constant 2 : i64
          %b = py.constant 3 : i64
          %r = py.add %a, %b : i64
          func.return %r : i64
        }
        """,
        """
        CHECK:      func.func @f() -> i64 {
        CHECK-NEXT:   %a = py.constant 2 : i64
        CHECK-NEXT:   %b = py.constant 3 : i64
        CHECK-NEXT:   %r = py.constant 5 : i64
        CHECK-NEXT:   func.return %r : i64
        CHECK-NEXT: }
        """,
    )


def test_folds_chain_of_ops(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> f64 {
          %a = py.constant 6 : i64
          %b = py.constant 7 : i64
          %p = py.mul %a, %b : i64
          %q = py.sub %p, %a : i64
          %r = py.to_float %q : i64
          func.return %r : f64
        }
        """,
        """
        CHECK:      %p = py.constant 42 : i64
        CHECK-NEXT: %q = py.constant 36 : i64
        CHECK-NEXT: %r = py.constant 3.600000e+01 : f64
        CHECK-NEXT: func.return %r : f64
        """,
    )


def test_folds_floor_division_of_negatives(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i64, i64, f64, f64, f64) {
          %seven = py.constant 7 : i64
          %minus_two = py.constant -2 : i64
          %quotient = py.floordiv %seven, %minus_two : i64
          %remainder = py.mod %seven, %minus_two : i64
          %x = py.constant -7.0 : f64
          %y = py.constant 2.0 : f64
          %float_quotient = py.floordiv %x, %y : f64
          %float_remainder = py.mod %y, %x : f64
          %inf = py.constant 0x7FF0000000000000 : f64
          %inf_remainder = py.mod %x, %inf : f64
          func.return %quotient, %remainder, %float_quotient, %float_remainder, %inf_remainder : i64, i64, f64, f64, f64
        }
        """,
        """
        CHECK: %quotient = py.constant -4 : i64
        CHECK: %remainder = py.constant -1 : i64
        CHECK: %float_quotient = py.constant -4.000000e+00 : f64
        CHECK: %float_remainder = py.constant -5.000000e+00 : f64
        CHECK: %inf_remainder = py.constant 0x7ff0000000000000 : f64
        CHECK-NOT: py.floordiv
        CHECK-NOT: py.mod
        """,
    )


def test_folds_true_division_to_float(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (f64, f64) {
          %seven = py.constant 7 : i64
          %two = py.constant 2 : i64
          %half = py.truediv %seven, %two : i64
          %big = py.constant 9007199254740993 : i64
          %one = py.constant 1 : i64
          %rounded = py.truediv %big, %one : i64
          func.return %half, %rounded : f64, f64
        }
        """,
        """
        CHECK: %half = py.constant 3.500000e+00 : f64
        CHECK: %rounded = py.constant 0x4340000000000000 : f64
        CHECK-NOT: py.truediv
        """,
    )


def test_keeps_division_by_zero(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i64, i64, f64, f64, f64) {
          %one = py.constant 1 : i64
          %zero = py.constant 0 : i64
          %quotient = py.floordiv %one, %zero : i64
          %remainder = py.mod %one, %zero : i64
          %ratio = py.truediv %one, %zero : i64
          %x = py.constant 1.0 : f64
          %float_zero = py.constant -0.0 : f64
          %float_ratio = py.truediv %x, %float_zero : f64
          %float_remainder = py.mod %x, %float_zero : f64
          func.return %quotient, %remainder, %ratio, %float_ratio, %float_remainder : i64, i64, f64, f64, f64
        }
        """,
        """
        CHECK: %quotient = py.floordiv %one, %zero : i64
        CHECK: %remainder = py.mod %one, %zero : i64
        CHECK: %ratio = py.truediv %one, %zero : i64
        CHECK: %float_ratio = py.truediv %x, %float_zero : f64
        CHECK: %float_remainder = py.mod %x, %float_zero : f64
        """,
    )


def test_keeps_int_overflow(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i64, i64, i64, i64, i64, i64) {
          %max = py.constant 9223372036854775807 : i64
          %min = py.constant -9223372036854775808 : i64
          %one = py.constant 1 : i64
          %two = py.constant 2 : i64
          %sum = py.add %max, %one : i64
          %difference = py.sub %min, %one : i64
          %product = py.mul %max, %two : i64
          %negated = py.neg %min : i64
          %absolute = py.abs %min : i64
          %minus_one = py.constant -1 : i64
          %quotient = py.floordiv %min, %minus_one : i64
          func.return %sum, %difference, %product, %negated, %absolute, %quotient : i64, i64, i64, i64, i64, i64
        }
        """,
        """
        CHECK: %sum = py.add %max, %one : i64
        CHECK: %difference = py.sub %min, %one : i64
        CHECK: %product = py.mul %max, %two : i64
        CHECK: %negated = py.neg %min : i64
        CHECK: %absolute = py.abs %min : i64
        CHECK: %quotient = py.floordiv %min, %minus_one : i64
        """,
    )


def test_folds_results_at_int64_bounds(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i64, i64, i64) {
          %max = py.constant 9223372036854775806 : i64
          %one = py.constant 1 : i64
          %sum = py.add %max, %one : i64
          %minus_two = py.constant -2 : i64
          %exponent = py.constant 63 : i64
          %power = py.pow %minus_two, %exponent : i64
          %inverted = py.invert %sum : i64
          func.return %sum, %power, %inverted : i64, i64, i64
        }
        """,
        """
        CHECK: %sum = py.constant 9223372036854775807 : i64
        CHECK: %power = py.constant -9223372036854775808 : i64
        CHECK: %inverted = py.constant -9223372036854775808 : i64
        """,
    )


def test_keeps_negative_int_power(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i64, i64) {
          %two = py.constant 2 : i64
          %zero = py.constant 0 : i64
          %minus_one = py.constant -1 : i64
          %half = py.pow %two, %minus_one : i64
          %infinite = py.pow %zero, %minus_one : i64
          func.return %half, %infinite : i64, i64
        }
        """,
        """
        CHECK: %half = py.pow %two, %minus_one : i64
        CHECK: %infinite = py.pow %zero, %minus_one : i64
        """,
    )


def test_keeps_huge_int_power(check_pass: CheckPass) -> None:
    # 3 ** (2**63 - 1) does not fit in memory, so the pass must reject it without computing it.
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i64, i64) {
          %three = py.constant 3 : i64
          %max = py.constant 9223372036854775807 : i64
          %power = py.pow %three, %max : i64
          %two = py.constant 2 : i64
          %exponent = py.constant 63 : i64
          %just_over = py.pow %two, %exponent : i64
          func.return %power, %just_over : i64, i64
        }
        """,
        """
        CHECK: %power = py.pow %three, %max : i64
        CHECK: %just_over = py.pow %two, %exponent : i64
        """,
    )


def test_folds_powers_of_zero_and_one(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i64, i64, i64) {
          %max = py.constant 9223372036854775807 : i64
          %one = py.constant 1 : i64
          %minus_one = py.constant -1 : i64
          %zero = py.constant 0 : i64
          %a = py.pow %one, %max : i64
          %b = py.pow %minus_one, %max : i64
          %c = py.pow %zero, %zero : i64
          func.return %a, %b, %c : i64, i64, i64
        }
        """,
        """
        CHECK: %a = py.constant 1 : i64
        CHECK: %b = py.constant -1 : i64
        CHECK: %c = py.constant 1 : i64
        """,
    )


def test_folds_float_power(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> f64 {
          %two = py.constant 2.0 : f64
          %minus_one = py.constant -1.0 : f64
          %r = py.pow %two, %minus_one : f64
          func.return %r : f64
        }
        """,
        """
        CHECK: %r = py.constant 5.000000e-01 : f64
        """,
    )


def test_keeps_complex_and_overflowing_float_power(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (f64, f64) {
          %minus_eight = py.constant -8.0 : f64
          %half = py.constant 0.5 : f64
          %complex = py.pow %minus_eight, %half : f64
          %ten = py.constant 10.0 : f64
          %four_hundred = py.constant 400.0 : f64
          %overflow = py.pow %ten, %four_hundred : f64
          func.return %complex, %overflow : f64, f64
        }
        """,
        """
        CHECK: %complex = py.pow %minus_eight, %half : f64
        CHECK: %overflow = py.pow %ten, %four_hundred : f64
        """,
    )


def test_folds_float_overflow_to_inf(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> f64 {
          %big = py.constant 1.0e308 : f64
          %ten = py.constant 10.0 : f64
          %r = py.mul %big, %ten : f64
          func.return %r : f64
        }
        """,
        """
        CHECK: %r = py.constant 0x7ff0000000000000 : f64
        """,
    )


def test_keeps_nan_bits(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (f64, f64, f64) {
          %nan = py.constant 0x7FF8000000000001 : f64
          %one = py.constant 1.0 : f64
          %same = py.to_float %nan : f64
          %larger = py.max %nan, %one : f64
          %negated = py.neg %nan : f64
          func.return %same, %larger, %negated : f64, f64, f64
        }
        """,
        """
        CHECK: %same = py.constant 0x7ff8000000000001 : f64
        CHECK: %larger = py.constant 0x7ff8000000000001 : f64
        CHECK: %negated = py.constant 0xfff8000000000001 : f64
        """,
    )


def test_keeps_negative_zero(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (f64, f64, f64, f64, f64) {
          %zero = py.constant 0.0 : f64
          %minus_zero = py.constant -0.0 : f64
          %minus_one = py.constant -1.0 : f64
          %negated = py.neg %zero : f64
          %product = py.mul %zero, %minus_one : f64
          %sum = py.add %minus_zero, %minus_zero : f64
          %smaller = py.min %zero, %minus_zero : f64
          %larger = py.max %minus_zero, %zero : f64
          func.return %negated, %product, %sum, %smaller, %larger : f64, f64, f64, f64, f64
        }
        """,
        """
        CHECK: %negated = py.constant -0.000000e+00 : f64
        CHECK: %product = py.constant -0.000000e+00 : f64
        CHECK: %sum = py.constant -0.000000e+00 : f64
        CHECK: %smaller = py.constant 0.000000e+00 : f64
        CHECK: %larger = py.constant -0.000000e+00 : f64
        """,
    )


def test_folds_min_and_max_in_nan_order(check_pass: CheckPass) -> None:
    # min(a, b) is `b if b < a else a`, and every comparison with NaN is false.
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (f64, f64, f64, f64) {
          %nan = py.constant 0x7FF8000000000000 : f64
          %one = py.constant 1.0 : f64
          %a = py.min %nan, %one : f64
          %b = py.min %one, %nan : f64
          %c = py.max %nan, %one : f64
          %d = py.max %one, %nan : f64
          func.return %a, %b, %c, %d : f64, f64, f64, f64
        }
        """,
        """
        CHECK: %a = py.constant 0x7ff8000000000000 : f64
        CHECK: %b = py.constant 1.000000e+00 : f64
        CHECK: %c = py.constant 0x7ff8000000000000 : f64
        CHECK: %d = py.constant 1.000000e+00 : f64
        """,
    )


def test_folds_comparisons_of_int_and_float_exactly(check_pass: CheckPass) -> None:
    # 2**53 + 1 is not a float. CPython compares it exactly, not after rounding it to 2**53.
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i1, i1, i1, i1, i1, i1) {
          %int = py.constant 9007199254740993 : i64
          %float = py.constant 9007199254740992.0 : f64
          %eq = py.cmp "eq", %int, %float : i64, f64
          %ne = py.cmp "ne", %int, %float : i64, f64
          %lt = py.cmp "lt", %int, %float : i64, f64
          %le = py.cmp "le", %float, %int : f64, i64
          %gt = py.cmp "gt", %int, %float : i64, f64
          %ge = py.cmp "ge", %float, %int : f64, i64
          func.return %eq, %ne, %lt, %le, %gt, %ge : i1, i1, i1, i1, i1, i1
        }
        """,
        """
        CHECK: %eq = py.constant false
        CHECK: %ne = py.constant true
        CHECK: %lt = py.constant false
        CHECK: %le = py.constant true
        CHECK: %gt = py.constant true
        CHECK: %ge = py.constant false
        """,
    )


def test_folds_comparisons_with_nan(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i1, i1, i1) {
          %nan = py.constant 0x7FF8000000000000 : f64
          %eq = py.cmp "eq", %nan, %nan : f64, f64
          %ne = py.cmp "ne", %nan, %nan : f64, f64
          %ge = py.cmp "ge", %nan, %nan : f64, f64
          func.return %eq, %ne, %ge : i1, i1, i1
        }
        """,
        """
        CHECK: %eq = py.constant false
        CHECK: %ne = py.constant true
        CHECK: %ge = py.constant false
        """,
    )


def test_folds_comparisons_of_equal_values(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i1, i1, i1, i1, i1) {
          %int = py.constant 1 : i64
          %float = py.constant 1.0 : f64
          %true = py.constant true
          %lt = py.cmp "lt", %int, %float : i64, f64
          %le = py.cmp "le", %int, %float : i64, f64
          %gt = py.cmp "gt", %float, %int : f64, i64
          %ge = py.cmp "ge", %float, %int : f64, i64
          %eq = py.cmp "eq", %true, %true : i1, i1
          func.return %lt, %le, %gt, %ge, %eq : i1, i1, i1, i1, i1
        }
        """,
        """
        CHECK: %lt = py.constant false
        CHECK: %le = py.constant true
        CHECK: %gt = py.constant false
        CHECK: %ge = py.constant true
        CHECK: %eq = py.constant true
        """,
    )


def test_folds_min_and_max_of_bools(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i1, i1) {
          %true = py.constant true
          %false = py.constant false
          %smaller = py.min %true, %false : i1
          %larger = py.max %false, %true : i1
          func.return %smaller, %larger : i1, i1
        }
        """,
        """
        CHECK: %smaller = py.constant false
        CHECK: %larger = py.constant true
        """,
    )


def test_folds_unary_ops(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i64, i64, i64, f64, i1) {
          %five = py.constant 5 : i64
          %negated = py.neg %five : i64
          %inverted = py.invert %five : i64
          %absolute = py.abs %negated : i64
          %x = py.constant -2.5 : f64
          %float_absolute = py.abs %x : f64
          %true = py.constant true
          %false = py.not %true
          func.return %negated, %inverted, %absolute, %float_absolute, %false : i64, i64, i64, f64, i1
        }
        """,
        """
        CHECK: %negated = py.constant -5 : i64
        CHECK: %inverted = py.constant -6 : i64
        CHECK: %absolute = py.constant 5 : i64
        CHECK: %float_absolute = py.constant 2.500000e+00 : f64
        CHECK: %false = py.constant false
        """,
    )


def test_folds_rounding_half_to_even(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i64, i64, i64, f64, i64, i64) {
          %two_and_half = py.constant 2.5 : f64
          %three_and_half = py.constant 3.5 : f64
          %minus_half = py.constant -0.5 : f64
          %a = py.round %two_and_half : f64
          %b = py.round %three_and_half : f64
          %c = py.round %minus_half : f64
          %x = py.constant 2.675 : f64
          %two = py.constant 2 : i64
          %d = py.round_digits %x, %two : f64
          %fifteen = py.constant 15 : i64
          %twenty_five = py.constant 25 : i64
          %minus_one = py.constant -1 : i64
          %e = py.round_digits %fifteen, %minus_one : i64
          %f = py.round_digits %twenty_five, %minus_one : i64
          func.return %a, %b, %c, %d, %e, %f : i64, i64, i64, f64, i64, i64
        }
        """,
        """
        CHECK: %a = py.constant 2 : i64
        CHECK: %b = py.constant 4 : i64
        CHECK: %c = py.constant 0 : i64
        CHECK: %d = py.constant 2.670000e+00 : f64
        CHECK: %e = py.constant 20 : i64
        CHECK: %f = py.constant 20 : i64
        """,
    )


def test_folds_round_digits_with_huge_negative_digits(check_pass: CheckPass) -> None:
    # CPython computes round(n, d) of an int through 10 ** -d, which must not happen for d = -2**63.
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i64, i64) {
          %max = py.constant 9223372036854775807 : i64
          %min = py.constant -9223372036854775808 : i64
          %a = py.round_digits %max, %min : i64
          %minus_nineteen = py.constant -19 : i64
          %b = py.round_digits %max, %minus_nineteen : i64
          func.return %a, %b : i64, i64
        }
        """,
        """
        CHECK: %a = py.constant 0 : i64
        CHECK: %b = py.round_digits %max, %minus_nineteen : i64
        """,
    )


def test_keeps_conversions_of_nan_and_inf(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i64, i64, i64, i64) {
          %nan = py.constant 0x7FF8000000000000 : f64
          %inf = py.constant 0x7FF0000000000000 : f64
          %big = py.constant 1.0e19 : f64
          %a = py.round %nan : f64
          %b = py.round %inf : f64
          %c = py.to_int %nan : f64
          %d = py.to_int %big : f64
          func.return %a, %b, %c, %d : i64, i64, i64, i64
        }
        """,
        """
        CHECK: %a = py.round %nan : f64
        CHECK: %b = py.round %inf : f64
        CHECK: %c = py.to_int %nan : f64
        CHECK: %d = py.to_int %big : f64
        """,
    )


def test_folds_conversions(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i64, i64, f64, f64, i1, i1, i1) {
          %x = py.constant -2.7 : f64
          %true = py.constant true
          %big = py.constant 9007199254740993 : i64
          %nan = py.constant 0x7FF8000000000000 : f64
          %minus_zero = py.constant -0.0 : f64
          %truncated = py.to_int %x : f64
          %one = py.to_int %true : i1
          %rounded = py.to_float %big : i64
          %float_one = py.to_float %true : i1
          %nan_truth = py.truth %nan : f64
          %zero_truth = py.truth %minus_zero : f64
          %bool_truth = py.truth %true : i1
          func.return %truncated, %one, %rounded, %float_one, %nan_truth, %zero_truth, %bool_truth : i64, i64, f64, f64, i1, i1, i1
        }
        """,
        """
        CHECK: %truncated = py.constant -2 : i64
        CHECK: %one = py.constant 1 : i64
        CHECK: %rounded = py.constant 0x4340000000000000 : f64
        CHECK: %float_one = py.constant 1.000000e+00 : f64
        CHECK: %nan_truth = py.constant true
        CHECK: %zero_truth = py.constant false
        CHECK: %bool_truth = py.constant true
        """,
    )


def test_folds_math_functions(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (f64, f64, f64, i64, i1, f64) {
          %four = py.constant 4.0 : f64
          %eight = py.constant 8.0 : f64
          %two = py.constant 2.0 : f64
          %three = py.constant 3.0 : f64
          %minus = py.constant -1.5 : f64
          %nan = py.constant 0x7FF8000000000000 : f64
          %root = py.math "sqrt"(%four) : f64
          %logarithm = py.math "log_base"(%eight, %two) : f64
          %hypotenuse = py.math "hypot"(%three, %four) : f64
          %floor = py.math "floor"(%minus) : i64
          %is_nan = py.math "isnan"(%nan) : i1
          %signed = py.math "copysign"(%three, %minus) : f64
          func.return %root, %logarithm, %hypotenuse, %floor, %is_nan, %signed : f64, f64, f64, i64, i1, f64
        }
        """,
        """
        CHECK: %root = py.constant 2.000000e+00 : f64
        CHECK: %logarithm = py.constant 3.000000e+00 : f64
        CHECK: %hypotenuse = py.constant 5.000000e+00 : f64
        CHECK: %floor = py.constant -2 : i64
        CHECK: %is_nan = py.constant true
        CHECK: %signed = py.constant -3.000000e+00 : f64
        """,
    )


def test_keeps_math_domain_and_range_errors(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (f64, f64, f64, f64, i64, i64, f64) {
          %minus_one = py.constant -1.0 : f64
          %zero = py.constant 0.0 : f64
          %one = py.constant 1.0 : f64
          %eight = py.constant 8.0 : f64
          %inf = py.constant 0x7FF0000000000000 : f64
          %nan = py.constant 0x7FF8000000000000 : f64
          %thousand = py.constant 1000.0 : f64
          %a = py.math "sqrt"(%minus_one) : f64
          %b = py.math "log"(%zero) : f64
          %c = py.math "log_base"(%eight, %one) : f64
          %d = py.math "sin"(%inf) : f64
          %e = py.math "floor"(%nan) : i64
          %f = py.math "ceil"(%inf) : i64
          %g = py.math "exp"(%thousand) : f64
          func.return %a, %b, %c, %d, %e, %f, %g : f64, f64, f64, f64, i64, i64, f64
        }
        """,
        """
        CHECK: %a = py.math "sqrt"(%minus_one) : f64
        CHECK: %b = py.math "log"(%zero) : f64
        CHECK: %c = py.math "log_base"(%eight, %one) : f64
        CHECK: %d = py.math "sin"(%inf) : f64
        CHECK: %e = py.math "floor"(%nan) : i64
        CHECK: %f = py.math "ceil"(%inf) : i64
        CHECK: %g = py.math "exp"(%thousand) : f64
        """,
    )


def test_folds_none_tests(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i1, i1, i1, i1, i1) {
          %none = py.none
          %one = py.constant 1 : i64
          %a = py.is_none %none : !py.none
          %b = py.is_none %one : i64
          %c = py.truth %none : !py.none
          %wrapped_none = py.wrap %none : !py.none to !py.optional<i64>
          %d = py.is_none %wrapped_none : !py.optional<i64>
          %wrapped_one = py.wrap %one : i64 to !py.dyn
          %e = py.is_none %wrapped_one : !py.dyn
          func.return %a, %b, %c, %d, %e : i1, i1, i1, i1, i1
        }
        """,
        """
        CHECK: %a = py.constant true
        CHECK: %b = py.constant false
        CHECK: %c = py.constant false
        CHECK: %d = py.constant true
        CHECK: %e = py.constant false
        """,
    )


def test_folds_ops_on_wrapped_constants(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i64, i64, f64, i1) {
          %seven = py.constant 7 : i64
          %optional = py.wrap %seven : i64 to !py.optional<i64>
          %narrowed = py.narrow %optional : !py.optional<i64> to i64
          %unwrapped = py.unwrap %optional : !py.optional<i64> to i64
          %dynamic = py.wrap %seven : i64 to !py.dyn
          %float = py.to_float %dynamic : !py.dyn
          %two = py.constant 2.5 : f64
          %wrapped_two = py.wrap %two : f64 to !py.dyn
          %less = py.cmp "lt", %wrapped_two, %dynamic : !py.dyn, !py.dyn
          func.return %narrowed, %unwrapped, %float, %less : i64, i64, f64, i1
        }
        """,
        """
        CHECK: %optional = py.wrap %seven : i64 to !py.optional<i64>
        CHECK: %narrowed = py.constant 7 : i64
        CHECK: %unwrapped = py.constant 7 : i64
        CHECK: %dynamic = py.wrap %seven : i64 to !py.dyn
        CHECK: %float = py.constant 7.000000e+00 : f64
        CHECK: %less = py.constant true
        """,
    )


def test_keeps_unwrap_of_none(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i64, i64, f64) {
          %none = py.none
          %optional = py.wrap %none : !py.none to !py.optional<i64>
          %unwrapped = py.unwrap %optional : !py.optional<i64> to i64
          %narrowed = py.narrow %optional : !py.optional<i64> to i64
          %dynamic = py.wrap %none : !py.none to !py.dyn
          %float = py.to_float %dynamic : !py.dyn
          func.return %unwrapped, %narrowed, %float : i64, i64, f64
        }
        """,
        """
        CHECK: %unwrapped = py.unwrap %optional : !py.optional<i64> to i64
        CHECK: %narrowed = py.narrow %optional : !py.optional<i64> to i64
        CHECK: %float = py.to_float %dynamic : !py.dyn
        """,
    )


def test_keeps_ops_with_dyn_or_optional_results(check_pass: CheckPass) -> None:
    # py.constant holds only i1, i64 and f64, so these results have no constant to fold to.
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (!py.dyn, !py.optional<i64>) {
          %one = py.constant 1 : i64
          %dynamic = py.wrap %one : i64 to !py.dyn
          %sum = py.add %dynamic, %dynamic : !py.dyn
          %optional = py.wrap %one : i64 to !py.optional<i64>
          func.return %sum, %optional : !py.dyn, !py.optional<i64>
        }
        """,
        """
        CHECK: %dynamic = py.wrap %one : i64 to !py.dyn
        CHECK: %sum = py.add %dynamic, %dynamic : !py.dyn
        CHECK: %optional = py.wrap %one : i64 to !py.optional<i64>
        """,
    )


def test_keeps_ops_on_arguments(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f(%x: i64) -> i64 {
          %zero = py.constant 0 : i64
          %r = py.add %x, %zero : i64
          func.return %r : i64
        }
        """,
        """
        CHECK: %r = py.add %x, %zero : i64
        CHECK: func.return %r : i64
        """,
    )


def test_folds_constant_condition(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f(%x: i64) -> i64 {
          %one = py.constant 1 : i64
          %two = py.constant 2 : i64
          %condition = py.cmp "lt", %one, %two : i64, i64
          %r = scf.if %condition -> (i64) {
            %sum = py.add %x, %one : i64
            scf.yield %sum : i64
          } else {
            py.raise "ValueError"
            scf.yield %two : i64
          }
          func.return %r : i64
        }
        """,
        """
        CHECK:      %condition = py.constant true
        CHECK-NEXT: %sum = py.add %x, %one : i64
        CHECK-NEXT: func.return %sum : i64
        CHECK-NOT:  py.raise
        """,
    )


def test_folds_false_condition_to_else_branch(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f(%x: i64) -> i64 {
          %false = py.constant false
          %r = scf.if %false -> (i64) {
            scf.yield %x : i64
          } else {
            py.raise "ValueError"
            scf.yield %x : i64
          }
          func.return %r : i64
        }
        """,
        """
        CHECK:      %false = py.constant false
        CHECK-NEXT: py.raise "ValueError"
        CHECK-NEXT: func.return %x : i64
        CHECK-NOT:  scf.if
        """,
    )


def test_folds_false_condition_without_else(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f() {
          %false = py.constant false
          scf.if %false {
            py.raise "ValueError"
          }
          func.return
        }
        """,
        """
        CHECK:      %false = py.constant false
        CHECK-NEXT: func.return
        """,
    )


def test_folds_ops_after_folded_condition(check_pass: CheckPass) -> None:
    # The yielded constant replaces the scf.if result, so the add after it folds too.
    check_pass(
        "fold-constants",
        """
        func.func @f() -> i64 {
          %true = py.constant true
          %two = py.constant 2 : i64
          %three = py.constant 3 : i64
          %r = scf.if %true -> (i64) {
            scf.yield %two : i64
          } else {
            scf.yield %three : i64
          }
          %sum = py.add %r, %three : i64
          func.return %sum : i64
        }
        """,
        """
        CHECK:      %three = py.constant 3 : i64
        CHECK-NEXT: %sum = py.constant 5 : i64
        CHECK-NEXT: func.return %sum : i64
        """,
    )


def test_folds_nested_constant_conditions(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f(%x: f64) -> f64 {
          %true = py.constant true
          %r = scf.if %true -> (f64) {
            %inner = scf.if %true -> (f64) {
              %y = py.neg %x : f64
              scf.yield %y : f64
            } else {
              scf.yield %x : f64
            }
            scf.yield %inner : f64
          } else {
            scf.yield %x : f64
          }
          func.return %r : f64
        }
        """,
        """
        CHECK:      %true = py.constant true
        CHECK-NEXT: %y = py.neg %x : f64
        CHECK-NEXT: func.return %y : f64
        """,
    )


def test_keeps_condition_on_argument(check_pass: CheckPass) -> None:
    check_pass(
        "fold-constants",
        """
        func.func @f(%condition: i1, %x: i64) -> i64 {
          %one = py.constant 1 : i64
          %r = scf.if %condition -> (i64) {
            scf.yield %x : i64
          } else {
            scf.yield %one : i64
          }
          func.return %r : i64
        }
        """,
        """
        CHECK: %r = scf.if %condition -> (i64) {
        CHECK: scf.yield %x : i64
        CHECK: } else {
        CHECK: scf.yield %one : i64
        """,
    )


def test_keeps_int_conversions_beyond_int64(check_pass: CheckPass) -> None:
    # int(1e19), round(1e19) and math.floor(1e19) are exact Python ints beyond int64.
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i64, i64, i64, i64) {
          %big = py.constant 1.0e+19 : f64
          %int = py.to_int %big : f64
          %rounded = py.round %big : f64
          %floor = py.math "floor"(%big) : i64
          %fits = py.constant 9.0e+18 : f64
          %int_of_fits = py.to_int %fits : f64
          func.return %int, %rounded, %floor, %int_of_fits : i64, i64, i64, i64
        }
        """,
        """
        CHECK: %int = py.to_int %big : f64
        CHECK: %rounded = py.round %big : f64
        CHECK: %floor = py.math "floor"(%big) : i64
        CHECK: %int_of_fits = py.constant 9000000000000000000 : i64
        """,
    )


def test_keeps_ordering_comparison_with_none(check_pass: CheckPass) -> None:
    # None < 1 raises TypeError in CPython, but None == 1 is False.
    check_pass(
        "fold-constants",
        """
        func.func @f() -> (i1, i1) {
          %none = py.none
          %one = py.constant 1 : i64
          %wrapped_none = py.wrap %none : !py.none to !py.dyn
          %wrapped_one = py.wrap %one : i64 to !py.dyn
          %less = py.cmp "lt", %wrapped_none, %wrapped_one : !py.dyn, !py.dyn
          %equal = py.cmp "eq", %wrapped_none, %wrapped_one : !py.dyn, !py.dyn
          func.return %less, %equal : i1, i1
        }
        """,
        """
        CHECK: %less = py.cmp "lt", %wrapped_none, %wrapped_one : !py.dyn, !py.dyn
        CHECK: %equal = py.constant false
        """,
    )


def test_keeps_call_with_constant_arguments(check_pass: CheckPass) -> None:
    # The pass does not evaluate callees, so a call stays even when its arguments are constant.
    check_pass(
        "fold-constants",
        """
        func.func @g(%x: i64) -> i64 {
          func.return %x : i64
        }
        func.func @f() -> i64 {
          %one = py.constant 1 : i64
          %r = func.call @g(%one) : (i64) -> i64
          func.return %r : i64
        }
        """,
        """
        CHECK:      %r = func.call @g(%one) : (i64) -> i64
        CHECK-NEXT: func.return %r : i64
        """,
    )


BINARY_OPERATIONS: dict[str, Callable[[Any, Any], object]] = {
    "py.add": operator.add,
    "py.sub": operator.sub,
    "py.mul": operator.mul,
    "py.truediv": operator.truediv,
    "py.floordiv": operator.floordiv,
    "py.mod": operator.mod,
    "py.pow": operator.pow,
    "py.min": min,
    "py.max": max,
}

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
# Small ints hit zero divisors, exact quotients and powers that fit.
INT64_OPERANDS = st.one_of(INT64, st.integers(min_value=-70, max_value=70))
FLOAT_OPERANDS = st.floats(allow_nan=True, allow_infinity=True)


def float_literal(value: float) -> str:
    """Return the IR literal with the exact bits of `value`."""
    return "0x" + struct.pack(">d", value).hex()


def fold_binary(name: str, type_: str, lhs: str, rhs: str) -> Operation:
    """Fold `name` on two constants and return the op that defines the function's result."""
    result_type = "f64" if name == "py.truediv" else type_
    module = parse_module(
        f"""
        func.func @f() -> {result_type} {{
          %a = py.constant {lhs} : {type_}
          %b = py.constant {rhs} : {type_}
          %r = {name} %a, %b : {type_}
          func.return %r : {result_type}
        }}
        """
    )
    run_pipeline(module, ["fold-constants"])
    return_op = next(op for op in module.walk() if isinstance(op, func.ReturnOp))
    owner = return_op.operands[0].owner
    assert isinstance(owner, Operation)
    return owner


@pytest.mark.parametrize("name", BINARY_OPERATIONS)
@given(lhs=INT64_OPERANDS, rhs=INT64_OPERANDS)
def test_int_folds_match_cpython(name: str, lhs: int, rhs: int) -> None:
    if name == "py.pow":
        # Larger exponents are covered above, and would make CPython build huge ints here.
        assume(rhs <= 64)
    try:
        expected: object = BINARY_OPERATIONS[name](lhs, rhs)
    except (ZeroDivisionError, OverflowError):
        expected = None

    folded = fold_binary(name, "i64", str(lhs), str(rhs))

    expected_type = float if name == "py.truediv" else int
    if type(expected) is not expected_type or (expected_type is int and not -(2**63) <= expected < 2**63):
        assert folded.name == name, f"{lhs} {name} {rhs} folded although CPython gives {expected!r}"
    else:
        assert isinstance(folded, ConstantOp), f"{lhs} {name} {rhs} did not fold to {expected!r}"
        assert folded.python_value() == expected


@pytest.mark.parametrize("name", BINARY_OPERATIONS)
@given(lhs=FLOAT_OPERANDS, rhs=FLOAT_OPERANDS)
def test_float_folds_match_cpython_bits(name: str, lhs: float, rhs: float) -> None:
    try:
        expected: object = BINARY_OPERATIONS[name](lhs, rhs)
    except (ZeroDivisionError, OverflowError):
        expected = None

    folded = fold_binary(name, "f64", float_literal(lhs), float_literal(rhs))

    if type(expected) is not float:
        assert folded.name == name, f"{lhs!r} {name} {rhs!r} folded although CPython gives {expected!r}"
    else:
        assert isinstance(folded, ConstantOp), f"{lhs!r} {name} {rhs!r} did not fold to {expected!r}"
        folded_value = folded.python_value()
        assert isinstance(folded_value, float)
        assert float_literal(folded_value) == float_literal(expected)


def test_constant_of_matching_type() -> None:
    assert make_constant(True, i1) is not None
    assert make_constant(-(2**63), i64) is not None
    assert make_constant(-0.0, f64) is not None


def test_no_constant_of_other_python_type() -> None:
    # bool is a subclass of int, and int of neither float nor bool, so the check is on exact types.
    assert make_constant(True, i64) is None
    assert make_constant(1, i1) is None
    assert make_constant(1, f64) is None
    assert make_constant(1.0, i64) is None
    assert make_constant(None, i64) is None
    assert make_constant(1j, f64) is None


def test_no_constant_beyond_int64() -> None:
    assert make_constant(2**63, i64) is None
    assert make_constant(-(2**63) - 1, i64) is None
