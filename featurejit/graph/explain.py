"""The text of `Graph.explain()`: a query's plan, and with analyze=True what running it did.

    plan of Flight: speed_mph, is_fast (offline, a scan of flights.parquet)
      scan flights.parquet
        columns read: distance, air_time (2 of 19)
        filter pushed into the scan: (distance > 1000)
        row groups: 3 of 10 may match, by their statistics
        estimated rows: 30,000
      stage 1: fused kernel [speed, is_fast], native
        reads distance, air_time; writes speed_mph, is_fast
"""

from __future__ import annotations

import textwrap
import time
from typing import TYPE_CHECKING, Any

from featurejit.graph.errors import GraphError
from featurejit.graph.join_explain import join_lines
from featurejit.graph.offline import OfflineTrace
from featurejit.graph.online import OnlineTrace, StageTrace
from featurejit.graph.planner import Plan, Stage
from featurejit.graph.sources import Filter, ScanStats, Source, filter_expression
from featurejit.settings import settings

if TYPE_CHECKING:
    from featurejit.graph.graph import Graph


def format_ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def format_bytes(size: int) -> str:
    if size >= 2**20:
        return f"{size / 2**20:.1f} MiB"
    if size >= 2**10:
        return f"{size / 2**10:.1f} KiB"
    return f"{size} bytes"


def names(features: Any) -> str:
    return ", ".join(feature.name for feature in features) or "nothing"


def kernel_state(stage: Stage) -> str:
    """Return whether a fused stage's kernel is native, compiling it for its annotated types if it has not run."""
    from featurejit.runtime.fused import fused_state

    assert stage.fused is not None
    state = fused_state(stage.fused)
    if settings.disable_jit:
        return "in the interpreter (FEATUREJIT_DISABLE_JIT is set)"
    if not state.kernels:
        state.kernel(state.default_keys())
    if state.failure is not None:
        return f"in the interpreter: {state.failure}".replace("\n", "\n        ")
    return "native"


def stage_lines(
    graph: Graph, plan: Plan, estimated: int | None, traces: dict[Stage, StageTrace], online: bool
) -> list[str]:
    lines = []
    for wave in plan.waves:
        parallel = [stage.number for stage in wave if stage.join is None]
        for stage in wave:
            header = f"  {stage.describe()}"
            if stage.fused is not None:
                header += f", {kernel_state(stage)}"
            lines.append(header)
            lines.append(f"    reads {names(stage.reads)}; writes {names(stage.writes)}")
            if stage.reason:
                lines.append(f"    runs in the interpreter because {stage.reason}".replace("\n", "\n      "))
            if len(parallel) > 1 and stage.number in parallel:
                others = ", ".join(str(number) for number in parallel if number != stage.number)
                lines.append(f"    independent of stage {others}, so they run in parallel on large batches")
            trace = traces.get(stage)
            if stage.join is not None:
                lines += join_lines(graph, stage.join, estimated, trace, online)
            lines.append(f"    estimated rows: {'unknown' if estimated is None else f'{estimated:,}'}")
            if trace is not None:
                matched = "" if trace.matched is None else f", with a match: {trace.matched:,}"
                lines.append(f"    actual rows: {trace.rows:,}{matched}, time: {format_ms(trace.seconds)}")
    return lines


def scan_lines(plan: Plan, source: Source, estimated: Any, stats: ScanStats | None) -> list[str]:
    lines = [f"  scan {source.description}"]
    read = [feature.name for feature in plan.source_reads]
    for_filter = [name for name in source.filter_columns(plan.filter) if name not in read]
    listed = names(plan.source_reads) + (f"; for the filter: {', '.join(for_filter)}" if for_filter else "")
    lines.append(f"    columns read: {listed} ({len(read) + len(for_filter)} of {len(source.schema.names)})")
    if plan.filter is not None:
        lines.append(f"    filter pushed into the scan: {plan.filter}")
    if estimated.row_groups_total is not None:
        lines.append(
            f"    row groups: {estimated.row_groups_read} of {estimated.row_groups_total} may match, by their statistics"
        )
    lines.append(f"    estimated rows: {'unknown' if estimated.rows is None else f'{estimated.rows:,}'}")
    if stats is not None:
        lines.append(f"    actual rows: {stats.rows:,}, time: {format_ms(stats.seconds)}")
        if stats.bytes_read is not None and stats.bytes_total is not None:
            lines.append(
                f"    read {stats.row_groups_read} of {stats.row_groups_total} row groups, "
                f"{format_bytes(stats.bytes_read)} of {format_bytes(stats.bytes_total)} of column chunks"
            )
    return lines


