"""String and datetime resolvers over flights columns: `len(tailnum)` and `time_hour.hour`.

Each suite first compiles its resolver with mode="require". If that raises CompileError, the
suite reports itself skipped with the compiler's message instead of timing the interpreter.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

import featurejit as fj
from bench.checks import compare_values, native, to_float_array
from bench.harness import Bench, Case, Check, Row, Suite, SuiteResult, failed


def tailnum_length(tailnum: str | None) -> int | None:
    if tailnum is None:
        return None
    return len(tailnum)


def departure_hour(time_hour: datetime.datetime) -> int:
    return time_hour.hour


class ColumnSuite(Suite):
    """A one-resolver suite over one flights column; subclasses name the column and the peers."""

    column = ""
    function: Callable[..., Any] = staticmethod(lambda value: value)
    pyarrow_call: Callable[[pa.Array], Any] = staticmethod(lambda array: array)
    polars_expression: Callable[[Any], Any] = staticmethod(lambda polars: polars.col(""))
    sql = ""

    def run(self, bench: Bench) -> SuiteResult:
        try:
            resolver = fj.jit_resolver(self.function, mode="require")
        except fj.CompileError as error:
            return self.result(skipped=f"featurejit does not compile this resolver yet: {error.message}")
        from featurejit.data import load_flights

        flights = load_flights().select([self.column])
        rows: list[Row] = []
        for count in bench.options.rows:
            copies = -(-count // flights.num_rows)
            array = pa.concat_tables([flights] * copies).slice(0, count).combine_chunks().column(0).chunk(0)
            rows += bench.measure(self.name, f"{count:,} rows", self.cases(bench, resolver, array))
        return self.result(rows=rows)

    def cases(self, bench: Bench, resolver: Any, array: pa.Array) -> list[Case]:
        count = len(array)
        reference: dict[str, np.ndarray] = {}
        everything = np.ones(count, dtype=bool)

        def check_featurejit(result: Any) -> Check:
            compiled = native(resolver)
            if not compiled.passed:
                return compiled
            reference["values"] = to_float_array(result)
            expected = [self.function(value) for value in array.slice(0, 2000).to_pylist()]
            values = np.array([np.nan if value is None else value for value in expected], dtype=np.float64)
            return compare_values(values, reference["values"][:2000], everything[:2000])

        def check_peer(result: Any) -> Check:
            if "values" not in reference:
                return failed("featurejit's own check failed, so there is nothing to compare with")
            return compare_values(reference["values"], result, everything)

        python_count = min(count, bench.options.python_rows)
        values = array.slice(0, python_count).to_pylist()
        cases = [
            Case("featurejit", "featurejit", lambda: resolver(array), check_featurejit, count, threads=bench.options.threads, reference=True),
            Case("Python loop", "python", lambda: [self.function(value) for value in values], lambda _: Check(True, "not compared"), python_count),
            Case("pyarrow.compute", "pyarrow", lambda: self.pyarrow_call(array), check_peer, count, threads=bench.options.threads),
        ]
        polars = bench.import_peer("polars")
        if polars is None:
            cases.append(bench.missing_case("Polars", "polars", count))
        else:
            frame = polars.from_arrow(pa.table({self.column: array}))
            expression = self.polars_expression(polars)
            cases.append(Case("Polars", "polars", lambda: frame.select(expression), check_peer, count, threads=polars.thread_pool_size()))
        duckdb = bench.import_peer("duckdb")
        if duckdb is None:
            cases.append(bench.missing_case("DuckDB", "duckdb", count))
        else:
            connection = duckdb.connect()
            connection.execute(f"SET threads TO {bench.options.threads}")
            connection.register("flights", pa.table({self.column: array}))
            cases.append(Case("DuckDB, to Arrow", "duckdb", lambda: connection.sql(self.sql).to_arrow_table(), check_peer, count, threads=bench.options.threads))
        return cases


class StringSuite(ColumnSuite):
    name = "strings"
    title = "String resolver: length of the tail number"
    description = "`len(tailnum)`, None for a missing tail number, over the flights tailnum column (utf8 with nulls)."
    order = 60
    column = "tailnum"
    function = staticmethod(tailnum_length)

    @staticmethod
    def pyarrow_call(array: pa.Array) -> Any:
        import pyarrow.compute as pc

        return pc.utf8_length(array)

    @staticmethod
    def polars_expression(polars: Any) -> Any:
        return polars.col("tailnum").str.len_chars()

    sql = "SELECT length(tailnum) FROM flights"


class DatetimeSuite(ColumnSuite):
    name = "datetimes"
    title = "Datetime resolver: hour of departure"
    description = "`time_hour.hour` over the flights time_hour column (timestamps)."
    order = 61
    column = "time_hour"
    function = staticmethod(departure_hour)

    @staticmethod
    def pyarrow_call(array: pa.Array) -> Any:
        import pyarrow.compute as pc

        return pc.hour(array)

    @staticmethod
    def polars_expression(polars: Any) -> Any:
        return polars.col("time_hour").dt.hour()

    sql = "SELECT hour(time_hour) FROM flights"
