"""`for` loops over a fixed sequence, compiled by unrolling.

The iterable of such a loop is known when the resolver compiles: a literal tuple or list, a
tuple constant of the module or a closure, `range()` of constant ints, or `enumerate()` of
one of these. The loop becomes its body repeated once per item, and each copy starts by
binding the target to the item. A `return` inside the body then ends the function as in
CPython: the statements after it, the later copies and the code after the loop, run only on
the other paths.
"""

from __future__ import annotations

import ast
import builtins
import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from xdsl.ir import SSAValue

from featurejit.frontend.building import attribute_path, constant_value

if TYPE_CHECKING:
    from featurejit.frontend.building import Env
    from featurejit.frontend.lower import Lowering

# Each item repeats the body, so loops are unrolled up to this many items.
MAX_UNROLLED_ITEMS = 64

Item = SSAValue | list[SSAValue]


class BindItem(ast.stmt):
    """A statement made by unrolling: bind the loop's target to one item, which `value()` lowers."""

    _fields = ("target",)

    def __init__(self, target: ast.expr, value: Callable[[], Item], loop: ast.For):
        super().__init__()
        self.target = target
        self.value = value
        ast.copy_location(self, loop)


def unrolled_loop(lowering: Lowering, loop: ast.For, env: Env) -> list[ast.stmt]:
    """Return the statements that replace `loop`: for each item, its binding and a copy of the body."""
    if loop.orelse:
        raise lowering.unsupported(loop, "for loops with an else block are not compiled", hint=LOOP_HINT)
    for node in loop_level_nodes(loop.body):
        if isinstance(node, ast.Break | ast.Continue):
            keyword = "break" if isinstance(node, ast.Break) else "continue"
            raise lowering.unsupported(node, f"{keyword} is not compiled", hint="Return from inside the loop instead.")
    items = loop_items(lowering, loop.iter, env)
    check_item_count(lowering, loop.iter, len(items))
    statements: list[ast.stmt] = []
    for item in items:
        statements.append(BindItem(loop.target, item, loop))
        statements.extend(loop.body)
    return statements


LOOP_HINT = "Loops are compiled over a tuple constant, a literal tuple or list, range() of constants, or enumerate() of these."


def loop_level_nodes(statements: Sequence[ast.stmt]) -> list[ast.AST]:
    """Return the nodes of `statements`, leaving out those inside nested loops, whose break is their own."""
    found: list[ast.AST] = []
    pending: list[ast.AST] = list(statements)
    while pending:
        node = pending.pop()
        found.append(node)
        if not isinstance(node, ast.For | ast.While):
            pending.extend(ast.iter_child_nodes(node))
    return found


def loop_items(lowering: Lowering, iterable: ast.expr, env: Env) -> list[Callable[[], Item]]:
    """Return a function per item of a loop's iterable that lowers the item.

    The items of a literal tuple or list are lowered before the first item, as CPython
    evaluates the whole tuple before the loop starts.
    """
    if isinstance(iterable, ast.Tuple | ast.List):
        lowered = [lower_element(lowering, element, env) for element in iterable.elts]
        return [constant_item(value) for value in lowered]
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and iterable.func.id not in env:
        function = lowering.resolve_static(iterable.func, env)
        if function is builtins.range:
            values = range_values(lowering, iterable, env)
            check_item_count(lowering, iterable, item_count(values))
            return [python_item(lowering, iterable, value) for value in values]
        if function is builtins.enumerate:
            if len(iterable.args) != 1 or iterable.keywords:
                raise lowering.unsupported(iterable, "enumerate() is compiled in loops with one argument", hint=LOOP_HINT)
            inner = loop_items(lowering, iterable.args[0], env)
            return [counted_item(lowering, index, item) for index, item in enumerate(inner)]
    path = attribute_path(iterable)
    if path is not None and path[0] not in env:
        value = lowering.resolve_static(iterable, env)
        if type(value) is tuple:
            check_item_count(lowering, iterable, len(value))
            for element in value:
                check_constant_item(lowering, iterable, element)
            return [python_item(lowering, iterable, element) for element in value]
        kind = type(value).__name__
        raise lowering.unsupported(iterable, f"a loop over the {kind} {'.'.join(path)} is not compiled", hint=LOOP_HINT)
    raise lowering.unsupported(iterable, "a loop over this iterable is not compiled", hint=LOOP_HINT)


