"""Lowering of str expressions: comparisons, concatenation, methods, subscripts and f-strings.

CPython's rules on mixed types are kept: comparing a str with a number for equality is False,
ordering them or adding them raises TypeError, and a method called on None raises
AttributeError. Such rows go to the interpreter through `py.raise` or a checked unwrap.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from xdsl.dialects.builtin import f64, i1, i64
from xdsl.ir import SSAValue

from featurejit.frontend.building import Env, LoweringBase, attribute_path
from featurejit.ir import dialect as py
from featurejit.ir import strings as strops
from featurejit.ir.dialect import OptionalType, is_temporal_type, none_type, python_name, str_type

StringMethod = Callable[["StringLowering", ast.Call, SSAValue, list[SSAValue]], SSAValue]


def is_str(value: SSAValue) -> bool:
    """Return whether `value` is a str, or a str that may be None."""
    type_ = value.type
    return type_ == str_type or (isinstance(type_, OptionalType) and type_.element_type == str_type)


class StringLowering(LoweringBase):
    """Lowers the str parts of expressions; ExpressionLowering dispatches here for str operands."""

    # Provided by ExpressionLowering and DatetimeLowering, which this class is mixed with.
    lower_expression: Callable[[ast.expr, Env], SSAValue]
    numeric_operand: Callable[[SSAValue], SSAValue | None]
    lower_temporal_method: Callable[[ast.Call, SSAValue, str, Env], SSAValue]

    def string_operand(self, value: SSAValue) -> SSAValue | None:
        """Return a str operand, unwrapped if it may be None (None flags the row); None if it is None."""
        if value.type == none_type:
            return None
        if isinstance(value.type, OptionalType):
            return self.emit_value(py.UnwrapOp(value))
        return value

    def raise_type_error(self, result_type: object = i1) -> SSAValue:
        self.emit(py.RaiseOp("TypeError"))
        return self.placeholder(result_type)  # type: ignore[arg-type]

    def concatenate(self, left: SSAValue, right: SSAValue) -> SSAValue:
        """Lower `left + right` where one side is a str: both str concatenate, else TypeError."""
        prepared_left, prepared_right = self.string_operand(left), self.string_operand(right)
        if prepared_left is None or prepared_right is None or not (is_str(prepared_left) and is_str(prepared_right)):
            return self.raise_type_error(str_type)
        return self.emit_value(strops.StrConcatOp([prepared_left, prepared_right]))

    def compare_strings(self, predicate: str, left: SSAValue, right: SSAValue) -> SSAValue:
        """Compare where at least one side is a str, with CPython's rules for other types and None."""
        both_str_like = all(is_str(value) or value.type == none_type for value in (left, right))
        if predicate in ("eq", "ne"):
            if not both_str_like:  # a str never equals a number or a bool
                return self.constant(predicate == "ne")
            if left.type == str_type and right.type == str_type:
                return self.emit_value(strops.StrCmpOp(predicate, left, right))
            return self.nullable_string_equality(predicate, left, right)
        prepared_left, prepared_right = self.string_operand(left), self.string_operand(right)
        if prepared_left is None or prepared_right is None or not (is_str(prepared_left) and is_str(prepared_right)):
            return self.raise_type_error()
        return self.emit_value(strops.StrCmpOp(predicate, prepared_left, prepared_right))

    def nullable_string_equality(self, predicate: str, left: SSAValue, right: SSAValue) -> SSAValue:
        """`a == b` where a side may be None: None equals only None, and strings compare otherwise."""
        left_none = self.emit_value(py.IsNoneOp(left))
        right_none = self.emit_value(py.IsNoneOp(right))
        either_none = self.emit_value(py.MaxOp(left_none, right_none))

        def none_case() -> SSAValue:
            both_none = self.emit_value(py.MinOp(left_none, right_none))
            return both_none if predicate == "eq" else self.emit_value(py.NotOp(both_none))

        def string_case() -> SSAValue:
            if left.type == none_type or right.type == none_type:
                return self.constant(predicate == "ne")  # not reached: a None side takes the other branch
            present = [self.emit_value(py.NarrowOp(value)) if isinstance(value.type, OptionalType) else value
                       for value in (left, right)]
            return self.emit_value(strops.StrCmpOp(predicate, present[0], present[1]))

        result = self.build_if(either_none, none_case, string_case)
        assert result is not None
        return result

    def contains(self, container: SSAValue, left: SSAValue) -> SSAValue:
        """Lower `left in container` for a str container: a substring test."""
        haystack, needle = self.string_operand(container), self.string_operand(left)
        if haystack is None or needle is None or not is_str(needle):
            return self.raise_type_error()
        return self.emit_value(strops.StrContainsOp(haystack, needle))

    def lower_subscript(self, node: ast.Subscript, env: Env) -> SSAValue:
        """Lower `s[i]`, `s[a:b]` and `s.split(sep)[i]`."""
        split = split_call(node.value)
        if split is not None:
            return self.lower_split_item(node, split, env)
        value = self.lower_expression(node.value, env)
        if not is_str(value):
            raise self.unsupported(node, "subscripts are compiled only on str values")
        text = self.string_operand(value)
        assert text is not None
        if isinstance(node.slice, ast.Slice):
            if node.slice.step is not None and not (
                isinstance(node.slice.step, ast.Constant) and node.slice.step.value == 1
            ):
                raise self.unsupported(node.slice, "slices with a step other than 1 are not compiled")
            start, has_start = self.slice_bound(node.slice.lower, env)
            stop, has_stop = self.slice_bound(node.slice.upper, env)
            return self.emit_value(strops.StrSliceOp(text, start, stop, has_start, has_stop))
        index = self.integer_argument(node.slice, self.lower_expression(node.slice, env))
        return self.emit_value(strops.StrIndexOp(text, index))

    def slice_bound(self, bound: ast.expr | None, env: Env) -> tuple[SSAValue, SSAValue]:
        if bound is None:
            return self.constant(0), self.constant(False)
        return self.integer_argument(bound, self.lower_expression(bound, env)), self.constant(True)

    def integer_argument(self, node: ast.AST, value: SSAValue) -> SSAValue:
        """Prepare an index: bools become ints, and a float or None raises TypeError."""
        prepared = self.numeric_operand(value)
        if prepared is None or prepared.type != i64:
            return self.raise_type_error(i64)
        return prepared

    def lower_split_item(self, node: ast.Subscript, call: ast.Call, env: Env) -> SSAValue:
        assert isinstance(call.func, ast.Attribute)
        kind = call.func.attr
        if not call.args:
            raise self.unsupported(
                call,
                f"str.{kind}() without a separator is not compiled",
                hint=f"Pass the separator, as in s.{kind}(',')[0], or let the resolver run interpreted.",
            )
        if len(call.args) != 1 or call.keywords:
            raise self.unsupported(
                call,
                f"str.{kind}() is compiled with a separator only, without maxsplit",
                hint="Drop maxsplit where it does not change the item: s.split(',', 1)[0] equals s.split(',')[0], "
                "and s.rsplit(',', 1)[-1] equals s.rsplit(',')[-1].",
            )
        text = self.string_operand(self.lower_expression(call.func.value, env))
        separator = self.string_operand(self.lower_expression(call.args[0], env))
        if text is None or separator is None or not is_str(text) or not is_str(separator):
            return self.raise_type_error(str_type)
        index = self.integer_argument(node.slice, self.lower_expression(node.slice, env))
        return self.emit_value(strops.StrSplitItemOp(kind, text, separator, index))

    def lower_fstring(self, node: ast.JoinedStr, env: Env) -> SSAValue:
        """Lower an f-string of str, int and bool values without format specs as a concatenation."""
        parts: list[SSAValue] = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                parts.append(self.emit_value(strops.StrConstantOp(str(part.value))))
                continue
            assert isinstance(part, ast.FormattedValue)
            if part.format_spec is not None or part.conversion not in (-1, ord("s")):
                raise self.unsupported(
                    part, "f-string format specs and !r or !a conversions are not compiled", hint="Write {value} only."
                )
            parts.append(self.to_str(part, self.lower_expression(part.value, env)))
        if not parts:
            return self.emit_value(strops.StrConstantOp(""))
        if len(parts) == 1:
            return parts[0]
        return self.emit_value(strops.StrConcatOp(parts))

    def to_str(self, node: ast.AST, value: SSAValue) -> SSAValue:
        """Lower str(value) for a str, int, bool or float (a float flags the row) or None."""
        if value.type == str_type:
            return value
        if value.type == none_type:
            return self.emit_value(strops.StrConstantOp("None"))
        if isinstance(value.type, OptionalType):
            element = value.type.element_type
            is_none = self.emit_value(py.IsNoneOp(value))
            result = self.build_if(
                is_none,
                lambda: self.emit_value(strops.StrConstantOp("None")),
                lambda: self.to_str(node, self.emit_value(py.NarrowOp(value))),
            )
            assert result is not None and element is not None
            return result
        if value.type in (i1, i64, f64):
            return self.emit_value(strops.StrFromValueOp(value))
        if is_temporal_type(value.type):
            raise self.unsupported(node, f"str() of a {python_name(value.type)} is not compiled yet")
        raise self.unsupported(node, "str() of a value whose type differs between rows is not compiled")

    def lower_method_call(self, node: ast.Call, receiver_node: ast.expr, method: str, env: Env) -> SSAValue:
        """Lower `receiver.method(...)` for a str receiver."""
        receiver = self.lower_expression(receiver_node, env)
        receiver_type = receiver.type.element_type if isinstance(receiver.type, OptionalType) else receiver.type
        if is_temporal_type(receiver_type):
            return self.lower_temporal_method(node, receiver, method, env)
        if not is_str(receiver) and receiver.type != none_type:
            raise self.unsupported(node, f"the method {method}() is compiled only on str, datetime, date and timedelta values")
        handler = STRING_METHODS.get(method)
        if handler is None:
            raise self.unsupported(
                node,
                f"str.{method}() is not compiled yet",
                hint="Compiled str methods: " + ", ".join(sorted(STRING_METHODS)) + ".",
            )
        if node.keywords or any(isinstance(argument, ast.Starred) for argument in node.args):
            raise self.unsupported(node, f"str.{method}() with keyword or *arguments is not compiled")

        text = self.string_operand(receiver)
        if text is None:  # a method of None raises AttributeError
            self.emit(py.RaiseOp("AttributeError"))
            text = self.emit_value(strops.StrConstantOp(""))

        # startswith and endswith take a tuple of candidates, written out or as a constant.
        arguments: list[SSAValue] = []
        for argument in node.args:
            affix = method in ("startswith", "endswith")
            constants = self.constant_collection(argument, env, (tuple,)) if affix else None
            if isinstance(argument, ast.Tuple) and affix:
                arguments.extend(self.lower_expression(element, env) for element in argument.elts)
            elif constants is not None:
                arguments.extend(self.python_constant(argument, element) for element in constants)
            else:
                arguments.append(self.lower_expression(argument, env))
        return handler(self, node, text, arguments)

    def constant_collection(
        self, node: ast.expr, env: Env, kinds: tuple[type, ...] = (tuple, frozenset)
    ) -> list[object] | None:
        """Return the elements of a module or closure constant of one of `kinds` that `node` names, or None.

        A frozenset's elements are sorted by repr, so that the IR does not depend on string
        hashing, which differs between processes.
        """
        path = attribute_path(node)
        if path is None or path[0] in env:
            return None
        value = self.resolve_static(node, env)
        if isinstance(value, list | set) and frozenset in kinds:
            raise self.unsupported(
                node,
                f"'in' over the {type(value).__name__} {'.'.join(path)} is not compiled, because it may change",
                hint=f"Make it a tuple or a frozenset: {path[-1]} = frozenset({{...}}).",
            )
        if isinstance(value, frozenset) and frozenset in kinds:
            elements: list[object] = sorted(value, key=repr)
        elif isinstance(value, tuple) and tuple in kinds:
            elements = list(value)
        else:
            return None
        for element in elements:
            if type(element) not in (int, float, bool, str, type(None)) or element != element:
                raise self.unsupported(
                    node,
                    f"'in' over {'.'.join(path)} is compiled for int, float, bool, str and None elements "
                    f"other than NaN, but it contains {element!r}",
                )
        return elements

    def string_arguments(self, node: ast.Call, arguments: list[SSAValue], count: tuple[int, ...]) -> list[SSAValue] | None:
        """Check the count of str arguments; return them unwrapped, or None if one is not a str."""
        if len(arguments) not in count:
            method = node.func.attr if isinstance(node.func, ast.Attribute) else "this str method"
            allowed = " or ".join(map(str, count))
            raise self.unsupported(
                node,
                f"str.{method}() is compiled with {allowed} argument{'' if count == (1,) else 's'}, but got {len(arguments)}",
            )
        prepared = [self.string_operand(argument) for argument in arguments]
        if any(value is None or not is_str(value) for value in prepared):
            return None
        return [value for value in prepared if value is not None]


