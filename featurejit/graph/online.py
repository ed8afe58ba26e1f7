"""The online path: a few keys or request rows in, the requested features out as Python values.

Rows are looked up by key in the columns each source keeps in memory. A fused kernel over
bool, int and float columns runs on numpy buffers (featurejit.runtime.fused_rows), one with
str columns on Arrow arrays. Interpreted resolvers run in this process unless the batch is
large. A row whose key is not in the source gets null for every feature that needs a source
row, and only the resolvers that compute from the request alone run on it. Join stages look
the other entity's rows up in indexes kept with its source (featurejit.graph.online_joins).
A row error names the row of the request and its key (featurejit.graph.row_errors).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from featurejit.graph.columns import Column, is_numeric, numpy_values, python_values
from featurejit.graph.entities import Entity, Feature, FeatureType
from featurejit.graph.errors import GraphError
from featurejit.graph.interpreted import run_interpreted
from featurejit.graph.keys import KeyIndex
from featurejit.graph.planner import Plan, Stage
from featurejit.graph.row_errors import RowKeys
from featurejit.graph.sources import Source
from featurejit.runtime.fused import fused_state
from featurejit.runtime.fused_rows import run_fused_rows


class StoredColumn:
    """A whole source column kept in memory for lookups: numpy arrays for numbers, the Arrow array otherwise."""

    def __init__(self, array: pa.Array, type: FeatureType):
        self.type = type
        self.array = array
        # Results hold a dictionary column's values, as offline queries return them.
        self.arrow_type = array.type.value_type if pa.types.is_dictionary(array.type) else array.type
        self.values: np.ndarray | None = None
        self.valid: np.ndarray | None = None
        if is_numeric(type.python_type):
            self.values, self.valid = numpy_values(array, type.python_type)

    def take(self, rows: np.ndarray, missing: np.ndarray | None) -> Column:
        """Return the values at `rows`. `missing` marks the rows of -1, which give null; None means there are none."""
        if self.values is None or self.valid is None:
            # Few rows are read one by one, but as_py() gives pandas Timestamps for nanoseconds.
            if len(rows) > 64 or (pa.types.is_timestamp(self.array.type) and self.array.type.unit == "ns"):
                indices = pa.array(rows, mask=missing)
                return Column(self.type, python_values(self.array.take(indices)), None, self.arrow_type)
            values = [None if row < 0 else self.array[row].as_py() for row in rows.tolist()]
            return Column(self.type, values, None, self.arrow_type)
        if missing is None:
            return Column(self.type, self.values[rows], self.valid[rows])
        if len(self.values) == 0:
            return Column.nulls(len(rows), self.type)
        safe = np.where(missing, 0, rows)
        return Column(self.type, self.values[safe], self.valid[safe] & ~missing)


class OnlineStore:
    """An entity's source as online queries read it: its key index, and whole columns kept in memory."""

    def __init__(self, entity: Entity, source: Source | None):
        self.entity = entity
        self.source = source
        self.columns: dict[Feature, StoredColumn] = {}
        self.index: KeyIndex | None = None
        self.lock = threading.Lock()

    def key_index(self) -> KeyIndex:
        """Return the index of the primary key column, built on first use."""
        if self.index is not None:
            return self.index
        key = self.entity.key
        assert key is not None, "every entity has a primary key"
        source = self.source
        if source is None:
            raise GraphError(f"{self.entity.name} has no source to look keys up in")
        if not source.has_column(key.name):
            raise GraphError(f"the source ({source.description}) has no column {key.name}, the primary key of {self.entity.name}")
        self.index = source.key_index(key.name)
        return self.index

    def column(self, feature: Feature) -> StoredColumn:
        """Return a feature's whole source column, read on first use."""
        stored = self.columns.get(feature)
        if stored is None:
            assert self.source is not None, "plans read only features of entities with a source"
            stored = StoredColumn(self.source.column(feature.name), feature.type)
            with self.lock:
                stored = self.columns.setdefault(feature, stored)
        return stored


