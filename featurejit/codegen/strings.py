"""LLVM IR for the string ops of the `py` dialect (see featurejit/ir/strings.py).

A `!py.str` value is a StrValue: a pointer and a byte length. Views (strip, slices, split
parts, affix removal) point into their input; new strings are written to the row's scratch
memory, which the emitter's `context` points to. Without a context (the scalar entry), ops
that need scratch memory flag the row instead.
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir
from xdsl.dialects.builtin import f64 as F64_TYPE
from xdsl.dialects.builtin import i1 as I1_TYPE
from xdsl.ir import Operation

from featurejit.codegen import strhelpers as helpers
from featurejit.codegen.arith import F64, FALSE, I1, I8, I32, I64, TRUE, f64, i64, int_overflowing
from featurejit.codegen.row import LOWERINGS, RowEmitter, StrValue, empty_string, select_string
from featurejit.codegen.strhelpers import BYTE_POINTER, CONTEXT, STRING_RESULT, Loop, byte, helper, load_byte
from featurejit.ir import strings as ops

# Ops that write new strings, so the batch kernel resets the scratch memory on every row.
SCRATCH_OPS: tuple[type[Operation], ...] = (
    ops.StrTransformOp,
    ops.StrReplaceOp,
    ops.StrConcatOp,
    ops.StrFromValueOp,
    ops.StrParseOp,
)


def string(emitter: RowEmitter, value: object) -> StrValue:
    assert isinstance(value, StrValue), "a !py.str operand is a StrValue"
    return value


def operand(emitter: RowEmitter, op: Operation, index: int) -> StrValue:
    return string(emitter, emitter.values[op.operands[index]])


def unpack(emitter: RowEmitter, result: ir.Value) -> StrValue:
    """Unpack a helper's {pointer, length, bad}, flagging the row if bad."""
    builder = emitter.builder
    emitter.flag_if(builder.extract_value(result, 2))
    return StrValue(builder.extract_value(result, 0), builder.extract_value(result, 1))


def require_context(emitter: RowEmitter) -> ir.Value | None:
    """Return the scratch context, or flag the row when there is none (the scalar entry)."""
    if emitter.context is None:
        emitter.flag_if(TRUE)
    return emitter.context


def constant_string(builder: ir.IRBuilder, text: str) -> StrValue:
    data = text.encode("utf-8")
    if not data:
        return empty_string(builder)
    module = builder.module
    name = f"fj.str.{len(module.globals)}"
    array_type = ir.ArrayType(I8, len(data))
    storage = ir.GlobalVariable(module, array_type, name)
    storage.initializer = ir.Constant(array_type, bytearray(data))
    storage.global_constant = True
    storage.linkage = "internal"
    return StrValue(builder.bitcast(storage, BYTE_POINTER), i64(len(data)), ascii=text.isascii())


# --------------------------------------------------------------------------------------
# Lowerings
# --------------------------------------------------------------------------------------


def emit_constant(emitter: RowEmitter, op: ops.StrConstantOp) -> None:
    emitter.define(op, constant_string(emitter.builder, op.value.data))


def emit_length(emitter: RowEmitter, op: ops.StrLenOp) -> None:
    emitter.define(op, code_points(emitter.builder, operand(emitter, op, 0)))


def code_points(builder: ir.IRBuilder, text: StrValue) -> ir.Value:
    """Return the number of code points of `text`: its byte count if it is known to be ASCII."""
    if text.ascii:
        return text.length
    return builder.call(helpers.code_points(builder.module), [text.pointer, text.length])


COMPARE_PREDICATES = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def emit_compare(emitter: RowEmitter, op: ops.StrCmpOp) -> None:
    builder = emitter.builder
    left, right = operand(emitter, op, 0), operand(emitter, op, 1)
    order = builder.call(helpers.compare(builder.module), [left.pointer, left.length, right.pointer, right.length])
    emitter.define(op, builder.icmp_signed(COMPARE_PREDICATES[op.predicate.data], order, ir.Constant(I32, 0)))


