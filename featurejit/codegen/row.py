"""Emission of one row of a resolver: a walk over the `py` dialect that writes LLVM IR.

Each IR value maps to an LLVM representation: a plain value for i1, i64 and f64, a
(valid, value) pair for `!py.optional<T>`, a (kind, bits) pair for `!py.dyn`, and nothing for
`!py.none`. The emitter threads one i1 flag through the row: every op that can take the
slow path ors its condition into it, so a row is either computed exactly or flagged.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from llvmlite import ir
from xdsl.dialects import func, scf
from xdsl.dialects.builtin import f64 as F64_TYPE
from xdsl.dialects.builtin import i1 as I1_TYPE
from xdsl.dialects.builtin import i64 as I64_TYPE
from xdsl.ir import Attribute, Block, Operation, SSAValue

from featurejit.codegen import arith, mathlib
from featurejit.codegen.arith import F64, FALSE, I1, I8, I32, I64, TRUE, Result, f64, i64
from featurejit.frontend.annotations import python_type_of
from featurejit.ir import dialect as py
from featurejit.ir.dialect import (
    DatetimeType,
    DateType,
    DynType,
    NoneType,
    OptionalType,
    StrType,
    TimedeltaType,
    str_type,
)

KIND_NONE, KIND_BOOL, KIND_INT, KIND_FLOAT = 0, 1, 2, 3

# The outputs of a function whose values an op flows into (see output_scopes); None for all.
Scope: TypeAlias = frozenset[int] | None


def kind(value: int) -> ir.Constant:
    return ir.Constant(I8, value)


@dataclass(frozen=True)
class OptionalValue:
    """An `!py.optional<T>` value: whether it is present, and the value (undefined if not)."""

    valid: ir.Value
    value: ir.Value


@dataclass(frozen=True)
class DynValue:
    """A `!py.dyn` value: its Python type as a KIND_* tag, and its payload as 64 bits."""

    kind: ir.Value
    bits: ir.Value


class NoneValue:
    """The `!py.none` value, which needs no LLVM value."""


@dataclass(frozen=True)
class StrValue:
    """A `!py.str` value: a pointer to its UTF-8 bytes and their count.

    The pointer is always readable for `length` bytes: it points into an input buffer, a
    constant, the row's scratch memory, or the static empty string, never elsewhere, even on
    a row that is flagged.
    """

    pointer: ir.Value
    length: ir.Value
    # Known when compiling to hold ASCII text only, as strings of an all-ASCII column do.
    ascii: bool = False


@dataclass(frozen=True)
class DatetimeValue:
    """A `!py.datetime<zone>` value: its local clock time and its UTC instant, in microseconds since 1970.

    The two are equal for a naive datetime. `clock_bad` and `instant_bad` are true where a
    zone table could not give that part (featurejit/codegen/datetimes.py): an op that reads
    the part flags the row, and ops that do not read it leave the row alone.
    """

    clock: ir.Value
    instant: ir.Value
    clock_bad: ir.Value
    instant_bad: ir.Value


NONE = NoneValue()
Repr: TypeAlias = ir.Value | OptionalValue | DynValue | NoneValue | StrValue | DatetimeValue

BYTE_POINTER = I8.as_pointer()


def empty_string(builder: ir.IRBuilder) -> StrValue:
    """Return the static empty string of the builder's module."""
    module = builder.module
    try:
        storage = module.get_global("fj.empty_string")
    except KeyError:
        storage = ir.GlobalVariable(module, ir.ArrayType(I8, 1), "fj.empty_string")
        storage.initializer = ir.Constant(ir.ArrayType(I8, 1), [0])
        storage.global_constant = True
        storage.linkage = "internal"
    return StrValue(builder.bitcast(storage, BYTE_POINTER), i64(0), ascii=True)


def select_string(builder: ir.IRBuilder, condition: ir.Value, value: StrValue, otherwise: StrValue) -> StrValue:
    return StrValue(
        builder.select(condition, value.pointer, otherwise.pointer),
        builder.select(condition, value.length, otherwise.length),
        ascii=value.ascii and otherwise.ascii,
    )


LLVM_TYPES: dict[Attribute, ir.Type] = {I1_TYPE: I1, I64_TYPE: I64, F64_TYPE: F64}


def llvm_type(type_: Attribute) -> ir.Type:
    return LLVM_TYPES[type_]


def components(type_: Attribute) -> list[ir.Type]:
    """Return the LLVM types that represent one value of `type_`, in flatten order."""
    if isinstance(type_, OptionalType):
        return [I1, *components(type_.element_type)]
    if isinstance(type_, StrType):
        return [BYTE_POINTER, I64]
    if isinstance(type_, DatetimeType):
        return [I64, I64, I1, I1]
    if isinstance(type_, DateType | TimedeltaType):
        return [I64]
    if isinstance(type_, DynType):
        return [I8, I64]
    if isinstance(type_, NoneType):
        return []
    return [llvm_type(type_)]


def flatten(value: Repr) -> list[ir.Value]:
    if isinstance(value, OptionalValue):
        return [value.valid, *flatten(value.value)]
    if isinstance(value, StrValue):
        return [value.pointer, value.length]
    if isinstance(value, DatetimeValue):
        return [value.clock, value.instant, value.clock_bad, value.instant_bad]
    if isinstance(value, DynValue):
        return [value.kind, value.bits]
    if isinstance(value, NoneValue):
        return []
    return [value]


def unflatten(type_: Attribute, values: list[ir.Value]) -> Repr:
    if isinstance(type_, OptionalType):
        return OptionalValue(values[0], unflatten(type_.element_type, values[1:]))
    if isinstance(type_, StrType):
        return StrValue(values[0], values[1])
    if isinstance(type_, DatetimeType):
        return DatetimeValue(*values)
    if isinstance(type_, DynType):
        return DynValue(values[0], values[1])
    if isinstance(type_, NoneType):
        return NONE
    return values[0]


