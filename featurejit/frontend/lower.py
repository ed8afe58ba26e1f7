"""Lowering of a resolver's Python AST to the `py` dialect.

The body of a resolver has no loops, so it lowers to a tree of `scf.if` regions. A statement
list lowers to one of three outcomes: it falls through (with new variable bindings), it
returns a value, or it always raises. An `if` statement that contains a `return` takes the
statements after it into both of its branches (tail duplication), so every return is the
value of the function body and no early-exit control flow is needed. Where branches bind a
variable to values of different Python types, the merged value has type `!py.dyn`, which
keeps each row's own type.

Every unsupported construct raises CompileError located in the user's file.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from xdsl.dialects import func, scf
from xdsl.dialects.builtin import ModuleOp, f64, i1, i64
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

from featurejit.errors import CompileError
from featurejit.frontend.captures import MISSING, Capture, resolve_name
from featurejit.frontend.source import FunctionSource, read_function_source
from featurejit.frontend.types import join_types
from featurejit.ir import dialect as py
from featurejit.ir.dialect import OptionalType, dyn, none_type

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# Tail duplication copies the statements after a returning `if` into both branches, so long
# chains of such ifs grow the IR. This caps the statements lowered per resolver.
MAX_LOWERED_STATEMENTS = 5000


class Unbound:
    """Marker for a variable bound on some paths only; reading it is a compile error."""


UNBOUND = Unbound()
Env = dict[str, "SSAValue | Unbound"]


@dataclass
class FallsThrough:
    """The statements ran to their end, leaving these variable bindings."""

    env: Env


@dataclass
class Returns:
    """The statements returned this value on every path."""

    value: SSAValue


@dataclass
class Raises:
    """The statements raise on every path."""


Outcome = FallsThrough | Returns | Raises


class UnsupportedConstruct(Exception):
    """Raised inside lowering; the choke point turns it into a located CompileError."""

    def __init__(self, node: ast.AST, message: str, hint: str | None = None, *, unresolved_name: bool = False):
        super().__init__(message)
        self.node = node
        self.message = message
        self.hint = hint
        self.unresolved_name = unresolved_name


@dataclass
class FunctionScope:
    """The function whose body is being lowered: the resolver itself or an inlined callee."""

    source: FunctionSource
    function: Callable[..., Any]


@dataclass
class LoweredFunction:
    """The result of lowering: the IR module and the names read from outside the body."""

    module: ModuleOp
    function_name: str
    captures: list[Capture] = field(default_factory=list)
    inlined: list[Callable[..., Any]] = field(default_factory=list)


def is_resolver(value: Any) -> bool:
    """Return whether `value` is a `jit_resolver` object, whose calls are inlined."""
    return getattr(value, "__featurejit_resolver__", False) is True


class Lowering:
    """Lowers one resolver, and the resolvers it calls, to a `func.func` in the py dialect."""

    def __init__(self, function: Callable[..., Any], parameter_types: Sequence[Attribute], symbol: str):
        self.scope = FunctionScope(read_function_source(function), function)
        self.parameter_types = list(parameter_types)
        self.symbol = symbol
        self.block = Block()
        self.captures: dict[tuple[int, str, tuple[str, ...]], Capture] = {}
        self.inline_stack: list[Callable[..., Any]] = [function]
        self.inlined: list[Callable[..., Any]] = []
        self.lowered_statements = 0

    # ----------------------------------------------------------------------------------
    # Entry point and the choke point for errors
    # ----------------------------------------------------------------------------------

    def lower(self) -> LoweredFunction:
        """Lower the resolver; raise CompileError located in the user's file."""
        try:
            return self.lower_resolver()
        except UnsupportedConstruct as error:
            raise CompileError(
                error.message,
                self.scope.source.location(error.node),
                error.hint,
                unresolved_name=error.unresolved_name,
            ) from None

    def lower_resolver(self) -> LoweredFunction:
        node = self.scope.source.node
        names = [argument.arg for argument in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
        assert len(names) == len(self.parameter_types), "one IR type per parameter"
        entry = Block(arg_types=self.parameter_types)
        for name, argument in zip(names, entry.args, strict=True):
            argument.name_hint = name
        env: Env = dict(zip(names, entry.args, strict=True))
        self.block = entry
        result = self.value_of(self.lower_tail(node.body, env))
        self.emit(func.ReturnOp(result))
        function = func.FuncOp(self.symbol, (self.parameter_types, [result.type]), Region(entry))
        module = ModuleOp([function])
        return LoweredFunction(module, self.symbol, list(self.captures.values()), self.inlined)

    def unsupported(self, node: ast.AST, message: str, hint: str | None = None) -> UnsupportedConstruct:
        return UnsupportedConstruct(node, message, hint)

    # ----------------------------------------------------------------------------------
    # Building IR
    # ----------------------------------------------------------------------------------

    def emit(self, op: Operation) -> Operation:
        self.block.add_op(op)
        return op

    def emit_value(self, op: Operation) -> SSAValue:
        return self.emit(op).results[0]

    @contextmanager
    def inserting_into(self, block: Block) -> Iterator[None]:
        saved = self.block
        self.block = block
        try:
            yield
        finally:
            self.block = saved

    def constant(self, value: bool | int | float) -> SSAValue:
        if isinstance(value, bool):
            return self.emit_value(py.ConstantOp.of_bool(value))
        if isinstance(value, int):
            return self.emit_value(py.ConstantOp.of_int(value))
        return self.emit_value(py.ConstantOp.of_float(value))

    def placeholder(self, type_: Attribute) -> SSAValue:
        """Return some value of `type_` for a path that always raises, so that branches still merge."""
        if type_ == i1:
            return self.constant(False)
        if type_ == i64:
            return self.constant(0)
        if type_ == f64:
            return self.constant(0.0)
        none = self.emit_value(py.NoneOp())
        return none if type_ == none_type else self.emit_value(py.WrapOp(none, type_))

    def coerce(self, value: SSAValue, target: Attribute) -> SSAValue:
        """Box `value` into `target`, a type that `join_types` produced from value's type."""
        if value.type == target:
            return value
        return self.emit_value(py.WrapOp(value, target))

    def value_of(self, outcome: Returns | Raises) -> SSAValue:
        if isinstance(outcome, Returns):
            return outcome.value
        return self.placeholder(none_type)

    def build_if(
        self,
        condition: SSAValue,
        then_branch: Callable[[], SSAValue | None],
        else_branch: Callable[[], SSAValue | None],
    ) -> SSAValue | None:
        """Emit an scf.if whose branches each compute a value (None: the branch always raises).

        The result has the join of both branch types; returns None if both branches raise.
        """
        then_block, else_block = Block(), Block()
        with self.inserting_into(then_block):
            then_value = then_branch()
        with self.inserting_into(else_block):
            else_value = else_branch()
        values = [value for value in (then_value, else_value) if value is not None]
        if not values:
            for block in (then_block, else_block):
                block.add_op(scf.YieldOp())
            self.emit(scf.IfOp(condition, [], Region(then_block), Region(else_block)))
            return None
        result_type = values[0].type if len(values) == 1 else join_types(values[0].type, values[1].type)
        for block, value in ((then_block, then_value), (else_block, else_value)):
            with self.inserting_into(block):
                yielded = self.placeholder(result_type) if value is None else self.coerce(value, result_type)
                self.emit(scf.YieldOp(yielded))
        return self.emit_value(scf.IfOp(condition, [result_type], Region(then_block), Region(else_block)))

    # ----------------------------------------------------------------------------------
    # Statements
    # ----------------------------------------------------------------------------------

    def lower_tail(self, statements: Sequence[ast.stmt], env: Env) -> Returns | Raises:
        """Lower statements that end the function: falling off the end returns None."""
        outcome = self.lower_block(statements, env)
        if isinstance(outcome, FallsThrough):
            return Returns(self.emit_value(py.NoneOp()))
        return outcome

    def lower_block(self, statements: Sequence[ast.stmt], env: Env) -> Outcome:
        env = dict(env)
        for index, statement in enumerate(statements):
            self.lowered_statements += 1
            if self.lowered_statements > MAX_LOWERED_STATEMENTS:
                raise self.unsupported(
                    statement,
                    "the resolver has too many paths to compile",
                    hint="Split it into smaller resolvers, or return from fewer branches.",
                )
            if isinstance(statement, ast.If) and contains_return(statement):
                return self.lower_returning_if(statement, statements[index + 1 :], env)
            handler = STATEMENT_HANDLERS.get(type(statement))
            if handler is None:
                raise self.unsupported(statement, *describe_unsupported_statement(statement))
            outcome = handler(self, statement, env)
            if not isinstance(outcome, FallsThrough):
                return outcome  # later statements are unreachable, as in CPython
            env = outcome.env
        return FallsThrough(env)

    def lower_return(self, statement: ast.Return, env: Env) -> Outcome:
        if statement.value is None:
            return Returns(self.emit_value(py.NoneOp()))
        return Returns(self.lower_expression(statement.value, env))

    def lower_assign(self, statement: ast.Assign, env: Env) -> Outcome:
        value_node = statement.value
        for target in statement.targets:
            if isinstance(target, ast.Tuple) and not isinstance(value_node, ast.Tuple):
                raise self.unsupported(target, "unpacking assignment needs a tuple on the right")
        if isinstance(value_node, ast.Tuple):
            values: SSAValue | list[SSAValue] = [self.lower_expression(item, env) for item in value_node.elts]
        else:
            values = self.lower_expression(value_node, env)
        for target in statement.targets:
            self.bind_target(target, values, env)
        return FallsThrough(env)

    def bind_target(self, target: ast.expr, values: SSAValue | list[SSAValue], env: Env) -> None:
        if isinstance(target, ast.Name):
            if isinstance(values, list):
                raise self.unsupported(target, "tuples are not compiled yet", hint="Assign each value to its own name.")
            env[target.id] = values
            return
        if isinstance(target, ast.Tuple) and isinstance(values, list):
            if len(target.elts) != len(values):
                raise self.unsupported(target, f"cannot unpack {len(values)} values into {len(target.elts)} names")
            for element, value in zip(target.elts, values, strict=True):
                self.bind_target(element, value, env)
            return
        raise self.unsupported(
            target, f"assignment to {type(target).__name__.lower()} targets is not compiled", hint="Assign to a local name."
        )

    def lower_augmented_assign(self, statement: ast.AugAssign, env: Env) -> Outcome:
        if not isinstance(statement.target, ast.Name):
            raise self.unsupported(statement.target, "augmented assignment is compiled only for local names")
        current = self.read_local(statement.target, env)
        if current is None:
            raise self.unsupported(statement.target, f"local variable {statement.target.id!r} is read before assignment")
        right = self.lower_expression(statement.value, env)
        env[statement.target.id] = self.arithmetic(statement, statement.op, current, right)
        return FallsThrough(env)

    def lower_annotated_assign(self, statement: ast.AnnAssign, env: Env) -> Outcome:
        if statement.value is None:
            return FallsThrough(env)  # a bare declaration binds nothing
        self.bind_target(statement.target, self.lower_expression(statement.value, env), env)
        return FallsThrough(env)

    def lower_expression_statement(self, statement: ast.Expr, env: Env) -> Outcome:
        if isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str):
            return FallsThrough(env)  # a docstring or a bare string does nothing
        self.lower_expression(statement.value, env)  # kept for the errors it may raise
        return FallsThrough(env)

    def lower_pass(self, statement: ast.Pass, env: Env) -> Outcome:
        return FallsThrough(env)

    def lower_raise(self, statement: ast.Raise, env: Env) -> Outcome:
        self.emit(py.RaiseOp(exception_name(statement.exc)))
        return Raises()

    def lower_assert(self, statement: ast.Assert, env: Env) -> Outcome:
        if sys.flags.optimize:
            return FallsThrough(env)  # python -O drops assert statements
        fails = self.emit_value(py.NotOp(self.lower_condition(statement.test, env)))
        raise_block, pass_block = Block(), Block()
        raise_block.add_ops([py.RaiseOp("AssertionError"), scf.YieldOp()])
        pass_block.add_op(scf.YieldOp())
        self.emit(scf.IfOp(fails, [], Region(raise_block), Region(pass_block)))
        return FallsThrough(env)

    def lower_plain_if(self, statement: ast.If, env: Env) -> Outcome:
        """Lower an `if` without returns: both branches fall through or raise, then merge."""
        condition = self.lower_condition(statement.test, env)
        if_true, if_false = narrowing(statement.test)
        branches: list[tuple[Block, Outcome]] = []
        for body, narrowed in ((statement.body, if_true), (statement.orelse, if_false)):
            block = Block()
            with self.inserting_into(block):
                outcome = self.lower_block(body, self.narrow(env, narrowed))
            branches.append((block, outcome))
        live = [(block, outcome.env) for block, outcome in branches if isinstance(outcome, FallsThrough)]
        if not live:
            for block, _ in branches:
                block.add_op(scf.YieldOp())
            self.emit(scf.IfOp(condition, [], Region(branches[0][0]), Region(branches[1][0])))
            return Raises()

        merged: Env = dict(env)
        changed: list[tuple[str, Attribute]] = []
        for name in sorted({name for _, branch_env in live for name in branch_env}):
            values = [undo_narrowing(branch_env.get(name, UNBOUND), env) for _, branch_env in live]
            if any(isinstance(value, Unbound) for value in values):
                merged[name] = UNBOUND
                continue
            if all(value is env.get(name) for value in values):
                continue
            result_type = values[0].type  # type: ignore[union-attr]
            for value in values[1:]:
                result_type = join_types(result_type, value.type)  # type: ignore[union-attr]
            changed.append((name, result_type))

        for block, outcome in branches:
            with self.inserting_into(block):
                yielded = []
                for name, result_type in changed:
                    if isinstance(outcome, FallsThrough):
                        value = undo_narrowing(outcome.env[name], env)
                        assert isinstance(value, SSAValue)
                        yielded.append(self.coerce(value, result_type))
                    else:
                        yielded.append(self.placeholder(result_type))
                self.emit(scf.YieldOp(*yielded))
        op = self.emit(
            scf.IfOp(condition, [t for _, t in changed], Region(branches[0][0]), Region(branches[1][0]))
        )
        for (name, _), result in zip(changed, op.results, strict=True):
            result.name_hint = name
            merged[name] = result
        return FallsThrough(merged)

    def lower_returning_if(self, statement: ast.If, rest: Sequence[ast.stmt], env: Env) -> Returns | Raises:
        """Lower an `if` that returns on some path, taking the statements after it into both branches."""
        condition = self.lower_condition(statement.test, env)
        if_true, if_false = narrowing(statement.test)

        def branch(body: Sequence[ast.stmt], narrowed: set[str]) -> SSAValue | None:
            outcome = self.lower_tail([*body, *rest], self.narrow(env, narrowed))
            return outcome.value if isinstance(outcome, Returns) else None

        result = self.build_if(
            condition,
            lambda: branch(statement.body, if_true),
            lambda: branch(statement.orelse, if_false),
        )
        return Raises() if result is None else Returns(result)

    def narrow(self, env: Env, names: set[str]) -> Env:
        """Return a copy of `env` where the optional values of `names` are known not to be None."""
        narrowed = dict(env)
        for name in sorted(names):
            value = env.get(name)
            if isinstance(value, SSAValue) and isinstance(value.type, OptionalType):
                result = self.emit_value(py.NarrowOp(value))
                result.name_hint = name
                narrowed[name] = result
        return narrowed

    # ----------------------------------------------------------------------------------
    # Expressions
    # ----------------------------------------------------------------------------------

    def lower_expression(self, node: ast.expr, env: Env) -> SSAValue:
        handler = EXPRESSION_HANDLERS.get(type(node))
        if handler is None:
            raise self.unsupported(node, *describe_unsupported_expression(node))
        return handler(self, node, env)

    def lower_constant(self, node: ast.Constant, env: Env) -> SSAValue:
        return self.python_constant(node, node.value)

    def python_constant(self, node: ast.AST, value: Any) -> SSAValue:
        if value is None:
            return self.emit_value(py.NoneOp())
        if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
            raise self.unsupported(node, f"the integer {value} does not fit in 64 bits")
        if isinstance(value, bool | int | float):
            return self.constant(value)
        kind = type(value).__name__
        raise self.unsupported(
            node,
            f"{kind} values are not compiled yet",
            hint="Resolvers compile arithmetic on int, float and bool values.",
        )

    def read_local(self, node: ast.Name, env: Env) -> SSAValue | None:
        value = env.get(node.id)
        if isinstance(value, Unbound):
            raise self.unsupported(
                node,
                f"local variable {node.id!r} is assigned on some paths only",
                hint="Assign it before the if statement, or in every branch.",
            )
        return value

    def lower_name(self, node: ast.Name, env: Env) -> SSAValue:
        local = self.read_local(node, env)
        if local is not None:
            return local
        if node.id in self.local_names():
            raise self.unsupported(node, f"local variable {node.id!r} is read before assignment")
        value = self.resolve_static(node, env)
        if value is None or isinstance(value, bool | int | float):
            return self.python_constant(node, value)
        raise self.unsupported(
            node,
            f"{node.id!r} is a {type(value).__name__}, which cannot be used as a value here",
            hint="Module constants and closure variables must be int, float, bool or None.",
        )

    def local_names(self) -> set[str]:
        code = self.scope.function.__code__
        return set(code.co_varnames)

    def resolve_static(self, node: ast.expr, env: Env) -> Any:
        """Return the Python object a global or closure name (with attributes) refers to."""
        path = attribute_path(node)
        if path is None:
            raise self.unsupported(node, "only names and module attributes can be called")
        if path[0] in env:
            raise self.unsupported(node, f"{path[0]!r} is a local value, not a module or function")
        value = resolve_name(self.scope.function, path[0])
        if value is MISSING:
            raise UnsupportedConstruct(node, f"name {path[0]!r} is not defined", unresolved_name=True)
        self.record_capture(path[0], (), value)
        for depth, attribute in enumerate(path[1:], start=1):
            if not hasattr(value, attribute):
                raise self.unsupported(node, f"{'.'.join(path[:depth])} has no attribute {attribute!r}")
            value = getattr(value, attribute)
            self.record_capture(path[0], tuple(path[1 : depth + 1]), value)
        return value

    def record_capture(self, name: str, attributes: tuple[str, ...], value: Any) -> None:
        key = (id(self.scope.function), name, attributes)
        if key not in self.captures:
            self.captures[key] = Capture(self.scope.function, name, attributes, value)

    def lower_attribute(self, node: ast.Attribute, env: Env) -> SSAValue:
        value = self.resolve_static(node, env)
        if value is None or isinstance(value, bool | int | float):
            return self.python_constant(node, value)
        raise self.unsupported(
            node,
            f"{'.'.join(attribute_path(node) or ())} is a {type(value).__name__}, which cannot be used as a value",
        )

    def lower_binary(self, node: ast.BinOp, env: Env) -> SSAValue:
        left = self.lower_expression(node.left, env)
        right = self.lower_expression(node.right, env)
        return self.arithmetic(node, node.op, left, right)

    def arithmetic(self, node: ast.AST, operator: ast.operator, left: SSAValue, right: SSAValue) -> SSAValue:
        op_class = BINARY_OPS.get(type(operator))
        if op_class is None:
            symbol = OPERATOR_SYMBOLS.get(type(operator), type(operator).__name__)
            raise self.unsupported(
                node,
                f"the operator {symbol} is not compiled yet",
                hint="Resolvers compile + - * / // % ** on int, float and bool.",
            )
        operands = self.numeric_operands(left, right)
        if operands is None:
            self.emit(py.RaiseOp("TypeError"))
            return self.placeholder(dyn)
        left, right = operands
        if op_class is py.PowOp and left.type == i64 and right.type == i64:
            exponent = constant_value(right)
            if isinstance(exponent, int) and exponent < 0:
                # CPython computes int ** negative int as float(a) ** float(b).
                left = self.emit_value(py.ToFloatOp(left))
                right = self.emit_value(py.ToFloatOp(right))
        return self.emit_value(op_class(left, right))

    def numeric_operand(self, value: SSAValue) -> SSAValue | None:
        """Prepare one operand of arithmetic: unwrap optionals (None raises), bools become ints."""
        if value.type == none_type:
            return None
        if isinstance(value.type, OptionalType):
            value = self.emit_value(py.UnwrapOp(value))
        if value.type == i1:
            value = self.emit_value(py.ToIntOp(value))
        return value

    def numeric_operands(self, left: SSAValue, right: SSAValue) -> tuple[SSAValue, SSAValue] | None:
        """Bring two operands to one type as CPython's arithmetic does; None if it always raises."""
        prepared_left = self.numeric_operand(left)
        prepared_right = self.numeric_operand(right)
        if prepared_left is None or prepared_right is None:
            return None
        return self.common_type(prepared_left, prepared_right)

    def common_type(self, left: SSAValue, right: SSAValue) -> tuple[SSAValue, SSAValue]:
        if left.type == right.type:
            return left, right
        if dyn in (left.type, right.type):
            return self.coerce(left, dyn), self.coerce(right, dyn)
        if left.type == i64:
            left = self.emit_value(py.ToFloatOp(left))
        if right.type == i64:
            right = self.emit_value(py.ToFloatOp(right))
        return left, right

    def lower_unary(self, node: ast.UnaryOp, env: Env) -> SSAValue:
        if isinstance(node.op, ast.Not):
            return self.emit_value(py.NotOp(self.lower_condition(node.operand, env)))
        operand = self.numeric_operand(self.lower_expression(node.operand, env))
        if operand is None:
            self.emit(py.RaiseOp("TypeError"))
            return self.placeholder(dyn)
        if isinstance(node.op, ast.USub):
            return self.emit_value(py.NegOp(operand))
        if isinstance(node.op, ast.UAdd):
            if operand.type == dyn:
                raise self.unsupported(node, "unary + on a value whose type differs between rows is not compiled")
            return operand
        assert isinstance(node.op, ast.Invert)
        if operand.type == f64:
            self.emit(py.RaiseOp("TypeError"))
            return self.placeholder(i64)
        return self.emit_value(py.InvertOp(operand))

    def lower_bool_op(self, node: ast.BoolOp, env: Env) -> SSAValue:
        """Lower `a or b` / `a and b` to the value CPython returns, evaluating `b` only when needed."""
        return self.bool_op_chain(node.op, node.values, env)

    def bool_op_chain(self, operator: ast.boolop, values: Sequence[ast.expr], env: Env) -> SSAValue:
        first = self.lower_expression(values[0], env)
        if len(values) == 1:
            return first
        truth = self.emit_value(py.TruthOp(first))
        if_true, if_false = narrowing(values[0])
        rest = values[1:]

        def keep_first() -> SSAValue:
            if isinstance(operator, ast.Or) and isinstance(first.type, OptionalType):
                return self.emit_value(py.NarrowOp(first))  # a truthy value is not None
            return first

        def evaluate_rest(narrowed: set[str]) -> SSAValue:
            return self.bool_op_chain(operator, rest, self.narrow(env, narrowed))

        if isinstance(operator, ast.Or):
            result = self.build_if(truth, keep_first, lambda: evaluate_rest(if_false))
        else:
            result = self.build_if(truth, lambda: evaluate_rest(if_true), keep_first)
        assert result is not None
        return result

    def lower_if_expression(self, node: ast.IfExp, env: Env) -> SSAValue:
        condition = self.lower_condition(node.test, env)
        if_true, if_false = narrowing(node.test)
        result = self.build_if(
            condition,
            lambda: self.lower_expression(node.body, self.narrow(env, if_true)),
            lambda: self.lower_expression(node.orelse, self.narrow(env, if_false)),
        )
        assert result is not None
        return result

    def lower_condition(self, node: ast.expr, env: Env) -> SSAValue:
        """Lower an expression used as a condition straight to i1."""
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return self.emit_value(py.NotOp(self.lower_condition(node.operand, env)))
        if isinstance(node, ast.BoolOp):
            return self.condition_chain(node.op, node.values, env)
        value = self.lower_expression(node, env)
        return value if value.type == i1 else self.emit_value(py.TruthOp(value))

    def condition_chain(self, operator: ast.boolop, values: Sequence[ast.expr], env: Env) -> SSAValue:
        first = self.lower_condition(values[0], env)
        if len(values) == 1:
            return first
        if_true, if_false = narrowing(values[0])
        rest = values[1:]
        if isinstance(operator, ast.Or):
            result = self.build_if(
                first,
                lambda: self.constant(True),
                lambda: self.condition_chain(operator, rest, self.narrow(env, if_false)),
            )
        else:
            result = self.build_if(
                first,
                lambda: self.condition_chain(operator, rest, self.narrow(env, if_true)),
                lambda: self.constant(False),
            )
        assert result is not None
        return result

    def lower_compare(self, node: ast.Compare, env: Env) -> SSAValue:
        left = self.lower_expression(node.left, env)
        return self.compare_chain(node, left, list(zip(node.ops, node.comparators, strict=True)), env)

    def compare_chain(
        self, node: ast.Compare, left: SSAValue, pairs: list[tuple[ast.cmpop, ast.expr]], env: Env
    ) -> SSAValue:
        """Lower `a < b < c` as `a < b and b < c`, evaluating b once and c only when needed."""
        operator, right_node = pairs[0]
        if isinstance(operator, ast.In | ast.NotIn):
            result = self.membership(right_node, operator, left, env)
            right = left
        else:
            right = self.lower_expression(right_node, env)
            result = self.compare(node, operator, left, right)
        if len(pairs) == 1:
            return result
        chained = self.build_if(
            result,
            lambda: self.compare_chain(node, right, pairs[1:], env),
            lambda: self.constant(False),
        )
        assert chained is not None
        return chained

    def compare(self, node: ast.AST, operator: ast.cmpop, left: SSAValue, right: SSAValue) -> SSAValue:
        if isinstance(operator, ast.Is | ast.IsNot):
            return self.identity(node, operator, left, right)
        predicate = COMPARISON_PREDICATES[type(operator)]
        if predicate in ("eq", "ne"):
            nullable = any(
                value.type in (none_type, dyn) or isinstance(value.type, OptionalType) for value in (left, right)
            )
            if nullable:  # None == x is False, never an error
                return self.emit_value(py.CmpOp(predicate, self.coerce(left, dyn), self.coerce(right, dyn)))
        prepared_left, prepared_right = self.numeric_operand(left), self.numeric_operand(right)
        if prepared_left is None or prepared_right is None:  # ordering against None raises TypeError
            self.emit(py.RaiseOp("TypeError"))
            return self.constant(False)
        if dyn in (prepared_left.type, prepared_right.type):
            prepared_left, prepared_right = self.coerce(prepared_left, dyn), self.coerce(prepared_right, dyn)
        # An int and a float compare exactly, as in CPython: py.cmp takes them without conversion.
        return self.emit_value(py.CmpOp(predicate, prepared_left, prepared_right))

    def identity(self, node: ast.AST, operator: ast.cmpop, left: SSAValue, right: SSAValue) -> SSAValue:
        """Lower `x is None` and `x is not None`; identity of numbers is not compiled."""
        if right.type == none_type:
            subject = left
        elif left.type == none_type:
            subject = right
        else:
            raise self.unsupported(
                node,
                "'is' is compiled only against None",
                hint="Compare numbers with == and !=.",
            )
        is_none = self.emit_value(py.IsNoneOp(subject))
        return is_none if isinstance(operator, ast.Is) else self.emit_value(py.NotOp(is_none))

    def membership(self, container: ast.expr, operator: ast.cmpop, left: SSAValue, env: Env) -> SSAValue:
        """Lower `x in (1, 2, 3)` for a literal tuple, list or set as a chain of ==."""
        if not isinstance(container, ast.Tuple | ast.List | ast.Set):
            raise self.unsupported(
                container,
                "'in' is compiled only with a literal tuple, list or set",
                hint="Write the candidates inline, as in x in (1, 2, 3).",
            )
        found = self.constant(False)
        for element in container.elts:
            candidate = self.lower_expression(element, env)
            equal = self.compare(element, ast.Eq(), left, candidate)
            found = self.emit_value(py.MaxOp(found, equal))  # max of two bools is their or
        return found if isinstance(operator, ast.In) else self.emit_value(py.NotOp(found))

    def lower_call(self, node: ast.Call, env: Env) -> SSAValue:
        from featurejit.frontend.builtins import lower_builtin_call

        callee = self.resolve_static(node.func, env)
        if is_resolver(callee):
            return self.inline_call(node, callee, env)
        return lower_builtin_call(self, node, callee, env)

    def inline_call(self, node: ast.Call, callee: Any, env: Env) -> SSAValue:
        """Inline a call to another jit_resolver, lowered for the argument types of this call."""
        import inspect

        function = callee.function
        if function in self.inline_stack:
            raise self.unsupported(node, f"the recursive call to {function.__qualname__} is not compiled")
        if any(isinstance(argument, ast.Starred) for argument in node.args) or any(
            keyword.arg is None for keyword in node.keywords
        ):
            raise self.unsupported(node, "calls with *args or **kwargs are not compiled")
        positional = [self.lower_expression(argument, env) for argument in node.args]
        keywords = {
            keyword.arg: self.lower_expression(keyword.value, env) for keyword in node.keywords if keyword.arg is not None
        }
        try:
            bound = inspect.signature(function).bind(*positional, **keywords)
        except TypeError as error:
            raise self.unsupported(node, f"invalid call to {function.__qualname__}: {error}") from None
        if not self.arguments_accepted(node, callee, bound.arguments):
            self.emit(py.RaiseOp("TypeError"))  # the resolver's own call would reject the argument
            return self.placeholder(dyn)
        callee_source = read_function_source(function)
        callee_env: Env = {}
        for parameter in inspect.signature(function).parameters.values():
            if parameter.name in bound.arguments:
                callee_env[parameter.name] = bound.arguments[parameter.name]
            else:
                callee_env[parameter.name] = self.python_constant(node, parameter.default)

        saved_scope = self.scope
        self.scope = FunctionScope(callee_source, function)
        self.inline_stack.append(function)
        if function not in self.inlined:
            self.inlined.append(function)
        try:
            outcome = self.lower_tail(callee_source.node.body, callee_env)
        except UnsupportedConstruct as error:
            # Locate the error in the callee's file, and name the call that inlined it.
            location = callee_source.location(error.node)
            self.scope = saved_scope
            raise self.unsupported(
                node,
                f"{function.__qualname__} cannot be inlined: {location}: {error.message}",
                error.hint,
            ) from None
        finally:
            self.inline_stack.pop()
            self.scope = saved_scope
        return self.value_of(outcome)


    def arguments_accepted(self, node: ast.Call, callee: Any, arguments: dict[str, SSAValue]) -> bool:
        """Return whether a call of `callee` accepts these argument types, as its runtime check does."""
        from featurejit.frontend.annotations import ACCEPTED_TYPES, read_signature

        try:
            signature = read_signature(callee.function)
        except CompileError as error:
            raise self.unsupported(node, f"{callee.name} cannot be inlined: {error.message}", error.hint) from None
        specs = dict(signature.parameters)
        for name, value in arguments.items():
            base = value.type.element_type if isinstance(value.type, OptionalType) else value.type
            if base == none_type:
                continue
            if base == dyn:
                raise self.unsupported(
                    node, f"argument {name!r} of {callee.name} has a type that differs between rows"
                )
            python_types: dict[Attribute, type] = {i1: bool, i64: int, f64: float}
            python_type = python_types[base]
            if python_type not in ACCEPTED_TYPES[specs[name].python_type]:
                return False
        return True


