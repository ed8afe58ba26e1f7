"""Several resolvers over one table: one fused kernel against one call per resolver and against peers.

The eight resolvers are the seven numeric ones of examples/flights.py and `log_distance`. Every case
computes all eight columns over the flights table (repeated for larger row counts). Peers
compute the three resolvers that bench/suites/resolvers.py has peers for, so their rows
are in a group of their own with a fused kernel of those three.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import featurejit as fj
from bench.checks import compare_values, to_float_array
from bench.harness import Bench, Case, Check, Row, Suite, SuiteResult, Target, failed, passed, with_threads
from bench.suites.resolvers import RESOLVERS, load_columns, slice_columns

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


def table_columns(result: pa.Table) -> list[np.ndarray]:
    return [to_float_array(column) for column in result.columns]


def compare_tables(expected: list[np.ndarray], actual: list[np.ndarray], names: list[str]) -> Check:
    everything = np.ones(len(expected[0]), dtype=bool)
    for name, expected_column, actual_column in zip(names, expected, actual, strict=True):
        check = compare_values(expected_column, actual_column, everything)
        if not check.passed:
            return failed(f"{name}: {check.message}")
    return passed(f"all {len(names)} columns exact or allclose on {len(expected[0]):,} rows, nulls as NaN")


class FusionSuite(Suite):
    name = "fusion"
    title = "Fused resolvers over one table"
    description = (
        "Eight resolvers over the flights columns: featurejit.fuse (one kernel, 1 and 2 threads) against one call "
        "per resolver; then three resolvers against numpy, Polars and DuckDB computing the same three columns."
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
            rows += bench.measure(self.name, f"8 resolvers, {count:,} rows", self.eight_cases(bench, eight, table))
            rows += bench.measure(self.name, f"3 resolvers, {count:,} rows", self.three_cases(bench, columns))
        for row in rows:
            row.name = f"{row.group.split(',')[0]}: {row.name}"
        return self.result(rows=rows, targets=targets(rows, max(bench.options.rows)), notes=NOTES)

    def eight_cases(self, bench: Bench, resolvers: list[Any], table: pa.Table) -> list[Case]:
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
        return [
            Case("fused, 1 thread", "featurejit", with_threads(1, lambda: fused(table)), check_fused, count, values, 1, reference=True),
            Case("fused, 2 threads", "featurejit", with_threads(2, lambda: fused(table)), check_separate_table(reference, names), count, values, 2),
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
        ]

    def three_cases(self, bench: Bench, columns: Any) -> list[Case]:
        count = columns.rows
        resolvers = [spec.resolver for spec in RESOLVERS]
        names = [spec.name for spec in RESOLVERS]
        inputs = sorted({name for spec in RESOLVERS for name in spec.inputs})
        table = pa.table({name: columns.arrow[name] for name in inputs})
        fused = fj.fuse(*resolvers)
        reference: dict[str, list[np.ndarray]] = {}
        threads = bench.options.threads
        values = count * 3

        def check_fused(result: pa.Table) -> Check:
            reference["columns"] = table_columns(result)
            expected = [to_float_array(spec.numpy(columns)) for spec in RESOLVERS]
            return compare_tables(expected, reference["columns"], names)

        def check_peer(result: Any) -> Check:
            if "columns" not in reference:
                return failed("the fused kernel's check failed, so there is nothing to compare with")
            if isinstance(result, pa.Table):
                actual = table_columns(result)
            elif hasattr(result, "to_arrow"):
                actual = table_columns(result.to_arrow())
            else:
                actual = [to_float_array(column) for column in result]
            return compare_tables(reference["columns"], actual, names)

        cases = [
            Case("fused", "featurejit", with_threads(threads, lambda: fused(table)), check_fused, count, values, threads, reference=True),
            Case("numpy", "numpy", lambda: [spec.numpy(columns) for spec in RESOLVERS], check_peer, count, values),
        ]
        polars = bench.import_peer("polars")
        if polars is None:
            cases.append(bench.missing_case("Polars, one select", "polars", count))
        else:
            frame = polars.from_arrow(table)
            expressions = [spec.polars(polars).alias(spec.name) for spec in RESOLVERS]
            cases.append(Case("Polars, one select", "polars", lambda: frame.select(expressions), check_peer, count, values, polars.thread_pool_size()))
        duckdb = bench.import_peer("duckdb")
        if duckdb is None:
            cases.append(bench.missing_case("DuckDB, one query", "duckdb", count))
        else:
            connection = duckdb.connect()
            connection.execute(f"SET threads TO {threads}")
            connection.register("flights", table)
            selects = [spec.sql.removeprefix("SELECT ").removesuffix(" FROM flights") for spec in RESOLVERS]
            query = "SELECT " + ", ".join(selects) + " FROM flights"
            cases.append(Case("DuckDB, one query, to Arrow", "duckdb", lambda: connection.sql(query).to_arrow_table(), check_peer, count, values, threads))
        return cases


def check_separate_table(reference: dict[str, list[np.ndarray]], names: list[str]) -> Any:
    def check(result: pa.Table) -> Check:
        if "columns" not in reference:
            return failed("the one-thread fused kernel's check failed, so there is nothing to compare with")
        return compare_tables(reference["columns"], table_columns(result), names)

    return check


def targets(rows: list[Row], largest: int) -> list[Target]:
    found = {row.name: row for row in rows if row.rows == largest and row.ok}
    one = found.get("8 resolvers: fused, 1 thread")
    two = found.get("8 resolvers: fused, 2 threads")
    separate = found.get("8 resolvers: one call per resolver")
    polars = found.get("3 resolvers: Polars, one select")
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
        result.append(
            Target(
                "fused at least 4x Polars (three resolvers here, eight in the target)",
                f"{polars.ratio:.2f}x at {largest:,} rows with Polars on {polars.threads} thread(s)",
                polars.ratio >= 4,
            )
        )
    return result


NOTES = [
    "featurejit x is the row's median time per row over the reference row's, the first fused row of its group.",
    "The fused kernel's result is checked against one call per resolver (eight) or numpy (three); the other rows "
    "against the fused result, every column on every row, with nulls compared as NaN.",
    "The eight-resolver group has no peers, because writing the eight resolvers in each peer's language is not done "
    "yet; the three-resolver group compares the same kind of work.",
    "Polars reads its thread count at import, so its rows state the size of its thread pool.",
    "The memory-bound reference fuses eight resolvers with the parameter and result types of the eight, each "
    "with one integer operation: it reads the same seven columns and writes eight columns of the same types, so "
    "its time is the limit for those reads and writes.",
]

SUITE = FusionSuite()
