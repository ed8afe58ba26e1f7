"""IR text tests of the dce pass: which unused ops it removes, and which may still flag a row."""

from __future__ import annotations

from collections.abc import Callable

CheckPass = Callable[[str, str, str], None]


def test_removes_unused_float_add(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%x: f64, %y: f64) -> f64 {
          %sum = py.add %x, %y : f64
          func.return %x : f64
        }
        """,
        """
        CHECK:      func.func @f(%x: f64, %y: f64) -> f64 {
        CHECK-NEXT:   func.return %x : f64
        CHECK-NEXT: }
        """,
    )


def test_keeps_used_ops(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%x: f64, %y: f64) -> f64 {
          %sum = py.add %x, %y : f64
          func.return %sum : f64
        }
        """,
        """
        CHECK:      %sum = py.add %x, %y : f64
        CHECK-NEXT: func.return %sum : f64
        """,
    )


def test_keeps_unused_checked_division(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%x: i64, %y: i64, %a: f64, %b: f64) {
          %quotient = py.floordiv %x, %y : i64
          %remainder = py.mod %a, %b : f64
          %ratio = py.truediv %a, %b : f64
          func.return
        }
        """,
        """
        CHECK:      %quotient = py.floordiv %x, %y : i64
        CHECK-NEXT: %remainder = py.mod %a, %b : f64
        CHECK-NEXT: %ratio = py.truediv %a, %b : f64
        CHECK-NEXT: func.return
        """,
    )


def test_keeps_unused_int_arithmetic(check_pass: CheckPass) -> None:
    # Each of these flags int64 overflow.
    check_pass(
        "dce",
        """
        func.func @f(%x: i64, %y: i64) {
          %sum = py.add %x, %y : i64
          %difference = py.sub %x, %y : i64
          %product = py.mul %x, %y : i64
          %negated = py.neg %x : i64
          %absolute = py.abs %x : i64
          func.return
        }
        """,
        """
        CHECK:      %sum = py.add %x, %y : i64
        CHECK-NEXT: %difference = py.sub %x, %y : i64
        CHECK-NEXT: %product = py.mul %x, %y : i64
        CHECK-NEXT: %negated = py.neg %x : i64
        CHECK-NEXT: %absolute = py.abs %x : i64
        CHECK-NEXT: func.return
        """,
    )


def test_removes_unused_float_arithmetic(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%x: f64, %y: f64) {
          %difference = py.sub %x, %y : f64
          %product = py.mul %x, %y : f64
          %negated = py.neg %x : f64
          %absolute = py.abs %x : f64
          %smaller = py.min %x, %y : f64
          %larger = py.max %x, %y : f64
          func.return
        }
        """,
        """
        CHECK:      func.func @f(%x: f64, %y: f64) {
        CHECK-NEXT:   func.return
        """,
    )


def test_removes_unused_int_min_and_max(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%x: i64, %y: i64, %b: i1, %d: !py.dyn) -> i64 {
          %smaller = py.min %x, %y : i64
          %larger = py.max %x, %y : i64
          %smaller_bool = py.min %b, %b : i1
          %larger_bool = py.max %b, %b : i1
          %dynamic = py.max %d, %d : !py.dyn
          func.return %x : i64
        }
        """,
        """
        CHECK:      func.func @f(%x: i64, %y: i64, %b: i1, %d: !py.dyn) -> i64 {
        CHECK-NEXT:   %dynamic = py.max %d, %d : !py.dyn
        CHECK-NEXT:   func.return %x : i64
        """,
    )


def test_removes_unused_pure_ops(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%x: i64, %o: !py.optional<i64>, %b: i1) -> i64 {
          %one = py.constant 1 : i64
          %none = py.none
          %wrapped = py.wrap %x : i64 to !py.dyn
          %narrowed = py.narrow %o : !py.optional<i64> to i64
          %is_none = py.is_none %o : !py.optional<i64>
          %truth = py.truth %x : i64
          %negation = py.not %b
          func.return %x : i64
        }
        """,
        """
        CHECK:      func.func @f(%x: i64, %o: !py.optional<i64>, %b: i1) -> i64 {
        CHECK-NEXT:   func.return %x : i64
        """,
    )


def test_removes_unused_comparison_unless_dyn(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%x: i64, %y: f64, %d: !py.dyn) {
          %mixed = py.cmp "lt", %x, %y : i64, f64
          %dynamic = py.cmp "eq", %d, %x : !py.dyn, i64
          func.return
        }
        """,
        """
        CHECK-NOT:  py.cmp "lt"
        CHECK:      %dynamic = py.cmp "eq", %d, %x : !py.dyn, i64
        CHECK-NEXT: func.return
        """,
    )


def test_removes_unused_exact_conversions(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%x: i64, %b: i1, %y: f64, %d: !py.dyn) {
          %float_of_int = py.to_float %x : i64
          %float_of_bool = py.to_float %b : i1
          %float_of_float = py.to_float %y : f64
          %int_of_int = py.to_int %x : i64
          %int_of_bool = py.to_int %b : i1
          %rounded_int = py.round %x : i64
          %float_of_dyn = py.to_float %d : !py.dyn
          %int_of_float = py.to_int %y : f64
          %rounded_float = py.round %y : f64
          func.return
        }
        """,
        """
        CHECK:      func.func @f(%x: i64, %b: i1, %y: f64, %d: !py.dyn) {
        CHECK-NEXT:   %float_of_dyn = py.to_float %d : !py.dyn
        CHECK-NEXT:   %int_of_float = py.to_int %y : f64
        CHECK-NEXT:   %rounded_float = py.round %y : f64
        CHECK-NEXT:   func.return
        """,
    )


