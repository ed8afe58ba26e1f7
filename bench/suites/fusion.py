"""Several resolvers over one table: one fused kernel against one call per resolver and against peers.

The eight resolvers are the seven numeric ones of examples/flights.py and `log_distance`. Every case
computes all eight columns over the flights table (repeated for larger row counts): numpy over
the columns' values and validity masks, Polars in one select and DuckDB in one query. A second
group fuses the three resolvers of bench/suites/resolvers.py and runs the same peers on them.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import featurejit as fj
from bench.checks import compare_values, to_float_array
from bench.harness import Bench, Case, Check, Row, Suite, SuiteResult, Target, failed, passed, with_threads
from bench.suites.resolvers import DELAY_THRESHOLD_MINUTES, RESOLVERS, Columns, load_columns, slice_columns

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flights.py"


@fj.jit_resolver
def log_distance(distance: int) -> float:
    return math.log1p(distance)


def example_resolvers() -> list[Any]:
    """Return the resolvers of examples/flights.py that read numbers only, as the peers do."""
    spec = importlib.util.spec_from_file_location("featurejit_bench_flights_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    resolvers = [value for value in vars(module).values() if isinstance(value, fj.JitResolver)]
    numeric = (int, float, bool)
    return [
        resolver
        for resolver in resolvers
        if all(spec.python_type in numeric for _, spec in resolver.signature().parameters)
    ]


# The memory-bound reference of the eight: resolvers with the parameter and result types of
# the eight, with one integer operation each instead of the real work. A fused kernel of them
# reads the same columns and writes columns of the same types.


@fj.jit_resolver
def copy_speed(distance: int, air_time: int | None) -> float | None:
    return None if air_time is None else distance + air_time


@fj.jit_resolver
def copy_delayed(arr_delay: int | None) -> bool | None:
    return None if arr_delay is None else arr_delay > 0


@fj.jit_resolver
def copy_made_up(dep_delay: int | None, arr_delay: int | None) -> bool:
    return dep_delay is not None and arr_delay is not None and dep_delay > arr_delay


@fj.jit_resolver
def copy_period(dep_time: int | None, sched_dep_time: int) -> int:
    return sched_dep_time if dep_time is None else dep_time + sched_dep_time


@fj.jit_resolver
def copy_clock(sched_dep_time: int, sched_arr_time: int) -> int:
    return sched_arr_time - sched_dep_time


@fj.jit_resolver
def copy_score(arr_delay: int | None, distance: int) -> float | None:
    return None if arr_delay is None else arr_delay + distance


@fj.jit_resolver
def copy_fraction(dep_delay: int | None, arr_delay: int | None) -> float | None:
    return None if dep_delay is None or arr_delay is None else dep_delay - arr_delay


@fj.jit_resolver
def copy_distance(distance: int) -> float:
    return distance + 1


MEMORY_BOUND = [copy_speed, copy_delayed, copy_made_up, copy_period, copy_clock, copy_score, copy_fraction, copy_distance]


# --------------------------------------------------------------------------------------
# The peers of the eight resolvers
# --------------------------------------------------------------------------------------
# A numpy peer returns a float64 column with NaN for null, a column without nulls, or a pair of
# values and validity mask for a nullable bool column. Polars and DuckDB columns keep their nulls.


def is_delayed_numpy(columns: Columns) -> tuple[np.ndarray, np.ndarray]:
    return columns.values["arr_delay"] >= DELAY_THRESHOLD_MINUTES, columns.valid["arr_delay"]


def is_delayed_polars(polars: Any) -> Any:
    return polars.col("arr_delay") >= DELAY_THRESHOLD_MINUTES


IS_DELAYED_SQL = f"arr_delay >= {DELAY_THRESHOLD_MINUTES}"


def made_up_numpy(columns: Columns) -> np.ndarray:
    dep_delay, arr_delay = columns.values["dep_delay"], columns.values["arr_delay"]
    both = columns.valid["dep_delay"] & columns.valid["arr_delay"]
    return both & (dep_delay > 0) & (arr_delay < dep_delay)


def made_up_polars(polars: Any) -> Any:
    # With a null delay the conjunction is null or False under Kleene logic, and the resolver returns False.
    dep_delay, arr_delay = polars.col("dep_delay"), polars.col("arr_delay")
    return ((dep_delay > 0) & (arr_delay < dep_delay)).fill_null(False)


MADE_UP_SQL = "coalesce(dep_delay > 0 AND arr_delay < dep_delay, false)"


def period_numpy(columns: Columns) -> np.ndarray:
    clock = np.where(columns.valid["dep_time"], columns.values["dep_time"], columns.values["sched_dep_time"])
    hour = clock // 100
    return np.select([hour < 6, hour < 12, hour < 17, hour < 22], [0, 1, 2, 3], default=0)


def period_polars(polars: Any) -> Any:
    hour = polars.coalesce("dep_time", "sched_dep_time") // 100
    period = (
        polars.when(hour < 6).then(0)
        .when(hour < 12).then(1)
        .when(hour < 17).then(2)
        .when(hour < 22).then(3)
        .otherwise(0)
    )
    return period.cast(polars.Int64)


# DuckDB's // truncates toward zero and Python's floors. They differ only for negative clocks,
# and both put those in an hour below 6, which is night.
PERIOD_SQL = (
    "CAST(CASE WHEN {hour} < 6 THEN 0 WHEN {hour} < 12 THEN 1 WHEN {hour} < 17 THEN 2 WHEN {hour} < 22 THEN 3 "
    "ELSE 0 END AS BIGINT)"
).format(hour="coalesce(dep_time, sched_dep_time) // 100")


def recovered_numpy(columns: Columns) -> np.ndarray:
    # The resolver raises ZeroDivisionError where dep_delay == 0, and on_error="null" makes those rows null.
    dep_delay, arr_delay = columns.values["dep_delay"], columns.values["arr_delay"]
    usable = columns.valid["dep_delay"] & columns.valid["arr_delay"] & (dep_delay != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(usable, (dep_delay - arr_delay) / dep_delay, np.nan)


def recovered_polars(polars: Any) -> Any:
    dep_delay, arr_delay = polars.col("dep_delay"), polars.col("arr_delay")
    return polars.when(dep_delay != 0).then((dep_delay - arr_delay) / dep_delay)


RECOVERED_SQL = "CASE WHEN dep_delay <> 0 THEN (dep_delay - arr_delay) / dep_delay END"


def log_distance_numpy(columns: Columns) -> np.ndarray:
    return np.log1p(columns.values["distance"])


def log_distance_polars(polars: Any) -> Any:
    return polars.col("distance").log1p()


# DuckDB 2.0 has no log1p, so the query computes ln(1 + distance), as the delay_score query does.
LOG_DISTANCE_SQL = "ln(1 + distance)"


@dataclass
class Peers:
    """A resolver written for each peer: numpy over `Columns`, a Polars expression and a DuckDB SQL expression."""

    numpy: Callable[[Columns], Any]
    polars: Callable[[Any], Any]
    sql: str


def select_expression(query: str) -> str:
    """Return the expression of a `SELECT expression FROM flights` query."""
    return query.removeprefix("SELECT ").removesuffix(" FROM flights")


PEERS = {spec.name: Peers(spec.numpy, spec.polars, select_expression(spec.sql)) for spec in RESOLVERS} | {
    "is_delayed": Peers(is_delayed_numpy, is_delayed_polars, IS_DELAYED_SQL),
    "made_up_time": Peers(made_up_numpy, made_up_polars, MADE_UP_SQL),
    "departure_period": Peers(period_numpy, period_polars, PERIOD_SQL),
    "delay_recovered_fraction": Peers(recovered_numpy, recovered_polars, RECOVERED_SQL),
    "log_distance": Peers(log_distance_numpy, log_distance_polars, LOG_DISTANCE_SQL),
}


def table_columns(result: pa.Table) -> list[np.ndarray]:
    return [to_float_array(column) for column in result.columns]


def numpy_column(column: Any) -> np.ndarray:
    """Return a numpy peer's column as float64 with NaN for null."""
    if isinstance(column, tuple):
        values, valid = column
        return np.where(valid, values.astype(np.float64), np.nan)
    return to_float_array(column)


