"""Fused resolvers: several resolvers over one table, compiled into one kernel.

    fused = featurejit.fuse(speed_mph, is_delayed, delay_score)
    features = fused(flights)          # a pyarrow Table with one column per resolver

The kernel reads each input column from memory once and writes every requested output.
Outputs whose code LLVM vectorizes get a loop over a block of 64 rows each, and outputs that
call the C library, divide int64 values or handle strings or dates share one (see
featurejit.codegen.kernel.row_loop_groups). Each loop runs over the blocks of a tile of rows
before the next loop starts, so that a loop reads few columns at a time, and the tile's
inputs stay in cache for the next loop (see featurejit.codegen.kernel.TILE_BLOCKS).
A resolver whose parameter is named after another resolver of the group reads that
resolver's output, which stays in registers unless it is requested too; a loop that needs
another loop's output computes it again. Rows the kernel flags run
through the plain functions in dependency order, so the result is what running the
resolvers one after another on the table gives, errors included.

By default a resolver's output column is named after its function and each parameter reads
the column of the same name. A `FusedMember` sets both, for callers such as the feature
graph that bind parameters to feature columns:

    fj.FusedResolvers([FusedMember(speed, "speed_mph", {"distance": "distance", "air_time": "air_time"})])
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featurejit.errors import ColumnNotFoundError, normalization_hint
from featurejit.frontend.annotations import ACCEPTED_TYPES
from featurejit.resolver import JitResolver

if TYPE_CHECKING:
    import pyarrow as pa


def feature_name(resolver: JitResolver) -> str:
    """Return the name of the column a resolver produces by default: its function's name."""
    return resolver.function.__name__


@dataclass(frozen=True, eq=False)
class FusedMember:
    """One resolver of a fused group, with the column it writes and the column each parameter reads.

    A column is an input column of the table or the output of another member of the group.
    """

    resolver: JitResolver
    output: str
    columns: Mapping[str, str]  # parameter name -> column name

    @classmethod
    def of(cls, resolver: JitResolver | FusedMember) -> FusedMember:
        """Return `resolver` as a member that writes the column named after it and reads columns by parameter name."""
        if isinstance(resolver, FusedMember):
            resolver.check_columns()
            return resolver
        names = resolver.signature().names
        return cls(resolver, feature_name(resolver), {name: name for name in names})

    def check_columns(self) -> None:
        """Raise ValueError unless `columns` binds exactly the resolver's parameters."""
        names = self.resolver.signature().names
        unbound = [name for name in names if name not in self.columns]
        unknown = [name for name in self.columns if name not in names]
        if unbound:
            raise ValueError(f"fuse(): no column is given for parameter {unbound[0]!r} of {self.resolver.name}")
        if unknown:
            raise ValueError(
                f"fuse(): {self.resolver.name} has no parameter {unknown[0]!r}; its parameters are {', '.join(names)}"
            )

    def describe(self) -> str:
        """Return the resolver's name, and the column it writes when that differs."""
        name = feature_name(self.resolver)
        return name if name == self.output else f"{name} -> {self.output}"


def dependency_order(members: Sequence[FusedMember]) -> list[FusedMember]:
    """Order members so that each comes after the members whose outputs it reads, else in the order given.

    Of the members whose inputs are ready, the one given first comes next, so the first row
    error in this order does not depend on how a reader lists its parameters. Raises
    ValueError naming the output columns of a cycle.
    """
    check_acyclic(members)
    position = {member.output: index for index, member in enumerate(members)}
    waiting_on = [{column for column in member.columns.values() if column in position} for member in members]
    readers: dict[str, list[int]] = {}
    for index, inputs in enumerate(waiting_on):
        for column in inputs:
            readers.setdefault(column, []).append(index)
    ready = [index for index, inputs in enumerate(waiting_on) if not inputs]
    heapq.heapify(ready)
    ordered: list[FusedMember] = []
    while ready:
        member = members[heapq.heappop(ready)]
        ordered.append(member)
        for reader in readers.get(member.output, []):
            waiting_on[reader].discard(member.output)
            if not waiting_on[reader]:
                heapq.heappush(ready, reader)
    return ordered


def check_acyclic(members: Sequence[FusedMember]) -> None:
    """Raise ValueError naming the output columns of a cycle of members that read each other's outputs."""
    by_output = {member.output: member for member in members}
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = path[path.index(name) :] + [name]
            if len(cycle) == 2:
                member = by_output[name]
                parameter = next(parameter for parameter, column in member.columns.items() if column == name)
                raise ValueError(
                    f"fuse(): parameter {parameter!r} of {member.resolver.name} reads the column {name!r}, which is "
                    f"the resolver's own output, because a column that a resolver of the group writes is read "
                    f"from it; rename the parameter or the resolver"
                )
            raise ValueError(f"fuse(): the resolvers read each other's outputs in a cycle: {' -> '.join(cycle)}")
        state[name] = "visiting"
        for column in by_output[name].columns.values():
            if column in by_output:
                visit(column, [*path, name])
        state[name] = "done"

    for member in members:
        visit(member.output, [])


