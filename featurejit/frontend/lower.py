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
from collections.abc import Callable, Sequence
from typing import Any

from xdsl.dialects import func, scf
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Attribute, Block, Region, SSAValue

from featurejit.errors import CompileError
from featurejit.frontend.annotations import TEMPORAL_TYPES
from featurejit.frontend.building import (
    UNBOUND,
    Env,
    FallsThrough,
    FunctionScope,
    LoweredFunction,
    Outcome,
    Raises,
    Returns,
    Unbound,
    UnsupportedConstruct,
    attribute_path,
    is_resolver,
)
from featurejit.frontend.expressions import ExpressionLowering
from featurejit.frontend.loops import LOOP_HINT, BindItem, unrolled_loop
from featurejit.frontend.narrowing import narrowing, undo_narrowing
from featurejit.frontend.source import read_function_source
from featurejit.ir import dialect as py
from featurejit.ir.context import value_name
from featurejit.ir.dialect import OptionalType, dyn, none_type

# Tail duplication copies the statements after a returning `if` into both branches, so long
# chains of such ifs grow the IR. This caps the statements lowered per resolver.
MAX_LOWERED_STATEMENTS = 5000
# Each such `if` nests the code after it one region deeper, and xDSL prints and verifies
# regions recursively: 192 levels exceeded Python's recursion limit, 128 did not.
MAX_NESTED_RETURNS = 128