def test_removes_int_round_digits_if_digits_nonnegative(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%x: i64, %n: i64, %y: f64) {
          %zero = py.constant 0 : i64
          %two = py.constant 2 : i64
          %minus_one = py.constant -1 : i64
          %a = py.round_digits %x, %zero : i64
          %b = py.round_digits %x, %two : i64
          %c = py.round_digits %x, %minus_one : i64
          %d = py.round_digits %x, %n : i64
          %e = py.round_digits %y, %two : f64
          func.return
        }
        """,
        """
        CHECK:      func.func @f(%x: i64, %n: i64, %y: f64) {
        CHECK-NEXT:   %two = py.constant 2 : i64
        CHECK-NEXT:   %minus_one = py.constant -1 : i64
        CHECK-NEXT:   %c = py.round_digits %x, %minus_one : i64
        CHECK-NEXT:   %d = py.round_digits %x, %n : i64
        CHECK-NEXT:   %e = py.round_digits %y, %two : f64
        CHECK-NEXT:   func.return
        """,
    )


def test_removes_unused_math_only_where_total(check_pass: CheckPass) -> None:
    # fabs, copysign, isnan, isinf, isfinite, atan and tanh return a value for every float.
    # The others raise on some input: sin(inf), sqrt(-1.0), log(0.0), exp(1000.0), floor(nan).
    check_pass(
        "dce",
        """
        func.func @f(%x: f64, %y: f64) {
          %fabs = py.math "fabs"(%x) : f64
          %copysign = py.math "copysign"(%x, %y) : f64
          %isnan = py.math "isnan"(%x) : i1
          %isinf = py.math "isinf"(%x) : i1
          %isfinite = py.math "isfinite"(%x) : i1
          %atan = py.math "atan"(%x) : f64
          %tanh = py.math "tanh"(%x) : f64
          %sin = py.math "sin"(%x) : f64
          %sqrt = py.math "sqrt"(%x) : f64
          %log = py.math "log"(%x) : f64
          %exp = py.math "exp"(%x) : f64
          %floor = py.math "floor"(%x) : i64
          func.return
        }
        """,
        """
        CHECK:      func.func @f(%x: f64, %y: f64) {
        CHECK-NEXT:   %sin = py.math "sin"(%x) : f64
        CHECK-NEXT:   %sqrt = py.math "sqrt"(%x) : f64
        CHECK-NEXT:   %log = py.math "log"(%x) : f64
        CHECK-NEXT:   %exp = py.math "exp"(%x) : f64
        CHECK-NEXT:   %floor = py.math "floor"(%x) : i64
        CHECK-NEXT:   func.return
        """,
    )


def test_keeps_unused_unwrap_and_invert(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%o: !py.optional<i64>, %x: i64) {
          %unwrapped = py.unwrap %o : !py.optional<i64> to i64
          %inverted = py.invert %x : i64
          func.return
        }
        """,
        """
        CHECK:      %unwrapped = py.unwrap %o : !py.optional<i64> to i64
        CHECK-NEXT: %inverted = py.invert %x : i64
        """,
    )


def test_keeps_raise(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f() {
          py.raise "ValueError"
          func.return
        }
        """,
        """
        CHECK:      py.raise "ValueError"
        CHECK-NEXT: func.return
        """,
    )


def test_removes_chain_of_dead_ops(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%x: f64) -> f64 {
          %two = py.constant 2.0 : f64
          %product = py.mul %x, %two : f64
          %sum = py.add %product, %two : f64
          %wrapped = py.wrap %sum : f64 to !py.optional<f64>
          func.return %x : f64
        }
        """,
        """
        CHECK:      func.func @f(%x: f64) -> f64 {
        CHECK-NEXT:   func.return %x : f64
        """,
    )


def test_keeps_operands_of_kept_op(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%x: i64) {
          %zero = py.constant 0 : i64
          %quotient = py.floordiv %x, %zero : i64
          func.return
        }
        """,
        """
        CHECK:      %zero = py.constant 0 : i64
        CHECK-NEXT: %quotient = py.floordiv %x, %zero : i64
        """,
    )


def test_removes_unused_if_without_effects(check_pass: CheckPass) -> None:
    # Removing the scf.if leaves %two unused, so it goes too.
    check_pass(
        "dce",
        """
        func.func @f(%condition: i1, %x: f64) -> f64 {
          %two = py.constant 2.0 : f64
          %r = scf.if %condition -> (f64) {
            %product = py.mul %x, %two : f64
            scf.yield %product : f64
          } else {
            %nested = scf.if %condition -> (f64) {
              scf.yield %x : f64
            } else {
              %negated = py.neg %x : f64
              scf.yield %negated : f64
            }
            scf.yield %nested : f64
          }
          func.return %x : f64
        }
        """,
        """
        CHECK:      func.func @f(%condition: i1, %x: f64) -> f64 {
        CHECK-NEXT:   func.return %x : f64
        """,
    )


def test_keeps_if_containing_raise(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%condition: i1) {
          scf.if %condition {
            py.raise "ValueError"
          }
          func.return
        }
        """,
        """
        CHECK:      scf.if %condition {
        CHECK-NEXT:   py.raise "ValueError"
        CHECK-NEXT: }
        """,
    )


def test_keeps_if_containing_op_that_flags(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%condition: i1, %x: i64) {
          %r = scf.if %condition -> (i64) {
            scf.yield %x : i64
          } else {
            %nested = scf.if %condition -> (i64) {
              %sum = py.add %x, %x : i64
              scf.yield %sum : i64
            } else {
              scf.yield %x : i64
            }
            scf.yield %nested : i64
          }
          func.return
        }
        """,
        """
        CHECK: %r = scf.if %condition -> (i64) {
        CHECK: %nested = scf.if %condition -> (i64) {
        CHECK: %sum = py.add %x, %x : i64
        """,
    )


def test_removes_dead_ops_inside_kept_if(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%condition: i1, %x: f64) {
          scf.if %condition {
            %unused = py.add %x, %x : f64
            py.raise "ValueError"
          }
          func.return
        }
        """,
        """
        CHECK:      scf.if %condition {
        CHECK-NEXT:   py.raise "ValueError"
        CHECK-NEXT: }
        """,
    )


def test_keeps_unused_functions_and_calls(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @g() -> f64 {
          %one = py.constant 1.0 : f64
          func.return %one : f64
        }
        func.func @f() {
          %unused = func.call @g() : () -> f64
          func.return
        }
        """,
        """
        CHECK:      func.func @g() -> f64 {
        CHECK-NEXT:   %one = py.constant 1.000000e+00 : f64
        CHECK-NEXT:   func.return %one : f64
        CHECK:      func.func @f() {
        CHECK-NEXT:   %unused = func.call @g() : () -> f64
        CHECK-NEXT:   func.return
        """,
    )


def test_keeps_unused_power(check_pass: CheckPass) -> None:
    # An int power can overflow or have a negative exponent, and a float power can overflow or
    # have a complex result, as (-8.0) ** (1 / 3) has.
    check_pass(
        "dce",
        """
        func.func @f(%x: i64, %y: i64, %a: f64, %b: f64) {
          %int_power = py.pow %x, %y : i64
          %float_power = py.pow %a, %b : f64
          func.return
        }
        """,
        """
        CHECK:      %int_power = py.pow %x, %y : i64
        CHECK-NEXT: %float_power = py.pow %a, %b : f64
        CHECK-NEXT: func.return
        """,
    )


def test_keeps_unused_float_floor_division(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%a: f64, %b: f64) {
          %quotient = py.floordiv %a, %b : f64
          func.return
        }
        """,
        """
        CHECK:      %quotient = py.floordiv %a, %b : f64
        CHECK-NEXT: func.return
        """,
    )


def test_removes_unused_fields_of_naive_datetimes_dates_and_timedeltas(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%t: !py.datetime<"">, %u: !py.datetime<"+05:30">, %d: !py.date, %td: !py.timedelta) -> i64 {
          %hour = py.temporal_field "hour", %t : !py.datetime<"">
          %minute = py.temporal_field "minute", %u : !py.datetime<"+05:30">
          %year = py.temporal_field "year", %d : !py.date
          %days = py.temporal_field "days", %td : !py.timedelta
          %zero = py.constant 0 : i64
          func.return %zero : i64
        }
        """,
        """
        CHECK:      func.func
        CHECK-NEXT:   %zero = py.constant 0 : i64
        CHECK-NEXT:   func.return %zero : i64
        """,
    )


def test_keeps_unused_fields_that_read_a_zone_table(check_pass: CheckPass) -> None:
    check_pass(
        "dce",
        """
        func.func @f(%t: !py.datetime<"America/New_York">, %td: !py.timedelta) -> i64 {
          %hour = py.temporal_field "hour", %t : !py.datetime<"America/New_York">
          %later = py.temporal_shift "add", %t, %td : !py.datetime<"America/New_York">
          %zero = py.constant 0 : i64
          func.return %zero : i64
        }
        """,
        """
        CHECK:      %hour = py.temporal_field "hour", %t
        CHECK-NEXT: %later = py.temporal_shift "add", %t, %td
        """,
    )