def emit_contains(emitter: RowEmitter, op: ops.StrContainsOp) -> None:
    builder = emitter.builder
    text, part = operand(emitter, op, 0), operand(emitter, op, 1)
    found = builder.call(helpers.find_bytes(builder.module), [text.pointer, text.length, part.pointer, part.length, i64(0)])
    emitter.define(op, builder.icmp_signed(">=", found, i64(0)))


def affix_matches(builder: ir.IRBuilder, text: StrValue, affix: StrValue, at_end: bool) -> ir.Value:
    """Return whether `text` starts (or ends) with `affix`, reading no byte past either string."""
    fits = builder.icmp_signed("<=", affix.length, text.length)
    safe_length = builder.select(fits, affix.length, i64(0))
    position = builder.sub(text.length, safe_length) if at_end else i64(0)
    return builder.and_(fits, helpers.equal_at(builder, text.pointer, position, affix.pointer, safe_length))


def emit_startswith(emitter: RowEmitter, op: ops.StrStartsWithOp) -> None:
    emitter.define(op, affix_matches(emitter.builder, operand(emitter, op, 0), operand(emitter, op, 1), at_end=False))


def emit_endswith(emitter: RowEmitter, op: ops.StrEndsWithOp) -> None:
    emitter.define(op, affix_matches(emitter.builder, operand(emitter, op, 0), operand(emitter, op, 1), at_end=True))


def emit_find(emitter: RowEmitter, op: ops.StrFindOp) -> None:
    builder = emitter.builder
    module = builder.module
    text, part = operand(emitter, op, 0), operand(emitter, op, 1)
    kind = op.kind.data
    if kind == "count":
        empty_part = builder.icmp_signed("==", part.length, i64(0))
        # "abc".count("") is 4: one more than the code points.
        points = builder.add(code_points(builder, text), i64(1))
        occurrences = builder.call(helpers.count_bytes(module), [text.pointer, text.length, part.pointer, part.length])
        emitter.define(op, builder.select(empty_part, points, occurrences))
        return
    if kind == "find":
        found = builder.call(helpers.find_bytes(module), [text.pointer, text.length, part.pointer, part.length, i64(0)])
    else:
        found = builder.call(helpers.rfind_bytes(module), [text.pointer, text.length, part.pointer, part.length, text.length])
    missing = builder.icmp_signed("<", found, i64(0))
    prefix = StrValue(text.pointer, builder.select(missing, i64(0), found), ascii=text.ascii)
    index = code_points(builder, prefix)
    emitter.define(op, builder.select(missing, i64(-1), index))


def emit_transform(emitter: RowEmitter, op: ops.StrTransformOp) -> None:
    builder = emitter.builder
    text = operand(emitter, op, 0)
    context = require_context(emitter)
    if context is None:
        emitter.define(op, empty_string(builder))
        return
    upper = ir.Constant(I1, int(op.kind.data == "upper"))
    result = builder.call(helpers.change_case(builder.module), [context, text.pointer, text.length, upper])
    emitter.define(op, unpack(emitter, result))