# --------------------------------------------------------------------------------------
# Dispatch tables and AST helpers
# --------------------------------------------------------------------------------------

STATEMENT_HANDLERS: dict[type[ast.stmt], Callable[[Lowering, Any, Env], Outcome]] = {
    ast.Return: Lowering.lower_return,
    ast.Assign: Lowering.lower_assign,
    ast.AugAssign: Lowering.lower_augmented_assign,
    ast.AnnAssign: Lowering.lower_annotated_assign,
    ast.Expr: Lowering.lower_expression_statement,
    ast.Pass: Lowering.lower_pass,
    ast.Raise: Lowering.lower_raise,
    ast.Assert: Lowering.lower_assert,
    ast.If: Lowering.lower_plain_if,
}

EXPRESSION_HANDLERS: dict[type[ast.expr], Callable[[Lowering, Any, Env], SSAValue]] = {
    ast.Constant: Lowering.lower_constant,
    ast.Name: Lowering.lower_name,
    ast.Attribute: Lowering.lower_attribute,
    ast.BinOp: Lowering.lower_binary,
    ast.UnaryOp: Lowering.lower_unary,
    ast.BoolOp: Lowering.lower_bool_op,
    ast.IfExp: Lowering.lower_if_expression,
    ast.Compare: Lowering.lower_compare,
    ast.Call: Lowering.lower_call,
}

