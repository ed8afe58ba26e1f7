"""The join of IR types where control flow merges, following what CPython values can be."""

from __future__ import annotations

from xdsl.ir import Attribute

from featurejit.errors import with_article
from featurejit.ir.dialect import (
    DynType,
    NoneType,
    OptionalType,
    dyn,
    is_scalar_type,
    is_temporal_type,
    none_type,
    python_name,
    str_type,
)


def split_nullable(type_: Attribute) -> tuple[Attribute | None, bool]:
    """Return (the present-value type or None for the None literal, whether None is possible)."""
    if isinstance(type_, OptionalType):
        return type_.element_type, True
    if isinstance(type_, NoneType):
        return None, True
    return type_, False


class TypeJoinError(Exception):
    """Two paths give a variable types that no one IR type represents, such as str and int, or two time zones."""


def join_types(first: Attribute, second: Attribute) -> Attribute:
    """Return the narrowest IR type that contains values of both types.

    Equal types join to themselves, None with T gives T | None, and different Python types
    (an int in one branch and a float in the other) give !py.dyn, which keeps each row's own
    type so that results stay exactly CPython's.
    """
    if first == second:
        return first
    first_base, first_nullable = split_nullable(first)
    second_base, second_nullable = split_nullable(second)
    bases = {base for base in (first_base, second_base) if base is not None}
    if len(bases) > 1 and any(base == str_type or is_temporal_type(base) for base in bases):
        raise TypeJoinError(
            f"a value is {with_article(python_name(first))} on one path and {with_article(python_name(second))} on another"
        )
    if isinstance(first, DynType) or isinstance(second, DynType):
        return dyn
    if not bases:
        return none_type
    if len(bases) > 1:
        return dyn
    (base,) = bases
    assert is_scalar_type(base) or base == str_type or is_temporal_type(base)
    return OptionalType(base) if first_nullable or second_nullable else base