def strip_helper(module: ir.Module) -> ir.Function:
    """{i8*, i64, i1} fj.strip(s, n, chars, m, has_chars, left, right): the stripped view.

    Without chars it strips ASCII whitespace and is bad when a non-ASCII character is at a
    stripped end, which may be Unicode whitespace. With chars it is bad if chars is not ASCII.
    """

    def body(builder: ir.IRBuilder, arguments: list[ir.Value]) -> None:
        text, length, chars, chars_length, has_chars, left, right = arguments
        ascii_chars = builder.call(helpers.is_ascii(module), [chars, chars_length])

        def stripped(value: ir.Value) -> ir.Value:
            inner = Loop(builder, i64(0), chars_length, {"found": FALSE})
            hit = builder.icmp_unsigned("==", load_byte(builder, chars, inner.index), value)
            inner.exit_if(hit, {"found": TRUE})
            inner.end({})
            return builder.select(has_chars, inner.result("found"), helpers.is_ascii_space(builder, value))

        start_loop = Loop(builder, i64(0), builder.select(left, length, i64(0)), {})
        start_loop.exit_if(builder.not_(stripped(load_byte(builder, text, start_loop.index))), {})
        start_loop.end({})
        start = start_loop.exit_index
        end_loop = Loop(builder, i64(0), builder.select(right, builder.sub(length, start), i64(0)), {})
        position = builder.sub(builder.sub(length, i64(1)), end_loop.index)
        end_loop.exit_if(builder.not_(stripped(load_byte(builder, text, position))), {})
        end_loop.end({})
        end = builder.sub(length, end_loop.exit_index)

        remaining = builder.icmp_signed("<", start, end)
        first = helpers.load_byte_below(builder, text, builder.select(remaining, start, length), length)
        last = helpers.load_byte_below(builder, text, builder.select(remaining, builder.sub(end, i64(1)), length), length)
        non_ascii_start = builder.icmp_unsigned(">=", first, byte(0x80))
        non_ascii_end = builder.icmp_unsigned(">=", last, byte(0x80))
        edge = builder.or_(builder.and_(left, non_ascii_start), builder.and_(right, non_ascii_end))
        nonempty = builder.icmp_signed(">", length, i64(0))
        unsure_space = builder.and_(builder.not_(has_chars), builder.and_(nonempty, builder.and_(remaining, edge)))
        bad = builder.or_(unsure_space, builder.and_(has_chars, builder.not_(ascii_chars)))
        view_start = builder.select(remaining, start, i64(0))
        view_length = builder.select(remaining, builder.sub(end, start), i64(0))
        builder.ret(helpers.string_result(builder, builder.gep(text, [view_start]), view_length, bad))

    return helper(module, "fj.strip", STRING_RESULT, [BYTE_POINTER, I64, BYTE_POINTER, I64, I1, I1, I1], body)


def emit_strip(emitter: RowEmitter, op: ops.StrStripOp) -> None:
    builder = emitter.builder
    text = string(emitter, emitter.values[op.arguments[0]])
    has_chars = len(op.arguments) == 2
    chars = string(emitter, emitter.values[op.arguments[1]]) if has_chars else empty_string(builder)
    side = op.side.data
    result = builder.call(
        strip_helper(builder.module),
        [
            text.pointer,
            text.length,
            chars.pointer,
            chars.length,
            ir.Constant(I1, int(has_chars)),
            ir.Constant(I1, int(side in ("both", "left"))),
            ir.Constant(I1, int(side in ("both", "right"))),
        ],
    )
    emitter.define(op, unpack(emitter, result))


def emit_affix(emitter: RowEmitter, op: ops.StrAffixOp) -> None:
    builder = emitter.builder
    text, affix = operand(emitter, op, 0), operand(emitter, op, 1)
    at_end = op.kind.data == "removesuffix"
    matches = affix_matches(builder, text, affix, at_end)
    removed_length = builder.select(matches, affix.length, i64(0))
    start = i64(0) if at_end else removed_length
    view = StrValue(builder.gep(text.pointer, [start]), builder.sub(text.length, removed_length), ascii=text.ascii)
    emitter.define(op, view)


def emit_replace(emitter: RowEmitter, op: ops.StrReplaceOp) -> None:
    builder = emitter.builder
    text, old, new = operand(emitter, op, 0), operand(emitter, op, 1), operand(emitter, op, 2)
    context = require_context(emitter)
    if context is None:
        emitter.define(op, empty_string(builder))
        return
    arguments = [context, text.pointer, text.length, old.pointer, old.length, new.pointer, new.length]
    emitter.define(op, unpack(emitter, builder.call(helpers.replace(builder.module), arguments)))


