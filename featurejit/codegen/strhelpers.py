"""LLVM helper functions for strings, each built once per module and called by the string ops.

Strings are (pointer, byte length) views of UTF-8. Helpers that build a new string take the
kernel's scratch context, a struct {i8* base, i64 capacity, i64 used} that the batch kernel
resets at the start of each row, and return {i8* pointer, i64 length, i1 bad}. `bad` is set
when the scratch memory is full, or when the text is outside the fast path (non-ASCII where
only ASCII is handled, an index out of range). A bad result is the empty string, so that the
ops after it stay memory-safe on the flagged row.
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from featurejit.codegen.arith import F64, I1, I8, I32, I64, i64

BYTE_POINTER = I8.as_pointer()
CONTEXT_TYPE = ir.LiteralStructType([BYTE_POINTER, I64, I64])
CONTEXT = CONTEXT_TYPE.as_pointer()
STRING_RESULT = ir.LiteralStructType([BYTE_POINTER, I64, I1])
BUILDER = ir.LiteralStructType([BYTE_POINTER, I64, I64, I64]).as_pointer()
EMPTY = "fj.empty_string"

Body = Callable[[ir.IRBuilder, list[ir.Value]], None]


def byte(value: int) -> ir.Constant:
    return ir.Constant(I8, value)


def external(module: ir.Module, name: str, return_type: ir.Type, argument_types: list[ir.Type]) -> ir.Function:
    """Declare a C library function (memcmp, realloc, strtod) once per module."""
    try:
        return module.get_global(name)
    except KeyError:
        return ir.Function(module, ir.FunctionType(return_type, argument_types), name)


def helper(module: ir.Module, name: str, return_type: ir.Type, argument_types: list[ir.Type], body: Body) -> ir.Function:
    """Return the internal function `name`, building it with `body` on first use in `module`."""
    try:
        return module.get_global(name)
    except KeyError:
        pass
    function = ir.Function(module, ir.FunctionType(return_type, argument_types), name)
    function.linkage = "internal"
    builder = ir.IRBuilder(function.append_basic_block("entry"))
    body(builder, list(function.args))
    return function


def empty_pointer(builder: ir.IRBuilder) -> ir.Value:
    module = builder.module
    try:
        storage = module.get_global(EMPTY)
    except KeyError:
        storage = ir.GlobalVariable(module, ir.ArrayType(I8, 1), EMPTY)
        storage.initializer = ir.Constant(ir.ArrayType(I8, 1), [0])
        storage.global_constant = True
        storage.linkage = "internal"
    return builder.bitcast(storage, BYTE_POINTER)


def string_result(builder: ir.IRBuilder, pointer: ir.Value, length: ir.Value, bad: ir.Value) -> ir.Value:
    """Pack {pointer, length, bad}, replacing a bad result by the empty string."""
    pointer = builder.select(bad, empty_pointer(builder), pointer)
    length = builder.select(bad, i64(0), length)
    packed = builder.insert_value(ir.Constant(STRING_RESULT, ir.Undefined), pointer, 0)
    packed = builder.insert_value(packed, length, 1)
    return builder.insert_value(packed, bad, 2)


class Loop:
    """A counted loop `for index in range(start, stop)` with values carried between iterations.

    Build it, emit the body reading `index` and `value(name)`, then call `end({name: next})`.
    The builder is then after the loop, where `result(name)` is the final value. `exit_if`
    leaves early with the given values.
    """

    def __init__(self, builder: ir.IRBuilder, start: ir.Value, stop: ir.Value, carried: dict[str, ir.Value]):
        self.builder = builder
        function = builder.function
        head = function.append_basic_block("loop_head")
        body = function.append_basic_block("loop_body")
        self.after = function.append_basic_block("loop_after")
        entry = builder.block
        builder.branch(head)

        builder.position_at_end(head)
        self.index = builder.phi(I64, "index")
        self.index.add_incoming(start, entry)
        self.phis: dict[str, ir.PhiInstr] = {}
        for name, initial in carried.items():
            phi = builder.phi(initial.type, name)
            phi.add_incoming(initial, entry)
            self.phis[name] = phi
        builder.cbranch(builder.icmp_signed("<", self.index, stop), body, self.after)

        builder.position_at_end(self.after)
        self.results: dict[str, ir.PhiInstr] = {}
        for name, phi in self.phis.items():
            result = builder.phi(phi.type, f"{name}_out")
            result.add_incoming(phi, head)
            self.results[name] = result
        self.exit_index = builder.phi(I64, "exit_index")
        self.exit_index.add_incoming(self.index, head)
        builder.position_at_end(body)

    def value(self, name: str) -> ir.Value:
        return self.phis[name]

    def exit_if(self, condition: ir.Value, values: dict[str, ir.Value]) -> None:
        builder = self.builder
        stay = builder.function.append_basic_block("loop_stay")
        for name, result in self.results.items():
            result.add_incoming(values.get(name, self.phis[name]), builder.block)
        self.exit_index.add_incoming(self.index, builder.block)
        builder.cbranch(condition, self.after, stay)
        builder.position_at_end(stay)

    def end(self, values: dict[str, ir.Value]) -> None:
        builder = self.builder
        head = self.index.parent
        self.index.add_incoming(builder.add(self.index, i64(1)), builder.block)
        for name, phi in self.phis.items():
            phi.add_incoming(values.get(name, phi), builder.block)
        builder.branch(head)
        builder.position_at_end(self.after)

    def result(self, name: str) -> ir.Value:
        return self.results[name]


def load_byte(builder: ir.IRBuilder, pointer: ir.Value, index: ir.Value) -> ir.Value:
    return builder.load(builder.gep(pointer, [index], inbounds=True))


def load_byte_below(builder: ir.IRBuilder, pointer: ir.Value, index: ir.Value, limit: ir.Value) -> ir.Value:
    """Return pointer[index] if 0 <= index < limit, else 0, reading no byte outside [0, limit).

    An empty text may point one past the end of its buffer, such as "ab"[2:] or the last
    string of an Arrow column, so no byte of it can be read, not even at index 0.
    """
    module = builder.module
    try:
        zero = module.get_global("fj.zero_byte")
    except KeyError:
        zero = ir.GlobalVariable(module, I8, "fj.zero_byte")
        zero.initializer = ir.Constant(I8, 0)
        zero.global_constant = True
        zero.linkage = "internal"
    inside = builder.icmp_unsigned("<", index, limit)
    element = builder.gep(pointer, [builder.select(inside, index, i64(0))])
    return builder.load(builder.select(inside, element, zero))


def is_continuation(builder: ir.IRBuilder, value: ir.Value) -> ir.Value:
    return builder.icmp_unsigned("==", builder.and_(value, byte(0xC0)), byte(0x80))


def is_ascii_space(builder: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """Return whether a byte is an ASCII character that str.isspace() accepts: space, 9-13 or 28-31."""
    space = builder.icmp_unsigned("==", value, byte(32))
    controls = builder.and_(builder.icmp_unsigned(">=", value, byte(9)), builder.icmp_unsigned("<=", value, byte(13)))
    separators = builder.and_(builder.icmp_unsigned(">=", value, byte(28)), builder.icmp_unsigned("<=", value, byte(31)))
    return builder.or_(space, builder.or_(controls, separators))


def is_number_space(builder: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """Return whether a byte is whitespace that int() and float() strip from text: space or 9-13.

    CPython 3.11 strips with Py_ISSPACE, so int("12\\x1c") raises ValueError, although
    "\\x1c".isspace() is True.
    """
    space = builder.icmp_unsigned("==", value, byte(32))
    return builder.or_(space, builder.and_(builder.icmp_unsigned(">=", value, byte(9)), builder.icmp_unsigned("<=", value, byte(13))))


def in_range(builder: ir.IRBuilder, value: ir.Value, low: int, high: int) -> ir.Value:
    return builder.and_(builder.icmp_unsigned(">=", value, byte(low)), builder.icmp_unsigned("<=", value, byte(high)))


def scratch_alloc(builder: ir.IRBuilder, context: ir.Value, size: ir.Value) -> tuple[ir.Value, ir.Value]:
    """Take `size` bytes of the row's scratch memory: (pointer, whether it is full)."""
    base_slot = builder.gep(context, [i64(0), ir.Constant(I32, 0)], inbounds=True)
    capacity = builder.load(builder.gep(context, [i64(0), ir.Constant(I32, 1)], inbounds=True))
    used_slot = builder.gep(context, [i64(0), ir.Constant(I32, 2)], inbounds=True)
    used = builder.load(used_slot)
    end = builder.add(used, size)
    full = builder.or_(builder.icmp_signed(">", end, capacity), builder.icmp_signed("<", size, i64(0)))
    builder.store(builder.select(full, used, end), used_slot)
    pointer = builder.gep(builder.load(base_slot), [builder.select(full, i64(0), used)], inbounds=True)
    return pointer, full


