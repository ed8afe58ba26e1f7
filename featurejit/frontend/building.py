"""The shared state of lowering: bindings, outcomes of statement lists, and IR building helpers."""

from __future__ import annotations

import ast
import dataclasses
import datetime
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from xdsl.dialects import scf
from xdsl.dialects.builtin import ModuleOp, f64, i1, i64
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

from featurejit.frontend.annotations import TEMPORAL_TYPES
from featurejit.frontend.captures import MISSING, Capture, dict_contents, resolve_name
from featurejit.frontend.source import FunctionSource, read_function_source
from featurejit.frontend.types import TypeJoinError, join_types, split_nullable
from featurejit.ir import dialect as py
from featurejit.ir.context import value_name
from featurejit.ir.datetimes import TemporalConstantOp, encode_temporal
from featurejit.ir.dialect import DatetimeType, OptionalType, is_temporal_type, none_type, str_type
from featurejit.ir.strings import StrConstantOp
from featurejit.zones import zone_hint

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

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


class LoweringBase:
    """The state shared by statement and expression lowering, and the helpers that build IR."""

    def __init__(self, function: Callable[..., Any], parameter_types: Sequence[Attribute], symbol: str):
        self.scope = FunctionScope(read_function_source(function), function)
        self.parameter_types = list(parameter_types)
        self.symbol = symbol
        self.block = Block()
        self.captures: dict[tuple[int, str, tuple[str, ...]], Capture] = {}
        self.inline_stack: list[Callable[..., Any]] = [function]
        self.inlined: list[Callable[..., Any]] = []
        self.lowered_statements = 0
        self.nested_returns = 0  # the `if` statements with a return that enclose the code being lowered
        # The statement being lowered, where errors found while merging paths are reported.
        self.current_node: ast.AST = self.scope.source.node

    def join(self, first: Attribute, second: Attribute) -> Attribute:
        """Join two types where paths merge; a str with another type is a compile error."""
        try:
            return join_types(first, second)
        except TypeJoinError as error:
            if all(isinstance(split_nullable(type_)[0], DatetimeType) for type_ in (first, second)):  # two zones
                hint = "Give the value one zone on every path, for example with .astimezone(ZONE) on each."
            else:
                hint = "Give the value one type on every path, for example with str() or a separate variable."
            raise self.unsupported(self.current_node, str(error), hint=hint) from None

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
        if type_ == str_type:
            return self.emit_value(StrConstantOp(""))
        if is_temporal_type(type_):
            return self.emit_value(TemporalConstantOp(0, 0, type_))
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
        result_type = values[0].type if len(values) == 1 else self.join(values[0].type, values[1].type)
        for block, value in ((then_block, then_value), (else_block, else_value)):
            with self.inserting_into(block):
                yielded = self.placeholder(result_type) if value is None else self.coerce(value, result_type)
                self.emit(scf.YieldOp(yielded))
        return self.emit_value(scf.IfOp(condition, [result_type], Region(then_block), Region(else_block)))

    def narrow(self, env: Env, names: set[str]) -> Env:
        """Return a copy of `env` where the optional values of `names` are known not to be None."""
        narrowed = dict(env)
        for name in sorted(names):
            value = env.get(name)
            if isinstance(value, SSAValue) and isinstance(value.type, OptionalType):
                result = self.emit_value(py.NarrowOp(value))
                result.name_hint = value_name(name)
                narrowed[name] = result
        return narrowed

    # ----------------------------------------------------------------------------------
    # Names: locals, module constants and closure values
    # ----------------------------------------------------------------------------------

    def python_constant(self, node: ast.AST, value: Any) -> SSAValue:
        if value is None:
            return self.emit_value(py.NoneOp())
        if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
            raise self.unsupported(node, f"the integer {value} does not fit in 64 bits")
        if isinstance(value, bool | int | float):
            return self.constant(value)
        if isinstance(value, str):
            return self.emit_value(StrConstantOp(value))
        if type(value) in TEMPORAL_TYPES:
            return self.temporal_constant(node, value)
        kind = type(value).__name__
        raise self.unsupported(
            node,
            f"{kind} values are not compiled yet",
            hint="Resolvers compile arithmetic on int, float and bool values.",
        )

    def temporal_constant(self, node: ast.AST, value: datetime.datetime | datetime.date | datetime.timedelta) -> SSAValue:
        """Emit a datetime, date or timedelta constant; raise for one that the IR cannot hold."""
        try:
            constant = encode_temporal(value)
        except ValueError as error:
            zone = getattr(value, "tzinfo", None)
            hint = None if zone is None else zone_hint(zone)
            raise self.unsupported(node, str(error), hint=hint) from None
        return self.emit_value(TemporalConstantOp(*constant))

    def read_local(self, node: ast.Name, env: Env) -> SSAValue | None:
        value = env.get(node.id)
        if isinstance(value, Unbound):
            raise self.unsupported(
                node,
                f"local variable {node.id!r} is assigned on some paths only",
                hint="Assign it before the if statement, or in every branch.",
            )
        return value

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
        if path[0] in self.local_names():  # a local without a value on this path, as in `acc = acc[-1]`
            raise self.unsupported(node, f"local variable {path[0]!r} is read before assignment")
        value = resolve_name(self.scope.function, path[0])
        self.record_capture(path[0], (), value)  # also when missing, so that defining it later recompiles
        if value is MISSING:
            raise UnsupportedConstruct(node, f"name {path[0]!r} is not defined", unresolved_name=True)
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

    def record_contents(self, path: Sequence[str], value: dict[Any, Any]) -> None:
        """Make the capture of the dict at `path` current only while its contents stay the same."""
        key = (id(self.scope.function), path[0], tuple(path[1:]))
        self.captures[key] = dataclasses.replace(self.captures[key], contents=dict_contents(value))


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