def split_item_helper(module: ir.Module) -> ir.Function:
    """{i8*, i64, i1} fj.split_item(s, n, sep, m, index, from_right): s.split(sep)[index] or rsplit.

    Bad for an empty separator (ValueError) or an index outside the parts (IndexError).
    """
    find = helpers.find_bytes(module)
    rfind = helpers.rfind_bytes(module)

    def body(builder: ir.IRBuilder, arguments: list[ir.Value]) -> None:
        text, length, separator, separator_length, index, from_right = arguments
        empty_separator = builder.icmp_signed("==", separator_length, i64(0))
        step = builder.select(empty_separator, i64(1), separator_length)  # keeps the scans finite

        counting = Loop(builder, i64(0), builder.add(length, i64(1)), {"parts": i64(1), "from": i64(0), "end": length})
        forward = builder.call(find, [text, length, separator, step, counting.value("from")])
        backward = builder.call(rfind, [text, length, separator, step, counting.value("end")])
        found = builder.select(from_right, backward, forward)
        counting.exit_if(builder.or_(empty_separator, builder.icmp_signed("<", found, i64(0))), {})
        counting.end({
            "parts": builder.add(counting.value("parts"), i64(1)),
            "from": builder.add(found, step),
            "end": found,
        })
        parts = counting.result("parts")
        position = builder.select(builder.icmp_signed("<", index, i64(0)), builder.add(index, parts), index)
        outside = builder.or_(builder.icmp_signed("<", position, i64(0)), builder.icmp_signed(">=", position, parts))
        bad = builder.or_(empty_separator, outside)
        # From the left, skip `position` parts; from the right, skip the parts after it.
        skip = builder.select(from_right, builder.sub(builder.sub(parts, i64(1)), position), position)
        walking = Loop(builder, i64(0), builder.select(bad, i64(0), skip), {"from": i64(0), "end": length})
        forward = builder.call(find, [text, length, separator, step, walking.value("from")])
        backward = builder.call(rfind, [text, length, separator, step, walking.value("end")])
        walking.end({"from": builder.add(forward, step), "end": backward})
        start_left = walking.result("from")
        end_left = builder.call(find, [text, length, separator, step, start_left])
        end_left = builder.select(builder.icmp_signed("<", end_left, i64(0)), length, end_left)
        end_right = walking.result("end")
        start_right = builder.call(rfind, [text, length, separator, step, end_right])
        start_right = builder.select(builder.icmp_signed("<", start_right, i64(0)), i64(0), builder.add(start_right, step))
        start = builder.select(from_right, start_right, start_left)
        end = builder.select(from_right, end_right, end_left)
        builder.ret(helpers.string_result(builder, builder.gep(text, [start]), builder.sub(end, start), bad))

    return helper(module, "fj.split_item", STRING_RESULT, [BYTE_POINTER, I64, BYTE_POINTER, I64, I64, I1], body)


def emit_split_item(emitter: RowEmitter, op: ops.StrSplitItemOp) -> None:
    builder = emitter.builder
    text, separator = operand(emitter, op, 0), operand(emitter, op, 1)
    index = emitter.values[op.operands[2]]
    from_right = ir.Constant(I1, int(op.kind.data == "rsplit"))
    arguments = [text.pointer, text.length, separator.pointer, separator.length, index, from_right]
    emitter.define(op, unpack(emitter, builder.call(split_item_helper(builder.module), arguments)))


def emit_concat(emitter: RowEmitter, op: ops.StrConcatOp) -> None:
    builder = emitter.builder
    parts = [string(emitter, emitter.values[part]) for part in op.parts]
    context = require_context(emitter)
    if context is None:
        emitter.define(op, empty_string(builder))
        return
    total: ir.Value = i64(0)
    for part in parts:
        total = builder.add(total, part.length)
    target, full = helpers.scratch_alloc(builder, context, total)
    emitter.flag_if(full)
    written: ir.Value = i64(0)
    for part in parts:
        length = builder.select(full, i64(0), part.length)
        helpers.copy_bytes(builder, builder.gep(target, [written]), part.pointer, length)
        written = builder.add(written, length)
    emitter.define(op, select_string(builder, full, empty_string(builder), StrValue(target, total)))


def emit_from_value(emitter: RowEmitter, op: ops.StrFromValueOp) -> None:
    builder = emitter.builder
    value = emitter.values[op.input]
    if op.input.type == I1_TYPE:
        true_text, false_text = constant_string(builder, "True"), constant_string(builder, "False")
        emitter.define(op, select_string(builder, value, true_text, false_text))
        return
    if op.input.type == F64_TYPE:
        # NOTE: str(float) needs CPython's shortest round-tripping repr; the interpreter does it.
        emitter.flag_if(TRUE)
        emitter.define(op, empty_string(builder))
        return
    context = require_context(emitter)
    if context is None:
        emitter.define(op, empty_string(builder))
        return
    emitter.define(op, unpack(emitter, builder.call(helpers.format_int(builder.module), [context, value])))