def copy_bytes(builder: ir.IRBuilder, target: ir.Value, source: ir.Value, length: ir.Value) -> None:
    memcpy = builder.module.declare_intrinsic("llvm.memcpy", [BYTE_POINTER, BYTE_POINTER, I64])
    builder.call(memcpy, [target, source, length, ir.Constant(I1, 0)])


# --------------------------------------------------------------------------------------
# Measuring, comparing and searching
# --------------------------------------------------------------------------------------


def code_points(module: ir.Module) -> ir.Function:
    """i64 fj.code_points(i8* s, i64 n): the number of code points, counted as UTF-8 lead bytes."""

    def body(builder: ir.IRBuilder, arguments: list[ir.Value]) -> None:
        pointer, length = arguments
        loop = Loop(builder, i64(0), length, {"count": i64(0)})
        lead = builder.not_(is_continuation(builder, load_byte(builder, pointer, loop.index)))
        loop.end({"count": builder.add(loop.value("count"), builder.zext(lead, I64))})
        builder.ret(loop.result("count"))

    return helper(module, "fj.code_points", I64, [BYTE_POINTER, I64], body)


def is_ascii(module: ir.Module) -> ir.Function:
    """i1 fj.is_ascii(i8* s, i64 n)."""

    def body(builder: ir.IRBuilder, arguments: list[ir.Value]) -> None:
        pointer, length = arguments
        loop = Loop(builder, i64(0), length, {"bits": byte(0)})
        loop.end({"bits": builder.or_(loop.value("bits"), load_byte(builder, pointer, loop.index))})
        builder.ret(builder.icmp_unsigned("<", loop.result("bits"), byte(0x80)))

    return helper(module, "fj.is_ascii", I1, [BYTE_POINTER, I64], body)


