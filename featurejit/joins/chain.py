"""`join_all` and `plan_joins`: one table joined with several others, in an order chosen from statistics.

    from featurejit.joins import JoinStep, join_all, plan_joins

    plan = plan_joins(lineitem, [
        JoinStep(orders, on="orderkey"),                       # inner
        JoinStep(parts, on="partkey", how="left"),
        JoinStep(priority_orders, on="orderkey"),              # inner, keeps 1% of the rows
    ])
    print(plan.explain())   # the order: the selective inner join first, the left join last
    table = plan.execute()

Inner joins run first, the one with the fewest estimated output rows next, so that later
joins see fewer rows. Left joins keep the order of the request, and run after the inner
joins unless an inner join's key is a column that a left join adds. Reordering does not
change the result: inner and left joins whose keys come from the tables before them commute.
The result's columns are those of joining in request order: the first table's columns, then
each step's non-key columns, with the step's suffix on a name that is already taken.

Estimates assume keys spread uniformly and independently of earlier joins. A step with a
composite key has no estimate, and such steps keep the order of the request among themselves.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from featurejit.joins.keys import check_key_types
from featurejit.joins.plan import HOWS, JoinPlan, as_table, plan_join
from featurejit.joins.planner import match_fraction
from featurejit.joins.stats import ColumnStats, TableStats, column_stats


@dataclass
class JoinStep:
    """One join of `plan_joins`: the table to join, its keys, and how (see `featurejit.joins.join`).

    `on` names key columns that both sides share. `left_on` names columns of the first table
    or of an earlier step, by their names in the result of joining in request order.
    `stats` replaces the statistics of `table` that the planner gathers (see `table_stats`).
    """

    table: pa.Table | pa.RecordBatch
    on: str | Sequence[str] | None = None
    how: str = "inner"
    left_on: str | Sequence[str] | None = None
    right_on: str | Sequence[str] | None = None
    suffix: str = "_right"
    stats: TableStats | None = None
    name: str = ""


@dataclass
class PlannedStep:
    """A step with its resolved keys, output columns, estimate, and once executed its plan."""

    position: int  # in the request
    step: JoinStep
    table: pa.Table
    left_on: list[str]  # final names: as joining in request order names the columns
    right_on: list[str]
    added: dict[str, str]  # final name -> this step's column in `table`
    needs: set[int]  # positions of the steps that add a column of `left_on`
    match: float | None = None  # estimated fraction of rows with a match
    fanout: float = 1.0  # estimated matching rows per matched row
    reason: str = ""  # what the estimate rests on, or why there is none
    plan: JoinPlan | None = None
    rows_in: int | None = None

    @property
    def label(self) -> str:
        return self.step.name or f"step {self.position + 1}"


@dataclass
class JoinsPlan:
    """Several joins of one table, their order, and after `execute()` their plans and row counts."""

    base: pa.Table
    steps: list[PlannedStep]
    order: list[int]  # positions of the steps, in the order they run
    columns: list[str]  # final column names
    estimates: dict[int, float | None] = field(default_factory=dict)  # rows out of each step, if known
    seconds: float | None = None

    def explain(self) -> str:
        """Describe the order with each step's estimate, and once executed each join's operator and rows."""
        lines = [f"{len(self.steps)} joins of a table of {self.base.num_rows:,} rows, in this order:"]
        for number, position in enumerate(self.order, 1):
            planned = self.steps[position]
            keys = ", ".join(planned.left_on)
            estimate = self.estimates.get(position)
            guess = "no estimate" if estimate is None else f"estimated {estimate:,.0f} rows out"
            basis = f" ({planned.reason})" if planned.reason else ""
            lines.append(f"  {number}. {planned.label}: {planned.step.how} join on {keys}, {guess}{basis}")
            if planned.plan is not None and planned.plan.rows_out is not None:
                lines.append(f"     actual: {planned.rows_in:,} rows in, {planned.plan.rows_out:,} rows out")
                lines += [f"     {line}" for line in planned.plan.explain().splitlines()]
        if self.seconds is not None:
            lines.append(f"  total: {self.seconds * 1000:.2f} ms")
        return "\n".join(lines)

    def execute(self) -> pa.Table:
        """Run the joins in the planned order and return the joined table."""
        start = time.perf_counter()
        current = self.base
        where = {name: name for name in self.base.column_names}  # final name -> column of `current`
        for position in self.order:
            planned = self.steps[position]
            planned.rows_in = current.num_rows
            left_on = [where[name] for name in planned.left_on]
            planned.plan = plan_join(
                current, planned.table, how=planned.step.how, left_on=left_on, right_on=planned.right_on, right_stats=planned.step.stats
            )
            current = planned.plan.execute()
            where.update(planned.added)
        self.seconds = time.perf_counter() - start
        return pa.Table.from_arrays([current.column(where[name]) for name in self.columns], names=self.columns)


def key_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def step_keys(step: JoinStep, label: str) -> tuple[list[str], list[str]]:
    if step.on is not None:
        if step.left_on is not None or step.right_on is not None:
            raise ValueError(f"{label}: give either on=, or both left_on= and right_on=, not both forms")
        return key_list(step.on), key_list(step.on)
    if step.left_on is None or step.right_on is None:
        raise ValueError(f"{label}: a join needs its key columns: on=NAME or on=[NAMES], or left_on= and right_on=")
    left_on, right_on = key_list(step.left_on), key_list(step.right_on)
    if not left_on or len(left_on) != len(right_on):
        raise ValueError(f"{label}: left_on= and right_on= need the same number of columns, at least one")
    return left_on, right_on


def resolve_steps(base: pa.Table, steps: Sequence[JoinStep]) -> tuple[list[PlannedStep], list[str]]:
    """Check each step and name its columns as joining in request order would; return the steps and final columns."""
    columns = list(base.column_names)
    provider: dict[str, int | None] = dict.fromkeys(columns)  # final name -> step that adds it (None: the base)
    types = {name: base.schema.field(name).type for name in columns}  # final name -> Arrow type
    planned = []
    for position, step in enumerate(steps):
        if not isinstance(step, JoinStep):
            raise TypeError(f"step {position + 1} is a {type(step).__name__}; pass featurejit.joins.JoinStep objects")
        label = step.name or f"step {position + 1}"
        if step.how not in HOWS:
            raise ValueError(f"{label}: invalid how={step.how!r}; featurejit joins support {', '.join(map(repr, HOWS))}")
        table = as_table(step.table, "right")
        left_on, right_on = step_keys(step, label)
        for name in left_on:
            if name not in provider:
                raise KeyError(
                    f"{label}: no column {name!r} before this join; the columns are {', '.join(columns)}"
                )
        for name in right_on:
            if name not in table.column_names:
                raise KeyError(f"{label}: its table has no column {name!r}; its columns are {', '.join(table.column_names)}")
        # An int key against a string key raises KeyTypeError here, before any join runs.
        check_key_types([(name, types[name]) for name in left_on], [(name, table.schema.field(name).type) for name in right_on])
        # Each step's columns get names of their own, so that no order of the joins renames them.
        renamed = {name: f"{name}\x00{position}" for name in table.column_names if name not in right_on}
        table = table.rename_columns([renamed.get(name, name) for name in table.column_names])
        added = {}
        for name, inner in renamed.items():
            final = name if name not in provider else f"{name}{step.suffix}"
            if final in provider:
                raise ValueError(
                    f"{label}: its column {name!r} would be named {final!r}, which an earlier table has; pass another suffix="
                )
            provider[final] = position
            types[final] = table.schema.field(inner).type
            columns.append(final)
            added[final] = inner
        needs = {provider[name] for name in left_on} - {None}
        planned.append(PlannedStep(position, step, table, left_on, right_on, added, needs))  # type: ignore[arg-type]
    return planned, columns


def estimate(planned: PlannedStep, base: pa.Table, stats: dict[str, ColumnStats]) -> None:
    """Estimate the step's share of matching rows and its fan-out from single-key statistics."""
    if len(planned.left_on) != 1 or planned.left_on[0] not in base.column_names:
        planned.reason = "composite key" if len(planned.left_on) > 1 else "its key is added by an earlier join"
        return
    name = planned.left_on[0]
    if name not in stats:
        stats[name] = column_stats(base.column(name), name)
    probe = stats[name]
    supplied = planned.step.stats
    right_name = planned.right_on[0]
    if supplied is not None and right_name in supplied.columns:
        build = supplied.columns[right_name]
    else:
        # Exact distinct counts of the joined table's key: a fan-out from a sketch's estimate
        # would make a join on unique keys look as if it added rows.
        build = column_stats(planned.table.column(right_name), right_name, key=True)
    fraction, why = match_fraction(probe, build)
    if fraction is None:
        planned.reason = why
        return
    present = probe.valid / probe.rows if probe.rows else 0.0
    planned.match = fraction * present
    if build.distinct:
        planned.fanout = max(1.0, build.valid / build.distinct)
    planned.reason = f"{why}, {planned.fanout:.1f} build rows per key"