BINARY_OPS: dict[type[ast.operator], Callable[[SSAValue, SSAValue], Operation]] = {
    ast.Add: py.AddOp,
    ast.Sub: py.SubOp,
    ast.Mult: py.MulOp,
    ast.Div: py.TrueDivOp,
    ast.FloorDiv: py.FloorDivOp,
    ast.Mod: py.ModOp,
    ast.Pow: py.PowOp,
}

OPERATOR_SYMBOLS: dict[type[ast.operator], str] = {
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
}

COMPARISON_PREDICATES: dict[type[ast.cmpop], str] = {
    ast.Eq: "eq",
    ast.NotEq: "ne",
    ast.Lt: "lt",
    ast.LtE: "le",
    ast.Gt: "gt",
    ast.GtE: "ge",
}

UNSUPPORTED_STATEMENTS: dict[type[ast.stmt], tuple[str, str]] = {
    ast.For: ("for loops are not compiled yet", "Compute per-row values without loops, or let the resolver run interpreted."),
    ast.While: ("while loops are not compiled yet", "Compute per-row values without loops, or let the resolver run interpreted."),
    ast.Try: ("try statements are not compiled", "Rows that raise go to the interpreter on their own; drop the try."),
    ast.With: ("with statements are not compiled", "Resolvers compute values; move the with block out of the resolver."),
    ast.FunctionDef: ("nested functions are not compiled", "Define the helper at module level with @jit_resolver."),
    ast.Import: ("imports inside a resolver are not compiled", "Import the module at the top of the file."),
    ast.ImportFrom: ("imports inside a resolver are not compiled", "Import the module at the top of the file."),
    ast.Global: ("global statements are not compiled", "Pass the value as a parameter instead."),
    ast.Nonlocal: ("nonlocal statements are not compiled", "Pass the value as a parameter instead."),
    ast.Delete: ("del statements are not compiled", "Drop the del; locals end with the call."),
}