def named_columns(result: Any) -> tuple[list[str], list[np.ndarray]]:
    """Return the names and the float64 columns, NaN for null, of an Arrow table, a Polars frame or a numpy peer's dict."""
    if isinstance(result, dict):
        return list(result), [numpy_column(column) for column in result.values()]
    if hasattr(result, "to_arrow"):  # a Polars DataFrame
        result = result.to_arrow()
    return result.column_names, table_columns(result)


def compare_tables(expected: list[np.ndarray], actual: list[np.ndarray], names: list[str]) -> Check:
    everything = np.ones(len(expected[0]), dtype=bool)
    for name, expected_column, actual_column in zip(names, expected, actual, strict=True):
        check = compare_values(expected_column, actual_column, everything)
        if not check.passed:
            return failed(f"{name}: {check.message}")
    return passed(f"all {len(names)} columns exact or allclose on {len(expected[0]):,} rows, nulls as NaN")


def check_against(reference: dict[str, list[np.ndarray]], names: list[str]) -> Callable[[Any], Check]:
    """Return a check that compares a result's columns, by name and on every row, with the fused kernel's."""

    def check(result: Any) -> Check:
        if "columns" not in reference:
            return failed("the fused kernel's check failed, so there is nothing to compare with")
        actual_names, actual = named_columns(result)
        if actual_names != names:
            return failed(f"the result has the columns {actual_names}, expected {names}")
        return compare_tables(reference["columns"], actual, names)

    return check


