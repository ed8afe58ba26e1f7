"""IR text tests of the hoist pass: which ops it moves above branches, and which it leaves in place."""

from __future__ import annotations

from collections.abc import Callable

CheckPass = Callable[[str, str, str], None]


def test_moves_call_above_branch_that_repeats_it(check_pass: CheckPass) -> None:
    # The second log1p runs on every row, so it moves above the branch; cse can then merge
    # the branch's copy into it.
    check_pass(
        "hoist",
        """
        func.func @f(%x: f64, %c: i1) -> (f64, f64) {
          %r = scf.if %c -> (f64) {
            %inner = py.math "log1p"(%x) : f64
            scf.yield %inner : f64
          } else {
            scf.yield %x : f64
          }
          %outer = py.math "log1p"(%x) : f64
          func.return %r, %outer : f64, f64
        }
        """,
        """
        CHECK:      func.func @f(%x: f64, %c: i1) -> (f64, f64) {
        CHECK-NEXT:   %outer = py.math "log1p"(%x) : f64
        CHECK-NEXT:   %r = scf.if %c -> (f64) {
        CHECK-NEXT:     %inner = py.math "log1p"(%x) : f64
        CHECK-NEXT:     scf.yield %inner : f64
        CHECK-NEXT:   } else {
        CHECK-NEXT:     scf.yield %x : f64
        CHECK-NEXT:   }
        CHECK-NEXT:   func.return %r, %outer : f64, f64
        """,
    )


def test_keeps_order_of_moved_ops_and_their_operands_first(check_pass: CheckPass) -> None:
    check_pass(
        "hoist",
        """
        func.func @f(%x: i64, %c: i1) -> (i64, f64) {
          %r = scf.if %c -> (i64) {
            scf.yield %x : i64
          } else {
            scf.yield %x : i64
          }
          %a = py.to_float %x : i64
          %b = py.mul %a, %a : f64
          func.return %r, %b : i64, f64
        }
        """,
        """
        CHECK:      func.func @f(%x: i64, %c: i1) -> (i64, f64) {
        CHECK-NEXT:   %a = py.to_float %x : i64
        CHECK-NEXT:   %b = py.mul %a, %a : f64
        CHECK-NEXT:   %r = scf.if %c -> (i64) {
        """,
    )


def test_leaves_op_that_reads_branch_result_after_branch(check_pass: CheckPass) -> None:
    check_pass(
        "hoist",
        """
        func.func @f(%x: i64, %c: i1) -> i64 {
          %r = scf.if %c -> (i64) {
            scf.yield %x : i64
          } else {
            %n = py.neg %x : i64
            scf.yield %n : i64
          }
          %s = py.add %r, %x : i64
          func.return %s : i64
        }
        """,
        """
        CHECK:      %r = scf.if %c -> (i64) {
        CHECK:      {{^ *}$}}
        CHECK-NEXT: %s = py.add %r, %x : i64
        CHECK-NEXT: func.return %s : i64
        """,
    )


def test_moves_op_only_up_to_the_branch_after_its_operand(check_pass: CheckPass) -> None:
    # %d reads the first branch's result, so it moves above the second branch only.
    check_pass(
        "hoist",
        """
        func.func @f(%x: i64, %c: i1) -> (i64, i64, i64) {
          %r = scf.if %c -> (i64) {
            scf.yield %x : i64
          } else {
            scf.yield %x : i64
          }
          %t = scf.if %c -> (i64) {
            scf.yield %x : i64
          } else {
            scf.yield %x : i64
          }
          %d = py.neg %r : i64
          func.return %r, %t, %d : i64, i64, i64
        }
        """,
        """
        CHECK:      %r = scf.if %c -> (i64) {
        CHECK:      {{^ *}$}}
        CHECK-NEXT: %d = py.neg %r : i64
        CHECK-NEXT: %t = scf.if %c -> (i64) {
        """,
    )


def test_does_not_move_ops_above_raise(check_pass: CheckPass) -> None:
    # py.raise has no results and is no branch: nothing after it moves above it.
    check_pass(
        "hoist",
        """
        func.func @f(%x: i64, %y: i64, %c: i1) -> i64 {
          scf.if %c {
            py.raise "ValueError"
          }
          py.raise "ValueError"
          %q = py.floordiv %x, %y : i64
          func.return %q : i64
        }
        """,
        """
        CHECK:      scf.if %c {
        CHECK-NEXT:   py.raise "ValueError"
        CHECK-NEXT: }
        CHECK-NEXT: py.raise "ValueError"
        CHECK-NEXT: %q = py.floordiv %x, %y : i64
        """,
    )


def test_leaves_function_without_branches_alone(check_pass: CheckPass) -> None:
    check_pass(
        "hoist",
        """
        func.func @f(%x: i64, %y: i64) -> i64 {
          %a = py.add %x, %y : i64
          %b = py.mul %a, %y : i64
          func.return %b : i64
        }
        """,
        """
        CHECK:      func.func @f(%x: i64, %y: i64) -> i64 {
        CHECK-NEXT:   %a = py.add %x, %y : i64
        CHECK-NEXT:   %b = py.mul %a, %y : i64
        CHECK-NEXT:   func.return %b : i64
        """,
    )