def describe_unsupported_statement(statement: ast.stmt) -> tuple[str, str]:
    default = (f"{type(statement).__name__} statements are not compiled", "See the supported subset in the README.")
    return UNSUPPORTED_STATEMENTS.get(type(statement), default)


def describe_unsupported_expression(node: ast.expr) -> tuple[str, str]:
    names = {
        ast.ListComp: "list comprehensions",
        ast.SetComp: "set comprehensions",
        ast.DictComp: "dict comprehensions",
        ast.GeneratorExp: "generator expressions",
        ast.Lambda: "lambdas",
        ast.JoinedStr: "f-strings",
        ast.Subscript: "subscripts",
        ast.List: "lists",
        ast.Tuple: "tuples",
        ast.Dict: "dicts",
        ast.Set: "sets",
        ast.NamedExpr: "assignment expressions (:=)",
        ast.Await: "await",
        ast.Yield: "yield",
        ast.YieldFrom: "yield from",
        ast.Starred: "starred expressions",
    }
    what = names.get(type(node), f"{type(node).__name__} expressions")
    return f"{what} are not compiled yet", "Resolvers compile arithmetic, comparisons, if/else and calls on scalars."


def contains_return(statement: ast.stmt) -> bool:
    return any(isinstance(node, ast.Return) for node in ast.walk(statement))


def exception_name(node: ast.expr | None) -> str:
    """Return the exception class name a raise statement names, for the IR only."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return "Exception"


def attribute_path(node: ast.expr) -> list[str] | None:
    """Return ["math", "pi"] for `math.pi`, or None if the base is not a plain name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def constant_value(value: SSAValue) -> bool | int | float | None:
    owner = value.owner
    if isinstance(owner, py.ConstantOp):
        return owner.python_value()
    return None


def undo_narrowing(value: SSAValue | Unbound, env: Env) -> SSAValue | Unbound:
    """Map a branch's narrowed view of a variable back to the variable it narrows."""
    if isinstance(value, SSAValue) and isinstance(value.owner, py.NarrowOp):
        original = value.owner.input
        if any(original is bound for bound in env.values()):
            return original
    return value


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


def lower_function(
    function: Callable[..., Any], parameter_types: Sequence[Attribute], symbol: str
) -> LoweredFunction:
    """Lower `function` for the given parameter IR types into a module holding `symbol`."""
    return Lowering(function, parameter_types, symbol).lower()