def peer_cases(bench: Bench, names: list[str], columns: Columns, table: pa.Table, check: Callable[[Any], Check]) -> list[Case]:
    """Return numpy, Polars and DuckDB cases that compute the resolvers `names` from `table` or its `columns`."""
    count = table.num_rows
    values = count * len(names)
    threads = bench.options.threads
    without_peers = [name for name in names if name not in PEERS]
    if without_peers:
        message = f"PEERS in bench/suites/fusion.py is missing {', '.join(without_peers)}, so add their numpy, Polars and SQL versions"
        return [Case("numpy, Polars and DuckDB", "numpy", lambda: None, lambda _: failed(message), count, values)]
    peers = [PEERS[name] for name in names]

    def numpy_columns() -> dict[str, Any]:
        return {name: peer.numpy(columns) for name, peer in zip(names, peers, strict=True)}

    cases = [Case("numpy", "numpy", numpy_columns, check, count, values)]
    polars = bench.import_peer("polars")
    if polars is None:
        cases.append(bench.missing_case("Polars, one select", "polars", count))
    else:
        frame = polars.from_arrow(table)
        expressions = [peer.polars(polars).alias(name) for name, peer in zip(names, peers, strict=True)]
        cases.append(Case("Polars, one select", "polars", lambda: frame.select(expressions), check, count, values, polars.thread_pool_size()))
    duckdb = bench.import_peer("duckdb")
    if duckdb is None:
        cases.append(bench.missing_case("DuckDB, one query, to Arrow", "duckdb", count))
    else:
        connection = duckdb.connect()
        connection.execute(f"SET threads TO {threads}")
        connection.register("flights", table)
        selects = [f"{peer.sql} AS {name}" for name, peer in zip(names, peers, strict=True)]
        query = "SELECT " + ", ".join(selects) + " FROM flights"
        cases.append(Case("DuckDB, one query, to Arrow", "duckdb", lambda: connection.sql(query).to_arrow_table(), check, count, values, threads))
    return cases


