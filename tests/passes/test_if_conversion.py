"""IR text tests of the if-conversion pass: which branches become selects, and which must stay."""

from __future__ import annotations

from collections.abc import Callable

CheckPass = Callable[[str, str, str], None]


def test_converts_float_branches(check_pass: CheckPass) -> None:
    check_pass(
        "if-conversion",
        """
        func.func @f(%a: f64, %b: f64) -> f64 {
          %c = py.cmp "gt", %a, %b : f64, f64
          %r = scf.if %c -> (f64) {
            %n = py.neg %a : f64
            scf.yield %n : f64
          } else {
            %s = py.sub %a, %b : f64
            scf.yield %s : f64
          }
          func.return %r : f64
        }
        """,
        """
        CHECK:      %c = py.cmp "gt", %a, %b : f64, f64
        CHECK-NEXT: %n = py.neg %a : f64
        CHECK-NEXT: %s = py.sub %a, %b : f64
        CHECK-NEXT: %r = py.select %c, %n, %s : f64
        CHECK-NEXT: func.return %r : f64
        CHECK-NOT:  scf.if
        """,
    )


def test_keeps_branch_that_divides(check_pass: CheckPass) -> None:
    check_pass(
        "if-conversion",
        """
        func.func @f(%a: f64, %b: f64) -> f64 {
          %c = py.cmp "gt", %a, %b : f64, f64
          %r = scf.if %c -> (f64) {
            %q = py.truediv %a, %b : f64
            scf.yield %q : f64
          } else {
            scf.yield %a : f64
          }
          func.return %r : f64
        }
        """,
        """
        CHECK:     %r = scf.if %c -> (f64) {
        CHECK-NEXT:  %q = py.truediv %a, %b : f64
        CHECK-NOT: py.select
        """,
    )


def test_keeps_branch_with_int_overflow_check(check_pass: CheckPass) -> None:
    check_pass(
        "if-conversion",
        """
        func.func @f(%a: i64, %c: i1) -> i64 {
          %r = scf.if %c -> (i64) {
            %m = py.mul %a, %a : i64
            scf.yield %m : i64
          } else {
            scf.yield %a : i64
          }
          func.return %r : i64
        }
        """,
        """
        CHECK:     scf.if %c -> (i64) {
        CHECK-NOT: py.select
        """,
    )


def test_keeps_branch_that_raises(check_pass: CheckPass) -> None:
    check_pass(
        "if-conversion",
        """
        func.func @f(%a: f64, %c: i1) -> f64 {
          scf.if %c {
            py.raise "ValueError"
            scf.yield
          } else {
            scf.yield
          }
          func.return %a : f64
        }
        """,
        """
        CHECK:      scf.if %c {
        CHECK-NEXT:   py.raise "ValueError"
        """,
    )


def test_converts_nested_branches_inside_out(check_pass: CheckPass) -> None:
    check_pass(
        "if-conversion",
        """
        func.func @f(%a: i64, %b: i64) -> i64 {
          %c = py.cmp "lt", %a, %b : i64, i64
          %r = scf.if %c -> (i64) {
            %d = py.cmp "lt", %a, %a : i64, i64
            %inner = scf.if %d -> (i64) {
              scf.yield %a : i64
            } else {
              scf.yield %b : i64
            }
            scf.yield %inner : i64
          } else {
            %z = py.constant 0 : i64
            scf.yield %z : i64
          }
          func.return %r : i64
        }
        """,
        """
        CHECK:      %d = py.cmp "lt", %a, %a : i64, i64
        CHECK-NEXT: %inner = py.select %d, %a, %b : i64
        CHECK-NEXT: %z = py.constant 0 : i64
        CHECK-NEXT: %r = py.select %c, %inner, %z : i64
        CHECK-NOT:  scf.if
        """,
    )


def test_converts_optional_results(check_pass: CheckPass) -> None:
    check_pass(
        "if-conversion",
        """
        func.func @f(%a: !py.optional<f64>) -> !py.optional<f64> {
          %c = py.is_none %a : !py.optional<f64>
          %r = scf.if %c -> (!py.optional<f64>) {
            %n = py.none
            %w = py.wrap %n : !py.none to !py.optional<f64>
            scf.yield %w : !py.optional<f64>
          } else {
            scf.yield %a : !py.optional<f64>
          }
          func.return %r : !py.optional<f64>
        }
        """,
        """
        CHECK:      %r = py.select %c, %w, %a : !py.optional<f64>
        CHECK-NOT:  scf.if
        """,
    )


def test_keeps_large_branches(check_pass: CheckPass) -> None:
    adds = "\n".join(f"            %v{index} = py.add %a, %a : f64" for index in range(30))
    check_pass(
        "if-conversion",
        f"""
        func.func @f(%a: f64, %c: i1) -> f64 {{
          %r = scf.if %c -> (f64) {{
{adds}
            scf.yield %v29 : f64
          }} else {{
            scf.yield %a : f64
          }}
          func.return %r : f64
        }}
        """,
        """
        CHECK:     scf.if %c -> (f64) {
        CHECK-NOT: py.select
        """,
    )


def test_keeps_branch_with_call(check_pass: CheckPass) -> None:
    # The pass does not know what a callee does, so it does not run it on every row.
    check_pass(
        "if-conversion",
        """
        func.func @g(%x: f64) -> f64 {
          func.return %x : f64
        }
        func.func @f(%c: i1, %x: f64) -> f64 {
          %r = scf.if %c -> (f64) {
            %y = func.call @g(%x) : (f64) -> f64
            scf.yield %y : f64
          } else {
            scf.yield %x : f64
          }
          func.return %r : f64
        }
        """,
        """
        CHECK:      %r = scf.if %c -> (f64) {
        CHECK-NEXT:   %y = func.call @g(%x) : (f64) -> f64
        CHECK-NOT:  py.select
        """,
    )


def test_keeps_branch_with_math_domain_error(check_pass: CheckPass) -> None:
    # CPython takes the square root only where x >= 0, so running it on every row would flag
    # rows that never raise.
    check_pass(
        "if-conversion",
        """
        func.func @f(%x: f64) -> f64 {
          %zero = py.constant 0.0 : f64
          %nonnegative = py.cmp "ge", %x, %zero : f64, f64
          %r = scf.if %nonnegative -> (f64) {
            %root = py.math "sqrt"(%x) : f64
            scf.yield %root : f64
          } else {
            scf.yield %zero : f64
          }
          func.return %r : f64
        }
        """,
        """
        CHECK:      %r = scf.if %nonnegative -> (f64) {
        CHECK-NEXT:   %root = py.math "sqrt"(%x) : f64
        CHECK-NOT:  py.select
        """,
    )


def test_keeps_outer_if_around_kept_inner_if(check_pass: CheckPass) -> None:
    check_pass(
        "if-conversion",
        """
        func.func @f(%c: i1, %d: i1, %x: i64, %y: i64) -> i64 {
          %r = scf.if %c -> (i64) {
            %inner = scf.if %d -> (i64) {
              %q = py.floordiv %x, %y : i64
              scf.yield %q : i64
            } else {
              scf.yield %x : i64
            }
            scf.yield %inner : i64
          } else {
            scf.yield %y : i64
          }
          func.return %r : i64
        }
        """,
        """
        CHECK:      %r = scf.if %c -> (i64) {
        CHECK-NEXT:   %inner = scf.if %d -> (i64) {
        CHECK-NEXT:     %q = py.floordiv %x, %y : i64
        CHECK-NOT:  py.select
        """,
    )