def describe_offline(graph: Graph, plan: Plan, trace: OfflineTrace | None, seconds: float) -> str:
    """Return the text of an offline plan, with the rows and times of a run if `trace` is given."""
    source = graph.dag.source_of(plan.entity)
    where = f"a scan of {source.description}" if source is not None else "no source"
    lines = [f"plan of {plan.entity.name}: {names(plan.outputs)} (offline, {where})"]
    estimated = source.estimate(plan.filter) if source is not None else None
    if source is not None and estimated is not None:
        lines += scan_lines(plan, source, estimated, trace.scan if trace is not None else None)
    traces = {stage_trace.stage: stage_trace for stage_trace in trace.stages} if trace is not None else {}
    lines += stage_lines(graph, plan, estimated.rows if estimated is not None else None, traces, online=False)
    if trace is not None:
        waves = trace.parallel_waves
        on_threads = "every stage ran on the calling thread"
        if waves:
            on_threads = f"{waves} wave{'s' if waves != 1 else ''} of stages ran on threads"
        lines.append(f"  total time: {format_ms(seconds)}; {on_threads}")
    return "\n".join(lines)


def explain_offline(graph: Graph, outputs: Any, filters: Filter, analyze: bool) -> str:
    plan = graph.plan(graph.resolve_outputs(outputs), (), filter_expression(filters))
    if not analyze:
        return describe_offline(graph, plan, None, 0.0)
    trace = OfflineTrace()
    start = time.perf_counter()
    graph.run_table_query(outputs, None, filters, trace)
    return describe_offline(graph, plan, trace, time.perf_counter() - start)


def describe_online(graph: Graph, plan: Plan, rows: int, trace: OnlineTrace | None, seconds: float) -> str:
    """Return the text of an online plan, with the rows and times of a run if `trace` is given."""
    lines = [f"plan of {plan.entity.name}: {names(plan.outputs)} (online, {rows:,} request row{'s' if rows != 1 else ''})"]
    if plan.request:
        lines.append(f"  request gives {names(plan.request)}")
    source = graph.dag.source_of(plan.entity)
    if plan.reads_source and source is not None:
        key = plan.entity.key
        assert key is not None, "every entity has a primary key"
        lines.append(f"  lookup by {key!r} in {source.description}")
        lines.append(f"    columns read: {names(plan.source_reads)}")
        if trace is not None:
            lines.append(f"    keys found: {trace.found:,} of {trace.keys:,}, time: {format_ms(trace.lookup_seconds)}")
    traces = {stage_trace.stage: stage_trace for stage_trace in trace.stages} if trace is not None else {}
    lines += stage_lines(graph, plan, rows, traces, online=True)
    if trace is not None:
        lines.append(f"  total time: {format_ms(seconds)}")
    return "\n".join(lines)


def explain_online(graph: Graph, outputs: Any, inputs: Any, analyze: bool) -> str:
    from featurejit.graph.graph import is_row_list

    if is_row_list(inputs):
        rows_by_feature, groups = graph.row_groups(graph.resolve_outputs(outputs), inputs)
        if len(groups) > 1:  # each group of rows runs with a plan of its own
            parts = []
            for group in groups:
                text = explain_online(graph, outputs, [rows_by_feature[row] for row in group], analyze)
                parts.append(f"request rows {', '.join(map(str, group))}:\n" + textwrap.indent(text, "  "))
            return "\n".join(parts)
    request, rows = graph.request_columns(inputs)
    plan = graph.plan(graph.resolve_outputs(outputs), tuple(request), None)
    if not analyze:
        return describe_online(graph, plan, rows, None, 0.0)
    trace = OnlineTrace()
    start = time.perf_counter()
    graph.run_query(outputs, inputs, trace)
    return describe_online(graph, plan, rows, trace, time.perf_counter() - start)


def explain_query(graph: Graph, outputs: Any, inputs: Any, filters: Filter, analyze: bool) -> str:
    if inputs is not None:
        if filters is not None:
            raise GraphError("filters apply to offline queries over a source; an online query takes no filters")
        return explain_online(graph, outputs, inputs, analyze)
    return explain_offline(graph, outputs, filters, analyze)
