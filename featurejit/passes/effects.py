"""What running an op can do besides computing its results, for the passes that drop or merge ops.

A `MayTakeSlowPath` op flags its row on some inputs. For some operand types no input can make
it flag. `can_take_slow_path` detects those cases, so that dce can remove such an op when its
result is unused.
"""

from __future__ import annotations

from xdsl.dialects import scf
from xdsl.dialects.builtin import f64, i1, i64
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.traits import Pure

from featurejit.ir.datetimes import DatetimeDateOp, DifferenceOp, TemporalCmpOp, TemporalFieldOp
from featurejit.ir.dialect import (
    AbsOp,
    AddOp,
    CmpOp,
    ConstantOp,
    DatetimeType,
    MathCallOp,
    MaxOp,
    MinOp,
    MulOp,
    NegOp,
    RoundDigitsOp,
    RoundOp,
    SubOp,
    ToFloatOp,
    ToIntOp,
    may_take_slow_path,
)
from featurejit.zones import is_fixed

# Operand types on which the op never flags. Float arithmetic gives inf or NaN instead of
# raising, and the comparisons, min, max and conversions listed never raise on these types.
NEVER_FLAGGING_OPERAND_TYPES: dict[type[Operation], frozenset[Attribute]] = {
    AddOp: frozenset({f64}),
    SubOp: frozenset({f64}),
    MulOp: frozenset({f64}),
    NegOp: frozenset({f64}),
    AbsOp: frozenset({f64}),
    MinOp: frozenset({i1, i64, f64}),
    MaxOp: frozenset({i1, i64, f64}),
    CmpOp: frozenset({i1, i64, f64}),
    ToFloatOp: frozenset({i1, i64, f64}),
    ToIntOp: frozenset({i1, i64}),
    RoundOp: frozenset({i64}),
}

# `math` functions that return a value for every float, inf and NaN included. Others such as
# sin raise ValueError on inf.
NEVER_FLAGGING_MATH_FUNCTIONS = frozenset({"fabs", "copysign", "isnan", "isinf", "isfinite", "atan", "tanh"})


def can_take_slow_path(op: Operation) -> bool:
    """Return whether `op` may flag its row for the interpreter on some input.

    Only `MayTakeSlowPath` ops flag. For those, it returns True unless the operand types, or
    a constant operand, rule out every input that flags.
    """
    if not may_take_slow_path(op):
        return False

    if isinstance(op, MathCallOp):
        return op.function.data not in NEVER_FLAGGING_MATH_FUNCTIONS
    if isinstance(op, RoundDigitsOp):
        # round(n, d) of an int with d >= 0 returns n unchanged.
        return op.input.type != i64 or not is_nonnegative_constant(op.ndigits)
    if isinstance(op, TemporalFieldOp | DatetimeDateOp | DifferenceOp | TemporalCmpOp):
        # These flag only rows whose local time needs a zone table and falls outside it.
        return any(needs_zone_table(operand.type) for operand in op.operands)

    safe_types = NEVER_FLAGGING_OPERAND_TYPES.get(type(op))
    if safe_types is None:
        return True
    return not all(operand.type in safe_types for operand in op.operands)


def needs_zone_table(type_: Attribute) -> bool:
    """Return whether a datetime type's zone is not named as UTC or a fixed offset, so that codegen searches its table."""
    return isinstance(type_, DatetimeType) and type_.is_aware and not is_fixed(type_.zone.data)


def is_nonnegative_constant(value: SSAValue) -> bool:
    """Return whether `value` is a `py.constant` that is >= 0."""
    owner = value.owner
    return isinstance(owner, ConstantOp) and owner.python_value() >= 0


def is_free_of_effects(op: Operation) -> bool:
    """Return whether running `op` does nothing but compute its results.

    Such an op can be removed when its results are unused. An `scf.if` qualifies when every op
    in its regions does. Other ops, such as `func.call`, do not, because their effects are
    unknown here.
    """
    if isinstance(op, scf.IfOp):
        return all(
            is_free_of_effects(inner)
            for region in op.regions
            for block in region.blocks
            for inner in block.ops
        )
    if isinstance(op, scf.YieldOp) or op.has_trait(Pure):
        return True
    return may_take_slow_path(op) and not can_take_slow_path(op)