def clamp_index(builder: ir.IRBuilder, value: ir.Value, present: ir.Value, default: ir.Value, count: ir.Value) -> ir.Value:
    """Clamp a slice bound to [0, count] as CPython does, negative values counting from the end."""
    shifted = builder.select(builder.icmp_signed("<", value, i64(0)), builder.add(value, count), value)
    low = builder.select(builder.icmp_signed("<", shifted, i64(0)), i64(0), shifted)
    high = builder.select(builder.icmp_signed(">", low, count), count, low)
    return builder.select(present, high, default)


def emit_slice(emitter: RowEmitter, op: ops.StrSliceOp) -> None:
    builder = emitter.builder
    module = builder.module
    text = operand(emitter, op, 0)
    start, stop, has_start, has_stop = (emitter.values[operand_] for operand_ in op.operands[1:])
    count = code_points(builder, text)
    first = clamp_index(builder, start, has_start, i64(0), count)
    last = clamp_index(builder, stop, has_stop, count, count)
    last = builder.select(builder.icmp_signed("<", last, first), first, last)
    ascii_only = builder.icmp_signed("==", count, text.length)  # one byte per code point
    offset = helpers.byte_offset(module)
    first_byte = builder.select(ascii_only, first, builder.call(offset, [text.pointer, text.length, first]))
    last_byte = builder.select(ascii_only, last, builder.call(offset, [text.pointer, text.length, last]))
    view = StrValue(builder.gep(text.pointer, [first_byte]), builder.sub(last_byte, first_byte), ascii=text.ascii)
    emitter.define(op, view)


def emit_index(emitter: RowEmitter, op: ops.StrIndexOp) -> None:
    builder = emitter.builder
    module = builder.module
    text = operand(emitter, op, 0)
    index = emitter.values[op.index]
    count = code_points(builder, text)
    position = builder.select(builder.icmp_signed("<", index, i64(0)), builder.add(index, count), index)
    outside = builder.or_(builder.icmp_signed("<", position, i64(0)), builder.icmp_signed(">=", position, count))
    emitter.flag_if(outside)  # IndexError
    safe = builder.select(outside, i64(0), position)
    offset = helpers.byte_offset(module)
    first = builder.call(offset, [text.pointer, text.length, safe])
    last = builder.call(offset, [text.pointer, text.length, builder.add(safe, i64(1))])
    view = StrValue(builder.gep(text.pointer, [first]), builder.sub(last, first), ascii=text.ascii)
    emitter.define(op, select_string(builder, outside, empty_string(builder), view))


PREDICATE_CODES = {kind: code for code, kind in enumerate(ops.StrPredicateOp.KINDS)}


def predicate_helper(module: ir.Module) -> ir.Function:
    """{i1, i1} fj.predicate(s, n, kind): (the ASCII answer for isdigit..., whether s is not ASCII)."""

    def body(builder: ir.IRBuilder, arguments: list[ir.Value]) -> None:
        text, length, kind = arguments
        counts: dict[str, ir.Value] = {name: i64(0) for name in ("digit", "letter", "lower", "upper", "space", "other")}
        loop = Loop(builder, i64(0), length, counts)
        value = load_byte(builder, text, loop.index)
        classes = {
            "digit": helpers.in_range(builder, value, ord("0"), ord("9")),
            "lower": helpers.in_range(builder, value, ord("a"), ord("z")),
            "upper": helpers.in_range(builder, value, ord("A"), ord("Z")),
            "space": helpers.is_ascii_space(builder, value),
            "other": builder.icmp_unsigned(">=", value, byte(0x80)),
        }
        classes["letter"] = builder.or_(classes["lower"], classes["upper"])
        loop.end({name: builder.add(loop.value(name), builder.zext(classes[name], I64)) for name in counts})
        total = {name: loop.result(name) for name in counts}
        nonempty = builder.icmp_signed(">", length, i64(0))

        def all_of(*names: str) -> ir.Value:
            sum_: ir.Value = i64(0)
            for name in names:
                sum_ = builder.add(sum_, total[name])
            return builder.and_(nonempty, builder.icmp_signed("==", sum_, length))

        answers = {
            "isdigit": all_of("digit"),
            "isalpha": all_of("letter"),
            "isalnum": all_of("letter", "digit"),
            "isspace": all_of("space"),
            "isupper": builder.and_(builder.icmp_signed(">", total["upper"], i64(0)), builder.icmp_signed("==", total["lower"], i64(0))),
            "islower": builder.and_(builder.icmp_signed(">", total["lower"], i64(0)), builder.icmp_signed("==", total["upper"], i64(0))),
        }
        answer: ir.Value = FALSE
        for name, code in PREDICATE_CODES.items():
            answer = builder.select(builder.icmp_signed("==", kind, i64(code)), answers[name], answer)
        not_ascii = builder.icmp_signed(">", total["other"], i64(0))
        pair_type = ir.LiteralStructType([I1, I1])
        packed = builder.insert_value(ir.Constant(pair_type, ir.Undefined), answer, 0)
        builder.ret(builder.insert_value(packed, not_ascii, 1))

    return helper(module, "fj.predicate", ir.LiteralStructType([I1, I1]), [BYTE_POINTER, I64, I64], body)