@dataclass
class StageTrace:
    """The rows and time of one stage of a query that ran, and for a join the rows that found a partner."""

    stage: Stage
    rows: int
    seconds: float
    matched: int | None = None
    details: list[str] = field(default_factory=list)


@dataclass
class OnlineTrace:
    """The record of an online query: keys looked up and found, and each stage's rows and time."""

    keys: int = 0
    found: int = 0
    lookup_seconds: float = 0.0
    stages: list[StageTrace] = field(default_factory=list)


def lookup_rows(plan: Plan, store: OnlineStore, request: dict[Feature, Column]) -> np.ndarray:
    """Return the source row of each request row, -1 for keys the source does not contain."""
    key = plan.entity.key
    assert key is not None, "every entity has a primary key"
    column = request.get(key)
    if column is None:
        raise GraphError(
            f"the query reads {', '.join(map(repr, plan.source_reads))} from the source of {plan.entity.name}, so the "
            f"request must give {key!r}, the primary key, to look the rows up"
        )
    index = store.key_index()
    keys = column.to_pylist()
    if len(keys) == 1:
        return np.array([index.lookup_one(keys[0])], dtype=np.int64)
    return index.lookup(keys)


Stores = Mapping[Entity, OnlineStore]


def run_stage(stage: Stage, columns: dict[Feature, Column], rows: int, stores: Stores, trace: StageTrace | None) -> None:
    """Run one stage over the columns and add the features it writes."""
    if stage.join is not None:
        from featurejit.graph.online_joins import run_join  # imported late: it imports this module

        columns.update(run_join(stage.join, columns, rows, stores, trace))
        return
    if stage.fused is not None and stage.numeric:
        inputs = [columns[feature].numeric() for feature in stage.fused_inputs]
        results = run_fused_rows(fused_state(stage.fused), inputs)
        for feature, (values, valid) in zip(stage.writes, results, strict=True):
            columns[feature] = Column(feature.type, values, valid)
        return
    if stage.fused is not None and rows <= INTERPRETED_ROWS:
        run_in_interpreter(stage, columns, rows)
        return
    if stage.fused is not None:
        # A kernel over str columns runs on Arrow arrays, because its strings live in Arrow buffers.
        table = pa.table({feature.column_name: columns[feature].to_arrow() for feature in stage.fused_inputs})
        result = stage.fused(table)
        for feature in stage.writes:
            columns[feature] = Column.from_arrow(result.column(feature.name), feature.type)
        return
    run_in_interpreter(stage, columns, rows)


# A fused stage over str or datetime columns runs its resolvers in the interpreter for up to
# this many rows, because building Arrow arrays of Python values and back costs more than the
# calls. Measured in one process on a shared two-core VM, one key through three datetime
# resolvers took 35 us interpreted against 200 us through the kernel on Arrow arrays.
INTERPRETED_ROWS = 16


def run_in_interpreter(stage: Stage, columns: dict[Feature, Column], rows: int) -> None:
    """Run a stage's resolvers one after another on Python values; for a fused stage, as its kernel's slow path would."""
    values = dict(columns)
    pending = list(stage.nodes)
    while pending:
        ready = [node for node in pending if all(feature in values for feature in node.inputs.values())]
        assert ready, "a fused stage's resolvers read only its inputs and each other's outputs"
        node = ready[0]
        pending.remove(node)
        arguments = {parameter: values[feature].to_pylist() for parameter, feature in node.inputs.items()}
        result = run_interpreted(node, arguments, rows)
        for feature, written in zip(node.outputs, result.columns, strict=True):
            values[feature] = Column.from_pylist(written, feature.type)
    for feature in stage.writes:
        columns[feature] = values[feature]


def run_traced(stage: Stage, columns: dict[Feature, Column], rows: int, stores: Stores, trace: OnlineTrace | None) -> None:
    if trace is None:
        run_stage(stage, columns, rows, stores, None)
        return
    start = time.perf_counter()
    stage_trace = StageTrace(stage, rows, 0.0)
    run_stage(stage, columns, rows, stores, stage_trace)
    stage_trace.seconds = time.perf_counter() - start
    trace.stages.append(stage_trace)


