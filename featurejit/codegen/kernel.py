"""The two native entry points of a resolver: a batch kernel over Arrow buffers and a scalar call.

Batch kernel ABI, for n rows:

    i64 kernel(i64 n, i64* columns, i64* outputs, i64* flags, i8* context)

`columns` contains FIELDS_PER_COLUMN i64 per parameter. The first five are the address of the
Arrow data buffer (the offsets of a string column, the indices of a dictionary one), the address
of its validity bitmap (read only if the layout has one), the array offset, and the sizes in
bytes of the data buffer and of the bitmap. The rest are the string data and its size, or the
dictionary's offsets, data, data size, length and offset. A broadcast parameter reads element
`offset` on every row. `outputs` contains FIELDS_PER_OUTPUT i64 per output column: its data, its
validity bitmap, the int64 offsets of a str column, a bitmap of the rows whose value of this
output the kernel could not compute (written only when there are several outputs), and a bitmap
of the rows on which this output's resolver raises for certain (written only if its address is
not 0). A row raises for certain when CPython's evaluation of the resolver reaches a zero
divisor and no op that this output depends on flagged the row, so every step before was exact.
The kernel runs in blocks of 64 rows. For each output it writes one element per row, or one bit
for a bool column, and a validity bit; `flags` gets each row's slow-path bit, set if any output
of the row needs the interpreter, raising rows included. Bitmaps are LSB-first arrays of 64-bit
words, the layout Arrow uses. The kernel returns the number of flagged rows. Elements are read
only in offset to offset + n - 1 (offset alone when broadcast), which the runtime checks against
the buffer sizes before the call, and bitmap bytes only below the sizes given.
`context` is the scratch memory for new strings (see featurejit.codegen.strhelpers).

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

import llvmlite.binding as llvm
from llvmlite import ir
from xdsl.dialects import func
from xdsl.dialects.builtin import f64 as F64_TYPE
from xdsl.dialects.builtin import i1 as I1_TYPE
from xdsl.dialects.builtin import i64 as I64_TYPE
from xdsl.ir import Attribute, Block, Operation, SSAValue

from featurejit.codegen import strhelpers
from featurejit.codegen.arith import (
    F64,
    FALSE,
    I1,
    I8,
    I64,
    TRUE,
    counted_loop,
    i64,
    intrinsic,
    narrow_divisor,
)
from featurejit.codegen.datetimes import load_temporal
from featurejit.codegen.layout import FIELDS_PER_COLUMN, FIELDS_PER_OUTPUT, PHYSICAL_TYPES, ColumnLayout
from featurejit.codegen.mathlib import (
    CALL_CACHE_SITES,
    LIBM_BINARY,
    LIBM_UNARY,
    CallCache,
    allocate_call_cache,
    begin_block_lookups,
    call_lanes,
    call_missed_lanes,
    look_up_lane,
    release_call_cache,
)
from featurejit.codegen.row import (
    NONE,
    OUTPUT_TYPES,
    OptionalValue,
    Repr,
    RowEmitter,
    Scope,
    StrValue,
    convert_output,
    empty_string,
    select_string,
)
from featurejit.codegen.strhelpers import BUILDER as STRING_BUILDER
from featurejit.codegen.strhelpers import CONTEXT
from featurejit.codegen.strings import SCRATCH_OPS
from featurejit.frontend.fusion import MEMBER_ATTRIBUTE
from featurejit.ir.dialect import (
    ColumnValueOp,
    ConstantOp,
    FloorDivOp,
    MathCallOp,
    ModOp,
    NoneType,
    OptionalType,
    PowOp,
)


def find_function(module_op: object) -> func.FuncOp:
    functions = [op for op in module_op.walk() if isinstance(op, func.FuncOp)]  # type: ignore[attr-defined]
    assert len(functions) == 1, "a resolver module holds one func.func"
    return functions[0]


BLOCK_ROWS = 64


def host_tile_blocks() -> int:
    """Return the blocks per tile for this machine's CPU (see TILE_BLOCKS).

    The best size differed between the two CPUs measured, with eight fused flights resolvers
    over 10M rows on one thread of a shared two-core VM. On an AMD EPYC (Zen 4): 13.8 ns per
    row with one block per tile, 12.2 with 512, 11.7 with 1024. On an Intel Xeon with 48 KiB
    of L1 data cache and 2 MiB of L2: 11.4 to 11.7 ns with 1, 2 or 4 blocks, 11.9 with 8 and
    12.7 with 1024. There the memory-bound reference of bench/suites/fusion.py took 8.7 to
    9.4 ns with 1 to 4 blocks and 10.6 with 1024. Small tiles keep a tile's columns in the
    L1 and L2 caches between passes.

    NOTE: only Zen 4 was measured among AMD's CPUs; other Zen generations get its size. CPUs
    that were not measured, and VMs that report a generic CPU name, get the small tiles.
    """
    return 1024 if llvm.get_host_cpu_name().startswith("znver") else 4


# A kernel with several loops over a block's rows runs each loop, or each pass (see
# tile_passes), over the blocks of a tile of up to TILE_BLOCKS blocks before the next, so a
# pass reads a few columns at a time and the tile's columns stay in cache for the next pass.
TILE_BLOCKS = host_tile_blocks()


@dataclass
class Column:
    """One parameter's buffers inside the batch kernel, and its values once they are loaded."""

    layout: ColumnLayout
    argument_type: Attribute
    data: ir.Value
    data_bytes: ir.Value
    validity: ir.Value | None
    validity_bytes: ir.Value
    offset: ir.Value
    # Fields 5 to 9: string data and its size, or the dictionary's offsets, data, data size,
    # length and offset (see the module docstring).
    extra: list[ir.Value]


