"""Constant folding: replace a py op whose operands are all constants by a `py.constant`.

An operand counts as constant when it is a `py.constant`, a `py.none`, or a `py.wrap` of one.
The result is computed by running the same Python operation, so it is CPython's result exactly:
floor division and modulo of negatives, NaN order in min and max, int and float comparisons,
the `math` module. An op is left alone when that evaluation raises, or when its result does not
fit the result type (an int beyond int64, the float of `2 ** -1` for an i64 `py.pow`), because
such rows must reach the interpreter. Ops with a `!py.dyn` or `!py.optional` result stay too,
because a `py.constant` is always of type i1, i64 or f64.

An `scf.if` on a constant condition is replaced by the ops of the branch it takes.

This resembles the folding half of MLIR's `-canonicalize`: the op folders, and the `scf.if`
pattern that inlines the branch a constant condition takes.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from xdsl.context import Context
from xdsl.dialects import scf
from xdsl.dialects.builtin import ModuleOp, f64, i1, i64
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint

from featurejit.ir.dialect import (
    AbsOp,
    AddOp,
    CmpOp,
    ConstantOp,
    FloorDivOp,
    InvertOp,
    IsNoneOp,
    MathCallOp,
    MaxOp,
    MinOp,
    ModOp,
    MulOp,
    NarrowOp,
    NegOp,
    NoneOp,
    NotOp,
    PowOp,
    RoundDigitsOp,
    RoundOp,
    SubOp,
    ToFloatOp,
    ToIntOp,
    TrueDivOp,
    TruthOp,
    UnwrapOp,
    WrapOp,
    is_scalar_type,
)

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

PyValue = bool | int | float | None

UNKNOWN: Final = object()
"""Marker for an SSA value whose Python value may differ between rows."""


def power(base: PyValue, exponent: PyValue) -> object:
    """Return `base ** exponent`, raising OverflowError where an int result cannot fit int64.

    The check comes first, because CPython would otherwise build the whole int, and
    `3 ** (2**62)` does not fit in memory.
    """
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and exponent > 64:
        raise OverflowError(f"{base} ** {exponent} does not fit in int64")
    return operator.pow(base, exponent)


def round_digits(number: int | float, ndigits: int) -> int | float:
    """Return `round(number, ndigits)`, which is 0 for every int64 once ndigits <= -20.

    Clamping ndigits keeps CPython from computing `10 ** -ndigits` for a huge ndigits.
    """
    if isinstance(number, int) and ndigits < -20:
        ndigits = -20
    return round(number, ndigits)


PYTHON_OPERATIONS: dict[type[Operation], Callable[..., object]] = {
    AddOp: operator.add,
    SubOp: operator.sub,
    MulOp: operator.mul,
    TrueDivOp: operator.truediv,
    FloorDivOp: operator.floordiv,
    ModOp: operator.mod,
    PowOp: power,
    MinOp: min,
    MaxOp: max,
    NegOp: operator.neg,
    InvertOp: operator.invert,
    AbsOp: abs,
    NotOp: operator.not_,
    TruthOp: bool,
    IsNoneOp: lambda value: value is None,
    ToIntOp: int,
    ToFloatOp: float,
    RoundOp: round,
    RoundDigitsOp: round_digits,
    # Narrowing or unwrapping None gives None, which no result type can represent, so the op stays.
    NarrowOp: lambda value: value,
    UnwrapOp: lambda value: value,
}

COMPARISONS: dict[str, Callable[[Any, Any], object]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def python_operation(op: Operation) -> Callable[..., object] | None:
    """Return the Python callable that computes `op` from its operands' values, if there is one."""
    if isinstance(op, CmpOp):
        return COMPARISONS[op.predicate.data]
    if isinstance(op, MathCallOp):
        name = op.function.data
        return math.log if name == "log_base" else getattr(math, name)
    return PYTHON_OPERATIONS.get(type(op))


def python_value(value: SSAValue) -> object:
    """Return the Python value that `value` has on every row, or UNKNOWN."""
    owner = value.owner
    if isinstance(owner, ConstantOp):
        return owner.python_value()
    if isinstance(owner, NoneOp):
        return None
    if isinstance(owner, WrapOp):
        return python_value(owner.input)
    return UNKNOWN


def make_constant(value: object, type_: Attribute) -> ConstantOp | None:
    """Return a `py.constant` of `value` with type `type_`, or None if `type_` cannot represent it."""
    # Compare exact types, because bool is a subclass of int.
    if type_ == i1 and type(value) is bool:
        return ConstantOp.of_bool(value)
    if type_ == i64 and type(value) is int and INT64_MIN <= value <= INT64_MAX:
        return ConstantOp.of_int(value)
    if type_ == f64 and type(value) is float:
        return ConstantOp.of_float(value)
    return None


class FoldConstantOperands(RewritePattern):
    """Replace an op whose operands all have known values by the constant of its result."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        compute = python_operation(op)
        if compute is None or len(op.results) != 1 or not is_scalar_type(op.results[0].type):
            return
        arguments = [python_value(operand) for operand in op.operands]
        if any(argument is UNKNOWN for argument in arguments):
            return

        try:
            result = compute(*arguments)
        except (ArithmeticError, ValueError, TypeError):
            # CPython raises on this row, so the op must stay and flag it.
            return

        constant = make_constant(result, op.results[0].type)
        if constant is not None:
            rewriter.replace(op, constant)


class FoldConstantCondition(RewritePattern):
    """Replace an `scf.if` on a constant condition by the ops of the branch it takes."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: scf.IfOp, rewriter: PatternRewriter) -> None:
        condition = python_value(op.cond)
        if condition is UNKNOWN:
            return

        region = op.true_region if condition else op.false_region
        if not region.blocks:
            # An scf.if without an else branch has no results.
            rewriter.erase(op)
            return

        block = region.block
        terminator = block.last_op
        assert isinstance(terminator, scf.YieldOp)
        yielded = list(terminator.operands)
        rewriter.erase(terminator)
        rewriter.inline_block(block, InsertPoint.before(op))
        rewriter.replace(op, [], yielded)


@dataclass(frozen=True)
class FoldConstantsPass(ModulePass):
    """Fold py ops on constant operands, and `scf.if` on constant conditions."""

    name = "fold-constants"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        # xDSL's erasure of unused ops is off so that this pass only folds. The dce pass
        # removes the constants that folding leaves unused.
        patterns = GreedyRewritePatternApplier(
            [FoldConstantOperands(), FoldConstantCondition()], dce_enabled=False
        )
        PatternRewriteWalker(patterns).rewrite_module(op)
