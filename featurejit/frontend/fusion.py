"""Lowering of several resolvers over shared input columns into one function.

The function takes one argument per input column and returns one `py.column_value` per
requested output. Resolvers are lowered in dependency order. Each member of the group names
the column that each parameter reads (see featurejit.fusion.FusedMember). A parameter that
reads another member's output takes that member's SSA value, so an intermediate result is
never materialized unless it is requested. Ops that several resolvers share over the same
inputs become one op after CSE.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

from featurejit.errors import CompileError
from featurejit.frontend.annotations import ValueSpec, read_signature
from featurejit.frontend.building import FunctionScope, LoweredFunction, UnsupportedConstruct
from featurejit.frontend.lower import Lowering
from featurejit.frontend.source import read_function_source
from featurejit.ir import dialect as py
from featurejit.ir.context import value_name
from featurejit.ir.datetimes import DatetimeType
from featurejit.ir.dialect import OptionalType

# The attribute naming the resolver that an op which may flag belongs to (see mark_flagging_ops).
MEMBER_ATTRIBUTE = "fj.resolver"


class FusedLowering(Lowering):
    """Lowers fused members, given in dependency order, into one function with several results."""

    def __init__(
        self,
        members: Sequence[Any],
        column_types: dict[str, Attribute],
        outputs: Sequence[str],
        symbol: str,
    ):
        super().__init__(members[0].resolver.function, list(column_types.values()), symbol)
        self.members = list(members)
        self.column_types = column_types
        self.outputs = list(outputs)

    def lower(self) -> LoweredFunction:
        try:
            return self.lower_fused()
        except UnsupportedConstruct as error:
            failure = CompileError(
                error.message,
                self.scope.source.location(error.node),
                error.hint,
                unresolved_name=error.unresolved_name,
            )
            failure.captures = list(self.captures.values())
            raise failure from None

    def lower_fused(self) -> LoweredFunction:
        entry = Block(arg_types=list(self.column_types.values()))
        for name, argument in zip(self.column_types, entry.args, strict=True):
            argument.name_hint = value_name(name)
        columns: dict[str, SSAValue] = dict(zip(self.column_types, entry.args, strict=True))
        self.block = entry
        produced: dict[str, SSAValue] = {}
        for member in self.members:
            lowered_before = set(entry.walk())
            resolver = member.resolver
            source = read_function_source(resolver.function)
            self.scope = FunctionScope(source, resolver.function)
            self.inline_stack = [resolver.function]
            arguments = {
                parameter: produced[column] if column in produced else columns[column]
                for parameter, column in member.columns.items()
                if column in produced or column in columns
            }
            result = self.inline_resolver(source.node, resolver, arguments)
            declared = read_signature(resolver.function).result
            value = self.emit_value(py.ColumnValueOp(result, output_element_type(declared, result)))
            value.name_hint = value_name(member.output)
            produced[member.output] = value
            mark_flagging_ops(entry, lowered_before, member.output)
        self.emit(func.ReturnOp(*(produced[name] for name in self.outputs)))
        result_types = [produced[name].type for name in self.outputs]
        function = func.FuncOp(self.symbol, (list(self.column_types.values()), result_types), Region(entry))
        return LoweredFunction(ModuleOp([function]), self.symbol, list(self.captures.values()), self.inlined)


def mark_flagging_ops(entry: Block, lowered_before: set[Operation], output: str) -> None:
    """Tag the ops of one resolver that may flag a row with the resolver's output name.

    CSE merges identical ops only, so the tag keeps an op that may raise in its own resolver:
    a resolver whose result does not use its `a / b` must still raise where another
    resolver's identical `a / b` does. LLVM still computes identical divisions once.
    """
    for op in entry.walk():
        if op not in lowered_before and py.may_take_slow_path(op):
            op.attributes[MEMBER_ATTRIBUTE] = StringAttr(output)


def lower_fused(
    members: Sequence[Any], column_types: dict[str, Attribute], outputs: Sequence[str], symbol: str
) -> LoweredFunction:
    """Lower fused `members` (in dependency order) over columns of these IR types, returning `outputs`."""
    return FusedLowering(members, column_types, outputs, symbol).lower()


def output_element_type(declared: ValueSpec, result: SSAValue) -> Attribute:
    """Return the IR type of a member's output column: its annotation's, with a datetime result's zone.

    An annotation names datetime without a zone, so the zone comes from the values the
    resolver returns, as it does for the column of a single resolver.
    """
    result_type = result.type.element_type if isinstance(result.type, OptionalType) else result.type
    if declared.python_type is datetime.datetime and isinstance(result_type, DatetimeType):
        return result_type
    return declared.ir_type()
