"""None narrowing: which names a test proves present, read from the AST alone."""

from __future__ import annotations

import ast

from xdsl.ir import SSAValue

from featurejit.frontend.building import Env, Unbound
from featurejit.ir import dialect as py


def narrowing(test: ast.expr) -> tuple[set[str], set[str]]:
    """Return the names known not to be None when `test` is true, and when it is false."""
    if isinstance(test, ast.Name):
        return {test.id}, set()
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        if_true, if_false = narrowing(test.operand)
        return if_false, if_true
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, right, operator = test.left, test.comparators[0], test.ops[0]
        subject = None
        if isinstance(left, ast.Name) and is_none_literal(right):
            subject = left.id
        elif isinstance(right, ast.Name) and is_none_literal(left):
            subject = right.id
        if subject is not None:
            if isinstance(operator, ast.Is | ast.Eq):
                return set(), {subject}
            if isinstance(operator, ast.IsNot | ast.NotEq):
                return {subject}, set()
        return set(), set()
    if isinstance(test, ast.BoolOp):
        if_true, if_false = narrowing(test.values[0])
        for value in test.values[1:]:
            next_true, next_false = narrowing(value)
            if isinstance(test.op, ast.And):
                if_true, if_false = if_true | next_true, if_false & (if_true | next_false)
            else:
                if_true, if_false = if_true & (if_false | next_true), if_false | next_false
        return if_true, if_false
    return set(), set()

def is_none_literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None

def undo_narrowing(value: SSAValue | Unbound, env: Env) -> SSAValue | Unbound:
    """Map a branch's narrowed view of a variable back to the variable it narrows."""
    if isinstance(value, SSAValue) and isinstance(value.owner, py.NarrowOp):
        original = value.owner.input
        if any(original is bound for bound in env.values()):
            return original
    return value
