"""String ops of the `py` dialect: `!py.str` values are UTF-8 byte strings with CPython semantics.

Lengths, indices and slice bounds count code points, as in CPython. Where the native code
handles only ASCII text (case mapping, character classes, parsing numbers), a row with other
text is flagged for the interpreter, so results stay exact. Ops that build a new string
(concatenation, case mapping, replace, formatting) flag the row when it needs more scratch
memory than the kernel has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import StringAttr, f64, i1, i64
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from featurejit.ir.dialect import COMPARISON_PREDICATES, MayTakeSlowPath, StrType, str_type


@irdl_op_definition
class StrConstantOp(IRDLOperation):
    """%r = py.str_constant "text" (a str literal)"""

    name = "py.str_constant"
    value = prop_def(StringAttr)
    result = result_def(StrType)
    traits = traits_def(Pure())
    assembly_format = "$value attr-dict"

    def __init__(self, value: str):
        super().__init__(result_types=[str_type], properties={"value": StringAttr(value)})


@irdl_op_definition
class StrLenOp(IRDLOperation):
    """%r = py.str_len %s (len(s), in code points)"""

    name = "py.str_len"
    input = operand_def(StrType)
    result = result_def(i64)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict"

    def __init__(self, value: SSAValue | Operation):
        super().__init__(operands=[value], result_types=[i64])


@irdl_op_definition
class StrCmpOp(IRDLOperation):
    """%r = py.str_cmp "lt", %a, %b (comparison in code point order)"""

    name = "py.str_cmp"
    predicate = prop_def(StringAttr)
    lhs = operand_def(StrType)
    rhs = operand_def(StrType)
    result = result_def(i1)
    traits = traits_def(Pure())
    assembly_format = "$predicate `,` $lhs `,` $rhs attr-dict"

    def __init__(self, predicate: str, lhs: SSAValue | Operation, rhs: SSAValue | Operation):
        super().__init__(operands=[lhs, rhs], result_types=[i1], properties={"predicate": StringAttr(predicate)})

    def verify_(self) -> None:
        if self.predicate.data not in COMPARISON_PREDICATES:
            raise VerifyException(
                f"expected a py.str_cmp predicate among {', '.join(COMPARISON_PREDICATES)}, "
                f"but got {self.predicate.data!r}"
            )


class StrBinaryTestOp(IRDLOperation):
    """Base of tests of one string against another, giving i1."""

    lhs = operand_def(StrType)
    rhs = operand_def(StrType)
    result = result_def(i1)
    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict"

    def __init__(self, lhs: SSAValue | Operation, rhs: SSAValue | Operation):
        super().__init__(operands=[lhs, rhs], result_types=[i1])


@irdl_op_definition
class StrContainsOp(StrBinaryTestOp):
    """%r = py.str_contains %s, %part (part in s)"""

    name = "py.str_contains"


@irdl_op_definition
class StrStartsWithOp(StrBinaryTestOp):
    """%r = py.str_startswith %s, %prefix (s.startswith(prefix))"""

    name = "py.str_startswith"


@irdl_op_definition
class StrEndsWithOp(StrBinaryTestOp):
    """%r = py.str_endswith %s, %suffix (s.endswith(suffix))"""

    name = "py.str_endswith"


@irdl_op_definition
class StrFindOp(IRDLOperation):
    """%r = py.str_find "find", %s, %part (s.find(part) or s.count(part), in code points)"""

    name = "py.str_find"
    kind = prop_def(StringAttr)
    input = operand_def(StrType)
    part = operand_def(StrType)
    result = result_def(i64)
    traits = traits_def(Pure())
    assembly_format = "$kind `,` $input `,` $part attr-dict"
    KINDS: ClassVar[tuple[str, ...]] = ("find", "rfind", "count")

    def __init__(self, kind: str, value: SSAValue | Operation, part: SSAValue | Operation):
        super().__init__(operands=[value, part], result_types=[i64], properties={"kind": StringAttr(kind)})

    def verify_(self) -> None:
        if self.kind.data not in self.KINDS:
            raise VerifyException(f"expected py.str_find of {', '.join(self.KINDS)}, but got {self.kind.data!r}")


@irdl_op_definition
class StrTransformOp(IRDLOperation):
    """%r = py.str_transform "lower", %s (lower, upper; flags non-ASCII text and full scratch)"""

    name = "py.str_transform"
    kind = prop_def(StringAttr)
    input = operand_def(StrType)
    result = result_def(StrType)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$kind `,` $input attr-dict"
    KINDS: ClassVar[tuple[str, ...]] = ("lower", "upper")

    def __init__(self, kind: str, value: SSAValue | Operation):
        super().__init__(operands=[value], result_types=[str_type], properties={"kind": StringAttr(kind)})

    def verify_(self) -> None:
        if self.kind.data not in self.KINDS:
            raise VerifyException(f"expected py.str_transform of {', '.join(self.KINDS)}, but got {self.kind.data!r}")


@irdl_op_definition
class StrStripOp(IRDLOperation):
    """%r = py.str_strip "both", %s [, %chars] (strip, lstrip, rstrip; flags non-ASCII ends without chars)"""

    name = "py.str_strip"
    side = prop_def(StringAttr)
    arguments = var_operand_def(StrType)
    result = result_def(StrType)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$side `,` $arguments attr-dict"
    SIDES: ClassVar[tuple[str, ...]] = ("both", "left", "right")

    def __init__(self, side: str, arguments: Sequence[SSAValue | Operation]):
        super().__init__(operands=[arguments], result_types=[str_type], properties={"side": StringAttr(side)})

    def verify_(self) -> None:
        if self.side.data not in self.SIDES or len(self.arguments) not in (1, 2):
            raise VerifyException(
                f"expected py.str_strip on one of {', '.join(self.SIDES)} with 1 or 2 operands, "
                f"but got {self.side.data!r} with {len(self.arguments)}"
            )


@irdl_op_definition
class StrAffixOp(IRDLOperation):
    """%r = py.str_affix "removeprefix", %s, %affix (removeprefix, removesuffix)"""

    name = "py.str_affix"
    kind = prop_def(StringAttr)
    input = operand_def(StrType)
    affix = operand_def(StrType)
    result = result_def(StrType)
    traits = traits_def(Pure())
    assembly_format = "$kind `,` $input `,` $affix attr-dict"

    def __init__(self, kind: str, value: SSAValue | Operation, affix: SSAValue | Operation):
        super().__init__(operands=[value, affix], result_types=[str_type], properties={"kind": StringAttr(kind)})


@irdl_op_definition
class StrReplaceOp(IRDLOperation):
    """%r = py.str_replace %s, %old, %new (s.replace(old, new); flags an empty old and full scratch)"""

    name = "py.str_replace"
    input = operand_def(StrType)
    old = operand_def(StrType)
    new = operand_def(StrType)
    result = result_def(StrType)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$input `,` $old `,` $new attr-dict"

    def __init__(self, value: SSAValue | Operation, old: SSAValue | Operation, new: SSAValue | Operation):
        super().__init__(operands=[value, old, new], result_types=[str_type])


@irdl_op_definition
class StrSplitItemOp(IRDLOperation):
    """%r = py.str_split_item "split", %s, %sep, %i (s.split(sep)[i]; flags IndexError and an empty sep)"""

    name = "py.str_split_item"
    kind = prop_def(StringAttr)
    input = operand_def(StrType)
    separator = operand_def(StrType)
    index = operand_def(i64)
    result = result_def(StrType)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$kind `,` $input `,` $separator `,` $index attr-dict"

    def __init__(
        self, kind: str, value: SSAValue | Operation, separator: SSAValue | Operation, index: SSAValue | Operation
    ):
        super().__init__(
            operands=[value, separator, index], result_types=[str_type], properties={"kind": StringAttr(kind)}
        )


@irdl_op_definition
class StrConcatOp(IRDLOperation):
    """%r = py.str_concat %a, %b, ... (a + b + ...; flags full scratch)"""

    name = "py.str_concat"
    parts = var_operand_def(StrType)
    result = result_def(StrType)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$parts attr-dict"

    def __init__(self, parts: Sequence[SSAValue | Operation]):
        super().__init__(operands=[parts], result_types=[str_type])


@irdl_op_definition
class StrFromValueOp(IRDLOperation):
    """%r = py.str_from %x : T (str(x) of an int or bool; of a float it flags the row)"""

    name = "py.str_from"
    input = operand_def()
    result = result_def(StrType)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$input attr-dict `:` type($input)"

    def __init__(self, value: SSAValue | Operation):
        super().__init__(operands=[value], result_types=[str_type])

    def verify_(self) -> None:
        if self.input.type not in (i1, i64, f64):
            raise VerifyException(f"expected py.str_from of i1, i64 or f64, but got {self.input.type}")


@irdl_op_definition
class StrSliceOp(IRDLOperation):
    """%r = py.str_slice %s, %start, %stop, %has_start, %has_stop (s[start:stop], in code points)"""

    name = "py.str_slice"
    input = operand_def(StrType)
    start = operand_def(i64)
    stop = operand_def(i64)
    has_start = operand_def(i1)
    has_stop = operand_def(i1)
    result = result_def(StrType)
    traits = traits_def(Pure())
    assembly_format = "$input `,` $start `,` $stop `,` $has_start `,` $has_stop attr-dict"

    def __init__(
        self,
        value: SSAValue | Operation,
        start: SSAValue | Operation,
        stop: SSAValue | Operation,
        has_start: SSAValue | Operation,
        has_stop: SSAValue | Operation,
    ):
        super().__init__(operands=[value, start, stop, has_start, has_stop], result_types=[str_type])


@irdl_op_definition
class StrIndexOp(IRDLOperation):
    """%r = py.str_index %s, %i (s[i], one code point; flags IndexError)"""

    name = "py.str_index"
    input = operand_def(StrType)
    index = operand_def(i64)
    result = result_def(StrType)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$input `,` $index attr-dict"

    def __init__(self, value: SSAValue | Operation, index: SSAValue | Operation):
        super().__init__(operands=[value, index], result_types=[str_type])


@irdl_op_definition
class StrPredicateOp(IRDLOperation):
    """%r = py.str_predicate "isdigit", %s (isdigit, isalpha, isspace, isupper, islower; flags non-ASCII)"""

    name = "py.str_predicate"
    kind = prop_def(StringAttr)
    input = operand_def(StrType)
    result = result_def(i1)
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$kind `,` $input attr-dict"
    KINDS: ClassVar[tuple[str, ...]] = ("isdigit", "isalpha", "isspace", "isupper", "islower", "isalnum")

    def __init__(self, kind: str, value: SSAValue | Operation):
        super().__init__(operands=[value], result_types=[i1], properties={"kind": StringAttr(kind)})

    def verify_(self) -> None:
        if self.kind.data not in self.KINDS:
            raise VerifyException(f"expected py.str_predicate of {', '.join(self.KINDS)}, but got {self.kind.data!r}")


@irdl_op_definition
class StrParseOp(IRDLOperation):
    """%r = py.str_parse %s : T (int(s) or float(s); flags text the fast path does not parse)"""

    name = "py.str_parse"
    input = operand_def(StrType)
    result = result_def()
    traits = traits_def(MayTakeSlowPath())
    assembly_format = "$input attr-dict `:` type($result)"

    def __init__(self, value: SSAValue | Operation, result_type: Attribute):
        super().__init__(operands=[value], result_types=[result_type])

    def verify_(self) -> None:
        if self.result.type not in (i64, f64):
            raise VerifyException(f"expected py.str_parse to give i64 or f64, but got {self.result.type}")


STRING_OPS: list[type[IRDLOperation]] = [
    StrConstantOp,
    StrLenOp,
    StrCmpOp,
    StrContainsOp,
    StrStartsWithOp,
    StrEndsWithOp,
    StrFindOp,
    StrTransformOp,
    StrStripOp,
    StrAffixOp,
    StrReplaceOp,
    StrSplitItemOp,
    StrConcatOp,
    StrFromValueOp,
    StrSliceOp,
    StrIndexOp,
    StrPredicateOp,
    StrParseOp,
]