def compare(module: ir.Module) -> ir.Function:
    """i32 fj.compare(a, na, b, nb): below, at or above 0 in byte order, which for UTF-8 is code point order."""
    memcmp = external(module, "memcmp", I32, [BYTE_POINTER, BYTE_POINTER, I64])

    def body(builder: ir.IRBuilder, arguments: list[ir.Value]) -> None:
        left, left_length, right, right_length = arguments
        shorter = builder.select(builder.icmp_signed("<", left_length, right_length), left_length, right_length)
        by_bytes = builder.call(memcmp, [left, right, shorter])
        longer_left = builder.select(builder.icmp_signed(">", left_length, right_length), ir.Constant(I32, 1), ir.Constant(I32, 0))
        by_length = builder.select(builder.icmp_signed("<", left_length, right_length), ir.Constant(I32, -1), longer_left)
        builder.ret(builder.select(builder.icmp_signed("!=", by_bytes, ir.Constant(I32, 0)), by_bytes, by_length))

    return helper(module, "fj.compare", I32, [BYTE_POINTER, I64, BYTE_POINTER, I64], body)


def equal_at(builder: ir.IRBuilder, text: ir.Value, position: ir.Value, part: ir.Value, part_length: ir.Value) -> ir.Value:
    memcmp = external(builder.module, "memcmp", I32, [BYTE_POINTER, BYTE_POINTER, I64])
    start = builder.gep(text, [position], inbounds=True)
    return builder.icmp_signed("==", builder.call(memcmp, [start, part, part_length]), ir.Constant(I32, 0))


def find_bytes(module: ir.Module) -> ir.Function:
    """i64 fj.find_bytes(s, n, part, m, from): the first byte index >= from where part occurs, or -1."""

    def body(builder: ir.IRBuilder, arguments: list[ir.Value]) -> None:
        text, length, part, part_length, start = arguments
        last = builder.add(builder.sub(length, part_length), i64(1))
        loop = Loop(builder, start, last, {"found": i64(-1)})
        hit = equal_at(builder, text, loop.index, part, part_length)
        loop.exit_if(hit, {"found": loop.index})
        loop.end({})
        builder.ret(loop.result("found"))

    return helper(module, "fj.find_bytes", I64, [BYTE_POINTER, I64, BYTE_POINTER, I64, I64], body)


def rfind_bytes(module: ir.Module) -> ir.Function:
    """i64 fj.rfind_bytes(s, n, part, m, end): the last byte index where part occurs within s[:end], or -1."""

    def body(builder: ir.IRBuilder, arguments: list[ir.Value]) -> None:
        text, _, part, part_length, end = arguments
        count = builder.add(builder.sub(end, part_length), i64(1))
        loop = Loop(builder, i64(0), count, {"found": i64(-1)})
        position = builder.sub(builder.sub(count, i64(1)), loop.index)
        hit = equal_at(builder, text, position, part, part_length)
        loop.exit_if(hit, {"found": position})
        loop.end({})
        builder.ret(loop.result("found"))

    return helper(module, "fj.rfind_bytes", I64, [BYTE_POINTER, I64, BYTE_POINTER, I64, I64], body)


