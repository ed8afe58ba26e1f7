"""IR text tests of the cse pass: which identical ops it merges, and which it must keep apart."""

from __future__ import annotations

from collections.abc import Callable

CheckPass = Callable[[str, str, str], None]


def test_dedupes_identical_adds(check_pass: CheckPass) -> None:
    check_pass(
        "cse",
        """
        func.func @f(%x: i64, %y: i64) -> (i64, i64) {
          %a = py.add %x, %y : i64
          %b = py.add %x, %y : i64
          func.return %a, %b : i64, i64
        }
        """,
        """
        CHECK:      func.func @f(%x: i64, %y: i64) -> (i64, i64) {
        CHECK-NEXT:   %a = py.add %x, %y : i64
        CHECK-NEXT:   func.return %a, %a : i64, i64
        CHECK-NEXT: }
        """,
    )


def test_dedupes_chain_of_identical_ops(check_pass: CheckPass) -> None:
    # Once %c is replaced by %a, %d has the same operands as %b.
    check_pass(
        "cse",
        """
        func.func @f(%x: f64) -> (f64, f64) {
          %a = py.neg %x : f64
          %b = py.mul %a, %x : f64
          %c = py.neg %x : f64
          %d = py.mul %c, %x : f64
          func.return %b, %d : f64, f64
        }
        """,
        """
        CHECK:      %a = py.neg %x : f64
        CHECK-NEXT: %b = py.mul %a, %x : f64
        CHECK-NEXT: func.return %b, %b : f64, f64
        """,
    )


def test_dedupes_checked_division(check_pass: CheckPass) -> None:
    # The first division flags the same rows the second would, so the second can go.
    check_pass(
        "cse",
        """
        func.func @f(%x: i64, %y: i64) -> i64 {
          %a = py.floordiv %x, %y : i64
          %b = py.floordiv %x, %y : i64
          %r = py.sub %a, %b : i64
          func.return %r : i64
        }
        """,
        """
        CHECK:      %a = py.floordiv %x, %y : i64
        CHECK-NEXT: %r = py.sub %a, %a : i64
        """,
    )


def test_dedupes_identical_constants(check_pass: CheckPass) -> None:
    check_pass(
        "cse",
        """
        func.func @f() -> (f64, f64, i64, i64) {
          %nan = py.constant 0x7FF8000000000001 : f64
          %same_nan = py.constant 0x7FF8000000000001 : f64
          %one = py.constant 1 : i64
          %same_one = py.constant 1 : i64
          func.return %nan, %same_nan, %one, %same_one : f64, f64, i64, i64
        }
        """,
        """
        CHECK:      %nan = py.constant 0x7ff8000000000001 : f64
        CHECK-NEXT: %one = py.constant 1 : i64
        CHECK-NEXT: func.return %nan, %nan, %one, %one : f64, f64, i64, i64
        """,
    )


def test_keeps_constants_with_different_bits(check_pass: CheckPass) -> None:
    check_pass(
        "cse",
        """
        func.func @f() -> (f64, f64, f64, f64) {
          %zero = py.constant 0.0 : f64
          %minus_zero = py.constant -0.0 : f64
          %nan = py.constant 0x7FF8000000000000 : f64
          %other_nan = py.constant 0x7FF8000000000001 : f64
          func.return %zero, %minus_zero, %nan, %other_nan : f64, f64, f64, f64
        }
        """,
        """
        CHECK:      %zero = py.constant 0.000000e+00 : f64
        CHECK-NEXT: %minus_zero = py.constant -0.000000e+00 : f64
        CHECK-NEXT: %nan = py.constant 0x7ff8000000000000 : f64
        CHECK-NEXT: %other_nan = py.constant 0x7ff8000000000001 : f64
        CHECK-NEXT: func.return %zero, %minus_zero, %nan, %other_nan : f64, f64, f64, f64
        """,
    )


def test_keeps_swapped_operands(check_pass: CheckPass) -> None:
    check_pass(
        "cse",
        """
        func.func @f(%x: i64, %y: i64) -> (i64, i64) {
          %a = py.add %x, %y : i64
          %b = py.add %y, %x : i64
          func.return %a, %b : i64, i64
        }
        """,
        """
        CHECK:      %a = py.add %x, %y : i64
        CHECK-NEXT: %b = py.add %y, %x : i64
        CHECK-NEXT: func.return %a, %b : i64, i64
        """,
    )