def item_count(values: range) -> int:
    """Return the length of a range, which len() cannot give beyond sys.maxsize."""
    if values.step > 0:
        return max(0, (values.stop - values.start + values.step - 1) // values.step)
    return max(0, (values.start - values.stop - values.step - 1) // -values.step)


def check_item_count(lowering: Lowering, iterable: ast.expr, count: int) -> None:
    if count > MAX_UNROLLED_ITEMS:
        raise lowering.unsupported(
            iterable, f"the loop has {count:,} items; loops are compiled over up to {MAX_UNROLLED_ITEMS}", hint=LOOP_HINT
        )


def lower_element(lowering: Lowering, element: ast.expr, env: Env) -> Item:
    if isinstance(element, ast.Tuple):
        return [lowering.lower_expression(part, env) for part in element.elts]
    return lowering.lower_expression(element, env)


def range_values(lowering: Lowering, call: ast.Call, env: Env) -> range:
    """Return the range of `range(...)` whose arguments are constant ints."""
    if call.keywords or not 1 <= len(call.args) <= 3:
        raise lowering.unsupported(call, "range() is compiled in loops with one to three arguments", hint=LOOP_HINT)
    bounds = []
    for argument in call.args:
        value = static_int(lowering, argument, env)
        if value is None:  # such as a loop variable of an enclosing loop, which is a constant in each copy
            folded = constant_value(lowering.lower_expression(argument, env))
            value = folded if type(folded) is int else None
        if value is None:
            raise lowering.unsupported(
                argument,
                "range() in a loop is compiled with arguments of int literals and constants, and + - * // % ** of them",
                hint=LOOP_HINT,
            )
        bounds.append(value)
    if len(bounds) == 3 and bounds[2] == 0:
        raise lowering.unsupported(call, "range() with a step of 0 raises ValueError; it is not compiled")
    return range(*bounds)


STATIC_OPERATORS: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


def static_int(lowering: Lowering, node: ast.expr, env: Env) -> int | None:
    """Return the value of an int literal or constant, or of + - * // % ** of them, or None for anything else."""
    if isinstance(node, ast.Constant):
        return node.value if type(node.value) is int else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = static_int(lowering, node.operand, env)
        if operand is None:
            return None
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in STATIC_OPERATORS:
        left, right = static_int(lowering, node.left, env), static_int(lowering, node.right, env)
        if left is None or right is None or (right == 0 and isinstance(node.op, ast.FloorDiv | ast.Mod)):
            return None
        return STATIC_OPERATORS[type(node.op)](left, right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        base, exponent = static_int(lowering, node.left, env), static_int(lowering, node.right, env)
        if base is None or exponent is None or not 0 <= exponent <= 64:
            return None
        return int(base**exponent)
    path = attribute_path(node)
    if path is not None and path[0] not in env:
        value = lowering.resolve_static(node, env)  # recorded, so a new value compiles again
        return value if type(value) is int else None
    return None


def check_constant_item(lowering: Lowering, node: ast.expr, element: Any) -> None:
    parts = element if type(element) is tuple else (element,)
    for part in parts:
        if type(part) not in (int, float, bool, str, type(None)):
            raise lowering.unsupported(
                node,
                f"loops over tuple constants are compiled for items of int, float, bool, str or None, "
                f"or tuples of them, but it contains {element!r}",
            )


def constant_item(value: Item) -> Callable[[], Item]:
    return lambda: value


def python_item(lowering: Lowering, node: ast.expr, element: Any) -> Callable[[], Item]:
    """Return a function that emits a constant item, a tuple as a list of values to unpack."""
    if type(element) is tuple:
        return lambda: [lowering.python_constant(node, part) for part in element]
    return lambda: lowering.python_constant(node, element)


def counted_item(lowering: Lowering, index: int, item: Callable[[], Item]) -> Callable[[], Item]:
    """Return a function that emits enumerate's (index, item) pair."""

    def pair() -> Item:
        return [lowering.constant(index), item()]  # type: ignore[list-item]  # a tuple item nests, as in `i, (a, b)`

    return pair