def undefined(type_: Attribute) -> list[ir.Value]:
    """Return LLVM undef values for the components of a value of IR type `type_`."""
    return [ir.Constant(component, ir.Undefined) for component in components(type_)]


def zero_of(type_: ir.Type) -> ir.Constant:
    return ir.Constant(type_, 0.0 if isinstance(type_, ir.DoubleType) else 0)


# --------------------------------------------------------------------------------------
# Output columns: what a column of the declared type stores for a Python result
# --------------------------------------------------------------------------------------

OUTPUT_TYPES: dict[type, ir.Type] = {
    float: F64,
    int: I64,
    bool: I8,
    datetime.datetime: I64,  # microseconds since 1970, UTC for an aware datetime
    datetime.date: I32,  # days since 1970, as in Arrow's date32
    datetime.timedelta: I64,  # microseconds
}
TEMPORAL_OUTPUTS = (datetime.datetime, datetime.date, datetime.timedelta)


def convert_output(builder: ir.IRBuilder, value: Repr, type_: Attribute, output: type) -> tuple[ir.Value, ir.Value, ir.Value]:
    """Convert a row's result to the declared output column: (value, present, flag).

    A result the column cannot hold (a float for an int column, say) flags the row, so the
    runtime reports it with the CPython value.
    """
    if output is str:
        return convert_string_output(builder, value, type_)
    if output in TEMPORAL_OUTPUTS:
        return convert_temporal_output(builder, value, type_, output)
    target = OUTPUT_TYPES[output]
    zero = ir.Constant(target, 0.0 if target == F64 else 0)
    if isinstance(value, NoneValue) or isinstance(type_, NoneType):
        return zero, FALSE, FALSE
    if isinstance(value, OptionalValue):
        assert isinstance(type_, OptionalType)
        inner, present, bad = convert_output(builder, value.value, type_.element_type, output)
        if value.valid is TRUE:  # keeps a constant `present` constant (see kernel.emit_group_rows)
            return inner, present, bad
        return inner, builder.and_(value.valid, present), builder.and_(value.valid, bad)
    if isinstance(value, DynValue):
        assert isinstance(type_, DynType)
        return convert_dyn_output(builder, value, output, zero)
    if type_ not in (I1_TYPE, I64_TYPE, F64_TYPE):  # a str, datetime, date or timedelta for a number column
        return zero, TRUE, TRUE
    return convert_scalar_output(builder, value, type_, output, zero)


def convert_string_output(builder: ir.IRBuilder, value: Repr, type_: Attribute) -> tuple[Repr, ir.Value, ir.Value]:
    """Convert a result for a str column: a str is stored, None is null, other types flag the row."""
    if isinstance(value, StrValue):
        return value, TRUE, FALSE
    if isinstance(value, OptionalValue):
        assert isinstance(type_, OptionalType)
        inner, present, bad = convert_string_output(builder, value.value, type_.element_type)
        return inner, builder.and_(value.valid, present), builder.and_(value.valid, bad)
    bad = FALSE if isinstance(value, NoneValue) else TRUE
    return empty_string(builder), FALSE, bad


def convert_temporal_output(builder: ir.IRBuilder, value: Repr, type_: Attribute, output: type) -> tuple[ir.Value, ir.Value, ir.Value]:
    """Convert a result for a datetime, date or timedelta column; a value of another type flags the row."""
    target = OUTPUT_TYPES[output]
    zero = ir.Constant(target, 0)
    if isinstance(value, OptionalValue):
        assert isinstance(type_, OptionalType)
        inner, present, bad = convert_temporal_output(builder, value.value, type_.element_type, output)
        return inner, builder.and_(value.valid, present), builder.and_(value.valid, bad)
    if isinstance(value, NoneValue) or isinstance(type_, NoneType):
        return zero, FALSE, FALSE
    if output is datetime.datetime and isinstance(value, DatetimeValue):
        assert isinstance(type_, DatetimeType)
        if type_.is_aware:
            return value.instant, TRUE, value.instant_bad
        return value.clock, TRUE, FALSE
    if output is datetime.date and isinstance(type_, DateType):
        assert isinstance(value, ir.Value)
        return builder.trunc(value, I32), TRUE, FALSE
    if output is datetime.timedelta and isinstance(type_, TimedeltaType):
        return value, TRUE, FALSE
    return zero, TRUE, TRUE


def convert_scalar_output(
    builder: ir.IRBuilder, value: ir.Value, type_: Attribute, output: type, zero: ir.Constant
) -> tuple[ir.Value, ir.Value, ir.Value]:
    if output is float:
        if type_ == F64_TYPE:
            return value, TRUE, FALSE
        return (builder.uitofp(value, F64) if type_ == I1_TYPE else builder.sitofp(value, F64)), TRUE, FALSE
    if output is int:
        if type_ == I64_TYPE:
            return value, TRUE, FALSE
        if type_ == I1_TYPE:
            return builder.zext(value, I64), TRUE, FALSE
        return zero, TRUE, TRUE
    if type_ == I1_TYPE:
        return builder.zext(value, I8), TRUE, FALSE
    return zero, TRUE, TRUE


def convert_dyn_output(
    builder: ir.IRBuilder, value: DynValue, output: type, zero: ir.Constant
) -> tuple[ir.Value, ir.Value, ir.Value]:
    def is_kind(expected: int) -> ir.Value:
        return builder.icmp_unsigned("==", value.kind, kind(expected))

    present = builder.not_(is_kind(KIND_NONE))
    if output is float:
        as_float = builder.select(
            is_kind(KIND_FLOAT), builder.bitcast(value.bits, F64), builder.sitofp(value.bits, F64)
        )
        return as_float, present, FALSE
    if output is int:
        return value.bits, present, is_kind(KIND_FLOAT)
    fits = builder.or_(is_kind(KIND_BOOL), is_kind(KIND_NONE))
    # An int or float result flags the row. Its low byte, such as 0xFF of -1, must not become the
    # row's bit, because the kernel shifts it into a word that the next rows' bits share.
    return builder.select(fits, builder.trunc(value.bits, I8), ir.Constant(I8, 0)), present, builder.not_(fits)