def emit_predicate(emitter: RowEmitter, op: ops.StrPredicateOp) -> None:
    builder = emitter.builder
    text = operand(emitter, op, 0)
    pair = builder.call(predicate_helper(builder.module), [text.pointer, text.length, i64(PREDICATE_CODES[op.kind.data])])
    emitter.flag_if(builder.extract_value(pair, 1))  # non-ASCII text may have Unicode digits, letters or spaces
    emitter.define(op, builder.extract_value(pair, 0))


def trimmed_bounds(builder: ir.IRBuilder, text: ir.Value, length: ir.Value) -> tuple[ir.Value, ir.Value]:
    """Return [start, end) of text without the whitespace that int() and float() strip at either end."""
    start_loop = Loop(builder, i64(0), length, {})
    start_loop.exit_if(builder.not_(helpers.is_number_space(builder, load_byte(builder, text, start_loop.index))), {})
    start_loop.end({})
    start = start_loop.exit_index
    end_loop = Loop(builder, i64(0), builder.sub(length, start), {})
    position = builder.sub(builder.sub(length, i64(1)), end_loop.index)
    end_loop.exit_if(builder.not_(helpers.is_number_space(builder, load_byte(builder, text, position))), {})
    end_loop.end({})
    return start, builder.sub(length, end_loop.exit_index)


def parse_int_helper(module: ir.Module) -> ir.Function:
    """{i64, i1} fj.parse_int(s, n): int(s) for ASCII decimal text with underscores between digits.

    Bad (so the interpreter decides) for anything else: other characters, non-ASCII text, or a
    value beyond int64.
    """

    def body(builder: ir.IRBuilder, arguments: list[ir.Value]) -> None:
        text, length = arguments
        ascii_only = builder.call(helpers.is_ascii(module), [text, length])
        start, end = trimmed_bounds(builder, text, length)
        first = helpers.load_byte_below(builder, text, start, end)
        has_sign = builder.and_(
            builder.icmp_signed("<", start, end),
            builder.or_(builder.icmp_unsigned("==", first, byte(ord("-"))), builder.icmp_unsigned("==", first, byte(ord("+")))),
        )
        negative = builder.and_(has_sign, builder.icmp_unsigned("==", first, byte(ord("-"))))
        digits_start = builder.add(start, builder.zext(has_sign, I64))
        # The value accumulates negated, so that INT64_MIN parses without overflow.
        loop = Loop(builder, digits_start, end, {"value": i64(0), "bad": FALSE, "previous_digit": FALSE, "digits": i64(0)})
        value = load_byte(builder, text, loop.index)
        is_digit = helpers.in_range(builder, value, ord("0"), ord("9"))
        is_underscore = builder.icmp_unsigned("==", value, byte(ord("_")))
        digit = builder.zext(builder.sub(value, byte(ord("0"))), I64)
        scaled, scale_overflow = int_overflowing(builder, "smul", loop.value("value"), i64(10))
        subtracted, subtract_overflow = int_overflowing(builder, "ssub", scaled, digit)
        overflow = builder.and_(is_digit, builder.or_(scale_overflow, subtract_overflow))
        misplaced_underscore = builder.and_(is_underscore, builder.not_(loop.value("previous_digit")))
        invalid = builder.and_(builder.not_(is_digit), builder.not_(is_underscore))
        bad = builder.or_(loop.value("bad"), builder.or_(overflow, builder.or_(misplaced_underscore, invalid)))
        loop.end({
            "value": builder.select(is_digit, subtracted, loop.value("value")),
            "bad": bad,
            "previous_digit": is_digit,
            "digits": builder.add(loop.value("digits"), builder.zext(is_digit, I64)),
        })
        last = helpers.load_byte_below(builder, text, builder.select(builder.icmp_signed("<", start, end), builder.sub(end, i64(1)), end), end)
        trailing_underscore = builder.icmp_unsigned("==", last, byte(ord("_")))
        negated = loop.result("value")
        positive_overflow = builder.and_(builder.not_(negative), builder.icmp_signed("==", negated, i64(-(2**63))))
        bad = builder.or_(loop.result("bad"), builder.or_(trailing_underscore, positive_overflow))
        bad = builder.or_(bad, builder.icmp_signed("==", loop.result("digits"), i64(0)))
        bad = builder.or_(bad, builder.not_(ascii_only))
        result = builder.select(negative, negated, builder.sub(i64(0), negated))
        pair_type = ir.LiteralStructType([I64, I1])
        packed = builder.insert_value(ir.Constant(pair_type, ir.Undefined), builder.select(bad, i64(0), result), 0)
        builder.ret(builder.insert_value(packed, bad, 1))

    return helper(module, "fj.parse_int", ir.LiteralStructType([I64, I1]), [BYTE_POINTER, I64], body)