def choose_order(planned: list[PlannedStep], rows: int) -> tuple[list[int], dict[int, float | None]]:
    """Order the steps: the ready inner join with the fewest estimated rows out first, else the next left join."""
    done: set[int] = set()
    order: list[int] = []
    estimates: dict[int, float | None] = {}
    current: float | None = float(rows)
    while len(order) < len(planned):
        ready = [step for step in planned if step.position not in done and step.needs <= done]
        inner = [step for step in ready if step.step.how == "inner"]
        if inner:
            known = [step for step in inner if step.match is not None and current is not None]
            if known:
                chosen = min(known, key=lambda step: (current or 0.0) * (step.match or 0.0) * step.fanout)
            else:
                chosen = inner[0]  # no estimates: request order
        else:
            chosen = min(ready, key=lambda step: step.position)
        if current is not None and chosen.match is not None:
            matched = current * chosen.match * chosen.fanout
            current = matched if chosen.step.how == "inner" else max(current, matched + current * (1 - chosen.match))
        elif chosen.step.how == "inner":
            current = None
        estimates[chosen.position] = current
        order.append(chosen.position)
        done.add(chosen.position)
    return order, estimates


def plan_joins(base: pa.Table | pa.RecordBatch, steps: Sequence[JoinStep]) -> JoinsPlan:
    """Check several joins of `base` and choose their order; `execute()` runs them and `explain()` shows why.

    Raises KeyError for a key column that is missing, and ValueError for an invalid `how` or
    a column name that a suffix does not make unique. Raises KeyTypeError (a TypeError) for an
    integer key against a string key, and TypeError for a step that is not a JoinStep.
    """
    table = as_table(base, "left")
    if isinstance(steps, JoinStep) or not isinstance(steps, Sequence):
        raise TypeError(f"plan_joins takes a list of JoinStep objects, but got {type(steps).__name__}; wrap one step in a list")
    planned, columns = resolve_steps(table, steps)
    stats: dict[str, ColumnStats] = {}
    for step in planned:
        estimate(step, table, stats)
    order, estimates = choose_order(planned, table.num_rows)
    return JoinsPlan(table, planned, order, columns, estimates)


def join_all(base: pa.Table | pa.RecordBatch, steps: Sequence[JoinStep]) -> pa.Table:
    """Join `base` with each step's table, inner joins ordered by their estimated rows (see plan_joins)."""
    return plan_joins(base, steps).execute()
