"""The lines `Graph.explain()` prints for a join stage: the operator, the statistics that chose it, and what ran.

Before a query runs, an offline join's operator is estimated with `featurejit.joins.choose_join`
from the estimated rows of the query and the statistics of the other entity's key columns.
A query run with analyze=True prints instead what the join did: the plan of
`featurejit.joins.plan_join` with both sides' statistics, or the index an online lookup probed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from featurejit.graph.indexes import key_stats
from featurejit.graph.planner import JoinStep
from featurejit.joins import TableStats, choose_join

if TYPE_CHECKING:
    from featurejit.graph.graph import Graph
    from featurejit.graph.online import StageTrace

# Bytes per row assumed for the rows of a query when estimating the sides of a join before it runs.
ESTIMATED_ROW_BYTES = 8


def subplan_lines(join: JoinStep) -> list[str]:
    """Describe what the join reads of the other entity: source columns, and the stages of its plan."""
    target = join.relationship.target.name
    lines = []
    if join.subplan is None:
        return [f"    counts the rows of {target}, reading none of its features"]
    reads = ", ".join(feature.name for feature in join.subplan.source_reads) or "nothing"
    lines.append(f"    reads {reads} from the source of {target}")
    for stage in join.subplan.stages:
        lines.append(f"    then {target}'s {stage.describe()}")
    for aggregate in join.aggregates:
        if aggregate.filter is not None:
            lines.append(f"    {aggregate.name}: child rows filtered on {aggregate.filter!r} before the aggregation")
    return lines


def estimated_lines(graph: Graph, join: JoinStep, estimated: int | None) -> list[str]:
    """Describe the operator an offline join is expected to use, and the statistics behind the choice."""
    relationship = join.relationship
    source = graph.dag.source_of(relationship.target)
    if source is None:
        return []
    if estimated is None:
        return ["    estimated operator: none yet, because the rows that pass the scan's filter are counted only as it runs"]
    names = [feature.name for feature in relationship.target_keys]
    right = key_stats(source, relationship.target_keys)
    rows = estimated
    left = TableStats(rows, rows * ESTIMATED_ROW_BYTES * (len(names) + 1))
    integer_key = len(names) == 1 and relationship.target_keys[0].type.python_type is int
    choice = choose_join(left, right, names, names, "left", integer_key=integer_key)
    side = f"{relationship.target.name}'s keys" if relationship.kind == "one" else f"the aggregates per {relationship.target.name} key"
    lines = [f"    estimated operator: {choice.operator} (left) of the rows with {side}"]
    lines += [f"      {reason}" for reason in choice.reasons]
    lines += [f"      right statistics: {right.columns[name].describe()}" for name in names]
    return lines


def online_lines(join: JoinStep) -> list[str]:
    relationship = join.relationship
    keys = ", ".join(repr(feature) for feature in relationship.target_keys)
    if relationship.kind == "one":
        return [f"    lookup in the unique index of {keys}, built once with the source"]
    return [f"    lookup of the child rows of each key through an index of the distinct values of {keys}, built once"]


def join_lines(graph: Graph, join: JoinStep, estimated: int | None, trace: StageTrace | None, online: bool) -> list[str]:
    lines = subplan_lines(join)
    if trace is not None and trace.details:
        return lines + [f"    {line}" for line in trace.details]
    return lines + (online_lines(join) if online else estimated_lines(graph, join, estimated))
