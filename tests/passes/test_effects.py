"""Tests of `can_take_slow_path`: an op it rules out must not raise in CPython on any operand."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st
from xdsl.dialects.builtin import f64, i1, i64
from xdsl.ir import Attribute, Block, Operation, SSAValue

from featurejit.ir.dialect import (
    AbsOp,
    AddOp,
    CmpOp,
    ConstantOp,
    FloorDivOp,
    InvertOp,
    MathCallOp,
    MaxOp,
    MinOp,
    MulOp,
    NegOp,
    OptionalType,
    RaiseOp,
    RoundDigitsOp,
    RoundOp,
    SubOp,
    ToFloatOp,
    ToIntOp,
    TrueDivOp,
    UnwrapOp,
    dyn,
)
from featurejit.passes.effects import (
    NEVER_FLAGGING_MATH_FUNCTIONS,
    NEVER_FLAGGING_OPERAND_TYPES,
    can_take_slow_path,
)
from featurejit.passes.fold_constants import make_constant, python_operation

MakeOp = Callable[[Sequence[SSAValue]], Operation]


def make_arguments(*types: Attribute) -> Sequence[SSAValue]:
    """Return fresh block arguments of the given types, to use as operands of a detached op."""
    return Block(arg_types=types).args


NEVER_FLAGGING: list[tuple[str, MakeOp, tuple[Attribute, ...]]] = [
    *[
        (f"{op_class.name} on f64", lambda args, op_class=op_class: op_class(*args), (f64, f64))
        for op_class in (AddOp, SubOp, MulOp, MinOp, MaxOp)
    ],
    *[
        (f"{op_class.name} on f64", lambda args, op_class=op_class: op_class(*args), (f64,))
        for op_class in (NegOp, AbsOp)
    ],
    *[
        (f"{op_class.name} on {t}", lambda args, op_class=op_class: op_class(*args), (t, t))
        for op_class in (MinOp, MaxOp)
        for t in (i1, i64)
    ],
    *[
        (f"py.cmp {predicate} on {lhs}, {rhs}", lambda args, p=predicate: CmpOp(p, *args), (lhs, rhs))
        for predicate in ("eq", "ne", "lt", "le", "gt", "ge")
        for lhs, rhs in ((i64, f64), (f64, i64), (f64, f64), (i64, i64), (i1, i1))
    ],
    *[(f"py.to_float on {t}", lambda args: ToFloatOp(*args), (t,)) for t in (i1, i64, f64)],
    *[(f"py.to_int on {t}", lambda args: ToIntOp(*args), (t,)) for t in (i1, i64)],
    ("py.round on i64", lambda args: RoundOp(*args), (i64,)),
    *[
        (f"py.math {name}", lambda args, name=name: MathCallOp(name, args), (f64,) * arity)
        for name, arity in (
            ("fabs", 1),
            ("copysign", 2),
            ("isnan", 1),
            ("isinf", 1),
            ("isfinite", 1),
            ("atan", 1),
            ("tanh", 1),
        )
    ],
]

VALUES: dict[Attribute, st.SearchStrategy[bool | int | float]] = {
    i1: st.booleans(),
    i64: st.integers(min_value=-(2**63), max_value=2**63 - 1),
    f64: st.floats(allow_nan=True, allow_infinity=True),
}


def test_cases_cover_every_never_flagging_operand_type() -> None:
    covered = {
        (type(make_op(make_arguments(*types))), type_)
        for _, make_op, types in NEVER_FLAGGING
        for type_ in types
    }

    for op_class, safe_types in NEVER_FLAGGING_OPERAND_TYPES.items():
        for type_ in safe_types:
            assert (op_class, type_) in covered, f"no case for {op_class.name} on {type_}"


def test_math_cases_cover_every_never_flagging_function() -> None:
    names = {label.removeprefix("py.math ") for label, _, _ in NEVER_FLAGGING if label.startswith("py.math")}

    assert names == NEVER_FLAGGING_MATH_FUNCTIONS


@pytest.mark.parametrize(
    ("label", "make_op", "types"), NEVER_FLAGGING, ids=[case[0] for case in NEVER_FLAGGING]
)
def test_never_flagging_op_cannot_flag(label: str, make_op: MakeOp, types: tuple[Attribute, ...]) -> None:
    assert not can_take_slow_path(make_op(make_arguments(*types)))


@pytest.mark.parametrize(
    ("label", "make_op", "types"), NEVER_FLAGGING, ids=[case[0] for case in NEVER_FLAGGING]
)
@given(data=st.data())
def test_never_flagging_op_does_not_raise_in_cpython(
    label: str, make_op: MakeOp, types: tuple[Attribute, ...], data: st.DataObject
) -> None:
    op = make_op(make_arguments(*types))
    compute = python_operation(op)
    assert compute is not None
    arguments = [data.draw(VALUES[type_]) for type_ in types]

    result = compute(*arguments)

    assert make_constant(result, op.results[0].type) is not None, f"{label}{tuple(arguments)} gave {result!r}"


def constant(value: int) -> SSAValue:
    """Return the result of a new, detached `py.constant` of an int."""
    return ConstantOp.of_int(value).result


MAY_FLAG: list[tuple[str, Callable[[], Operation]]] = [
    ("py.add on i64 overflows", lambda: AddOp(*make_arguments(i64, i64))),
    ("py.neg on i64 overflows", lambda: NegOp(*make_arguments(i64))),
    ("py.add on dyn may meet None", lambda: AddOp(*make_arguments(dyn, dyn))),
    ("py.min on dyn may meet None", lambda: MinOp(*make_arguments(dyn, dyn))),
    ("py.floordiv on f64 divides by zero", lambda: FloorDivOp(*make_arguments(f64, f64))),
    ("py.truediv on f64 divides by zero", lambda: TrueDivOp(*make_arguments(f64, f64))),
    ("py.cmp on dyn may meet None", lambda: CmpOp("lt", *make_arguments(dyn, i64))),
    ("py.to_float on dyn may meet None", lambda: ToFloatOp(*make_arguments(dyn))),
    ("py.to_int on f64 meets NaN", lambda: ToIntOp(*make_arguments(f64))),
    ("py.round on f64 meets NaN", lambda: RoundOp(*make_arguments(f64))),
    ("py.invert on i64", lambda: InvertOp(*make_arguments(i64))),
    ("py.unwrap may meet None", lambda: UnwrapOp(make_arguments(OptionalType(i64))[0])),
    ("py.round_digits on f64", lambda: RoundDigitsOp(make_arguments(f64)[0], constant(2))),
    (
        "py.round_digits on i64 with negative digits",
        lambda: RoundDigitsOp(make_arguments(i64)[0], constant(-1)),
    ),
    ("py.round_digits on i64 with unknown digits", lambda: RoundDigitsOp(*make_arguments(i64, i64))),
    ("py.math sin of inf", lambda: MathCallOp("sin", make_arguments(f64))),
    ("py.math atan2 is not listed", lambda: MathCallOp("atan2", make_arguments(f64, f64))),
    ("py.raise", lambda: RaiseOp("ValueError")),
]


@pytest.mark.parametrize(("label", "make_op"), MAY_FLAG, ids=[case[0] for case in MAY_FLAG])
def test_op_may_flag(label: str, make_op: Callable[[], Operation]) -> None:
    assert can_take_slow_path(make_op())


def test_int_round_digits_nonnegative_digits_cannot_flag() -> None:
    for digits in (0, 3):
        op = RoundDigitsOp(make_arguments(i64)[0], constant(digits))

        assert not can_take_slow_path(op), digits


def test_op_without_trait_cannot_flag() -> None:
    assert not can_take_slow_path(ConstantOp.of_int(1))