def load_word(builder: ir.IRBuilder, bitmap: ir.Value, size: ir.Value, first_bit: ir.Value) -> ir.Value:
    """Return the 64 bits of an LSB-first bitmap from `first_bit` on, as an i64.

    When the nine bytes that can hold them all lie below `size` bytes, as they do in every
    block of rows but the last, one unaligned i64 load and one byte load read them. Otherwise
    a call of load_word_near_end reads them byte by byte, so no read leaves the buffer.
    """
    first_byte = builder.lshr(first_bit, i64(3))
    shift = builder.and_(first_bit, i64(7))
    inside = builder.icmp_signed("<", builder.add(first_byte, i64(8)), size)
    with builder.if_else(inside, likely=True) as (whole, near_end):
        with whole:
            start = builder.gep(bitmap, [first_byte], inbounds=True)
            low = builder.load(builder.bitcast(start, I64.as_pointer()), align=1)
            high = builder.zext(builder.load(builder.gep(start, [i64(8)], inbounds=True)), I64)
            # The low 64 bits of high:low shifted right by `shift`, which is low itself for shift 0.
            loaded = intrinsic(builder, "llvm.fshr.i64", I64, [high, low, shift])
            loaded_block = builder.block
        with near_end:
            guarded = builder.call(load_word_near_end(builder.module), [bitmap, size, first_bit])
            guarded_block = builder.block
    word = builder.phi(I64)
    word.add_incoming(loaded, loaded_block)
    word.add_incoming(guarded, guarded_block)
    return word


def load_word_near_end(module: ir.Module) -> ir.Function:
    """i64 fj.load_word_near_end(bitmap, size, first_bit): load_word for the bytes at the end of a bitmap.

    It reads the nine bytes that can hold the word one by one, each only if it lies below `size`
    bytes (a byte past the end counts as zero). It runs only for the last block of rows and for
    broadcast parameters, so it is optnone and noinline, and LLVM compiles it without optimizing it.
    """

    def body(builder: ir.IRBuilder, arguments: list[ir.Value]) -> None:
        bitmap, size, first_bit = arguments
        first_byte = builder.lshr(first_bit, i64(3))
        shift = builder.and_(first_bit, i64(7))
        last_byte = builder.sub(size, i64(1))  # the runtime passes bitmaps of at least one byte
        word: ir.Value = i64(0)
        for index in range(9):
            position = builder.add(first_byte, i64(index))
            inside = builder.icmp_signed("<", position, size)
            byte = builder.load(builder.gep(bitmap, [builder.select(inside, position, last_byte)], inbounds=True))
            byte = builder.select(inside, builder.zext(byte, I64), i64(0))
            # Byte `index` starts at bit 8 * index - shift of the word, and the first byte's low bits
            # fall off. Two shifts, each below 64, keep the ninth byte defined when shift is 0.
            if index == 0:
                word = builder.lshr(byte, shift)
            else:
                placed = builder.shl(builder.shl(byte, i64(8 * index - 8)), builder.sub(i64(8), shift))
                word = builder.or_(word, placed)
        builder.ret(word)

    function = strhelpers.helper(module, "fj.load_word_near_end", I64, [I8.as_pointer(), I64, I64], body)
    function.attributes.add("noinline")
    function.attributes.add("optnone")
    return function


def bit_of(builder: ir.IRBuilder, word: ir.Value, index: ir.Value) -> ir.Value:
    return builder.trunc(builder.lshr(word, index), I1)


def load_element(builder: ir.IRBuilder, layout: ColumnLayout, data: ir.Value, index: ir.Value) -> tuple[ir.Value, ir.Value]:
    """Load one non-bool element widened to its IR type; flag uint64 values above int64's range."""
    _, kind_name = PHYSICAL_TYPES[layout.physical]
    element = builder.load(builder.gep(data, [index], inbounds=True))
    if kind_name == "signed":
        return (element if element.type == I64 else builder.sext(element, I64)), FALSE
    if kind_name == "unsigned":
        return builder.zext(element, I64), FALSE
    if kind_name == "unsigned64":
        return element, builder.icmp_signed("<", element, i64(0))
    return (element if element.type == F64 else builder.fpext(element, F64)), FALSE


def read_columns(
    builder: ir.IRBuilder, columns: ir.Value, layouts: list[ColumnLayout], argument_types: list[Attribute]
) -> list[Column]:
    """Read each parameter's buffer addresses, offset and sizes from the `columns` array."""
    result = []
    for index, (layout, argument_type) in enumerate(zip(layouts, argument_types, strict=True)):

        def field(position: int, index: int = index) -> ir.Value:
            return builder.load(builder.gep(columns, [i64(FIELDS_PER_COLUMN * index + position)], inbounds=True))

        element_type, _ = PHYSICAL_TYPES[layout.physical]
        data = builder.inttoptr(field(0), element_type.as_pointer())
        validity = builder.inttoptr(field(1), I8.as_pointer()) if layout.has_validity else None
        extra = [field(position) for position in range(5, FIELDS_PER_COLUMN)] if is_string_layout(layout) else []
        result.append(Column(layout, argument_type, data, field(3), validity, field(4), field(2), extra))
    return result


def is_string_layout(layout: ColumnLayout) -> bool:
    return PHYSICAL_TYPES[layout.physical][1] in ("string", "dictionary")


def is_temporal_layout(layout: ColumnLayout) -> bool:
    return PHYSICAL_TYPES[layout.physical][1] == "temporal"


def load_column_temporal(builder: ir.IRBuilder, column: Column, index: ir.Value) -> tuple[Repr, ir.Value]:
    """Load element `index` of a timestamp, date or duration column (see featurejit.codegen.datetimes)."""
    argument_type = column.argument_type
    if isinstance(argument_type, OptionalType):
        argument_type = argument_type.element_type
    return load_temporal(builder, column.layout.physical, argument_type, column.data, index)


