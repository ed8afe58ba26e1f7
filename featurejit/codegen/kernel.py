"""The two native entry points of a resolver: a batch kernel over Arrow buffers and a scalar call.

Batch kernel ABI, for n rows:

    i64 kernel(i64 n, i64* columns, i8* out_data, i8* out_valid, i8* flags)

`columns` contains three i64 per parameter: the address of the Arrow data buffer, the address of
its validity bitmap (read only if the layout has one) and the array offset. A broadcast parameter reads element
`offset` on every row. The kernel writes one output element, one validity byte and one flag
byte per row, and returns the number of flagged rows. It reads only elements offset to
offset + n - 1 of each buffer (element offset alone when broadcast), which the runtime
checks against the buffer sizes before the call.

Scalar entry ABI:

    {i64 bits, i64 status} scalar(<one argument per parameter, plus one per optional parameter>)

Each parameter is passed by value, as a double for floats and an i64 for ints and bools.
An optional parameter is followed by an i64 that is 1 if the value is present and 0 for
None, and a parameter of type !py.none, a None known when compiling, is not passed. The two-i64 result comes back in registers: the result's 64 bits (a double bit for
bit), and a status whose low byte is the Python type of the result as a KIND_* tag and
whose bit 8 says that the call must run in the interpreter instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir
from xdsl.dialects import func
from xdsl.dialects.builtin import f64 as F64_TYPE
from xdsl.dialects.builtin import i1 as I1_TYPE
from xdsl.dialects.builtin import i64 as I64_TYPE
from xdsl.ir import Attribute

from featurejit.codegen.arith import F64, FALSE, I1, I8, I64, TRUE, i64
from featurejit.codegen.row import (
    KIND_BOOL,
    KIND_FLOAT,
    KIND_NONE,
    NONE,
    DynValue,
    NoneValue,
    OptionalValue,
    Repr,
    RowEmitter,
    kind,
)
from featurejit.ir.dialect import DynType, NoneType, OptionalType

PHYSICAL_TYPES: dict[str, tuple[ir.Type, str]] = {
    "bool": (I8, "bits"),
    "int8": (ir.IntType(8), "signed"),
    "int16": (ir.IntType(16), "signed"),
    "int32": (ir.IntType(32), "signed"),
    "int64": (I64, "signed"),
    "uint8": (ir.IntType(8), "unsigned"),
    "uint16": (ir.IntType(16), "unsigned"),
    "uint32": (ir.IntType(32), "unsigned"),
    "uint64": (I64, "unsigned64"),
    "float32": (ir.FloatType(), "float"),
    "float64": (F64, "float"),
}

OUTPUT_TYPES: dict[type, ir.Type] = {float: F64, int: I64, bool: I8}


@dataclass(frozen=True)
class ColumnLayout:
    """The physical layout of one parameter's values in the batch kernel."""

    physical: str
    has_validity: bool
    broadcast: bool


def find_function(module_op: object) -> func.FuncOp:
    functions = [op for op in module_op.walk() if isinstance(op, func.FuncOp)]  # type: ignore[attr-defined]
    assert len(functions) == 1, "a resolver module holds one func.func"
    return functions[0]


def load_bit(builder: ir.IRBuilder, base: ir.Value, index: ir.Value) -> ir.Value:
    """Return bit `index` of an LSB-first Arrow bitmap as an i1."""
    byte = builder.load(builder.gep(base, [builder.lshr(index, i64(3))], inbounds=True))
    shift = builder.trunc(builder.and_(index, i64(7)), I8)
    return builder.trunc(builder.lshr(byte, shift), I1)


def load_value(builder: ir.IRBuilder, layout: ColumnLayout, data: ir.Value, index: ir.Value) -> tuple[ir.Value, ir.Value]:
    """Load one element widened to its IR type; flag uint64 values above int64's range."""
    _, kind_name = PHYSICAL_TYPES[layout.physical]
    if kind_name == "bits":
        return load_bit(builder, data, index), FALSE
    element = builder.load(builder.gep(data, [index], inbounds=True))
    if kind_name == "signed":
        return (element if element.type == I64 else builder.sext(element, I64)), FALSE
    if kind_name == "unsigned":
        return builder.zext(element, I64), FALSE
    if kind_name == "unsigned64":
        return element, builder.icmp_signed("<", element, i64(0))
    return (element if element.type == F64 else builder.fpext(element, F64)), FALSE


def convert_output(builder: ir.IRBuilder, value: Repr, type_: Attribute, output: type) -> tuple[ir.Value, ir.Value, ir.Value]:
    """Convert a row's result to the declared output column: (value, present, flag).

    A result the column cannot hold (a float for an int column, say) flags the row, so the
    runtime reports it with the CPython value.
    """
    target = OUTPUT_TYPES[output]
    zero = ir.Constant(target, 0.0 if target == F64 else 0)
    if isinstance(value, NoneValue) or isinstance(type_, NoneType):
        return zero, FALSE, FALSE
    if isinstance(value, OptionalValue):
        assert isinstance(type_, OptionalType)
        inner, present, bad = convert_output(builder, value.value, type_.element_type, output)
        return inner, builder.and_(value.valid, present), builder.and_(value.valid, bad)
    if isinstance(value, DynValue):
        assert isinstance(type_, DynType)
        return convert_dyn_output(builder, value, output, zero)
    return convert_scalar_output(builder, value, type_, output, zero)


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
    return builder.trunc(value.bits, I8), present, builder.not_(fits)