def count_bytes(module: ir.Module) -> ir.Function:
    """i64 fj.count_bytes(s, n, part, m): non-overlapping occurrences of a non-empty part."""
    find = find_bytes(module)

    def body(builder: ir.IRBuilder, arguments: list[ir.Value]) -> None:
        text, length, part, part_length = arguments
        loop = Loop(builder, i64(0), builder.add(length, i64(1)), {"count": i64(0), "from": i64(0)})
        found = builder.call(find, [text, length, part, part_length, loop.value("from")])
        loop.exit_if(builder.icmp_signed("<", found, i64(0)), {})
        loop.end({"count": builder.add(loop.value("count"), i64(1)), "from": builder.add(found, part_length)})
        builder.ret(loop.result("count"))

    return helper(module, "fj.count_bytes", I64, [BYTE_POINTER, I64, BYTE_POINTER, I64], body)


def byte_offset(module: ir.Module) -> ir.Function:
    """i64 fj.byte_offset(s, n, k): the byte index of code point k (n when k is the count)."""

    def body(builder: ir.IRBuilder, arguments: list[ir.Value]) -> None:
        text, length, wanted = arguments
        loop = Loop(builder, i64(0), length, {"seen": i64(-1)})
        lead = builder.not_(is_continuation(builder, load_byte(builder, text, loop.index)))
        seen = builder.add(loop.value("seen"), builder.zext(lead, I64))
        loop.exit_if(builder.and_(lead, builder.icmp_signed("==", seen, wanted)), {"seen": seen})
        loop.end({"seen": seen})
        at_end = builder.icmp_signed("==", loop.result("seen"), wanted)
        builder.ret(builder.select(at_end, loop.exit_index, length))

    return helper(module, "fj.byte_offset", I64, [BYTE_POINTER, I64, I64], body)


# --------------------------------------------------------------------------------------
# Building strings
# --------------------------------------------------------------------------------------


def change_case(module: ir.Module) -> ir.Function:
    """{i8*, i64, i1} fj.change_case(context, s, n, upper): ASCII lower() or upper(); bad on other text."""
    ascii_check = is_ascii(module)

    def body(builder: ir.IRBuilder, arguments: list[ir.Value]) -> None:
        context, text, length, upper = arguments
        target, full = scratch_alloc(builder, context, length)
        bad = builder.or_(full, builder.not_(builder.call(ascii_check, [text, length])))
        count = builder.select(bad, i64(0), length)
        loop = Loop(builder, i64(0), count, {})
        value = load_byte(builder, text, loop.index)
        is_lower = in_range(builder, value, ord("a"), ord("z"))
        is_upper = in_range(builder, value, ord("A"), ord("Z"))
        flip = builder.select(upper, is_lower, is_upper)
        changed = builder.xor(value, byte(0x20))
        builder.store(builder.select(flip, changed, value), builder.gep(target, [loop.index], inbounds=True))
        loop.end({})
        builder.ret(string_result(builder, target, length, bad))

    return helper(module, "fj.change_case", STRING_RESULT, [CONTEXT, BYTE_POINTER, I64, I1], body)


def replace(module: ir.Module) -> ir.Function:
    """{i8*, i64, i1} fj.replace(context, s, n, old, m, new, k): s.replace(old, new); bad for an empty old."""
    count = count_bytes(module)
    find = find_bytes(module)

    def body(builder: ir.IRBuilder, arguments: list[ir.Value]) -> None:
        context, text, length, old, old_length, new, new_length = arguments
        empty_old = builder.icmp_signed("==", old_length, i64(0))
        occurrences = builder.select(empty_old, i64(0), builder.call(count, [text, length, old, old_length]))
        size = builder.add(length, builder.mul(occurrences, builder.sub(new_length, old_length)))
        target, full = scratch_alloc(builder, context, size)
        bad = builder.or_(empty_old, full)
        loop = Loop(builder, i64(0), builder.select(bad, i64(0), builder.add(occurrences, i64(1))), {"read": i64(0), "write": i64(0)})
        found = builder.call(find, [text, length, old, old_length, loop.value("read")])
        stop = builder.select(builder.icmp_signed("<", found, i64(0)), length, found)
        piece = builder.sub(stop, loop.value("read"))
        copy_bytes(builder, builder.gep(target, [loop.value("write")]), builder.gep(text, [loop.value("read")]), piece)
        written = builder.add(loop.value("write"), piece)
        loop.exit_if(builder.icmp_signed("<", found, i64(0)), {"write": written})
        copy_bytes(builder, builder.gep(target, [written]), new, new_length)
        loop.end({"read": builder.add(found, old_length), "write": builder.add(written, new_length)})
        builder.ret(string_result(builder, target, size, bad))

    return helper(module, "fj.replace", STRING_RESULT, [CONTEXT, BYTE_POINTER, I64, BYTE_POINTER, I64, BYTE_POINTER, I64], body)