def union_bounds(bounds: list[arith.Bounds]) -> arith.Bounds:
    return min(low for low, _ in bounds), max(high for _, high in bounds)


class RowEmitter:
    """Writes the LLVM IR of one resolver call at a builder's position."""

    def __init__(
        self,
        builder: ir.IRBuilder,
        op_scopes: dict[Operation, Scope] | None = None,
        op_owners: dict[Operation, frozenset[int]] | None = None,
    ):
        self.builder = builder
        self.values: dict[SSAValue, Repr] = {}
        # The row's slow-path flag, split by the scope of the ops that set it, so that a kernel
        # with several outputs can tell which outputs a flagged row spoils. `op_scopes` gives
        # the scope of the function's top-level ops; nested ops share their parent's.
        self.op_scopes = op_scopes or {}
        self.scope_flags: dict[Scope, ir.Value] = {}
        # `op_owners` gives the results whose own resolver runs each top-level op (see
        # kernel.output_owners). A condition on which CPython raises for certain, a zero
        # divisor, then goes to `owner_raises` for the op's owners, so the kernel can tell
        # rows that raise from rows only the interpreter computes. Results that read an
        # owner's value are flagged. Without owners, the condition flags.
        self.op_owners = op_owners
        self.owner_raises: dict[frozenset[int], ir.Value] = {}
        self.owners: frozenset[int] = frozenset()
        self.scope: Scope = None
        self.returned: list[Repr] | None = None
        # The row's scratch memory for new strings ({i8* base, i64 capacity, i64 used}), if any.
        self.context: ir.Value | None = None
        # The result caches of the batch kernel's libm calls, by op (see mathlib.CALL_CACHE_SLOTS).
        self.call_caches: dict[Operation, mathlib.CallCache] = {}
        # A batch kernel may call libm for a block's rows in a loop of its own (see
        # kernel.separate_calls). A loop before it stores each row's argument of these calls
        # in `call_arguments`, and the loops after it read each row's result from
        # `call_results`. Both are buffers of 64 doubles indexed by `lane`, the row in the block.
        self.call_arguments: dict[Operation, ir.Value] = {}
        self.call_results: dict[Operation, ir.Value] = {}
        # The loops that read `call_results` also read each call's argument back from these
        # buffers for CPython's error checks, instead of computing it again.
        self.argument_buffers: dict[Operation, ir.Value] = {}
        self.lane: ir.Value | None = None
        # With `narrow_divisions`, an int division by a constant that arith.narrow_divisor
        # accepts is exact only for dividends in [-2**31, 2**31), and `widen` is set for a row
        # that divides a larger one (see kernel.emit_group_block).
        self.narrow_divisions = False
        self.widen: ir.Value = FALSE
        # Known bounds of int values: constants, quotients and remainders by constants, and
        # what add, sub, mul, select and scf.if make of them. Other ints may be any int64.
        self.bounds: dict[SSAValue, arith.Bounds] = {}

    def emit_function(self, function: func.FuncOp, arguments: list[Repr]) -> tuple[Repr, ir.Value]:
        """Emit the body of a one-result `function` for these arguments; return (result, slow-path flag)."""
        results, flag = self.emit_function_results(function, arguments)
        assert len(results) == 1, "a resolver's function has one result"
        return results[0], flag

    def emit_function_results(
        self, function: func.FuncOp, arguments: list[Repr], selected: set[Operation] | None = None
    ) -> tuple[list[Repr], ir.Value]:
        """Emit the body of `function` for these arguments; return (its results, slow-path flag).

        With `selected`, only those top-level ops are emitted, and a result that none of them
        computes comes back as an undefined value of its type, which the caller must not read.
        """
        entry = function.body.blocks.first
        assert entry is not None
        for argument, value in zip(entry.args, arguments, strict=True):
            self.values[argument] = value
        self.emit_block(entry, selected)
        assert self.returned is not None, "a func.func body ends with func.return"
        return self.returned, self.flag

    def emit_ops(self, function: func.FuncOp, arguments: list[Repr], ops: list[Operation]) -> None:
        """Emit only `ops`, ops of `function` at any depth but without regions, in order, for these arguments.

        Each op's operands must be the function's parameters or results of earlier ops in the list.
        """
        entry = function.body.blocks.first
        assert entry is not None
        for argument, value in zip(entry.args, arguments, strict=True):
            self.values[argument] = value
        for op in ops:
            lowering = LOWERINGS.get(type(op))
            assert lowering is not None and not op.regions, f"{op.name} cannot be emitted alone"
            lowering(self, op)

    def emit_block(self, block: Block, selected: set[Operation] | None = None) -> list[Repr]:
        """Emit the ops of a block, or only the `selected` ones; return the values its scf.yield passes on."""
        for op in block.ops:
            if isinstance(op, scf.YieldOp):
                return [self.values[operand] for operand in op.operands]
            if isinstance(op, func.ReturnOp):
                self.returned = [
                    self.values[operand] if operand in self.values else unflatten(operand.type, undefined(operand.type))
                    for operand in op.operands
                ]
                return []
            if selected is not None and op not in selected:
                continue
            lowering = LOWERINGS.get(type(op))
            assert lowering is not None, f"no LLVM lowering for {op.name}"
            if op in self.op_scopes:
                self.scope = self.op_scopes[op]
            if self.op_owners is not None and op in self.op_owners:
                self.owners = self.op_owners[op]
            lowering(self, op)
        return []

    @property
    def flag(self) -> ir.Value:
        """The row's flag: set if any op flagged it. It leaves out the certain raises in `owner_raises`."""
        return self.combine(list(self.scope_flags.values()))

    @flag.setter
    def flag(self, value: ir.Value) -> None:
        """Set the flag that spoils every output, such as a bad input's."""
        self.scope_flags[None] = value

    def output_flag(self, output: int) -> ir.Value:
        """Return the flag of the rows whose value of result `output` the kernel cannot compute."""
        return self.combine([flag for scope, flag in self.scope_flags.items() if scope is None or output in scope])

    def combine(self, flags: list[ir.Value]) -> ir.Value:
        combined: ir.Value = FALSE
        for value in flags:
            combined = value if combined is FALSE else self.builder.or_(combined, value)
        return combined

    def flag_if(self, condition: ir.Value) -> None:
        current = self.scope_flags.get(self.scope, FALSE)
        self.scope_flags[self.scope] = self.builder.or_(current, condition)

    def raise_if(self, condition: ir.Value) -> None:
        """Record that CPython raises on this row when `condition` is true and nothing before it flagged."""
        if not self.owners or (self.op_scopes and self.scope is None):
            # Without owners, or for an op whose scope is every result (see output_scopes), the
            # interpreter runs the row: a reader may use the owner's value only where it raises.
            self.flag_if(condition)
            return
        current = self.owner_raises.get(self.owners, FALSE)
        self.owner_raises[self.owners] = self.builder.or_(current, condition)
        if self.scope is not None and self.scope - self.owners:
            readers = frozenset(self.scope - self.owners)  # they read an owner's value, None after it raises
            self.scope_flags[readers] = self.builder.or_(self.scope_flags.get(readers, FALSE), condition)

    def raises(self, output: int) -> ir.Value:
        """Return whether the resolver of result `output` raises on this row for certain, unless the row is flagged."""
        return self.combine([raises for owners, raises in self.owner_raises.items() if output in owners])

    def define(self, op: Operation, value: Repr) -> None:
        self.values[op.results[0]] = value

    def checked(self, op: Operation, result: Result) -> None:
        value, bad = result
        self.flag_if(bad)
        self.define(op, value)

    # ----------------------------------------------------------------------------------
    # Control flow
    # ----------------------------------------------------------------------------------

    def emit_if(self, op: scf.IfOp) -> None:
        builder = self.builder
        condition = self.values[op.cond]
        assert isinstance(condition, ir.Value)
        function = builder.function
        then_block = function.append_basic_block("then")
        else_block = function.append_basic_block("else")
        merge_block = function.append_basic_block("merge")
        builder.cbranch(condition, then_block, else_block)

        # Each branch starts from the flags before the `if`; the merge block takes a phi of each.
        flags_before = dict(self.scope_flags)
        raises_before = dict(self.owner_raises)
        widen_before = self.widen
        incoming = []
        raises_incoming = []
        widen_incoming = []
        yields = []
        for llvm_block, region in ((then_block, op.true_region), (else_block, op.false_region)):
            builder.position_at_end(llvm_block)
            self.scope_flags = dict(flags_before)
            self.owner_raises = dict(raises_before)
            self.widen = widen_before
            region_block = region.blocks.first
            yielded = self.emit_block(region_block) if region_block is not None else []
            if region_block is not None and isinstance(region_block.last_op, scf.YieldOp):
                yields.append(region_block.last_op)
            incoming.append(([flatten(value) for value in yielded], self.scope_flags, builder.block))
            raises_incoming.append(self.owner_raises)
            widen_incoming.append(self.widen)
            builder.branch(merge_block)

        builder.position_at_end(merge_block)
        merged_flags: dict[Scope, ir.Value] = {}
        for scope in dict.fromkeys(scope for _, flags, _ in incoming for scope in flags):
            flag_phi = builder.phi(I1)
            for _, flags, block in incoming:
                flag_phi.add_incoming(flags.get(scope, FALSE), block)
            merged_flags[scope] = flag_phi
        self.scope_flags = merged_flags
        merged_raises: dict[frozenset[int], ir.Value] = {}
        for owners in dict.fromkeys(owners for raises in raises_incoming for owners in raises):
            raises_phi = builder.phi(I1)
            for raises, (_, _, block) in zip(raises_incoming, incoming, strict=True):
                raises_phi.add_incoming(raises.get(owners, FALSE), block)
            merged_raises[owners] = raises_phi
        self.owner_raises = merged_raises
        if any(widen is not widen_before for widen in widen_incoming):
            widen_phi = builder.phi(I1)
            for widen, (_, _, block) in zip(widen_incoming, incoming, strict=True):
                widen_phi.add_incoming(widen, block)
            self.widen = widen_phi
        for index, result in enumerate(op.results):
            merged = []
            for position, llvm_type_ in enumerate(components(result.type)):
                phi = builder.phi(llvm_type_)
                for values, _, block in incoming:
                    phi.add_incoming(values[index][position], block)
                merged.append(phi)
            self.values[result] = unflatten(result.type, merged)
            if result.type == I64_TYPE and len(yields) == 2:
                self.bounds[result] = union_bounds([self.bounds_of(yielded.operands[index]) for yielded in yields])

    # ----------------------------------------------------------------------------------
    # Constants, None and conversions
    # ----------------------------------------------------------------------------------

    def emit_constant(self, op: py.ConstantOp) -> None:
        value = op.python_value()
        if op.result.type == I64_TYPE:
            self.bounds[op.result] = (int(value), int(value))
        self.define(op, ir.Constant(llvm_type(op.result.type), float(value) if op.result.type == F64_TYPE else int(value)))

    def emit_none(self, op: py.NoneOp) -> None:
        self.define(op, NONE)

    def emit_wrap(self, op: py.WrapOp) -> None:
        self.define(op, self.wrap(self.values[op.input], op.input.type, op.result.type))

    def wrap(self, value: Repr, source: Attribute, target: Attribute) -> Repr:
        if isinstance(target, OptionalType):
            if isinstance(value, NoneValue) and target.element_type == str_type:
                return OptionalValue(FALSE, empty_string(self.builder))
            if isinstance(value, NoneValue):
                return OptionalValue(FALSE, unflatten(target.element_type, [zero_of(t) for t in components(target.element_type)]))
            return OptionalValue(TRUE, value)  # type: ignore[arg-type]
        return self.to_dyn(value, source)

    def to_dyn(self, value: Repr, source: Attribute) -> DynValue:
        builder = self.builder
        if isinstance(value, DynValue):
            return value
        if isinstance(value, NoneValue):
            return DynValue(kind(KIND_NONE), i64(0))
        if isinstance(value, OptionalValue):
            assert isinstance(source, OptionalType)
            inner = self.to_dyn(value.value, source.element_type)
            return DynValue(
                builder.select(value.valid, inner.kind, kind(KIND_NONE)),
                builder.select(value.valid, inner.bits, i64(0)),
            )
        if source == F64_TYPE:
            return DynValue(kind(KIND_FLOAT), builder.bitcast(value, I64))
        if source == I1_TYPE:
            return DynValue(kind(KIND_BOOL), builder.zext(value, I64))
        return DynValue(kind(KIND_INT), value)

    def emit_unwrap(self, op: py.UnwrapOp) -> None:
        value = self.values[op.input]
        assert isinstance(value, OptionalValue)
        self.flag_if(self.builder.not_(value.valid))
        self.define(op, self.present_value(value))

    def emit_narrow(self, op: py.NarrowOp) -> None:
        value = self.values[op.input]
        assert isinstance(value, OptionalValue)
        self.define(op, self.present_value(value))

    def present_value(self, value: OptionalValue) -> Repr:
        """Return an optional's value; for a string, the empty string where it is None."""
        if isinstance(value.value, StrValue):
            return select_string(self.builder, value.valid, value.value, empty_string(self.builder))
        return value.value

    def emit_is_none(self, op: py.IsNoneOp) -> None:
        value = self.values[op.input]
        if isinstance(value, NoneValue):
            result: ir.Value = TRUE
        elif isinstance(value, OptionalValue):
            result = self.builder.not_(value.valid)
        elif isinstance(value, DynValue):
            result = self.is_kind(value, KIND_NONE)
        else:
            result = FALSE
        self.define(op, result)

    def emit_truth(self, op: py.TruthOp) -> None:
        self.define(op, self.truth(self.values[op.input], op.input.type))

    def truth(self, value: Repr, type_: Attribute) -> ir.Value:
        builder = self.builder
        if isinstance(value, NoneValue):
            return FALSE
        if isinstance(value, StrValue):
            return builder.icmp_signed("!=", value.length, i64(0))
        if isinstance(value, DatetimeValue) or isinstance(type_, DateType):
            return TRUE
        if isinstance(type_, TimedeltaType):
            return builder.icmp_signed("!=", value, i64(0))
        if isinstance(value, OptionalValue):
            assert isinstance(type_, OptionalType)
            return builder.and_(value.valid, self.truth(value.value, type_.element_type))
        if isinstance(value, DynValue):
            as_float = builder.bitcast(value.bits, F64)
            float_truth = builder.fcmp_unordered("!=", as_float, f64(0.0))
            int_truth = builder.icmp_signed("!=", value.bits, i64(0))
            truth = builder.select(self.is_kind(value, KIND_FLOAT), float_truth, int_truth)
            return builder.and_(builder.not_(self.is_kind(value, KIND_NONE)), truth)
        if type_ == I1_TYPE:
            return value
        if type_ == F64_TYPE:
            return builder.fcmp_unordered("!=", value, f64(0.0))  # NaN is true
        return builder.icmp_signed("!=", value, i64(0))

    def emit_to_int(self, op: py.ToIntOp) -> None:
        value = self.values[op.input]
        builder = self.builder
        if op.input.type == I1_TYPE:
            self.define(op, builder.zext(value, I64))
        elif op.input.type == I64_TYPE:
            self.define(op, value)
        elif op.input.type == F64_TYPE:
            self.checked(op, arith.float_to_int(builder, value))
        else:
            assert isinstance(value, DynValue)
            converted, bad = arith.float_to_int(builder, builder.bitcast(value.bits, F64))
            is_float = self.is_kind(value, KIND_FLOAT)
            self.flag_if(builder.or_(self.is_kind(value, KIND_NONE), builder.and_(is_float, bad)))
            self.define(op, builder.select(is_float, converted, value.bits))

    def emit_to_float(self, op: py.ToFloatOp) -> None:
        value = self.values[op.input]
        builder = self.builder
        if op.input.type == I1_TYPE:
            self.define(op, builder.uitofp(value, F64))
        elif op.input.type == I64_TYPE:
            self.define(op, builder.sitofp(value, F64))
        elif op.input.type == F64_TYPE:
            self.define(op, value)
        else:
            assert isinstance(value, DynValue)
            self.flag_if(self.is_kind(value, KIND_NONE))
            self.define(op, self.dyn_as_float(value))

    # ----------------------------------------------------------------------------------
    # Arithmetic
    # ----------------------------------------------------------------------------------

    def bounds_of(self, value: SSAValue) -> arith.Bounds:
        """Return the known bounds of an int value (see `bounds`)."""
        return self.bounds.get(value, arith.INT64_BOUNDS)

    def emit_binary(self, op: Operation) -> None:
        lhs, rhs = (self.values[operand] for operand in op.operands)
        operand_type = op.operands[0].type
        int_semantics, float_semantics = BINARY_SEMANTICS[type(op)]
        divisor = arith.positive_constant(rhs) if operand_type == I64_TYPE else None
        if divisor is not None and isinstance(op, py.FloorDivOp | py.ModOp):
            self.emit_division_by_constant(op, divisor)
        elif operand_type == I64_TYPE and type(op) in UNCHECKED_IF_BOUNDED:
            operation = UNCHECKED_IF_BOUNDED[type(op)]
            bounds = arith.result_bounds(operation, *(self.bounds_of(operand) for operand in op.operands))
            if arith.fits_int64(bounds):
                self.define(op, getattr(self.builder, operation)(lhs, rhs))
                self.bounds[op.results[0]] = bounds
            else:
                self.checked(op, int_semantics(self.builder, lhs, rhs))
        elif operand_type in (I64_TYPE, F64_TYPE) and type(op) in DIVISIONS:
            # CPython raises ZeroDivisionError on a zero divisor, whatever the dividend.
            value, bad = (int_semantics if operand_type == I64_TYPE else float_semantics)(self.builder, lhs, rhs)
            zero = zero_of(LLVM_TYPES[operand_type])
            if operand_type == I64_TYPE:
                divisor_is_zero = self.builder.icmp_signed("==", rhs, zero)
            else:
                divisor_is_zero = self.builder.fcmp_ordered("==", rhs, zero)
            self.raise_if(divisor_is_zero)
            self.checked(op, (value, self.builder.and_(bad, self.builder.not_(divisor_is_zero))))
        elif operand_type == I64_TYPE:
            self.checked(op, int_semantics(self.builder, lhs, rhs))
        elif operand_type == F64_TYPE:
            self.checked(op, float_semantics(self.builder, lhs, rhs))
        else:
            assert isinstance(lhs, DynValue) and isinstance(rhs, DynValue)
            self.define(op, self.dyn_binary(lhs, rhs, int_semantics, float_semantics, op.results[0].type))

    def emit_division_by_constant(self, op: Operation, divisor: int) -> None:
        """Emit x // divisor or x % divisor for an int x and a positive constant divisor, which cannot raise."""
        builder = self.builder
        lhs, rhs = (self.values[operand] for operand in op.operands)
        modulo = isinstance(op, py.ModOp)
        dividend = self.bounds_of(op.operands[0])
        narrow = (-arith.NARROW_LIMIT, arith.NARROW_LIMIT - 1)
        narrows = arith.narrow_divisor(rhs) is not None
        if narrows and narrow[0] <= dividend[0] and dividend[1] <= narrow[1]:
            quotient, _ = arith.floordiv_by_constant_narrow(builder, lhs, divisor)
        elif narrows and self.narrow_divisions:
            quotient, wide = arith.floordiv_by_constant_narrow(builder, lhs, divisor)
            self.widen = wide if self.widen is FALSE else builder.or_(self.widen, wide)
            # The exact loop computes the rows of larger dividends again, so this loop's other
            # ops may take the dividend as narrow. Its values stay defined (no nsw) on those rows.
            # Bounds outside the narrow range stay as they are: every row then takes the exact loop.
            if max(dividend[0], narrow[0]) <= min(dividend[1], narrow[1]):
                dividend = (max(dividend[0], narrow[0]), min(dividend[1], narrow[1]))
        else:
            quotient = arith.floordiv_by_constant(builder, lhs, divisor)
        self.define(op, builder.sub(lhs, builder.mul(quotient, rhs)) if modulo else quotient)
        self.bounds[op.results[0]] = arith.division_bounds(dividend, divisor, modulo)

    def dyn_binary(
        self,
        lhs: DynValue,
        rhs: DynValue,
        int_semantics: Callable[..., Result],
        float_semantics: Callable[..., Result],
        result_type: Attribute,
    ) -> Repr:
        """Compute both the int and the float result and keep the one CPython's types pick."""
        builder = self.builder
        any_none = builder.or_(self.is_kind(lhs, KIND_NONE), self.is_kind(rhs, KIND_NONE))
        any_float = builder.or_(self.is_kind(lhs, KIND_FLOAT), self.is_kind(rhs, KIND_FLOAT))
        int_value, int_bad = int_semantics(builder, lhs.bits, rhs.bits)
        float_value, float_bad = float_semantics(builder, self.dyn_as_float(lhs), self.dyn_as_float(rhs))
        self.flag_if(builder.or_(any_none, builder.select(any_float, float_bad, int_bad)))
        if result_type == F64_TYPE:
            return builder.select(any_float, float_value, int_value)
        return DynValue(
            builder.select(any_float, kind(KIND_FLOAT), kind(KIND_INT)),
            builder.select(any_float, builder.bitcast(float_value, I64), int_value),
        )

    def emit_unary(self, op: Operation) -> None:
        value = self.values[op.operands[0]]
        int_semantics, float_semantics = UNARY_SEMANTICS[type(op)]
        operand_type = op.operands[0].type
        builder = self.builder
        if operand_type == I64_TYPE:
            self.checked(op, int_semantics(builder, value))
        elif operand_type == F64_TYPE:
            assert float_semantics is not None
            self.checked(op, float_semantics(builder, value))
        else:
            assert isinstance(value, DynValue)
            is_float = self.is_kind(value, KIND_FLOAT)
            int_value, int_bad = int_semantics(builder, value.bits)
            if float_semantics is None:  # ~x of a float raises TypeError
                float_bits, float_bad = i64(0), TRUE
            else:
                float_value, float_bad = float_semantics(builder, builder.bitcast(value.bits, F64))
                float_bits = builder.bitcast(float_value, I64)
            self.flag_if(builder.or_(self.is_kind(value, KIND_NONE), builder.select(is_float, float_bad, int_bad)))
            self.define(
                op,
                DynValue(
                    builder.select(is_float, kind(KIND_FLOAT), kind(KIND_INT)),
                    builder.select(is_float, float_bits, int_value),
                ),
            )

    def emit_not(self, op: py.NotOp) -> None:
        self.define(op, self.builder.not_(self.values[op.input]))

    def emit_compare(self, op: py.CmpOp) -> None:
        predicate = op.predicate.data
        result, bad = self.compare(predicate, self.values[op.lhs], op.lhs.type, self.values[op.rhs], op.rhs.type)
        self.flag_if(bad)
        self.define(op, result)

    def compare(self, predicate: str, lhs: Repr, lhs_type: Attribute, rhs: Repr, rhs_type: Attribute) -> Result:
        builder = self.builder
        if isinstance(lhs, DynValue) and isinstance(rhs, DynValue):
            return self.dyn_compare(predicate, lhs, rhs)
        if lhs_type == I1_TYPE:
            return builder.icmp_unsigned(arith.INT_PREDICATES[predicate], lhs, rhs), FALSE
        if lhs_type == I64_TYPE and rhs_type == I64_TYPE:
            return arith.int_compare(builder, predicate, lhs, rhs), FALSE
        if lhs_type == F64_TYPE and rhs_type == F64_TYPE:
            return arith.float_compare(builder, predicate, lhs, rhs), FALSE
        if lhs_type == I64_TYPE:
            return arith.mixed_compare(builder, predicate, lhs, rhs), FALSE
        return arith.mixed_compare(builder, arith.SWAPPED_PREDICATES[predicate], rhs, lhs), FALSE

    def dyn_compare(self, predicate: str, lhs: DynValue, rhs: DynValue) -> Result:
        """Compare two dynamic values as CPython does: None equals only None, and orders with nothing."""
        builder = self.builder
        lhs_none, rhs_none = self.is_kind(lhs, KIND_NONE), self.is_kind(rhs, KIND_NONE)
        any_none = builder.or_(lhs_none, rhs_none)
        lhs_float, rhs_float = self.is_kind(lhs, KIND_FLOAT), self.is_kind(rhs, KIND_FLOAT)
        lhs_as_float, rhs_as_float = builder.bitcast(lhs.bits, F64), builder.bitcast(rhs.bits, F64)
        both_int = arith.int_compare(builder, predicate, lhs.bits, rhs.bits)
        both_float = arith.float_compare(builder, predicate, lhs_as_float, rhs_as_float)
        int_float = arith.mixed_compare(builder, predicate, lhs.bits, rhs_as_float)
        float_int = arith.mixed_compare(builder, arith.SWAPPED_PREDICATES[predicate], rhs.bits, lhs_as_float)
        numeric = builder.select(
            lhs_float, builder.select(rhs_float, both_float, float_int), builder.select(rhs_float, int_float, both_int)
        )
        if predicate in ("eq", "ne"):
            both_none = builder.and_(lhs_none, rhs_none)
            equal_none = both_none if predicate == "eq" else builder.not_(both_none)
            return builder.select(any_none, equal_none, numeric), FALSE
        return numeric, any_none

    def emit_min_max(self, op: Operation) -> None:
        """min(a, b) keeps b only if b < a; max keeps b only if b > a, so NaN order matters."""
        predicate = "lt" if isinstance(op, py.MinOp) else "gt"
        lhs, rhs = self.values[op.operands[0]], self.values[op.operands[1]]
        operand_type = op.operands[0].type
        take_rhs, bad = self.compare(predicate, rhs, operand_type, lhs, operand_type)
        self.flag_if(bad)
        builder = self.builder
        if isinstance(lhs, DynValue) and isinstance(rhs, DynValue):
            self.define(
                op,
                DynValue(builder.select(take_rhs, rhs.kind, lhs.kind), builder.select(take_rhs, rhs.bits, lhs.bits)),
            )
        else:
            self.define(op, builder.select(take_rhs, rhs, lhs))

    def emit_round(self, op: py.RoundOp) -> None:
        value = self.values[op.input]
        builder = self.builder
        if op.input.type == I64_TYPE:
            self.define(op, value)
        elif op.input.type == F64_TYPE:
            self.checked(op, arith.float_round(builder, value))
        else:
            assert isinstance(value, DynValue)
            rounded, bad = arith.float_round(builder, builder.bitcast(value.bits, F64))
            is_float = self.is_kind(value, KIND_FLOAT)
            self.flag_if(builder.or_(self.is_kind(value, KIND_NONE), builder.and_(is_float, bad)))
            self.define(op, builder.select(is_float, rounded, value.bits))

    def emit_round_digits(self, op: py.RoundDigitsOp) -> None:
        value, ndigits = self.values[op.input], self.values[op.ndigits]
        builder = self.builder
        if op.input.type == I64_TYPE:
            self.checked(op, arith.int_round_digits(builder, value, ndigits))
        elif op.input.type == F64_TYPE:
            self.checked(op, mathlib.float_round_digits(builder, value, ndigits))
        else:
            assert isinstance(value, DynValue)
            self.define(
                op,
                self.dyn_binary(
                    value,
                    DynValue(kind(KIND_INT), ndigits),
                    lambda b, x, n: arith.int_round_digits(b, x, n),
                    lambda b, x, n: mathlib.float_round_digits(b, x, b.fptosi(n, I64)),
                    op.result.type,
                ),
            )

    def emit_math(self, op: py.MathCallOp) -> None:
        arguments = [self.values[argument] for argument in op.arguments]
        if op in self.call_arguments:  # the argument goes to the loop of calls; nothing reads the result here
            self.builder.store(arguments[0], self.lane_element(self.call_arguments[op]))
            self.define(op, ir.Constant(F64, ir.Undefined))
        elif op in self.call_results:
            result = self.builder.load(self.lane_element(self.call_results[op]))
            if op in self.argument_buffers:
                arguments = [self.builder.load(self.lane_element(self.argument_buffers[op]))]
            self.checked(op, (result, mathlib.domain_error(self.builder, result, arguments)))
        else:
            self.checked(op, mathlib.math_call(self.builder, op.function.data, arguments, self.call_caches.get(op)))

    def lane_element(self, buffer: ir.Value) -> ir.Value:
        assert self.lane is not None, "a block's call buffers need the lane of the row"
        return self.builder.gep(buffer, [self.lane], inbounds=True)

    def emit_column_value(self, op: py.ColumnValueOp) -> None:
        element = op.result.type.element_type
        output = python_type_of(element)
        if output in TEMPORAL_OUTPUTS:
            self.emit_temporal_column_value(op, element)
            return
        value, present, bad = convert_output(self.builder, self.values[op.input], op.input.type, output)
        if output is bool:
            value = self.builder.trunc(value, I1)
        self.flag_if(bad)
        self.define(op, OptionalValue(present, value))

    def emit_temporal_column_value(self, op: py.ColumnValueOp, element: Attribute) -> None:
        """Define a datetime, date or timedelta result of a fused resolver in the form that ops read.

        Readers in the same kernel take it as an optional value of its IR type, so it is not
        converted to the column's storage: the kernel converts the outputs it writes. A result
        of another type flags the row, as for other outputs.
        """
        value, source_type = self.values[op.input], op.input.type
        inner_type = source_type.element_type if isinstance(source_type, OptionalType) else source_type
        if inner_type == element:
            self.define(op, value if isinstance(value, OptionalValue) else OptionalValue(TRUE, value))
            return
        if not isinstance(value, NoneValue) and not isinstance(source_type, NoneType):
            self.flag_if(TRUE)
        self.define(op, OptionalValue(FALSE, unflatten(element, undefined(element))))

    def emit_select(self, op: py.SelectOp) -> None:
        condition = self.values[op.condition]
        chosen = [
            self.builder.select(condition, true_part, false_part)
            for true_part, false_part in zip(
                flatten(self.values[op.true_value]), flatten(self.values[op.false_value]), strict=True
            )
        ]
        self.define(op, unflatten(op.result.type, chosen))
        if op.result.type == I64_TYPE:
            self.bounds[op.result] = union_bounds([self.bounds_of(op.true_value), self.bounds_of(op.false_value)])

    def emit_raise(self, op: py.RaiseOp) -> None:
        self.flag_if(TRUE)

    # ----------------------------------------------------------------------------------
    # Helpers for !py.dyn
    # ----------------------------------------------------------------------------------

    def is_kind(self, value: DynValue, expected: int) -> ir.Value:
        return self.builder.icmp_unsigned("==", value.kind, kind(expected))

    def dyn_as_float(self, value: DynValue) -> ir.Value:
        builder = self.builder
        return builder.select(
            self.is_kind(value, KIND_FLOAT), builder.bitcast(value.bits, F64), builder.sitofp(value.bits, F64)
        )