def parse_float_helper(module: ir.Module) -> ir.Function:
    """{f64, i1} fj.parse_float(context, s, n): float(s) for ASCII decimal text, through strtod.

    The text must be [sign] digits [. digits] [e [sign] digits] with at least one mantissa
    digit, or it is bad: the interpreter handles inf, nan, underscores and errors. strtod is
    correctly rounded, as CPython's own parser is.
    """

    def body(builder: ir.IRBuilder, arguments: list[ir.Value]) -> None:
        context, text, length = arguments
        ascii_only = builder.call(helpers.is_ascii(module), [text, length])
        start, end = trimmed_bounds(builder, text, length)
        # States: 0 start, 1 after sign, 2 integer digits, 3 after '.', 4 fraction digits,
        # 5 after 'e', 6 after exponent sign, 7 exponent digits.
        loop = Loop(builder, start, end, {"state": i64(0), "mantissa": FALSE, "bad": FALSE})
        value = load_byte(builder, text, loop.index)
        state = loop.value("state")
        is_digit = helpers.in_range(builder, value, ord("0"), ord("9"))
        is_sign = builder.or_(builder.icmp_unsigned("==", value, byte(ord("+"))), builder.icmp_unsigned("==", value, byte(ord("-"))))
        is_point = builder.icmp_unsigned("==", value, byte(ord(".")))
        is_exponent = builder.or_(builder.icmp_unsigned("==", value, byte(ord("e"))), builder.icmp_unsigned("==", value, byte(ord("E"))))

        def in_state(*states: int) -> ir.Value:
            result: ir.Value = FALSE
            for candidate in states:
                result = builder.or_(result, builder.icmp_signed("==", state, i64(candidate)))
            return result

        transitions = [
            (builder.and_(in_state(0), is_sign), 1),
            (builder.and_(in_state(0, 1, 2), is_digit), 2),
            (builder.and_(in_state(0, 1, 2), is_point), 3),
            (builder.and_(in_state(3, 4), is_digit), 4),
            (builder.and_(in_state(2, 3, 4), is_exponent), 5),
            (builder.and_(in_state(5), is_sign), 6),
            (builder.and_(in_state(5, 6, 7), is_digit), 7),
        ]
        next_state: ir.Value = i64(-1)
        for condition, target in reversed(transitions):
            next_state = builder.select(condition, i64(target), next_state)
        mantissa_digit = builder.and_(is_digit, in_state(0, 1, 2, 3, 4))
        loop.end({
            "state": next_state,
            "mantissa": builder.or_(loop.value("mantissa"), mantissa_digit),
            "bad": builder.or_(loop.value("bad"), builder.icmp_signed("<", next_state, i64(0))),
        })
        final = loop.result("state")
        accepting = builder.or_(
            builder.icmp_signed("==", final, i64(2)),
            builder.or_(builder.icmp_signed("==", final, i64(3)), builder.or_(builder.icmp_signed("==", final, i64(4)), builder.icmp_signed("==", final, i64(7)))),
        )
        bad = builder.or_(loop.result("bad"), builder.not_(builder.and_(accepting, loop.result("mantissa"))))
        bad = builder.or_(bad, builder.not_(ascii_only))
        size = builder.sub(end, start)
        target, full = helpers.scratch_alloc(builder, context, builder.add(size, i64(1)))
        bad = builder.or_(bad, full)
        copied = builder.select(bad, i64(0), size)
        helpers.copy_bytes(builder, target, builder.gep(text, [start]), copied)
        with builder.if_then(builder.not_(bad)):
            builder.store(byte(0), builder.gep(target, [size]))
        parse = helpers.strtod(module)
        # NOTE: strtod reads the decimal point of the C locale; a program that changes
        # LC_NUMERIC away from "C" could make it disagree with CPython's float().
        value_read = builder.call(parse, [builder.select(bad, helpers.empty_pointer(builder), target), ir.Constant(BYTE_POINTER.as_pointer(), None)])
        pair_type = ir.LiteralStructType([F64, I1])
        packed = builder.insert_value(ir.Constant(pair_type, ir.Undefined), builder.select(bad, f64(0.0), value_read), 0)
        builder.ret(builder.insert_value(packed, bad, 1))

    return helper(module, "fj.parse_float", ir.LiteralStructType([F64, I1]), [CONTEXT, BYTE_POINTER, I64], body)