class FusionSuite(Suite):
    name = "fusion"
    title = "Fused resolvers over one table"
    description = (
        "Eight resolvers over the flights columns: featurejit.fuse (one kernel, 1 and 2 threads) against one call "
        "per resolver, a memory-bound reference, and numpy, Polars and DuckDB computing the same eight columns. "
        "Then three resolvers fused against the same peers."
    )
    order = 25

    def run(self, bench: Bench) -> SuiteResult:
        if not hasattr(fj, "fuse"):
            return self.result(skipped="this featurejit has no featurejit.fuse")
        eight = [*example_resolvers(), log_distance]
        inputs = sorted({name for resolver in eight for name in resolver.signature().names})
        largest = load_columns(max(bench.options.rows), inputs)
        rows: list[Row] = []
        for count in bench.options.rows:
            columns = slice_columns(largest, count)
            table = pa.table({name: columns.arrow[name] for name in inputs})
            rows += bench.measure(self.name, f"8 resolvers, {count:,} rows", self.eight_cases(bench, eight, columns, table))
            rows += bench.measure(self.name, f"3 resolvers, {count:,} rows", self.three_cases(bench, columns))
        for row in rows:
            row.name = f"{row.group.split(',')[0]}: {row.name}"
        return self.result(rows=rows, targets=targets(rows, max(bench.options.rows)), notes=NOTES)

    def eight_cases(self, bench: Bench, resolvers: list[Any], columns: Columns, table: pa.Table) -> list[Case]:
        count = table.num_rows
        fused = fj.fuse(*resolvers)
        names = [resolver.function.__name__ for resolver in resolvers]
        reference: dict[str, list[np.ndarray]] = {}

        def separate() -> list[Any]:
            return [resolver(*(table.column(name) for name in resolver.signature().names)) for resolver in resolvers]

        def check_fused(result: pa.Table) -> Check:
            explanation = fused.explain(show=False)
            if "native" not in explanation.splitlines()[0]:
                return failed(f"the fused resolvers run in the interpreter: {explanation.splitlines()[0]}")
            reference["columns"] = table_columns(result)
            expected = [to_float_array(column) for column in separate()]
            check = compare_tables(expected, reference["columns"], names)
            last_call = explanation.splitlines()[-1].strip()
            return Check(check.passed, f"{check.message}; {last_call}")

        def check_separate(result: list[Any]) -> Check:
            if "columns" not in reference:
                return failed("the fused kernel's check failed, so there is nothing to compare with")
            return compare_tables(reference["columns"], [to_float_array(column) for column in result], names)

        memory_bound = fj.fuse(*MEMORY_BOUND)
        memory_table = table.select(sorted({name for resolver in MEMORY_BOUND for name in resolver.signature().names}))

        def check_memory_bound(result: pa.Table) -> Check:
            # Each reference column must be what its plain function computes, so the kernel did the work.
            pieces = {name: table.column(name).to_pylist()[:1000] for name in memory_table.column_names}
            for resolver, column in zip(MEMORY_BOUND, result.columns, strict=True):
                arguments = [pieces[name] for name in resolver.signature().names]
                expected = [resolver.function(*row) for row in zip(*arguments, strict=True)]
                actual = column.to_pylist()[:1000]
                if actual != expected:
                    return failed(f"{resolver.name} differs from its plain function in the first 1,000 rows")
            return passed(f"{len(MEMORY_BOUND)} columns equal the plain functions' on the first 1,000 rows")

        threads = bench.options.threads
        values = count * len(resolvers)
        check_peer = check_against(reference, names)
        return [
            Case("fused, 1 thread", "featurejit", with_threads(1, lambda: fused(table)), check_fused, count, values, 1, reference=True),
            Case("fused, 2 threads", "featurejit", with_threads(2, lambda: fused(table)), check_peer, count, values, 2),
            Case("one call per resolver", "featurejit", with_threads(threads, separate), check_separate, count, values, threads),
            Case(
                "memory-bound reference, fused, 1 thread",
                "featurejit",
                with_threads(1, lambda: memory_bound(memory_table)),
                check_memory_bound,
                count,
                values,
                1,
            ),
            *peer_cases(bench, names, columns, table, check_peer),
        ]

    def three_cases(self, bench: Bench, columns: Columns) -> list[Case]:
        count = columns.rows
        resolvers = [spec.resolver for spec in RESOLVERS]
        names = [spec.name for spec in RESOLVERS]
        inputs = sorted({name for spec in RESOLVERS for name in spec.inputs})
        table = pa.table({name: columns.arrow[name] for name in inputs})
        fused = fj.fuse(*resolvers)
        reference: dict[str, list[np.ndarray]] = {}
        threads = bench.options.threads

        def check_fused(result: pa.Table) -> Check:
            reference["columns"] = table_columns(result)
            expected = [to_float_array(spec.numpy(columns)) for spec in RESOLVERS]
            return compare_tables(expected, reference["columns"], names)

        fused_case = Case(
            "fused", "featurejit", with_threads(threads, lambda: fused(table)), check_fused, count, count * len(names), threads, reference=True
        )
        return [fused_case, *peer_cases(bench, names, columns, table, check_against(reference, names))]