def run_stages(plan: Plan, columns: dict[Feature, Column], rows: int, stores: Stores, trace: OnlineTrace | None) -> None:
    for stage in plan.stages:
        run_traced(stage, columns, rows, stores, trace)


def run_online(
    plan: Plan, request: dict[Feature, Column], rows: int, stores: Stores, trace: OnlineTrace | None = None
) -> dict[Feature, Column]:
    """Run a plan over request rows; return the columns of every feature read or written."""
    columns = dict(request)
    if not plan.reads_source:
        key_column = columns.get(plan.entity.key) if plan.entity.key is not None else None
        if key_column is None:
            run_stages(plan, columns, rows, stores, trace)
        else:
            with RowKeys(plan.entity, lambda row: key_column.to_pylist()[row]).naming():
                run_stages(plan, columns, rows, stores, trace)
        return columns
    start = time.perf_counter() if trace is not None else 0.0
    store = stores[plan.entity]
    source_rows = lookup_rows(plan, store, request)
    if trace is not None:
        trace.keys, trace.found = rows, int((source_rows >= 0).sum())
        trace.lookup_seconds = time.perf_counter() - start
    return run_source_rows(plan, columns, source_rows, stores, trace, whole_rows=False)


def run_source_rows(
    plan: Plan,
    columns: dict[Feature, Column],
    source_rows: np.ndarray,
    stores: Stores,
    trace: OnlineTrace | None,
    whole_rows: bool = True,
) -> dict[Feature, Column]:
    """Read the plan's source features at `source_rows` (-1 for none), then run its stages.

    `columns` contains the request's features for the same rows, and gets every feature read
    or written. On rows without a source row, the stages that need one (Plan.source_stages)
    give null; with `whole_rows`, as for the partner rows of a join, every stage does.
    """
    store = stores[plan.entity]
    found = source_rows >= 0
    all_found = bool(found.all())
    missing = None if all_found else ~found
    for feature in plan.source_reads:
        columns[feature] = store.column(feature).take(source_rows, missing)
    keys = source_row_keys(plan.entity, store, columns, source_rows, show_row=not whole_rows)
    if all_found:
        with keys.naming():
            run_stages(plan, columns, len(source_rows), stores, trace)
        return columns
    # Stages that need a source row run on the found rows, reading a subset of each column
    # taken once, and write their features back with nulls on the other rows.
    needs_row = frozenset(plan.stages) if whole_rows else plan.source_stages
    positions = np.flatnonzero(found)
    back = np.full(len(found), -1, dtype=np.int64)
    back[positions] = np.arange(len(positions))
    subset: dict[Feature, Column] = {}
    for stage in plan.stages:
        if stage not in needs_row:
            with keys.naming():
                run_traced(stage, columns, len(found), stores, trace)
            continue
        for feature in stage.reads:
            if feature not in subset:
                subset[feature] = columns[feature].take(positions)
        if len(positions):
            with keys.naming(positions):
                run_traced(stage, subset, len(positions), stores, trace)
        for feature in stage.writes:
            columns[feature] = subset[feature].take(back) if len(positions) else Column.nulls(len(found), feature.type)
    return columns


def source_row_keys(
    entity: Entity, store: OnlineStore, columns: dict[Feature, Column], source_rows: np.ndarray, show_row: bool
) -> RowKeys:
    """Return how row errors name the rows of run_source_rows: by the key of their source row, else of the request."""
    key = entity.key

    def key_at(row: int) -> Any:
        source_row = int(source_rows[row])
        if key is not None and source_row >= 0:
            return store.column(key).take(np.array([source_row]), None).to_pylist()[0]
        if key is not None and key in columns:
            return columns[key].to_pylist()[row]
        raise LookupError(f"row {row} has no key")

    return RowKeys(entity, key_at, show_row)


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