def check_chain_types(members: Sequence[FusedMember]) -> None:
    """Raise TypeError for a parameter that reads another member's output of a type it does not accept.

    Calls follow the same rule, so calling the reader on the producer's output column would raise it too.
    """
    by_output = {member.output: member for member in members}
    for member in members:
        parameters = dict(member.resolver.signature().parameters)
        for parameter, column in member.columns.items():
            producer = by_output.get(column)
            if producer is None:
                continue
            expected = parameters[parameter]
            produced = producer.resolver.signature().result
            if produced.python_type not in ACCEPTED_TYPES.get(expected.python_type, (produced.python_type,)):
                raise TypeError(
                    f"fuse(): parameter {parameter!r} of {member.resolver.name} expects {expected}, but reads the "
                    f"output of {producer.resolver.name}, which returns {produced}; change one of the annotations"
                )


class FusedResolvers:
    """Resolvers compiled together into one kernel over a table's columns."""

    def __init__(self, resolvers: Sequence[JitResolver | FusedMember], outputs: Sequence[str] | None = None):
        if not resolvers:
            raise ValueError("fuse() needs at least one resolver")
        if isinstance(outputs, str):
            raise TypeError(f"fuse(outputs={outputs!r}) takes a list of column names; pass outputs=[{outputs!r}]")
        for resolver in resolvers:
            inner = resolver.resolver if isinstance(resolver, FusedMember) else resolver
            if not isinstance(inner, JitResolver):
                fix = ""
                if callable(inner) and hasattr(inner, "__name__"):
                    fix = f"; decorate {inner.__name__} with @featurejit.jit_resolver"
                raise TypeError(f"fuse() takes @jit_resolver functions, but got {type(inner).__name__}{fix}")
        members = [FusedMember.of(resolver) for resolver in resolvers]
        names = [member.output for member in members]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            producers = {id(member.resolver) for member in members if member.output == duplicates[0]}
            if len(producers) == 1:
                raise ValueError(f"fuse(): {duplicates[0]} is passed more than once; pass each resolver once")
            raise ValueError(f"fuse(): two resolvers produce the column {duplicates[0]!r}; rename one of them")
        self.members = dependency_order(members)
        self.resolvers = [member.resolver for member in self.members]
        self.outputs = list(names if outputs is None else outputs)
        if not self.outputs:
            raise ValueError("fuse(outputs=[]) requests no output; name at least one, or leave outputs out for all")
        unknown = [name for name in self.outputs if name not in names]
        if unknown:
            raise ValueError(f"fuse(): no resolver produces the output {unknown[0]!r}; the resolvers are {', '.join(names)}")
        repeated = sorted({name for name in self.outputs if self.outputs.count(name) > 1})
        if repeated:
            raise ValueError(f"fuse(): outputs names {repeated[0]!r} twice; name each output once")
        check_chain_types(self.members)
        self.inputs = self.input_columns()
        self.lock = threading.RLock()
        self.state: Any = None

    def input_columns(self) -> dict[str, list[tuple[FusedMember, str]]]:
        """Return each input column's name, in order of first use, with the members and parameters that read it."""
        produced = {member.output for member in self.members}
        inputs: dict[str, list[tuple[FusedMember, str]]] = {}
        for member in self.members:
            for parameter, column in member.columns.items():
                if column not in produced:
                    inputs.setdefault(column, []).append((member, parameter))
        return inputs

    def __repr__(self) -> str:
        return f"<fused resolvers {', '.join(member.describe() for member in self.members)}>"

    def __call__(self, table: pa.Table | pa.RecordBatch) -> pa.Table:
        """Run the resolvers over the table's columns; return a Table of the requested outputs."""
        import pyarrow as pa  # imported late: importing featurejit stays cheap

        if not isinstance(table, pa.Table | pa.RecordBatch):
            raise TypeError(
                f"a fused resolver takes a pyarrow Table or RecordBatch, but got {type(table).__name__}; "
                f"build one with pyarrow.table({{name: column, ...}})"
            )
        from featurejit.runtime.fused import run_fused

        # Looking each column up in the schema is faster than listing the names (a new list on
        # every access). -1 means a missing name, or one that the table contains twice.
        schema = table.schema
        indices = [schema.get_field_index(name) for name in self.inputs]
        if -1 not in indices:
            return run_fused(self, [table.column(index) for index in indices])
        column_names = table.column_names
        for name, index in zip(self.inputs, indices, strict=True):
            if index != -1:
                continue
            reader_names = list(dict.fromkeys(member.describe() for member, _ in self.inputs[name]))
            readers = f"{', '.join(reader_names)} {'reads' if len(reader_names) == 1 else 'read'}"
            if name in column_names:
                raise ValueError(
                    f"the table has {column_names.count(name)} columns named {name!r}, which {readers}; "
                    f"rename or drop all but one"
                )
            raise ColumnNotFoundError(
                f"the table has no column {name!r}, which {readers}; its columns are: {', '.join(column_names)}"
                + normalization_hint(name, column_names)
            )
        raise AssertionError("a column index of -1 is either missing or repeated")

    def explain(self, *, show: bool = True) -> str:
        """Report the kernel: its resolvers in order, the columns it reads and the outputs it writes."""
        from featurejit.runtime.fused import fused_state

        text = fused_state(self).explain()
        if show:
            print(text)
        return text

    def dump(self, stage: str = "ir") -> str:
        """Return the fused kernel's code at one stage: "ir", "optimized", "llvm" or "asm"."""
        from featurejit.runtime.fused import fused_state

        return fused_state(self).dump(stage)


def fuse(*resolvers: JitResolver, outputs: Sequence[str] | None = None) -> FusedResolvers:
    """Compile resolvers over one table into one kernel that reads each column once.

    `outputs` names the columns to return (default: one per resolver). A resolver may read
    another's output by naming a parameter after it.
    """
    return FusedResolvers(resolvers, outputs)