def test_keeps_ops_with_different_properties(check_pass: CheckPass) -> None:
    check_pass(
        "cse",
        """
        func.func @f(%x: f64, %y: f64) -> (i1, i1, f64, f64) {
          %lt = py.cmp "lt", %x, %y : f64, f64
          %le = py.cmp "le", %x, %y : f64, f64
          %sin = py.math "sin"(%x) : f64
          %cos = py.math "cos"(%x) : f64
          func.return %lt, %le, %sin, %cos : i1, i1, f64, f64
        }
        """,
        """
        CHECK:      %lt = py.cmp "lt", %x, %y : f64, f64
        CHECK-NEXT: %le = py.cmp "le", %x, %y : f64, f64
        CHECK-NEXT: %sin = py.math "sin"(%x) : f64
        CHECK-NEXT: %cos = py.math "cos"(%x) : f64
        """,
    )


def test_keeps_ops_with_different_attributes(check_pass: CheckPass) -> None:
    check_pass(
        "cse",
        """
        func.func @f(%x: i64) -> (i64, i64) {
          %a = py.neg %x {line = 1 : i64} : i64
          %b = py.neg %x {line = 2 : i64} : i64
          func.return %a, %b : i64, i64
        }
        """,
        """
        CHECK:      %a = py.neg %x {line = 1 : i64} : i64
        CHECK-NEXT: %b = py.neg %x {line = 2 : i64} : i64
        """,
    )


def test_keeps_ops_with_different_result_types(check_pass: CheckPass) -> None:
    check_pass(
        "cse",
        """
        func.func @f(%x: i64) -> (!py.optional<i64>, !py.dyn) {
          %optional = py.wrap %x : i64 to !py.optional<i64>
          %dynamic = py.wrap %x : i64 to !py.dyn
          func.return %optional, %dynamic : !py.optional<i64>, !py.dyn
        }
        """,
        """
        CHECK:      %optional = py.wrap %x : i64 to !py.optional<i64>
        CHECK-NEXT: %dynamic = py.wrap %x : i64 to !py.dyn
        """,
    )


def test_keeps_raise(check_pass: CheckPass) -> None:
    check_pass(
        "cse",
        """
        func.func @f(%condition: i1) {
          py.raise "ValueError"
          scf.if %condition {
            py.raise "ValueError"
          }
          py.raise "ValueError"
          func.return
        }
        """,
        """
        CHECK:      py.raise "ValueError"
        CHECK-NEXT: scf.if %condition {
        CHECK-NEXT:   py.raise "ValueError"
        CHECK-NEXT: }
        CHECK-NEXT: py.raise "ValueError"
        CHECK-NEXT: func.return
        """,
    )


def test_dedupes_into_nested_region(check_pass: CheckPass) -> None:
    check_pass(
        "cse",
        """
        func.func @f(%condition: i1, %x: i64) -> i64 {
          %outer = py.mul %x, %x : i64
          %r = scf.if %condition -> (i64) {
            %inner = py.mul %x, %x : i64
            scf.yield %inner : i64
          } else {
            scf.yield %x : i64
          }
          func.return %r : i64
        }
        """,
        """
        CHECK:      %outer = py.mul %x, %x : i64
        CHECK-NEXT: %r = scf.if %condition -> (i64) {
        CHECK-NEXT:   scf.yield %outer : i64
        CHECK-NEXT: } else {
        """,
    )


def test_keeps_ops_in_sibling_branches(check_pass: CheckPass) -> None:
    # Neither branch dominates the other, and an op inside a branch does not dominate the ops
    # after the scf.if.
    check_pass(
        "cse",
        """
        func.func @f(%condition: i1, %x: i64) -> (i64, i64) {
          %r = scf.if %condition -> (i64) {
            %then = py.mul %x, %x : i64
            scf.yield %then : i64
          } else {
            %else = py.mul %x, %x : i64
            scf.yield %else : i64
          }
          %after = py.mul %x, %x : i64
          func.return %r, %after : i64, i64
        }
        """,
        """
        CHECK:      %then = py.mul %x, %x : i64
        CHECK-NEXT: scf.yield %then : i64
        CHECK:      %else = py.mul %x, %x : i64
        CHECK-NEXT: scf.yield %else : i64
        CHECK:      %after = py.mul %x, %x : i64
        CHECK-NEXT: func.return %r, %after : i64, i64
        """,
    )


