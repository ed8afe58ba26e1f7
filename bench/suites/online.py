"""Latency of one request: p50 and p99 over many single calls, as an online feature server makes them.

A request here is one flight's speed_mph, computed from Python scalars, from one-row Arrow
arrays, or by the three fused resolvers over a one-row table. Peers compute the same from a
one-row frame. Requests through a feature graph, with a key lookup, are in graph_online.py.
"""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa

import featurejit as fj
from bench.harness import (
    Bench,
    Case,
    Check,
    Row,
    Suite,
    SuiteResult,
    collector_off,
    failed,
    passed,
    set_ratios,
)
from bench.suites.resolvers import RESOLVERS, SPEED_SQL, speed_mph, speed_polars

EXPECTED = 1400 / (227 / 60)


def plain_speed(distance: int, air_time: int | None) -> float | None:
    if air_time is None or air_time == 0:
        return None
    return distance / (air_time / 60)


def first_float(result: Any) -> float:
    """Return the first value of a peer's result: a float, an Arrow array or table, or a Polars frame."""
    if isinstance(result, float):
        return result
    if hasattr(result, "to_arrow"):
        result = result.to_arrow()
    if isinstance(result, pa.Table):
        result = result.column(0)
    return float(result[0].as_py())


def check_speed(result: Any) -> Check:
    value = first_float(result)
    if value == EXPECTED:
        return passed(f"{value!r}, as the plain function returns")
    return failed(f"{value!r}, the plain function returns {EXPECTED!r}")


class OnlineSuite(Suite):
    name = "online"
    title = "Online request latency"
    description = (
        "One request for one flight's speed_mph, timed call by call: p50 and p99 over many calls. Requests through "
        "a feature graph, with a key lookup, are measured by the graph suite."
    )
    kind = "latency"
    order = 50

    def run(self, bench: Bench) -> SuiteResult:
        calls = 500 if bench.options.quick else 5000
        row_table = pa.table({"distance": pa.array([1400]), "air_time": pa.array([227])})
        distance, air_time = row_table.column("distance"), row_table.column("air_time")
        three_inputs = sorted({name for spec in RESOLVERS for name in spec.inputs})
        three_table = pa.table({name: pa.array([{"distance": 1400, "air_time": 227}.get(name, 30)]) for name in three_inputs})
        fused = fj.fuse(*(spec.resolver for spec in RESOLVERS)) if hasattr(fj, "fuse") else None

        cases = [
            Case("plain Python function, scalars", "python", lambda: plain_speed(1400, 227), check_speed, 1, reference=True),
            Case("featurejit, scalars", "featurejit", lambda: speed_mph(1400, 227), check_speed, 1),
            Case("featurejit, one-row Arrow arrays", "featurejit", lambda: speed_mph(distance, air_time), check_speed, 1),
        ]
        if fused is not None:
            cases.append(Case("featurejit fused (3 resolvers), one-row table", "featurejit", lambda: fused(three_table), check_speed, 1))
        polars = bench.import_peer("polars")
        if polars is None:
            cases.append(bench.missing_case("Polars select, one-row frame", "polars", 1))
        else:
            frame = polars.from_arrow(row_table)
            expression = speed_polars(polars)
            cases.append(Case("Polars select, one-row frame", "polars", lambda: frame.select(expression), check_speed, 1))
        duckdb = bench.import_peer("duckdb")
        if duckdb is None:
            cases.append(bench.missing_case("DuckDB query, one-row table", "duckdb", 1))
        else:
            connection = duckdb.connect()
            connection.execute(f"SET threads TO {bench.options.threads}")
            connection.register("flights", row_table)
            cases.append(Case("DuckDB query, one-row table", "duckdb", lambda: connection.sql(SPEED_SQL).fetchall()[0][0], check_speed, 1))

        rows = [self.sample(bench, case, calls) for case in cases]
        set_ratios(rows, lambda row: row.median_ms)
        return self.result(rows=rows, notes=notes(calls))

    def sample(self, bench: Bench, case: Case, calls: int) -> Row:
        """Time `calls` single calls, interleaved with nothing else, after the warm-up and check."""
        row = bench.prepare(self.name, "one request", case)
        if row.status != "ok":
            return row
        assert case.call is not None
        call = case.call
        bench.status(f"{self.name}: timing {case.name}")
        with collector_off():
            for _ in range(calls):
                start = time.perf_counter_ns()
                call()
                row.samples_ms.append((time.perf_counter_ns() - start) / 1e6)
        return row


def notes(calls: int) -> list[str]:
    return [
        f"{calls:,} calls per case, each timed on its own with time.perf_counter_ns, whose own cost (tens of "
        "nanoseconds) is included.",
        "x reference is the row's median over the plain function's median.",
        "The fused row's request has the inputs of speed_mph, delay_score and scheduled_clock_minutes.",
    ]


SUITE = OnlineSuite()