def targets(rows: list[Row], largest: int) -> list[Target]:
    found = {row.name: row for row in rows if row.rows == largest and row.ok}
    one = found.get("8 resolvers: fused, 1 thread")
    two = found.get("8 resolvers: fused, 2 threads")
    separate = found.get("8 resolvers: one call per resolver")
    polars = found.get("8 resolvers: Polars, one select")
    memory_bound = found.get("8 resolvers: memory-bound reference, fused, 1 thread")
    result = []
    if one and separate:
        ratio = separate.median_ms / one.median_ms
        result.append(Target("fused at least 3x the resolvers run one by one", f"{ratio:.2f}x at {largest:,} rows", ratio >= 3))
    if one and memory_bound:
        share = memory_bound.median_ms / one.median_ms
        result.append(
            Target("fused at least 0.8x the memory-bound limit of its columns", f"{share:.2f}x at {largest:,} rows", share >= 0.8)
        )
    if one and two:
        ratio = one.median_ms / two.median_ms
        result.append(Target("2 threads at least 1.7x one", f"{ratio:.2f}x at {largest:,} rows", ratio >= 1.7))
    if polars and polars.ratio is not None:
        # The ratio compares Polars with the fused kernel on one thread, the reference row of its group.
        description = "fused at least 4x Polars, eight resolvers, one thread each"
        measured = f"{polars.ratio:.2f}x at {largest:,} rows with Polars on {polars.threads} thread{'' if polars.threads == 1 else 's'}"
        if polars.threads == 1:
            result.append(Target(description, measured, polars.ratio >= 4))
        else:
            result.append(Target(description, f"{measured}, and the target needs one thread (--threads 1)", None))
    return result


NOTES = [
    "featurejit x is the row's median time per row over the reference row's, the first fused row of its group.",
    "The fused kernel's result is checked against one call per resolver (eight) or numpy (three); the other rows "
    "against the fused result, every column by name and on every row, with nulls compared as NaN.",
    "numpy gets the values with nulls replaced by 0 and a validity mask per column, prepared outside the timed "
    "call. Its nullable float columns contain NaN for null, and is_delayed is a pair of values and the mask of arr_delay.",
    "Polars runs one select over polars.from_arrow of the table, with one expression per resolver. DuckDB runs one "
    "query over the registered Arrow table, and its time includes converting the result to Arrow, because "
    "featurejit returns Arrow.",
    "Every peer computes the resolvers' nulls: null where delay_recovered_fraction divides by a dep_delay of 0 "
    "(on_error=\"null\"), False where made_up_time gets a null delay, and the scheduled time where departure_period "
    "gets a null dep_time, with clock 2400 in hour 24, which is night.",
    "DuckDB's // and % truncate toward zero and Python's floor. That gives the same results for the non-negative "
    "HHMM clocks of this table, and for departure_period on every clock. DuckDB has no log1p, so its queries use "
    "ln(1 + distance), which the checks accept as allclose.",
    "The three-resolver group fuses speed_mph, delay_score and scheduled_clock_minutes on --threads threads "
    "against the same peers, so it shows the ratios of a smaller group that calls libm in one of three resolvers.",
    "Polars reads its thread count at import, so its rows state the size of its thread pool.",
    "The memory-bound reference fuses eight resolvers with the parameter and result types of the eight, each "
    "with one integer operation: it reads the same seven columns and writes eight columns of the same types, so "
    "its time is the limit for those reads and writes.",
]

SUITE = FusionSuite()