def test_keeps_identical_ifs(check_pass: CheckPass) -> None:
    check_pass(
        "cse",
        """
        func.func @f(%condition: i1, %x: i64) -> (i64, i64) {
          %a = scf.if %condition -> (i64) {
            scf.yield %x : i64
          } else {
            scf.yield %x : i64
          }
          %b = scf.if %condition -> (i64) {
            scf.yield %x : i64
          } else {
            scf.yield %x : i64
          }
          func.return %a, %b : i64, i64
        }
        """,
        """
        CHECK: %a = scf.if %condition -> (i64) {
        CHECK: %b = scf.if %condition -> (i64) {
        CHECK: func.return %a, %b : i64, i64
        """,
    )


def test_keeps_constants_in_separate_functions(check_pass: CheckPass) -> None:
    check_pass(
        "cse",
        """
        func.func @f() -> i64 {
          %one = py.constant 1 : i64
          func.return %one : i64
        }
        func.func @g() -> i64 {
          %one = py.constant 1 : i64
          func.return %one : i64
        }
        """,
        """
        CHECK:      func.func @f() -> i64 {
        CHECK-NEXT:   %one = py.constant 1 : i64
        CHECK-NEXT:   func.return %one : i64
        CHECK:      func.func @g() -> i64 {
        CHECK-NEXT:   %one = py.constant 1 : i64
        CHECK-NEXT:   func.return %one : i64
        """,
    )


def test_keeps_calls(check_pass: CheckPass) -> None:
    # The pass does not know what a callee does, so it keeps both calls.
    check_pass(
        "cse",
        """
        func.func @g() -> i64 {
          %one = py.constant 1 : i64
          func.return %one : i64
        }
        func.func @f() -> (i64, i64) {
          %a = func.call @g() : () -> i64
          %b = func.call @g() : () -> i64
          func.return %a, %b : i64, i64
        }
        """,
        """
        CHECK:      %a = func.call @g() : () -> i64
        CHECK-NEXT: %b = func.call @g() : () -> i64
        CHECK-NEXT: func.return %a, %b : i64, i64
        """,
    )


def test_keeps_constant_inside_isolated_function(check_pass: CheckPass) -> None:
    # A func.func body cannot use values defined outside it.
    check_pass(
        "cse",
        """
        %outer = py.constant 1 : i64
        func.func @f() -> i64 {
          %inner = py.constant 1 : i64
          func.return %inner : i64
        }
        """,
        """
        CHECK:      %outer = py.constant 1 : i64
        CHECK-NEXT: func.func @f() -> i64 {
        CHECK-NEXT:   %inner = py.constant 1 : i64
        CHECK-NEXT:   func.return %inner : i64
        """,
    )


def test_keeps_different_ops_on_same_operands(check_pass: CheckPass) -> None:
    check_pass(
        "cse",
        """
        func.func @f(%x: i64, %y: i64) -> (i64, i64, i64) {
          %sum = py.add %x, %y : i64
          %difference = py.sub %x, %y : i64
          %product = py.mul %x, %y : i64
          func.return %sum, %difference, %product : i64, i64, i64
        }
        """,
        """
        CHECK:      %sum = py.add %x, %y : i64
        CHECK-NEXT: %difference = py.sub %x, %y : i64
        CHECK-NEXT: %product = py.mul %x, %y : i64
        CHECK-NEXT: func.return %sum, %difference, %product : i64, i64, i64
        """,
    )


def test_keeps_op_in_branch_before_outer_duplicate(check_pass: CheckPass) -> None:
    # The op inside the branch runs on some rows only, so the later op must stay.
    check_pass(
        "cse",
        """
        func.func @f(%condition: i1, %x: i64) -> (i64, i64) {
          %r = scf.if %condition -> (i64) {
            %inner = py.mul %x, %x : i64
            scf.yield %inner : i64
          } else {
            scf.yield %x : i64
          }
          %outer = py.mul %x, %x : i64
          func.return %r, %outer : i64, i64
        }
        """,
        """
        CHECK:      %inner = py.mul %x, %x : i64
        CHECK-NEXT: scf.yield %inner : i64
        CHECK:      %outer = py.mul %x, %x : i64
        CHECK-NEXT: func.return %r, %outer : i64, i64
        """,
    )
