"""The offline path: a plan run over whole Arrow columns, from a scan of the source or a given table.

Fused stages call the fused kernel over Arrow arrays, which splits large batches into
morsels across threads. Interpreted stages run row by row, in a process pool for large
batches. Join stages join the other entity's source with featurejit.joins
(featurejit.graph.offline_joins). Stages of one wave do not depend on each other and run on
threads of their own when the batch is large enough to pay for it. A row error names the row
of the scan or of the given table, and its key (featurejit.graph.row_errors).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import pyarrow as pa

from featurejit.graph.columns import as_declared, python_values, python_values_to_arrow
from featurejit.graph.entities import Entity, Feature
from featurejit.graph.interpreted import run_interpreted, uses_pool
from featurejit.graph.online import StageTrace
from featurejit.graph.planner import Plan, Stage
from featurejit.graph.row_errors import RowKeys
from featurejit.graph.sources import ScanStats, Source
from featurejit.runtime.parallel import LazyThreadPool
from featurejit.settings import settings

ArrowColumn: TypeAlias = pa.Array | pa.ChunkedArray
Sources: TypeAlias = Mapping[Entity, Source]

_stage_pool = LazyThreadPool(lambda: max(2, settings.threads), "featurejit-stage")


def stage_pool() -> ThreadPoolExecutor:
    """Return the threads that run the stages of a wave, separate from the kernels' morsel threads."""
    return _stage_pool.get()


@dataclass
class OfflineTrace:
    """The record of an offline query: its scan, its key lookups, and each stage's rows and time."""

    scan: ScanStats | None = None
    keys: int = 0
    found: int = 0
    stages: list[StageTrace] = field(default_factory=list)
    parallel_waves: int = 0


def run_arrow_stage(
    stage: Stage, columns: dict[Feature, ArrowColumn], rows: int, sources: Sources, trace: StageTrace
) -> dict[Feature, ArrowColumn]:
    """Run one stage over whole columns; return the columns of the features it writes."""
    if stage.join is not None:
        from featurejit.graph.offline_joins import run_join  # imported late: it imports this module

        return run_join(stage.join, columns, rows, sources, trace)
    if stage.fused is not None:
        table = pa.table({feature.column_name: as_declared(feature.type, columns[feature]) for feature in stage.fused_inputs})
        result = stage.fused(table)
        return {feature: result.column(feature.name) for feature in stage.writes}
    (node,) = stage.nodes
    arguments = {parameter: python_values(as_declared(feature.type, columns[feature])) for parameter, feature in node.inputs.items()}
    outcome = run_interpreted(node, arguments, rows)
    written = {}
    for feature, values in zip(node.outputs, outcome.columns, strict=True):
        if feature in stage.writes:
            written[feature] = python_values_to_arrow(values, feature.type.python_type)
    return written


@dataclass
class FoundRows:
    """The rows of a given table whose key the source contains, for the stages that need a source row."""

    mask: pa.Array  # bool, one per row
    count: int
    back: pa.Array  # for each row, its position among the found rows, or null
    rows: np.ndarray  # the row of each found row

    @staticmethod
    def of(found: np.ndarray) -> FoundRows:
        positions = np.full(len(found), -1, dtype=np.int64)
        rows = np.flatnonzero(found)
        positions[rows] = np.arange(len(rows))
        return FoundRows(pa.array(found), len(rows), pa.array(positions, mask=positions < 0), rows)


def timed_stage(
    stage: Stage,
    columns: dict[Feature, ArrowColumn],
    rows: int,
    sources: Sources,
    keys: RowKeys | None,
    found: FoundRows | None = None,
) -> tuple[dict[Feature, ArrowColumn], StageTrace]:
    """Run a stage and time it. With `found`, it runs on those rows only, and the others get null.

    A row error names the row as `keys` does, if given.
    """
    start = time.perf_counter()
    naming: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if keys is not None:
        naming = keys.naming(None if found is None else found.rows)
    with naming:
        if found is None:
            trace = StageTrace(stage, rows, 0.0)
            written = run_arrow_stage(stage, columns, rows, sources, trace)
        else:
            trace = StageTrace(stage, found.count, 0.0)
            subset = {feature: columns[feature].filter(found.mask) for feature in stage.reads}
            written = run_arrow_stage(stage, subset, found.count, sources, trace)
            written = {feature: column.take(found.back) for feature, column in written.items()}
    trace.seconds = time.perf_counter() - start
    return written, trace


def runs_in_parallel(wave: tuple[Stage, ...], rows: int) -> bool:
    """Return whether the stages of a wave run on threads of their own.

    Only stages that leave the GIL free gain from it: a fused kernel, which releases it while
    it runs, a join, whose kernels and Arrow's gathers release it, and interpreted stages that
    wait on a process pool. An interpreted stage that runs in this process holds the GIL, and
    would slow the others down instead.
    """
    if len(wave) < 2 or settings.threads < 2 or rows < settings.morsel_rows:
        return False
    return all(stage.fused is not None or stage.join is not None or uses_pool(rows) for stage in wave)


def run_arrow_stages(
    plan: Plan,
    columns: dict[Feature, ArrowColumn],
    rows: int,
    sources: Sources,
    trace: OfflineTrace | None,
    keys: RowKeys | None,
    found: FoundRows | None = None,
) -> None:
    """Run every wave of the plan, adding the columns each stage writes.

    With `found`, the stages that need a source row (Plan.source_stages) run on those rows only.
    """

    def run(stage: Stage) -> tuple[dict[Feature, ArrowColumn], StageTrace]:
        return timed_stage(stage, columns, rows, sources, keys, found if stage in plan.source_stages else None)

    for wave in plan.waves:
        if runs_in_parallel(wave, rows):
            outcomes = list(stage_pool().map(run, wave))
            if trace is not None:
                trace.parallel_waves += 1
        else:
            outcomes = [run(stage) for stage in wave]
        for written, stage_trace in outcomes:
            columns.update(written)
            if trace is not None:
                trace.stages.append(stage_trace)


def run_offline(
    plan: Plan,
    columns: dict[Feature, ArrowColumn],
    rows: int,
    found: np.ndarray | None,
    trace: OfflineTrace | None,
    sources: Sources,
    keys: RowKeys | None = None,
) -> dict[Feature, ArrowColumn]:
    """Run the plan over `rows` rows of the columns.

    Rows where `found` is False have no source row: they get null for the features of the
    stages that need one, and the other stages compute from the given columns alone. A row
    error names its row as `keys` does (see featurejit.graph.row_errors).
    """
    if found is None or found.all():
        run_arrow_stages(plan, columns, rows, sources, trace, keys)
    else:
        run_arrow_stages(plan, columns, rows, sources, trace, keys, FoundRows.of(found))
    return columns