def split_call(node: ast.expr) -> ast.Call | None:
    """Return the call if `node` is `something.split(...)` or `something.rsplit(...)`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("split", "rsplit"):
        return node
    return None


def test_method(op_class: type) -> StringMethod:
    """Make a handler for startswith and endswith; a tuple argument arrives as several arguments."""

    def lower(lowering: StringLowering, node: ast.Call, text: SSAValue, arguments: list[SSAValue]) -> SSAValue:
        if len(node.args) != 1:
            raise lowering.unsupported(node, "startswith() and endswith() are compiled with one argument")
        prepared = lowering.string_arguments(node, arguments, (len(arguments),))
        if prepared is None:
            return lowering.raise_type_error()
        result = lowering.emit_value(op_class(text, prepared[0]))
        for candidate in prepared[1:]:
            result = lowering.emit_value(py.MaxOp(result, lowering.emit_value(op_class(text, candidate))))
        return result

    return lower


def find_method(kind: str) -> StringMethod:
    def lower(lowering: StringLowering, node: ast.Call, text: SSAValue, arguments: list[SSAValue]) -> SSAValue:
        prepared = lowering.string_arguments(node, arguments, (1,))
        if prepared is None:
            return lowering.raise_type_error(i64)
        return lowering.emit_value(strops.StrFindOp(kind, text, prepared[0]))

    return lower


def transform_method(kind: str) -> StringMethod:
    def lower(lowering: StringLowering, node: ast.Call, text: SSAValue, arguments: list[SSAValue]) -> SSAValue:
        lowering.string_arguments(node, arguments, (0,))
        return lowering.emit_value(strops.StrTransformOp(kind, text))

    return lower


def strip_method(side: str) -> StringMethod:
    def lower(lowering: StringLowering, node: ast.Call, text: SSAValue, arguments: list[SSAValue]) -> SSAValue:
        if len(arguments) == 1 and arguments[0].type == none_type:
            arguments = []  # s.strip(None) strips whitespace, as s.strip() does
        prepared = lowering.string_arguments(node, arguments, (0, 1))
        if prepared is None:
            return lowering.raise_type_error(str_type)
        return lowering.emit_value(strops.StrStripOp(side, [text, *prepared]))

    return lower


def affix_method(kind: str) -> StringMethod:
    def lower(lowering: StringLowering, node: ast.Call, text: SSAValue, arguments: list[SSAValue]) -> SSAValue:
        prepared = lowering.string_arguments(node, arguments, (1,))
        if prepared is None:
            return lowering.raise_type_error(str_type)
        return lowering.emit_value(strops.StrAffixOp(kind, text, prepared[0]))

    return lower


def lower_replace(lowering: StringLowering, node: ast.Call, text: SSAValue, arguments: list[SSAValue]) -> SSAValue:
    prepared = lowering.string_arguments(node, arguments, (2,))
    if prepared is None:
        return lowering.raise_type_error(str_type)
    return lowering.emit_value(strops.StrReplaceOp(text, prepared[0], prepared[1]))


def predicate_method(kind: str) -> StringMethod:
    def lower(lowering: StringLowering, node: ast.Call, text: SSAValue, arguments: list[SSAValue]) -> SSAValue:
        lowering.string_arguments(node, arguments, (0,))
        return lowering.emit_value(strops.StrPredicateOp(kind, text))

    return lower


def lower_bare_split(lowering: StringLowering, node: ast.Call, text: SSAValue, arguments: list[SSAValue]) -> SSAValue:
    raise lowering.unsupported(
        node,
        "str.split() is compiled only when indexed, as in s.split(',')[0]",
        hint="Lists are not compiled yet; take the part you need with an index.",
    )


STRING_METHODS: dict[str, StringMethod] = {
    "startswith": test_method(strops.StrStartsWithOp),
    "endswith": test_method(strops.StrEndsWithOp),
    "find": find_method("find"),
    "rfind": find_method("rfind"),
    "count": find_method("count"),
    "lower": transform_method("lower"),
    "upper": transform_method("upper"),
    "strip": strip_method("both"),
    "lstrip": strip_method("left"),
    "rstrip": strip_method("right"),
    "removeprefix": affix_method("removeprefix"),
    "removesuffix": affix_method("removesuffix"),
    "replace": lower_replace,
    "split": lower_bare_split,
    "rsplit": lower_bare_split,
    **{kind: predicate_method(kind) for kind in strops.StrPredicateOp.KINDS},
}
