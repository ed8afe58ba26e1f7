"""The online path: a few keys or request rows in, the requested features out as Python values.

Rows are looked up by key in the columns each source keeps in memory. A fused kernel runs on
numpy buffers (featurejit.runtime.fused_rows), and interpreted resolvers run in this process
unless the batch is large. A row whose key is not in the source gets null for every feature
that the request does not give, and no resolver runs on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from featurejit.graph.columns import Column, is_numeric, numpy_values
from featurejit.graph.entities import Feature, FeatureType
from featurejit.graph.errors import GraphError
from featurejit.graph.interpreted import run_interpreted
from featurejit.graph.planner import Plan, Stage
from featurejit.graph.sources import Source
from featurejit.runtime.fused import fused_state
from featurejit.runtime.fused_rows import run_fused_rows


class StoredColumn:
    """A whole source column kept in memory for lookups: numpy arrays for numbers, the Arrow array otherwise."""

    def __init__(self, array: pa.Array, type: FeatureType):
        self.type = type
        self.array = array
        self.values: np.ndarray | None = None
        self.valid: np.ndarray | None = None
        if is_numeric(type.python_type):
            self.values, self.valid = numpy_values(array, type.python_type)

    def take(self, rows: np.ndarray) -> Column:
        """Return the values at `rows`; a row of -1 gives null."""
        missing = rows < 0
        any_missing = bool(missing.any())
        if self.values is None or self.valid is None:
            if len(rows) > 64:
                indices = pa.array(rows, mask=missing)
                return Column(self.type, self.array.take(indices).to_pylist(), None, self.array.type)
            values = [None if row < 0 else self.array[row].as_py() for row in rows.tolist()]
            return Column(self.type, values, None, self.array.type)
        safe = np.where(missing, 0, rows) if any_missing else rows
        if len(self.values) == 0:
            return Column.nulls(len(rows), self.type)
        valid = self.valid[safe]
        if any_missing:
            valid = valid & ~missing
        return Column(self.type, self.values[safe], valid)


@dataclass
class StageTrace:
    """The rows and time of one stage of a query that ran."""

    stage: Stage
    rows: int
    seconds: float


@dataclass
class OnlineTrace:
    """What an online query did: keys looked up and found, and each stage's rows and time."""

    keys: int = 0
    found: int = 0
    lookup_seconds: float = 0.0
    stages: list[StageTrace] = field(default_factory=list)


def lookup_rows(plan: Plan, source: Source | None, request: dict[Feature, Column]) -> np.ndarray:
    """Return the source row of each request row, -1 for keys the source does not contain."""
    entity = plan.entity
    key = entity.key
    assert key is not None, "every entity has a primary key"
    if source is None:
        raise GraphError(f"{entity.name} has no source to read {', '.join(map(repr, plan.source_reads))} from")
    if key not in request:
        raise GraphError(
            f"the query reads {', '.join(map(repr, plan.source_reads))} from the source of {entity.name}, so the "
            f"request must give {key!r}, the primary key, to look the rows up"
        )
    if not source.has_column(key.name):
        raise GraphError(f"the source {source.description} has no column {key.name}, the primary key of {entity.name}")
    index = source.key_index(key.name)
    keys = request[key].to_pylist()
    if len(keys) == 1:
        return np.array([index.lookup_one(keys[0])], dtype=np.int64)
    return index.lookup(keys)


def run_stage(stage: Stage, columns: dict[Feature, Column], rows: int) -> None:
    """Run one stage over the columns and add the features it writes."""
    if stage.fused is not None:
        inputs = [columns[feature].numeric() for feature in stage.fused_inputs]
        results = run_fused_rows(fused_state(stage.fused), inputs)
        for feature, (values, valid) in zip(stage.writes, results, strict=True):
            columns[feature] = Column(feature.type, values, valid)
        return
    (node,) = stage.nodes
    arguments = {parameter: columns[feature].to_pylist() for parameter, feature in node.inputs.items()}
    result = run_interpreted(node, arguments, rows)
    for feature, written in zip(node.outputs, result.columns, strict=True):
        if feature in stage.writes:
            columns[feature] = Column.from_pylist(written, feature.type)


def run_stages(plan: Plan, columns: dict[Feature, Column], rows: int, trace: OnlineTrace | None) -> None:
    for stage in plan.stages:
        start = time.perf_counter()
        run_stage(stage, columns, rows)
        if trace is not None:
            trace.stages.append(StageTrace(stage, rows, time.perf_counter() - start))


def run_online(
    plan: Plan,
    request: dict[Feature, Column],
    rows: int,
    source: Source | None,
    stored_column: Callable[[Feature], StoredColumn],
    trace: OnlineTrace | None = None,
) -> dict[Feature, Column]:
    """Run a plan over request rows; return the columns of every feature read or written."""
    columns = dict(request)
    if not plan.reads_source:
        run_stages(plan, columns, rows, trace)
        return columns
    start = time.perf_counter()
    source_rows = lookup_rows(plan, source, request)
    for feature in plan.source_reads:
        columns[feature] = stored_column(feature).take(source_rows)
    found = source_rows >= 0
    if trace is not None:
        trace.keys, trace.found, trace.lookup_seconds = rows, int(found.sum()), time.perf_counter() - start
    if found.all():
        run_stages(plan, columns, rows, trace)
        return columns
    return run_found_rows(plan, columns, found, trace)


def run_found_rows(
    plan: Plan, columns: dict[Feature, Column], found: np.ndarray, trace: OnlineTrace | None
) -> dict[Feature, Column]:
    """Run the stages on the rows whose key was found, and give the others null for every computed feature."""
    positions = np.flatnonzero(found)
    subset = {feature: column.take(positions) for feature, column in columns.items()}
    if len(positions):
        run_stages(plan, subset, len(positions), trace)
    back = np.full(len(found), -1, dtype=np.int64)
    back[positions] = np.arange(len(positions))
    for feature in plan.computed:
        columns[feature] = subset[feature].take(back) if len(positions) else Column.nulls(len(found), feature.type)
    return columns


def request_column(feature: Feature, values: list[Any]) -> Column:
    """Check request values against the feature's declared type and return them as a column."""
    accepted = {float: (float, int, bool), int: (int, bool)}.get(feature.type.python_type, (feature.type.python_type,))
    for row, value in enumerate(values):
        if value is not None and not isinstance(value, accepted):
            raise GraphError(
                f"{feature!r} is declared {feature.type}, but the request gives {value!r} "
                f"({type(value).__name__}) in row {row}"
            )
    try:
        return Column.from_pylist(values, feature.type)
    except OverflowError:
        raise GraphError(f"a value of {feature!r} in the request does not fit in int64") from None