def emit_parse(emitter: RowEmitter, op: ops.StrParseOp) -> None:
    builder = emitter.builder
    text = operand(emitter, op, 0)
    if op.result.type == F64_TYPE:
        context = require_context(emitter)
        if context is None:
            emitter.define(op, f64(0.0))
            return
        pair = builder.call(parse_float_helper(builder.module), [context, text.pointer, text.length])
    else:
        pair = builder.call(parse_int_helper(builder.module), [text.pointer, text.length])
    emitter.flag_if(builder.extract_value(pair, 1))
    emitter.define(op, builder.extract_value(pair, 0))


STRING_LOWERINGS: dict[type[Operation], Callable[[RowEmitter, Operation], None]] = {
    ops.StrConstantOp: emit_constant,  # type: ignore[dict-item]
    ops.StrLenOp: emit_length,  # type: ignore[dict-item]
    ops.StrCmpOp: emit_compare,  # type: ignore[dict-item]
    ops.StrContainsOp: emit_contains,  # type: ignore[dict-item]
    ops.StrStartsWithOp: emit_startswith,  # type: ignore[dict-item]
    ops.StrEndsWithOp: emit_endswith,  # type: ignore[dict-item]
    ops.StrFindOp: emit_find,  # type: ignore[dict-item]
    ops.StrTransformOp: emit_transform,  # type: ignore[dict-item]
    ops.StrStripOp: emit_strip,  # type: ignore[dict-item]
    ops.StrAffixOp: emit_affix,  # type: ignore[dict-item]
    ops.StrReplaceOp: emit_replace,  # type: ignore[dict-item]
    ops.StrSplitItemOp: emit_split_item,  # type: ignore[dict-item]
    ops.StrConcatOp: emit_concat,  # type: ignore[dict-item]
    ops.StrFromValueOp: emit_from_value,  # type: ignore[dict-item]
    ops.StrSliceOp: emit_slice,  # type: ignore[dict-item]
    ops.StrIndexOp: emit_index,  # type: ignore[dict-item]
    ops.StrPredicateOp: emit_predicate,  # type: ignore[dict-item]
    ops.StrParseOp: emit_parse,  # type: ignore[dict-item]
}

LOWERINGS.update(STRING_LOWERINGS)