class Lowering(ExpressionLowering):
    """Lowers one resolver, and the resolvers it calls, to a `func.func` in the py dialect."""

    # ----------------------------------------------------------------------------------
    # Entry point and the choke point for errors
    # ----------------------------------------------------------------------------------

    def lower(self) -> LoweredFunction:
        """Lower the resolver; raise CompileError located in the user's file."""
        try:
            return self.lower_resolver()
        except UnsupportedConstruct as error:
            failure = CompileError(
                error.message,
                self.scope.source.location(error.node),
                error.hint,
                unresolved_name=error.unresolved_name,
            )
            # The names read before the failure; a change to one of them may make the resolver compile.
            failure.captures = list(self.captures.values())
            raise failure from None

    def lower_resolver(self) -> LoweredFunction:
        node = self.scope.source.node
        names = [argument.arg for argument in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
        assert len(names) == len(self.parameter_types), "one IR type per parameter"
        entry = Block(arg_types=self.parameter_types)
        for name, argument in zip(names, entry.args, strict=True):
            argument.name_hint = value_name(name)
        env: Env = dict(zip(names, entry.args, strict=True))
        self.block = entry
        result = self.value_of(self.lower_tail(node.body, env))
        self.emit(func.ReturnOp(result))
        function = func.FuncOp(self.symbol, (self.parameter_types, [result.type]), Region(entry))
        module = ModuleOp([function])
        return LoweredFunction(module, self.symbol, list(self.captures.values()), self.inlined)

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
        statements = list(statements)
        index = 0
        while index < len(statements):
            statement = statements[index]
            if isinstance(statement, ast.For):  # replaced in place by its unrolled copies, without a deeper call
                statements[index : index + 1] = unrolled_loop(self, statement, env)
                continue
            self.current_node = statement
            self.lowered_statements += 1
            if self.lowered_statements > MAX_LOWERED_STATEMENTS:
                raise self.unsupported(
                    statement,
                    f"the resolver has more than {MAX_LOWERED_STATEMENTS} statements to compile, counting each "
                    f"path after an if that returns and each loop item",
                    hint="Split it into smaller resolvers, return from fewer branches, or loop over fewer items.",
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
            index += 1
        return FallsThrough(env)

    def lower_bind_item(self, statement: BindItem, env: Env) -> Outcome:
        value = statement.value()
        if isinstance(statement.target, ast.Tuple) and not isinstance(value, list):
            raise self.unsupported(
                statement.target, "the loop unpacks each item into names, but an item is not a tuple", hint=LOOP_HINT
            )
        self.bind_target(statement.target, value, env)
        return FallsThrough(env)

    def lower_return(self, statement: ast.Return, env: Env) -> Outcome:
        if statement.value is None:
            return Returns(self.emit_value(py.NoneOp()))
        return Returns(self.lower_expression(statement.value, env))

    def lower_assign(self, statement: ast.Assign, env: Env) -> Outcome:
        value_node = statement.value
        if isinstance(value_node, ast.Tuple):
            values: SSAValue | list[SSAValue] = [self.lower_expression(item, env) for item in value_node.elts]
        else:
            values = self.lower_expression(value_node, env)
        for target in statement.targets:
            if isinstance(target, ast.Tuple) and not isinstance(value_node, ast.Tuple):
                raise self.unsupported(
                    target,
                    "unpacking assignment is compiled only from a literal tuple",
                    hint="Write the values on the right, as in a, b = b, a.",
                )
        for target in statement.targets:
            self.bind_target(target, values, env)
        return FallsThrough(env)

    def bind_target(self, target: ast.expr, values: SSAValue | list[SSAValue], env: Env) -> None:
        if isinstance(target, ast.Name):
            if isinstance(values, list):
                raise self.unsupported(
                    target,
                    "tuples are not compiled as values",
                    hint="Assign each value to its own name; for membership, write x in (1, 2, 3) inline.",
                )
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
        # A row that goes on has passed the test, so `assert x is not None` narrows x.
        if_true, _ = narrowing(statement.test)
        return FallsThrough(self.narrow(env, if_true))

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
            # A variable merges as the join of the branches' narrowed views of it, so
            # `if x is None: x = 0` leaves an int, and so does `if x is None: raise ...`,
            # whose only branch that falls through narrows x.
            narrowed_values = [branch_env[name] for _, branch_env in live]
            result_type = narrowed_values[0].type  # type: ignore[union-attr]
            for value in narrowed_values[1:]:
                result_type = self.join(result_type, value.type)  # type: ignore[union-attr]
            if all(value is env.get(name) for value in values):
                unchanged = env.get(name)
                if not isinstance(unchanged, SSAValue) or result_type == unchanged.type:
                    continue  # no branch rebinds or narrows it
            changed.append((name, result_type))

        for block, outcome in branches:
            with self.inserting_into(block):
                yielded = []
                for name, result_type in changed:
                    if isinstance(outcome, FallsThrough):
                        value = outcome.env[name]
                        assert isinstance(value, SSAValue)
                        yielded.append(self.coerce(value, result_type))
                    else:
                        yielded.append(self.placeholder(result_type))
                self.emit(scf.YieldOp(*yielded))
        op = self.emit(
            scf.IfOp(condition, [t for _, t in changed], Region(branches[0][0]), Region(branches[1][0]))
        )
        for (name, _), result in zip(changed, op.results, strict=True):
            result.name_hint = value_name(name)
            merged[name] = result
        return FallsThrough(merged)

    def lower_returning_if(self, statement: ast.If, rest: Sequence[ast.stmt], env: Env) -> Returns | Raises:
        """Lower an `if` that returns on some path, taking the statements after it into both branches."""
        if self.nested_returns >= MAX_NESTED_RETURNS:
            raise self.unsupported(
                statement,
                f"the resolver nests more than {MAX_NESTED_RETURNS} if statements that return, counting each loop item",
                hint="Split it into smaller resolvers, or loop over fewer items.",
            )
        self.nested_returns += 1
        try:
            return self.lower_returning_branches(statement, rest, env)
        finally:
            self.nested_returns -= 1

    def lower_returning_branches(self, statement: ast.If, rest: Sequence[ast.stmt], env: Env) -> Returns | Raises:
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

    # ----------------------------------------------------------------------------------
    # Calls to builtins, math functions and other resolvers
    # ----------------------------------------------------------------------------------

    def lower_call(self, node: ast.Call, env: Env) -> SSAValue:
        from featurejit.frontend.builtins import lower_builtin_call

        if isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            items = self.constant_mapping(node.func.value, env)
            if items is not None:
                return self.lower_mapping_get(node, items, env)
        if isinstance(node.func, ast.Attribute) and self.is_method_call(node.func, env):
            return self.lower_method_call(node, node.func.value, node.func.attr, env)
        callee = self.resolve_static(node.func, env)
        if is_resolver(callee):
            return self.inline_call(node, callee, env)
        return lower_builtin_call(self, node, callee, env)

    def is_method_call(self, function: ast.Attribute, env: Env) -> bool:
        """Return whether `x.name(...)` calls a method of a value rather than a module's function.

        It is a method call when x is a local, an expression, or a module constant that is a str,
        datetime, date or timedelta.
        """
        path = attribute_path(function.value)
        if path is None or path[0] in env:
            return True
        base = self.resolve_static(function.value, env)
        return isinstance(base, str) or type(base) in TEMPORAL_TYPES

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
        return self.inline_resolver(node, callee, dict(bound.arguments))

    def inline_resolver(self, node: ast.AST, callee: Any, arguments: dict[str, SSAValue]) -> SSAValue:
        """Lower the body of resolver `callee` with these arguments; missing ones take their defaults.

        `node` is the call, where an error inside the callee is reported.
        """
        import inspect

        function = callee.function
        if not self.arguments_accepted(node, callee, arguments):
            self.emit(py.RaiseOp("TypeError"))  # the resolver's own call would reject the argument
            return self.placeholder(dyn)
        callee_source = read_function_source(function)
        callee_env: Env = {}
        for parameter in inspect.signature(function).parameters.values():
            if parameter.name in arguments:
                callee_env[parameter.name] = arguments[parameter.name]
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
            self.scope = saved_scope
            if isinstance(node, ast.FunctionDef):  # a member of a fused group, not a call: point at the construct
                raise self.unsupported(
                    error.node, f"{function.__qualname__} cannot be fused: {error.message}", error.hint
                ) from None
            # Locate the error in the callee's file, and name the call that inlined it.
            location = callee_source.location(error.node)
            raise self.unsupported(
                node,
                f"{function.__qualname__} cannot be compiled into its caller: {location}: {error.message}",
                error.hint,
            ) from None
        finally:
            self.inline_stack.pop()
            self.scope = saved_scope
        return self.value_of(outcome)

    def arguments_accepted(self, node: ast.AST, callee: Any, arguments: dict[str, SSAValue]) -> bool:
        """Return whether a call of `callee` accepts these argument types, as its runtime check does."""
        from featurejit.frontend.annotations import ACCEPTED_TYPES, python_type_of, read_signature

        try:
            signature = read_signature(callee.function)
        except CompileError as error:
            raise self.unsupported(
                node, f"{callee.name} cannot be compiled into its caller: {error.message}", error.hint
            ) from None
        specs = dict(signature.parameters)
        for name, value in arguments.items():
            base = value.type.element_type if isinstance(value.type, OptionalType) else value.type
            if base == none_type:
                continue
            if base == dyn:
                raise self.unsupported(
                    node, f"argument {name!r} of {callee.name} has a type that differs between rows"
                )
            if python_type_of(base) not in ACCEPTED_TYPES[specs[name].python_type]:
                return False
        return True


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
    BindItem: Lowering.lower_bind_item,
}

UNSUPPORTED_STATEMENTS: dict[type[ast.stmt], tuple[str, str]] = {
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

def lower_function(
    function: Callable[..., Any], parameter_types: Sequence[Attribute], symbol: str
) -> LoweredFunction:
    """Lower `function` for the given parameter IR types into a module holding `symbol`."""
    return Lowering(function, parameter_types, symbol).lower()
