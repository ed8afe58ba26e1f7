"""Tests of `run_pipeline`: the default pass order, pass lookup and verification after each pass."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, i1, i64
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from featurejit.ir import parse_module, print_module
from featurejit.ir.dialect import ConstantOp
from featurejit.passes import PASSES, PassVerificationError, run_pipeline

INPUT = """
func.func @f(%x: i64) -> (i64, i64) {
  %two = py.constant 2 : i64
  %three = py.constant 3 : i64
  %five = py.constant 5 : i64
  %sum = py.add %two, %three : i64
  %a = py.mul %x, %sum : i64
  %b = py.mul %x, %five : i64
  %unused = py.add %a, %b : i64
  %dead = py.neg %five : i64
  func.return %a, %b : i64, i64
}
"""


@dataclass(frozen=True)
class RetypeConstantsPass(ModulePass):
    """A broken pass: it gives every i64 constant an i1 result, which fails verification."""

    name = "retype-constants"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for constant in list(op.walk()):
            if isinstance(constant, ConstantOp):
                Rewriter.replace_value_with_new_type(constant.result, i1)


def test_default_pipeline_folds_merges_and_removes() -> None:
    module = run_pipeline(parse_module(INPUT))

    # The folded 2 + 3 merges into %five, so the two products merge. The unused i64 add stays
    # because it may overflow, but the negation of a constant folds and goes.
    assert print_module(module) == (
        "builtin.module {\n"
        "  func.func @f(%x: i64) -> (i64, i64) {\n"
        "    %five = py.constant 5 : i64\n"
        "    %a = py.mul %x, %five : i64\n"
        "    %unused = py.add %a, %a : i64\n"
        "    func.return %a, %a : i64, i64\n"
        "  }\n"
        "}\n"
    )


def test_returns_the_module_it_rewrote() -> None:
    module = parse_module(INPUT)

    assert run_pipeline(module, ["dce"]) is module


def test_rejects_unknown_pass() -> None:
    with pytest.raises(
        ValueError, match="unknown pass 'canonicalize', expected one of: fold-constants, if-conversion, hoist, cse, dce"
    ):
        run_pipeline(parse_module(INPUT), ["fold-constants", "canonicalize"])


def test_reports_pass_that_breaks_the_ir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PASSES, RetypeConstantsPass.name, RetypeConstantsPass)

    with pytest.raises(PassVerificationError, match="after pass 'retype-constants'"):
        run_pipeline(parse_module(INPUT), ["cse", "retype-constants", "dce"])


def test_skips_verification_when_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PASSES, RetypeConstantsPass.name, RetypeConstantsPass)

    module = run_pipeline(parse_module(INPUT), ["retype-constants"], verify=False)

    assert isinstance(module, ModuleOp)
    constant = next(op for op in module.walk() if isinstance(op, ConstantOp))
    assert constant.result.type == i1
    assert constant.value == IntegerAttr(2, i64)