def load_string(builder: ir.IRBuilder, column: Column, index: ir.Value) -> tuple[StrValue, ir.Value]:
    """Load element `index` of a string column as a view, with a flag for inconsistent offsets.

    Offsets outside the data, or a dictionary index outside the dictionary, flag the row and
    give the empty string, so nothing is read outside the buffers.
    """
    byte_pointer = I8.as_pointer()
    if PHYSICAL_TYPES[column.layout.physical][1] == "dictionary":
        key = builder.sext(builder.load(builder.gep(column.data, [index], inbounds=True)), I64)
        offsets = builder.inttoptr(column.extra[0], ir.IntType(32).as_pointer())
        data = builder.inttoptr(column.extra[1], byte_pointer)
        data_size, entries, first_entry = column.extra[2], column.extra[3], column.extra[4]
        bad_key = builder.or_(builder.icmp_signed("<", key, i64(0)), builder.icmp_signed(">=", key, entries))
        position = builder.add(first_entry, builder.select(bad_key, i64(0), key))
        end_position = builder.add(position, builder.zext(builder.not_(bad_key), I64))
    else:
        offsets = column.data
        data = builder.inttoptr(column.extra[0], byte_pointer)
        data_size = column.extra[1]
        bad_key = FALSE
        position, end_position = index, builder.add(index, i64(1))
    start = builder.load(builder.gep(offsets, [position], inbounds=True))
    end = builder.load(builder.gep(offsets, [end_position], inbounds=True))
    if start.type != I64:
        start, end = builder.sext(start, I64), builder.sext(end, I64)
    inconsistent = builder.or_(
        builder.icmp_signed("<", start, i64(0)),
        builder.or_(builder.icmp_signed(">", start, end), builder.icmp_signed(">", end, data_size)),
    )
    bad = builder.or_(bad_key, inconsistent)
    view = StrValue(
        builder.gep(data, [builder.select(bad, i64(0), start)]),
        builder.select(bad, i64(0), builder.sub(end, start)),
        ascii=column.layout.ascii,
    )
    return select_string(builder, bad, empty_string(builder), view), bad


def bool_bit(builder: ir.IRBuilder, column: Column, word: ir.Value | None, index: ir.Value) -> ir.Value:
    """Return a bool column's bit: from the block's word, or loaded alone for a broadcast."""
    if word is not None:
        return bit_of(builder, word, index)
    single = load_word(builder, column.data, column.data_bytes, column.offset)
    return builder.trunc(single, I1)


def column_argument(
    builder: ir.IRBuilder, column: Column, value: ir.Value, present: ir.Value, flag: ir.Value
) -> tuple[Repr, ir.Value]:
    """Wrap a loaded value as the row function's argument; flag None for a non-optional parameter."""
    if isinstance(column.argument_type, OptionalType):
        return OptionalValue(present, value), flag
    # None for a parameter not annotated Optional: the interpreter decides what happens.
    return value, builder.or_(flag, builder.not_(present))


def output_owners(function_op: func.FuncOp) -> dict[Operation, frozenset[int]]:
    """Map each top-level op of the function to the results whose own resolver runs it.

    The walk back from a result stops at the `py.column_value` of any other resolver of a
    fused group, so the ops of a resolver that the result reads are not its own. Ops that
    CSE merged across resolvers belong to each of them.
    """
    return {op: frozenset(results) for op, results in results_reaching(function_op, own_resolver_only=True).items()}


def output_scopes(reaching: dict[Operation, set[int]]) -> dict[Operation, Scope]:
    """Map each top-level op of the function to the results whose values depend on it.

    `reaching` is results_reaching(function_op, own_resolver_only=False).

    A row that an op flags needs the interpreter only for the results in the op's scope; the
    others are exact. An op with regions counts as one op together with everything nested
    in it. An op that no result depends on spoils every result (scope None), because it may
    be the one that raises in CPython.

    So does every op that such an op reads from, directly or not. In a fused group, a flagged
    row of one resolver makes its value None for the resolvers that read it. A reader's unused
    `value + 1` or `assert value is not None` then raises in CPython, although the reader's
    result does not depend on the value.
    """
    scopes: dict[Operation, Scope] = {op: frozenset(results) if results else None for op, results in reaching.items()}
    entry = next(iter(reaching)).parent_block() if reaching else None
    if entry is None:
        return scopes
    position = {op: index for index, op in enumerate(entry.ops)}
    expanded = {op for op, scope in scopes.items() if scope is None and not isinstance(op, func.ReturnOp)}
    pending = [operand for op in expanded for nested in op.walk() for operand in nested.operands]
    while pending:
        op = top_level_op(pending.pop(), entry, position)
        if op is None or op in expanded or op not in scopes:
            continue
        scopes[op] = None
        expanded.add(op)
        pending.extend(operand for nested in op.walk() for operand in nested.operands)
    return scopes


def results_reaching(function_op: func.FuncOp, own_resolver_only: bool) -> dict[Operation, set[int]]:
    """Map each top-level op to the indices of the results that a walk back from them reaches.

    With `own_resolver_only`, the walk from a result does not pass another resolver's
    `py.column_value`.
    """
    entry = function_op.body.blocks.first
    assert entry is not None
    top_level = list(entry.ops)
    position = {op: index for index, op in enumerate(top_level)}
    reached: dict[Operation, set[int]] = {op: set() for op in top_level}
    returned = top_level[-1]
    assert isinstance(returned, func.ReturnOp), "a func.func body ends with func.return"
    for index, operand in enumerate(returned.operands):
        own_result = operand.owner
        pending = [operand]
        while pending:
            op = top_level_op(pending.pop(), entry, position)
            if op is None or index in reached[op]:
                continue
            if own_resolver_only and isinstance(op, ColumnValueOp) and op is not own_result:
                continue  # another resolver's result
            reached[op].add(index)
            for nested in op.walk():
                pending.extend(nested.operands)
    return reached


def top_level_op(value: SSAValue, entry: Block, position: dict[Operation, int]) -> Operation | None:
    """Return the top-level op that defines `value` or contains its definition; None for an argument."""
    owner = value.owner
    if owner is entry:
        return None
    op = owner if isinstance(owner, Operation) else owner.parent_op()
    while op is not None and op not in position:
        op = op.parent_op()
    return op