def build_batch_kernel(
    module: ir.Module, function_op: func.FuncOp, layouts: list[ColumnLayout], output: type, name: str
) -> None:
    """Add the batch kernel `name` for this resolver and these input layouts to `module`."""
    pointer = I8.as_pointer()
    signature = ir.FunctionType(I64, [I64, I64.as_pointer(), pointer, pointer, pointer])
    kernel = ir.Function(module, signature, name)
    rows, columns, out_data, out_valid, flags = kernel.args
    entry, loop, done = (kernel.append_basic_block(label) for label in ("entry", "loop", "done"))
    builder = ir.IRBuilder(entry)

    descriptors = []
    for index, layout in enumerate(layouts):
        element_type, _ = PHYSICAL_TYPES[layout.physical]

        def field(position: int, index: int = index) -> ir.Value:
            return builder.load(builder.gep(columns, [i64(3 * index + position)], inbounds=True))

        data = builder.inttoptr(field(0), element_type.as_pointer())
        validity = builder.inttoptr(field(1), pointer) if layout.has_validity else None
        descriptors.append((layout, data, validity, field(2)))
    output_pointer = builder.bitcast(out_data, OUTPUT_TYPES[output].as_pointer())
    builder.cbranch(builder.icmp_signed(">", rows, i64(0)), loop, done)

    builder.position_at_end(loop)
    row = builder.phi(I64, "row")
    flagged = builder.phi(I64, "flagged")
    argument_types = function_op.function_type.inputs.data
    arguments: list[Repr] = []
    flag: ir.Value = FALSE
    for (layout, data, validity, offset), argument_type in zip(descriptors, argument_types, strict=True):
        position = offset if layout.broadcast else builder.add(offset, row)
        value, bad = load_value(builder, layout, data, position)
        flag = builder.or_(flag, bad)
        present = TRUE if validity is None else load_bit(builder, validity, position)
        if isinstance(argument_type, OptionalType):
            arguments.append(OptionalValue(present, value))
        else:  # None for a parameter not annotated Optional: the interpreter decides what happens
            flag = builder.or_(flag, builder.not_(present))
            arguments.append(value)
    emitter = RowEmitter(builder)
    emitter.flag = flag
    result, flag = emitter.emit_function(function_op, arguments)
    value, present, bad = convert_output(builder, result, function_op.function_type.outputs.data[0], output)
    flag = builder.or_(flag, bad)
    builder.store(value, builder.gep(output_pointer, [row], inbounds=True))
    builder.store(builder.zext(present, I8), builder.gep(out_valid, [row], inbounds=True))
    builder.store(builder.zext(flag, I8), builder.gep(flags, [row], inbounds=True))
    next_flagged = builder.add(flagged, builder.zext(flag, I64))
    next_row = builder.add(row, i64(1))
    builder.cbranch(builder.icmp_signed("<", next_row, rows), loop, done)
    latch = builder.block  # the row's code may have added blocks after `loop`
    row.add_incoming(i64(0), entry)
    row.add_incoming(next_row, latch)
    flagged.add_incoming(i64(0), entry)
    flagged.add_incoming(next_flagged, latch)

    builder.position_at_end(done)
    total = builder.phi(I64)
    total.add_incoming(i64(0), entry)
    total.add_incoming(next_flagged, latch)
    builder.ret(total)


def scalar_argument_types(function_op: func.FuncOp) -> list[ir.Type]:
    """Return the LLVM parameter types of the scalar entry: a value, plus a presence flag if optional."""
    types: list[ir.Type] = []
    for argument_type in function_op.function_type.inputs.data:
        if isinstance(argument_type, NoneType):
            continue  # a None argument is a constant of the specialization
        element_type = argument_type.element_type if isinstance(argument_type, OptionalType) else argument_type
        types.append(F64 if element_type == F64_TYPE else I64)
        if isinstance(argument_type, OptionalType):
            types.append(I64)
    return types


SCALAR_RESULT = ir.LiteralStructType([I64, I64])


def build_scalar_entry(module: ir.Module, function_op: func.FuncOp, name: str) -> None:
    """Add the scalar entry point `name` for this resolver to `module`."""
    entry_function = ir.Function(module, ir.FunctionType(SCALAR_RESULT, scalar_argument_types(function_op)), name)
    builder = ir.IRBuilder(entry_function.append_basic_block("entry"))
    parameters = iter(entry_function.args)
    arguments: list[Repr] = []
    for argument_type in function_op.function_type.inputs.data:
        if isinstance(argument_type, NoneType):
            arguments.append(NONE)
            continue
        value = next(parameters)
        element_type = argument_type.element_type if isinstance(argument_type, OptionalType) else argument_type
        if element_type == I1_TYPE:
            value = builder.icmp_signed("!=", value, i64(0))
        if isinstance(argument_type, OptionalType):
            present = builder.icmp_signed("!=", next(parameters), i64(0))
            arguments.append(OptionalValue(present, value))
        else:
            arguments.append(value)
    emitter = RowEmitter(builder)
    result, flag = emitter.emit_function(function_op, arguments)
    dynamic = emitter.to_dyn(result, function_op.function_type.outputs.data[0])
    status = builder.or_(builder.zext(dynamic.kind, I64), builder.shl(builder.zext(flag, I64), i64(8)))
    packed = builder.insert_value(ir.Constant(SCALAR_RESULT, ir.Undefined), dynamic.bits, 0)
    builder.ret(builder.insert_value(packed, status, 1))