def format_int(module: ir.Module) -> ir.Function:
    """{i8*, i64, i1} fj.format_int(context, x): str(x) in decimal."""

    def body(builder: ir.IRBuilder, arguments: list[ir.Value]) -> None:
        context, number = arguments
        target, full = scratch_alloc(builder, context, i64(20))
        negative = builder.icmp_signed("<", number, i64(0))
        magnitude = builder.select(negative, builder.sub(i64(0), number), number)  # INT64_MIN stays, read unsigned
        digits_loop = Loop(builder, i64(0), i64(20), {"rest": magnitude, "digits": i64(0)})
        rest = digits_loop.value("rest")
        next_rest = builder.udiv(rest, i64(10))
        digits = builder.add(digits_loop.value("digits"), i64(1))
        digits_loop.exit_if(builder.icmp_unsigned("==", next_rest, i64(0)), {"digits": digits})
        digits_loop.end({"rest": next_rest, "digits": digits})
        size = builder.add(digits_loop.result("digits"), builder.zext(negative, I64))
        write = Loop(builder, i64(0), builder.select(full, i64(0), digits_loop.result("digits")), {"rest": magnitude})
        rest = write.value("rest")
        digit = builder.trunc(builder.urem(rest, i64(10)), I8)
        position = builder.sub(builder.sub(size, i64(1)), write.index)
        builder.store(builder.add(digit, byte(ord("0"))), builder.gep(target, [position], inbounds=True))
        write.end({"rest": builder.udiv(rest, i64(10))})
        with builder.if_then(builder.and_(negative, builder.not_(full))):
            builder.store(byte(ord("-")), target)
        builder.ret(string_result(builder, target, size, full))

    return helper(module, "fj.format_int", STRING_RESULT, [CONTEXT, I64], body)


def append(module: ir.Module) -> ir.Function:
    """i1 fj.append(builder, s, n): append to an output buffer {i8* data, i64 length, i64 capacity, i64 failed}.

    If memory runs out it sets `failed` and returns false; the runtime raises MemoryError.
    """
    realloc = external(module, "realloc", BYTE_POINTER, [BYTE_POINTER, I64])

    def body(builder: ir.IRBuilder, arguments: list[ir.Value]) -> None:
        output, text, length = arguments
        data_slot = builder.gep(output, [i64(0), ir.Constant(I32, 0)], inbounds=True)
        length_slot = builder.gep(output, [i64(0), ir.Constant(I32, 1)], inbounds=True)
        capacity_slot = builder.gep(output, [i64(0), ir.Constant(I32, 2)], inbounds=True)
        used = builder.load(length_slot)
        needed = builder.add(used, length)
        with builder.if_then(builder.icmp_signed(">", needed, builder.load(capacity_slot))):
            doubled = builder.mul(builder.load(capacity_slot), i64(2))
            capacity = builder.select(builder.icmp_signed(">", doubled, needed), doubled, needed)
            capacity = builder.select(builder.icmp_signed("<", capacity, i64(4096)), i64(4096), capacity)
            grown = builder.call(realloc, [builder.load(data_slot), capacity])
            failed = builder.icmp_unsigned("==", grown, ir.Constant(BYTE_POINTER, None))
            with builder.if_then(failed):
                builder.store(i64(1), builder.gep(output, [i64(0), ir.Constant(I32, 3)], inbounds=True))
                builder.ret(ir.Constant(I1, 0))
            builder.store(grown, data_slot)
            builder.store(capacity, capacity_slot)
        copy_bytes(builder, builder.gep(builder.load(data_slot), [used]), text, length)
        builder.store(needed, length_slot)
        builder.ret(ir.Constant(I1, 1))

    return helper(module, "fj.append", I1, [BUILDER, BYTE_POINTER, I64], body)


def strtod(module: ir.Module) -> ir.Function:
    return external(module, "strtod", F64, [BYTE_POINTER, BYTE_POINTER.as_pointer()])