def load_arguments(
    builder: ir.IRBuilder,
    columns: list[Column],
    broadcast: dict[int, tuple[ir.Value, ir.Value, ir.Value]],
    validity_words: dict[int, ir.Value],
    data_words: dict[int, ir.Value],
    lane: ir.Value,
    row: ir.Value,
) -> tuple[list[Repr], ir.Value]:
    """Load one row's argument of each column; return them and the flag of rows the kernel cannot read."""
    arguments: list[Repr] = []
    flag: ir.Value = FALSE
    for index, column in enumerate(columns):
        if index in broadcast:
            value, present, bad = broadcast[index]
        else:
            if column.layout.physical == "bool":
                value, bad = bit_of(builder, data_words[index], lane), FALSE
            elif is_string_layout(column.layout):
                value, bad = load_string(builder, column, builder.add(column.offset, row))
            elif is_temporal_layout(column.layout):
                value, bad = load_column_temporal(builder, column, builder.add(column.offset, row))
            else:
                value, bad = load_element(builder, column.layout, column.data, builder.add(column.offset, row))
            present = bit_of(builder, validity_words[index], lane) if index in validity_words else TRUE
        flag = builder.or_(flag, bad)
        argument, flag = column_argument(builder, column, value, present, flag)
        arguments.append(argument)
    return arguments, flag


LIBM_FUNCTIONS = frozenset((*LIBM_UNARY, *LIBM_BINARY))
# The types of values that LLVM vectorizes code over: numbers, bools and None, optional or not.
VECTOR_TYPES = (I1_TYPE, I64_TYPE, F64_TYPE)


@dataclass
class SeparateCalls:
    """The libm calls that a batch kernel makes in loops of their own (see separate_calls)."""

    calls: list[Operation]
    # The ops that compute the calls' arguments, and the calls, in the function's order.
    ops: list[Operation]
    # Each call that computes the same as an earlier one, mapped to the earlier call.
    copies: dict[Operation, Operation]


def separate_calls(function_op: func.FuncOp) -> SeparateCalls:
    """Return the libm calls that a batch kernel makes in a loop of their own, and the copies of them.

    Loop fission at library calls: a call keeps LLVM from vectorizing the loop around it, and
    with it the rest of the row's arithmetic. So for each block of rows, one loop computes
    the calls' arguments and looks their results up in the calls' caches. Then a loop per call
    calls libm for the rows that missed, and the loops of the outputs read the results (see
    build_batch_kernel and mathlib.look_up_lane). A call qualifies if its one float argument comes
    from the function's parameters through ops that LLVM can vectorize and that hold no
    regions. The first two loops run such a call on every row, also where the resolver's
    branches skip it, which is safe because libm functions have no effect but their result.

    A call that computes the same as an earlier one is not made again. CSE cannot merge such
    calls when one of them is in a branch, as in two fused resolvers that both take
    log1p(distance).
    """
    order = {op: index for index, op in enumerate(function_op.walk())}
    entry = function_op.body.blocks.first
    calls: list[Operation] = []
    ops: set[Operation] = set()
    copies: dict[Operation, Operation] = {}
    seen: dict[tuple, Operation] = {}
    for op in order:
        if not (isinstance(op, MathCallOp) and op.function.data in LIBM_UNARY and op.arguments[0].type == F64_TYPE):
            continue
        needed: set[Operation] = set()
        pending = list(op.operands)
        while pending:
            owner = pending.pop().owner
            if isinstance(owner, Block):
                if owner is not entry:  # a value of a loop or branch region: not computable alone
                    break
                continue
            if owner not in needed:
                if owner.regions or not is_vector_friendly(owner):
                    break
                needed.add(owner)
                pending.extend(owner.operands)
        else:
            key = computation(op.results[0])
            if key in seen:
                copies[op] = seen[key]
            else:
                seen[key] = op
                calls.append(op)
                ops |= needed | {op}
    return SeparateCalls(calls, sorted(ops, key=order.__getitem__), copies)


def computation(value: SSAValue) -> tuple:
    """Return a key that two values share if the same ops compute them from the same parameters."""
    owner = value.owner
    if isinstance(owner, Block):
        return ("parameter", value.index)  # type: ignore[attr-defined]
    attributes = sorted(
        (name, str(attribute))
        for name, attribute in (*owner.properties.items(), *owner.attributes.items())
        if name != MEMBER_ATTRIBUTE  # the fused resolver the op came from
    )
    return (owner.name, value.index, tuple(attributes), tuple(computation(operand) for operand in owner.operands))  # type: ignore[attr-defined]


def is_vector_friendly(op: Operation) -> bool:
    """Return whether LLVM can vectorize the code of `op`: numbers, bools or None, and no library call or int division."""
    if isinstance(op, MathCallOp) and op.function.data in LIBM_FUNCTIONS:
        return False
    if isinstance(op, PowOp) and F64_TYPE in (operand.type for operand in op.operands):
        return False
    if isinstance(op, FloorDivOp | ModOp) and op.result.type == I64_TYPE:
        # x86 has no vector integer division. Division by a positive constant is a
        # multiply-high from 32-bit products, which vectorizes (see arith.floordiv_by_constant).
        divisor = op.operands[1].owner
        if not (isinstance(divisor, ConstantOp) and divisor.result.type == I64_TYPE and divisor.python_value() > 0):
            return False
    for value in (*op.operands, *op.results):
        type_ = value.type.element_type if isinstance(value.type, OptionalType) else value.type
        if type_ not in VECTOR_TYPES and not isinstance(type_, NoneType):
            return False
    return True


def narrows_divisions(function_op: func.FuncOp, ops: set[Operation] | None, separate: frozenset[Operation]) -> bool:
    """Return whether a loop over the top-level `ops`, or over the whole function if `ops` is None, gets a narrow copy.

    It does if LLVM vectorizes it and it divides an int by a constant that
    arith.narrow_divisor accepts. The `separate` libm calls do not count against
    vectorizing, because they run in a loop of their own (see is_vector_friendly). A scalar
    loop gains nothing from a copy, because one 64-bit multiply-high divides there.
    """
    top_level = function_op.body.ops if ops is None else ops
    nested = [op for top in top_level for op in top.walk()]
    if not all(op in separate or is_vector_friendly(op) for op in nested):
        return False
    return any(isinstance(op, FloorDivOp | ModOp) and narrow_constant(op.operands[1]) for op in nested)


def narrow_constant(value: SSAValue) -> bool:
    """Return whether `value` is an int constant that arith.narrow_divisor accepts."""
    owner = value.owner
    if not (isinstance(owner, ConstantOp) and owner.result.type == I64_TYPE):
        return False
    return narrow_divisor(i64(int(owner.python_value()))) is not None