def float_binary(name: str) -> Callable[[ir.IRBuilder, ir.Value, ir.Value], Result]:
    def emit(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> Result:
        return getattr(builder, name)(x, y), FALSE

    return emit


BINARY_SEMANTICS: dict[type[Operation], tuple[Callable[..., Result], Callable[..., Result]]] = {
    py.AddOp: (arith.int_add, float_binary("fadd")),
    py.SubOp: (arith.int_sub, float_binary("fsub")),
    py.MulOp: (arith.int_mul, float_binary("fmul")),
    py.TrueDivOp: (arith.int_truediv, arith.float_truediv),
    py.FloorDivOp: (arith.int_floordiv, arith.float_floordiv),
    py.ModOp: (arith.int_mod, arith.float_mod),
    py.PowOp: (mathlib.int_pow, mathlib.float_pow),
}

# The int ops that need no overflow check where their operands' bounds keep the result in int64.
UNCHECKED_IF_BOUNDED: dict[type[Operation], str] = {py.AddOp: "add", py.SubOp: "sub", py.MulOp: "mul"}

# Binary ops that raise ZeroDivisionError on a zero divisor of type int or float.
DIVISIONS: frozenset[type[Operation]] = frozenset({py.TrueDivOp, py.FloorDivOp, py.ModOp})

UNARY_SEMANTICS: dict[type[Operation], tuple[Callable[..., Result], Callable[..., Result] | None]] = {
    py.NegOp: (arith.int_neg, arith.float_neg),
    py.AbsOp: (arith.int_abs, arith.float_abs),
    py.InvertOp: (arith.int_invert, None),
}

LOWERINGS: dict[type[Operation], Callable[[RowEmitter, Operation], None]] = {
    scf.IfOp: RowEmitter.emit_if,  # type: ignore[dict-item]
    py.ConstantOp: RowEmitter.emit_constant,  # type: ignore[dict-item]
    py.NoneOp: RowEmitter.emit_none,  # type: ignore[dict-item]
    py.WrapOp: RowEmitter.emit_wrap,  # type: ignore[dict-item]
    py.UnwrapOp: RowEmitter.emit_unwrap,  # type: ignore[dict-item]
    py.NarrowOp: RowEmitter.emit_narrow,  # type: ignore[dict-item]
    py.IsNoneOp: RowEmitter.emit_is_none,  # type: ignore[dict-item]
    py.TruthOp: RowEmitter.emit_truth,  # type: ignore[dict-item]
    py.ToIntOp: RowEmitter.emit_to_int,  # type: ignore[dict-item]
    py.ToFloatOp: RowEmitter.emit_to_float,  # type: ignore[dict-item]
    py.NotOp: RowEmitter.emit_not,  # type: ignore[dict-item]
    py.CmpOp: RowEmitter.emit_compare,  # type: ignore[dict-item]
    py.MinOp: RowEmitter.emit_min_max,
    py.MaxOp: RowEmitter.emit_min_max,
    py.RoundOp: RowEmitter.emit_round,  # type: ignore[dict-item]
    py.RoundDigitsOp: RowEmitter.emit_round_digits,  # type: ignore[dict-item]
    py.MathCallOp: RowEmitter.emit_math,  # type: ignore[dict-item]
    py.RaiseOp: RowEmitter.emit_raise,  # type: ignore[dict-item]
    py.ColumnValueOp: RowEmitter.emit_column_value,  # type: ignore[dict-item]
    py.SelectOp: RowEmitter.emit_select,  # type: ignore[dict-item]
    **{op: RowEmitter.emit_binary for op in BINARY_SEMANTICS},
    **{op: RowEmitter.emit_unary for op in UNARY_SEMANTICS},
}

# The string and datetime ops register their lowerings in LOWERINGS when imported.
from featurejit.codegen import datetimes as _datetime_lowerings  # noqa: E402, F401
from featurejit.codegen import strings as _string_lowerings  # noqa: E402, F401
