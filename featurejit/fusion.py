"""Fused resolvers: several resolvers over one table, compiled into one kernel.

    fused = featurejit.fuse(speed_mph, is_delayed, delay_score)
    features = fused(flights)          # a pyarrow Table with one column per resolver

The kernel reads each input column once and writes every requested output in one pass. A
resolver whose parameter is named after another resolver of the group reads that resolver's
output, which then stays in registers unless it is requested too. Rows the kernel flags run
through the plain functions in dependency order, so the result is what running the
resolvers one after another on the table gives, errors included.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from featurejit.resolver import JitResolver

if TYPE_CHECKING:
    import pyarrow as pa


def feature_name(resolver: JitResolver) -> str:
    """Return the name of the column a resolver produces: its function's name."""
    return resolver.function.__name__


def dependency_order(resolvers: Sequence[JitResolver]) -> list[JitResolver]:
    """Order resolvers so that each comes after the resolvers whose outputs it reads.

    Raises ValueError naming the resolvers of a cycle.
    """
    by_name = {feature_name(resolver): resolver for resolver in resolvers}
    ordered: list[JitResolver] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = path[path.index(name) :] + [name]
            raise ValueError(f"fuse(): the resolvers read each other's outputs in a cycle: {' -> '.join(cycle)}")
        state[name] = "visiting"
        for parameter in by_name[name].signature().names:
            if parameter in by_name:
                visit(parameter, [*path, name])
        state[name] = "done"
        ordered.append(by_name[name])

    for resolver in resolvers:
        visit(feature_name(resolver), [])
    return ordered


class FusedResolvers:
    """Resolvers compiled together into one kernel over a table's columns."""

    def __init__(self, resolvers: Sequence[JitResolver], outputs: Sequence[str] | None = None):
        if not resolvers:
            raise ValueError("fuse() needs at least one resolver")
        for resolver in resolvers:
            if not isinstance(resolver, JitResolver):
                raise TypeError(f"fuse() takes @jit_resolver functions, but got {type(resolver).__name__}")
        names = [feature_name(resolver) for resolver in resolvers]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"fuse(): two resolvers produce the column {duplicates[0]!r}; rename one of them")
        self.resolvers = dependency_order(resolvers)
        self.outputs = list(names if outputs is None else outputs)
        unknown = [name for name in self.outputs if name not in names]
        if unknown:
            raise ValueError(f"fuse(): no resolver produces the output {unknown[0]!r}; the resolvers are {', '.join(names)}")
        self.inputs = self.input_columns()
        self.lock = threading.RLock()
        self.state: Any = None

    def input_columns(self) -> dict[str, list[JitResolver]]:
        """Return each input column's name, in order of first use, with the resolvers that read it."""
        produced = {feature_name(resolver) for resolver in self.resolvers}
        inputs: dict[str, list[JitResolver]] = {}
        for resolver in self.resolvers:
            for name in resolver.signature().names:
                if name not in produced:
                    inputs.setdefault(name, []).append(resolver)
        return inputs

    def __repr__(self) -> str:
        return f"<fused resolvers {', '.join(feature_name(resolver) for resolver in self.resolvers)}>"

    def __call__(self, table: pa.Table | pa.RecordBatch) -> pa.Table:
        """Run the resolvers over the table's columns; return a Table of the requested outputs."""
        import pyarrow as pa  # imported late: importing featurejit stays cheap

        if not isinstance(table, pa.Table | pa.RecordBatch):
            raise TypeError(
                f"a fused resolver takes a pyarrow Table or RecordBatch, but got {type(table).__name__}; "
                f"build one with pyarrow.table({{name: column, ...}})"
            )
        missing = [name for name in self.inputs if name not in table.column_names]
        if missing:
            readers = ", ".join(feature_name(resolver) for resolver in self.inputs[missing[0]])
            raise KeyError(
                f"the table has no column {missing[0]!r}, which {readers} reads; "
                f"its columns are: {', '.join(table.column_names)}"
            )
        from featurejit.runtime.fused import run_fused

        return run_fused(self, [table.column(name) for name in self.inputs])

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