def row_loop_groups(
    reaching: dict[Operation, set[int]], outputs: int, separate: frozenset[Operation] = frozenset()
) -> list[frozenset[int]]:
    """Split the outputs of a kernel into groups that each get a loop over the rows of a block.

    `reaching` maps each top-level op to the outputs that depend on it (see results_reaching),
    and `separate` holds the libm calls made in a loop of their own (see separate_calls).

    Loop fission: a fused kernel whose outputs share one loop is vectorized only if every
    output's code is, and a single library call such as `exp` keeps the whole loop scalar.
    So each output whose code LLVM can vectorize gets a loop of its own. The outputs that call
    the C library, divide int64 values or handle strings or dates share one loop, so LLVM can
    still compute their common calls and divisions once. A kernel with one output, or with one
    group, has one loop. build_batch_kernel runs the loops over tiles of blocks (see tile_passes).

    NOTE: a copy of each loop for blocks whose validity words are all ones was built, measured
    and dropped. The loops already read validity a word at a time without branches, so on the
    eight fused flights resolvers at 10M rows the copy changed nothing beyond noise (13.8 ns
    per row either way), and it made LLVM's optimized compile 37% slower (266 against 195 ms).
    """
    if outputs == 1:
        return [frozenset({0})]
    scalar = set()
    for op, reached in reaching.items():
        if not all(nested in separate or is_vector_friendly(nested) for nested in op.walk()):
            scalar |= reached
    vector = [frozenset({index}) for index in range(outputs) if index not in scalar]
    return vector + ([frozenset(scalar)] if scalar else [])


def tile_passes(
    groups: list[frozenset[int]], reaching: dict[Operation, set[int]], calls: set[Operation]
) -> list[list[frozenset[int]]]:
    """Split the groups of outputs (see row_loop_groups) into passes over the blocks of a tile.

    The first pass makes each block's separate libm calls (see separate_calls) into buffers of
    one block, so the groups that read their results run in it too. Every other group gets a
    pass of its own. `reaching` is empty for a kernel with one output.
    """
    if not reaching:
        return [groups]
    reading: list[frozenset[int]] = []
    others: list[list[frozenset[int]]] = []
    for group in groups:
        if any(nested in calls for op in group_ops(reaching, group) for nested in op.walk()):
            reading.append(group)
        else:
            others.append([group])
    return [reading, *others] if reading else others


def group_ops(reaching: dict[Operation, set[int]], group: frozenset[int]) -> set[Operation]:
    """Return the top-level ops that a group's loop emits: those its outputs depend on, those no output does, and what they read.

    An op that no output depends on, such as a `py.raise` or a value left dead after it, may
    read a value that only another group's outputs depend on, so that value is emitted too.
    The `func.return`, which reads every output, is left out: RowEmitter handles it anyway.
    """
    selected = {
        op for op, reached in reaching.items() if (not reached or reached & group) and not isinstance(op, func.ReturnOp)
    }
    pending = list(selected)
    while pending:
        for nested in pending.pop().walk():
            for operand in nested.operands:
                owner = operand.owner
                op = owner if isinstance(owner, Operation) else owner.parent_op()
                while op is not None and op not in reaching:
                    op = op.parent_op()
                if op is not None and op not in selected:
                    selected.add(op)
                    pending.append(op)
    return selected


def build_batch_kernel(
    module: ir.Module, function_op: func.FuncOp, layouts: list[ColumnLayout], outputs: list[type], name: str
) -> None:
    """Add the batch kernel `name` for this function and these input layouts to `module`.

    The function has one result per output column, of the Python types in `outputs`. The
    outer loop walks tiles of up to TILE_BLOCKS blocks of 64 rows. A pass over a tile's blocks
    loads each block's bitmap words, and an inner loop runs the rows of a block, with
    straight-line code that LLVM can vectorize. A kernel with several outputs may have several
    inner loops (see row_loop_groups), run in one pass or in several (see tile_passes).
    """
    word_pointer = I64.as_pointer()
    signature = ir.FunctionType(I64, [I64, word_pointer, word_pointer, word_pointer, I8.as_pointer()])
    kernel = ir.Function(module, signature, name)
    rows, columns_pointer, outputs_pointer, flags, context_address = kernel.args
    entry, block_head, done = (kernel.append_basic_block(label) for label in ("entry", "tile", "done"))
    builder = ir.IRBuilder(entry)
    argument_types = list(function_op.function_type.inputs.data)
    result_types = list(function_op.function_type.outputs.data)
    assert len(result_types) == len(outputs), "one function result per output column"
    columns = read_columns(builder, columns_pointer, layouts, argument_types)
    data_pointers, valid_pointers, offset_pointers, flag_pointers, raise_addresses = [], [], [], [], []
    split_flags = len(outputs) > 1  # write a flag bitmap per output
    for index, output in enumerate(outputs):

        def output_field(position: int, index: int = index) -> ir.Value:
            return builder.load(builder.gep(outputs_pointer, [i64(FIELDS_PER_OUTPUT * index + position)], inbounds=True))

        if output is str:  # a string builder {data, length, capacity, failed} and int64 offsets
            data_pointers.append(builder.inttoptr(output_field(0), STRING_BUILDER))
        else:
            element = I64 if output is bool else OUTPUT_TYPES[output]  # a bool column is a bitmap of words
            data_pointers.append(builder.inttoptr(output_field(0), element.as_pointer()))
        valid_pointers.append(builder.inttoptr(output_field(1), word_pointer))
        offset_pointers.append(builder.inttoptr(output_field(2), word_pointer))
        flag_pointers.append(builder.inttoptr(output_field(3), word_pointer))
        # The raise bitmap's address (see the ABI above), or 0 when the caller does not want it.
        raise_addresses.append(output_field(4))
    context = builder.bitcast(context_address, CONTEXT)
    uses_scratch = any(isinstance(op, SCRATCH_OPS) for op in function_op.walk())
    broadcast = load_broadcast_columns(builder, columns)
    separate = separate_calls(function_op)
    calls, copies = separate.calls, separate.copies
    call_caches = allocate_call_caches(builder, function_op, calls, set(copies), rows)
    call_arguments = {op: builder.bitcast(builder.alloca(ir.ArrayType(F64, BLOCK_ROWS)), F64.as_pointer()) for op in calls}
    call_results = {op: builder.bitcast(builder.alloca(ir.ArrayType(F64, BLOCK_ROWS)), F64.as_pointer()) for op in calls}
    call_results.update({copy: call_results[original] for copy, original in copies.items()})
    argument_buffers = {**call_arguments, **{copy: call_arguments[original] for copy, original in copies.items()}}
    blocks = builder.udiv(builder.add(rows, i64(BLOCK_ROWS - 1)), i64(BLOCK_ROWS))
    start = builder.block  # the caches' set-up may have added blocks after `entry`
    builder.cbranch(builder.icmp_signed(">", rows, i64(0)), block_head, done)

    reaching = results_reaching(function_op, own_resolver_only=False) if split_flags else {}
    scopes = output_scopes(reaching) if split_flags else None
    owners = output_owners(function_op)
    groups = row_loop_groups(reaching, len(outputs), frozenset(call_results))
    # Whether each group whose loop has a narrow copy (see emit_group_block) runs the exact
    # loop only, for the rest of the call: an i1 in the entry block, false at first.
    wide_slots: dict[frozenset[int], ir.Value] = {}
    with builder.goto_entry_block():
        for group in groups:
            ops = None if len(groups) == 1 else group_ops(reaching, group)
            if narrows_divisions(function_op, ops, frozenset(call_results)):
                wide_slots[group] = builder.alloca(I1, name="wide_only")
                builder.store(FALSE, wide_slots[group])

    def load_block_words(base: ir.Value) -> tuple[dict[int, ir.Value], dict[int, ir.Value]]:
        """Load the validity words, and the data words of bool columns, of the block of rows from `base`."""
        validity_words: dict[int, ir.Value] = {}
        data_words: dict[int, ir.Value] = {}
        for index, column in enumerate(columns):
            if column.layout.broadcast:
                continue
            first_bit = builder.add(column.offset, base)
            if column.validity is not None:
                validity_words[index] = load_word(builder, column.validity, column.validity_bytes, first_bit)
            if column.layout.physical == "bool":
                data_words[index] = load_word(builder, column.data, column.data_bytes, first_bit)
        return validity_words, data_words

    def block_rows(block: ir.Value) -> tuple[ir.Value, ir.Value]:
        """Return the first row of a block and its count of rows (64, or fewer in the last block)."""
        base = builder.mul(block, i64(BLOCK_ROWS))
        remaining = builder.sub(rows, base)
        return base, builder.select(builder.icmp_signed("<", remaining, i64(BLOCK_ROWS)), remaining, i64(BLOCK_ROWS))

    def emit_group_rows(
        group: frozenset[int],
        block: ir.Value,
        rows_of_block: tuple[ir.Value, ir.Value],
        words: tuple[dict[int, ir.Value], dict[int, ir.Value]],
        flag_word_before: ir.Value,
        narrow: bool = False,
    ) -> tuple[ir.Value, ir.Value]:
        """Emit a group's loop over the rows of a block and the stores of its words.

        Return the block's flags word so far, and a word of the rows that divided a dividend too
        large for the 32-bit divisions of a `narrow` loop (see emit_group_block). That word is
        the constant 0 without `narrow`, and where the bounds made every division exact.
        `rows_of_block` is the block's first row and row count (see block_rows), and `words`
        its validity and bool data words (see load_block_words).
        """
        base, count = rows_of_block
        validity_words, data_words = words
        selected = None if len(groups) == 1 else group_ops(reaching, group)
        inner = kernel.append_basic_block("row")
        rows_end = kernel.append_basic_block("rows_end")
        before = builder.block
        builder.branch(inner)
        builder.position_at_end(inner)
        lane = builder.phi(I64, "lane")
        flag_word = builder.phi(I64, "flag_word")
        raise_words = {index: builder.phi(I64, f"raise_word_{index}") for index in group}
        output_flag_words = {index: builder.phi(I64, f"flag_word_{index}") for index in group if split_flags}
        valid_words = {index: builder.phi(I64, f"valid_word_{index}") for index in group}
        bool_words = {index: builder.phi(I64, f"bool_word_{index}") for index in group if outputs[index] is bool}
        widen_word = builder.phi(I64, "widen_word") if narrow else None
        row = builder.add(base, lane)
        if uses_scratch:  # new strings of the previous row are dead
            builder.store(i64(0), builder.gep(context, [i64(0), ir.Constant(ir.IntType(32), 2)], inbounds=True))
        arguments, flag = load_arguments(builder, columns, broadcast, validity_words, data_words, lane, row)
        emitter = RowEmitter(builder, scopes, owners)
        emitter.flag = flag
        emitter.context = context
        emitter.call_caches = call_caches
        emitter.call_results = dict(call_results)
        emitter.argument_buffers = dict(argument_buffers)
        emitter.lane = lane
        emitter.narrow_divisions = narrow
        results, _ = emitter.emit_function_results(function_op, arguments, selected)
        converted, output_flags = {}, {}
        all_valid: set[int] = set()
        for index in group:
            value, present, bad = convert_output(builder, results[index], result_types[index], outputs[index])
            output_flags[index] = builder.or_(emitter.output_flag(index), bad)
            converted[index] = (value, present)
        # A raising row also goes to the slow path, which gives the exception, unless the caller
        # asked for the raise bitmap and makes the row null itself.
        certain_raises = {}
        for index, output_flag in output_flags.items():
            raises = emitter.raises(index)
            certain_raises[index] = builder.and_(raises, builder.not_(output_flag))
            output_flags[index] = builder.or_(output_flag, raises)
        flag = emitter.combine(list(output_flags.values()))
        next_words: dict[ir.Value, ir.Value] = {}
        for index, (value, present) in converted.items():
            output = outputs[index]
            if output is bool:
                next_words[bool_words[index]] = builder.or_(bool_words[index], builder.shl(builder.zext(value, I64), lane))
            elif output is str:
                keep = builder.and_(present, builder.not_(output_flags[index]))
                store_string(builder, data_pointers[index], offset_pointers[index], row, value, keep)
            else:
                builder.store(value, builder.gep(data_pointers[index], [row], inbounds=True))
            if present is TRUE:
                # Every row is valid: rows_end stores the block's word at once, and the phi stays 0.
                next_words[valid_words[index]] = valid_words[index]
                all_valid.add(index)
            else:
                next_words[valid_words[index]] = builder.or_(valid_words[index], builder.shl(builder.zext(present, I64), lane))
            next_words[raise_words[index]] = builder.or_(
                raise_words[index], builder.shl(builder.zext(certain_raises[index], I64), lane)
            )
            if split_flags:
                word = output_flag_words[index]
                next_words[word] = builder.or_(word, builder.shl(builder.zext(output_flags[index], I64), lane))
        next_flag_word = builder.or_(flag_word, builder.shl(builder.zext(flag, I64), lane))
        if widen_word is not None and emitter.widen is FALSE:
            next_words[widen_word] = widen_word  # stays 0: bounds made every division narrow
        elif widen_word is not None:
            next_words[widen_word] = builder.or_(widen_word, builder.shl(builder.zext(emitter.widen, I64), lane))
        next_lane = builder.add(lane, i64(1))
        builder.cbranch(builder.icmp_signed("<", next_lane, count), inner, rows_end)
        row_latch = builder.block  # the row's code may have added blocks after `row`
        lane.add_incoming(i64(0), before)
        lane.add_incoming(next_lane, row_latch)
        flag_word.add_incoming(flag_word_before, before)
        flag_word.add_incoming(next_flag_word, row_latch)
        for phi, following in next_words.items():
            phi.add_incoming(i64(0), before)
            phi.add_incoming(following, row_latch)

        # After the group's rows: store its words.
        builder.position_at_end(rows_end)
        block_lanes = builder.lshr(i64(-1), builder.sub(i64(BLOCK_ROWS), count))  # a bit per row of the block
        for index in group:
            valid_word = block_lanes if index in all_valid else next_words[valid_words[index]]
            builder.store(valid_word, builder.gep(valid_pointers[index], [block], inbounds=True))
            if outputs[index] is bool:
                builder.store(next_words[bool_words[index]], builder.gep(data_pointers[index], [block], inbounds=True))
            if split_flags:
                flags_word = next_words[output_flag_words[index]]
                builder.store(flags_word, builder.gep(flag_pointers[index], [block], inbounds=True))
            with builder.if_then(builder.icmp_unsigned("!=", raise_addresses[index], i64(0))):
                raise_bitmap = builder.inttoptr(raise_addresses[index], word_pointer)
                builder.store(next_words[raise_words[index]], builder.gep(raise_bitmap, [block], inbounds=True))
        if widen_word is None or emitter.widen is FALSE:
            return next_flag_word, i64(0)
        return next_flag_word, next_words[widen_word]

    def emit_group_block(
        group: frozenset[int],
        block: ir.Value,
        rows_of_block: tuple[ir.Value, ir.Value],
        words: tuple[dict[int, ir.Value], dict[int, ir.Value]],
        flag_word_before: ir.Value,
    ) -> ir.Value:
        """Emit a group's rows of a block (see emit_group_rows); return the block's flags word so far.

        A vectorized loop that divides ints by constants gets a narrow copy, whose divisions
        are exact for dividends in [-2**31, 2**31) only and take one 32-bit product instead of
        four (see arith.floordiv_by_constant_narrow). A block runs the narrow copy first, and
        if a row divided a larger dividend, the exact loop again over the whole block, which
        overwrites every value and word the narrow copy stored. Only a str output would be
        written twice, because strings are appended, and such a loop has none. From then on the kernel call runs the exact
        loop only, so a column of large values costs one block twice.
        """
        if group not in wide_slots:
            return emit_group_rows(group, block, rows_of_block, words, flag_word_before)[0]
        assert all(outputs[index] is not str for index in group), "a str output cannot be written twice"
        wide_slot = wide_slots[group]
        narrow_rows, widen, wide_rows, joined = (
            kernel.append_basic_block(label) for label in ("narrow_rows", "widen", "wide_rows", "group_end")
        )
        builder.cbranch(builder.load(wide_slot), wide_rows, narrow_rows)
        builder.position_at_end(narrow_rows)
        narrow_flags, widen_word = emit_group_rows(group, block, rows_of_block, words, flag_word_before, narrow=True)
        narrow_end = builder.block
        builder.cbranch(builder.icmp_unsigned("!=", widen_word, i64(0)), widen, joined)
        builder.position_at_end(widen)
        builder.store(TRUE, wide_slot)
        builder.branch(wide_rows)
        builder.position_at_end(wide_rows)
        if isinstance(widen_word, ir.Constant):
            # The bounds of every dividend made the narrow copy exact, so nothing sets the
            # slot and LLVM deletes this path, which needs no exact loop.
            wide_flags = flag_word_before
        else:
            wide_flags, _ = emit_group_rows(group, block, rows_of_block, words, flag_word_before)
        wide_end = builder.block
        builder.branch(joined)
        builder.position_at_end(joined)
        flag_word = builder.phi(I64, "group_flags")
        flag_word.add_incoming(narrow_flags, narrow_end)
        flag_word.add_incoming(wide_flags, wide_end)
        return flag_word

    def emit_block_calls(
        base: ir.Value, count: ir.Value, validity_words: dict[int, ir.Value], data_words: dict[int, ir.Value]
    ) -> None:
        """Emit a block's separate libm calls: a loop that LLVM vectorizes stores their arguments
        and looks their results up, then a loop per call calls libm for the lanes that missed.
        """
        lookups = {op: begin_block_lookups(builder, call_caches[op]) for op in calls if op in call_caches}

        def store_arguments(lane: ir.Value) -> None:
            row = builder.add(base, lane)
            arguments, _ = load_arguments(builder, columns, broadcast, validity_words, data_words, lane, row)
            emitter = RowEmitter(builder)
            emitter.lane = lane
            emitter.call_arguments = dict(call_arguments)
            emitter.emit_ops(function_op, arguments, separate.ops)
            for op, lookup in lookups.items():
                argument = emitter.values[op.operands[0]]
                assert isinstance(argument, ir.Value)
                look_up_lane(builder, lookup, argument, lane, call_results[op])

        counted_loop(builder, count, "call_arguments", store_arguments)
        for op in calls:
            assert isinstance(op, MathCallOp)
            name = op.function.data
            if op in lookups:
                call_missed_lanes(builder, lookups[op], name, call_arguments[op], call_results[op], count)
            else:
                call_lanes(builder, name, call_arguments[op], call_results[op], count)

    # Per tile of up to TILE_BLOCKS blocks, one pass over its blocks per entry of `passes`. Each
    # pass loads the bitmap words of a block, then runs its groups' loops over the block's rows.
    # The first pass makes the block's libm calls, for the groups that read their results.
    passes = tile_passes(groups, reaching, set(call_results)) if calls else [[group] for group in groups]
    builder.position_at_end(block_head)
    tiled = len(passes) > 1  # one pass runs over all blocks, without the tile loop around it
    if tiled:
        tile = builder.phi(I64, "tile")
        flagged_before: ir.Value = builder.phi(I64, "flagged")
        first_block = builder.mul(tile, i64(TILE_BLOCKS))
        end_block = builder.add(first_block, i64(TILE_BLOCKS))
        end_block = builder.select(builder.icmp_signed("<", end_block, blocks), end_block, blocks)
    else:
        flagged_before, first_block, end_block = i64(0), i64(0), blocks
    flagged_after = flagged_before
    for position, pass_groups in enumerate(passes):
        pass_head = kernel.append_basic_block("pass_block")
        entering = builder.block
        builder.branch(pass_head)
        builder.position_at_end(pass_head)
        block = builder.phi(I64, "block")
        counted = builder.phi(I64, "counted")
        base, count = block_rows(block)
        validity_words, data_words = load_block_words(base)
        if calls and position == 0:
            emit_block_calls(base, count, validity_words, data_words)
        flags_address = builder.gep(flags, [block], inbounds=True)
        # The kernel writes the flags bitmap whole, so the first pass stores its words unread.
        flag_word: ir.Value = i64(0) if position == 0 else builder.load(flags_address)
        for group in pass_groups:
            flag_word = emit_group_block(group, block, (base, count), (validity_words, data_words), flag_word)
        builder.store(flag_word, flags_address)
        if position == len(passes) - 1:
            next_counted = builder.add(counted, intrinsic(builder, "llvm.ctpop.i64", I64, [flag_word]))
        else:
            next_counted = counted
        next_block = builder.add(block, i64(1))
        latch = builder.block  # the raise bitmap's store may have added blocks after `pass_block`
        pass_end = kernel.append_basic_block("pass_end")
        builder.cbranch(builder.icmp_signed("<", next_block, end_block), pass_head, pass_end)
        block.add_incoming(first_block, entering)
        block.add_incoming(next_block, latch)
        counted.add_incoming(flagged_after, entering)
        counted.add_incoming(next_counted, latch)
        builder.position_at_end(pass_end)
        flagged_after = next_counted
    tile_latch = builder.block
    if tiled:
        assert isinstance(flagged_before, ir.PhiInstr)
        next_tile = builder.add(tile, i64(1))
        builder.cbranch(builder.icmp_signed("<", end_block, blocks), block_head, done)
        tile.add_incoming(i64(0), start)
        tile.add_incoming(next_tile, tile_latch)
        flagged_before.add_incoming(i64(0), start)
        flagged_before.add_incoming(flagged_after, tile_latch)
    else:
        builder.branch(done)

    builder.position_at_end(done)
    total = builder.phi(I64)
    total.add_incoming(i64(0), start)
    total.add_incoming(flagged_after, tile_latch)
    for cache in call_caches.values():
        release_call_cache(builder, cache)
    builder.ret(total)


def allocate_call_caches(
    builder: ir.IRBuilder, function_op: func.FuncOp, first: list[Operation], skip: set[Operation], rows: ir.Value
) -> dict[Operation, CallCache]:
    """Allocate a result cache for up to CALL_CACHE_SITES one-argument libm calls, the `first` ones first."""
    others = [op for op in function_op.walk() if isinstance(op, MathCallOp) and op.function.data in LIBM_UNARY]
    sites = first + [op for op in others if op not in first and op not in skip]
    return {op: allocate_call_cache(builder, rows) for op in sites[:CALL_CACHE_SITES]}


def store_string(
    builder: ir.IRBuilder, output: ir.Value, offsets: ir.Value, row: ir.Value, value: Repr, keep: ir.Value
) -> None:
    """Append a row's string to the output builder if `keep`, and record the end offset of the row.

    A flagged or null row appends nothing, so the interpreter's string can take its place later.
    """
    assert isinstance(value, StrValue)
    append = strhelpers.append(builder.module)
    with builder.if_then(keep):
        builder.call(append, [output, value.pointer, value.length])
    length = builder.load(builder.gep(output, [i64(0), ir.Constant(ir.IntType(32), 1)], inbounds=True))
    builder.store(length, builder.gep(offsets, [builder.add(row, i64(1))], inbounds=True))


def load_broadcast_columns(builder: ir.IRBuilder, columns: list[Column]) -> dict[int, tuple[ir.Value, ir.Value, ir.Value]]:
    """Load the broadcast parameters, which are the same on every row, once: (value, present, flag)."""
    broadcast: dict[int, tuple[ir.Value, ir.Value, ir.Value]] = {}
    for index, column in enumerate(columns):
        if not column.layout.broadcast:
            continue
        if column.layout.physical == "bool":
            value, bad = bool_bit(builder, column, None, i64(0)), FALSE
        elif is_string_layout(column.layout):
            value, bad = load_string(builder, column, column.offset)
        elif is_temporal_layout(column.layout):
            value, bad = load_column_temporal(builder, column, column.offset)
        else:
            value, bad = load_element(builder, column.layout, column.data, column.offset)
        present = TRUE
        if column.validity is not None:
            present = builder.trunc(load_word(builder, column.validity, column.validity_bytes, column.offset), I1)
        broadcast[index] = (value, present, bad)
    return broadcast


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
