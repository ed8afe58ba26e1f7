"""One branchy float resolver over float64 columns, against every peer.

The resolver is `(a * 1.07 + b) / (c + 1.0) if a > b else a - b` with on_error="null". The
columns are standard normal float64 from a fixed seed, with c = -1.0 on every 1000th row. On
those rows `c + 1.0` is zero, so CPython raises ZeroDivisionError wherever `a > b` as well,
about half of them. featurejit's kernel marks those rows as raising for certain, and the
runtime returns null there without the interpreter. Peers are compared with featurejit on the
rows where c != -1.0, and the notes name the peers that are not exact on the others.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pyarrow as pa

import featurejit as fj
from bench.checks import compare_values, native, to_float_array
from bench.harness import Bench, Case, Check, Suite, SuiteResult, Target, failed, passed

SEED = 20240601
ZERO_DIVISOR_STEP = 1000  # c[::ZERO_DIVISOR_STEP] = -1.0, so c + 1.0 is zero on those rows
EXPRESSION = "(a * 1.07 + b) / (c + 1.0) if a > b else a - b"
SQL = "SELECT CASE WHEN a > b THEN (a * 1.07 + b) / (c + 1.0) ELSE a - b END AS r FROM columns"


@fj.jit_resolver(on_error="null")
def branchy(a: float, b: float, c: float) -> float:
    return (a * 1.07 + b) / (c + 1.0) if a > b else a - b


@fj.jit_resolver
def add_three(a: float, b: float, c: float) -> float:
    return a + b + c


def branchy_python_loop(a_values: list[float], b_values: list[float], c_values: list[float]) -> list[float | None]:
    """Run the expression row by row, with None where CPython raises, as on_error="null" does."""
    results: list[float | None] = []
    for a, b, c in zip(a_values, b_values, c_values, strict=True):
        try:
            results.append((a * 1.07 + b) / (c + 1.0) if a > b else a - b)
        except ZeroDivisionError:
            results.append(None)
    return results


def make_columns(rows: int) -> dict[str, np.ndarray]:
    generator = np.random.default_rng(SEED)
    columns = {name: generator.standard_normal(rows) for name in ("a", "b", "c")}
    columns["c"][::ZERO_DIVISOR_STEP] = -1.0
    return columns


@functools.cache
def numba_kernels() -> dict[str, Any] | None:
    """Return the expression as three Numba loops, each writing into `out`, or None without Numba."""
    try:
        import numba
    except ImportError:
        return None

    # error_model="python" checks every divisor and raises ZeroDivisionError, as CPython does.
    # The raise leaves the loop early, and that exit keeps LLVM from vectorizing it.
    @numba.njit(error_model="python")
    def raising(a: Any, b: Any, c: Any, out: Any) -> Any:
        for i in range(a.size):
            out[i] = (a[i] * 1.07 + b[i]) / (c[i] + 1.0) if a[i] > b[i] else a[i] - b[i]
        return out

    # The same check, but the try/except turns the raise into NaN, as on_error="null" turns it into null.
    @numba.njit(error_model="python")
    def catching(a: Any, b: Any, c: Any, out: Any) -> Any:
        for i in range(a.size):
            try:
                out[i] = (a[i] * 1.07 + b[i]) / (c[i] + 1.0) if a[i] > b[i] else a[i] - b[i]
            except Exception:
                out[i] = np.nan
        return out

    # error_model="numpy" divides without a check: x / 0.0 is inf or nan, and nothing raises.
    @numba.njit(error_model="numpy")
    def unchecked(a: Any, b: Any, c: Any, out: Any) -> Any:
        for i in range(a.size):
            out[i] = (a[i] * 1.07 + b[i]) / (c[i] + 1.0) if a[i] > b[i] else a[i] - b[i]
        return out

    return {"raising": raising, "catching": catching, "unchecked": unchecked}


class BranchySuite(Suite):
    name = "branchy"
    title = "Branchy float resolver"
    description = (
        f"`{EXPRESSION}` over three float64 columns, with on_error=\"null\"; c = -1.0 on every "
        f"{ZERO_DIVISOR_STEP}th row, so about one row in 2,000 divides by zero and comes back null."
    )
    order = 10

    def run(self, bench: Bench) -> SuiteResult:
        options = bench.options
        largest = make_columns(max(options.rows))
        rows: list[Any] = []
        for count in options.rows:
            columns = {name: values[:count] for name, values in largest.items()}
            rows += bench.measure(self.name, f"{count:,} rows", self.cases(bench, columns))
        return self.result(rows=rows, targets=targets(rows, max(options.rows)), notes=NOTES)

    def cases(self, bench: Bench, columns: dict[str, np.ndarray]) -> list[Case]:
        count = len(columns["a"])
        threads = bench.options.threads
        arrow = [pa.array(columns[name]) for name in ("a", "b", "c")]
        raising = (columns["a"] > columns["b"]) & (columns["c"] == -1.0)
        compared = columns["c"] != -1.0
        reference: dict[str, np.ndarray] = {}

        def check_featurejit(result: pa.Array) -> Check:
            compiled = native(branchy)
            if not compiled.passed:
                return compiled
            nulls = result.is_null().to_numpy(zero_copy_only=False)
            if not np.array_equal(nulls, raising):
                return failed(f"{int(nulls.sum()):,} nulls where CPython raises on {int(raising.sum()):,} rows")
            reference["values"] = to_float_array(result)
            return passed(f"null on exactly the {int(raising.sum()):,} rows where CPython raises")

        def check_peer(result: Any) -> Check:
            if "values" not in reference:
                return failed("featurejit's own check failed, so there is nothing to compare with")
            return compare_values(reference["values"], result, compared)

        def check_add_three(result: pa.Array) -> Check:
            compiled = native(add_three)
            if not compiled.passed:
                return compiled
            everything = np.ones(count, dtype=bool)
            check = compare_values(columns["a"] + columns["b"] + columns["c"], result, everything)
            return Check(check.passed, f"{check.message} against numpy's a + b + c")

        cases = [
            Case("featurejit", "featurejit", lambda: branchy(*arrow), check_featurejit, count, threads=threads, reference=True),
            Case(
                "memory-bound reference (featurejit a + b + c)",
                "featurejit",
                lambda: add_three(*arrow),
                check_add_three,
                count,
                threads=threads,
            ),
            python_loop_case(bench, columns, reference, raising),
            Case("numpy np.where (both branches)", "numpy", lambda: numpy_where(**columns), check_peer, count),
            numexpr_case(bench, columns, check_peer),
            pyarrow_case(bench, arrow, check_peer),
            *numba_cases(bench, columns, raising, check_peer),
            polars_case(bench, arrow, check_peer),
            duckdb_case(bench, arrow, check_peer),
        ]
        return cases


def numpy_where(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    # Both branches run on every row, so a > b and c == -1.0 give inf or nan instead of raising.
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > b, (a * 1.07 + b) / (c + 1.0), a - b)


def python_loop_case(bench: Bench, columns: dict[str, np.ndarray], reference: dict[str, np.ndarray], raising: np.ndarray) -> Case:
    """Return the plain loop over the first --python-rows rows, compared on every row of its slice."""
    count = min(len(columns["a"]), bench.options.python_rows)
    lists = [columns[name][:count].tolist() for name in ("a", "b", "c")]

    def check(result: list[float | None]) -> Check:
        if "values" not in reference:
            return failed("featurejit's own check failed, so there is nothing to compare with")
        nones = np.array([value is None for value in result])
        if not np.array_equal(nones, raising[:count]):
            return failed(f"None on {int(nones.sum())} rows, featurejit null on {int(raising[:count].sum())}")
        values = np.array([np.nan if value is None else value for value in result])
        comparison = compare_values(reference["values"][:count], values, ~nones)
        return Check(comparison.passed, f"{comparison.message}, None on the same {int(nones.sum())} rows")

    note = "" if count == len(columns["a"]) else f"the first {count:,} rows"
    return Case("Python loop over lists", "python", lambda: branchy_python_loop(*lists), check, count, note=note)


def numexpr_case(bench: Bench, columns: dict[str, np.ndarray], check: Any) -> Case:
    name = "numexpr where (both branches)"
    numexpr = bench.import_peer("numexpr")
    if numexpr is None:
        return bench.missing_case(name, "numexpr", len(columns["a"]))
    numexpr.set_num_threads(bench.options.threads)
    expression = "where(a > b, (a * 1.07 + b) / (c + 1.0), a - b)"
    call = functools.partial(numexpr.evaluate, expression, local_dict=columns)
    return Case(name, "numexpr", call, check, len(columns["a"]), threads=bench.options.threads)


def pyarrow_case(bench: Bench, arrow: list[pa.Array], check: Any) -> Case:
    import pyarrow.compute as pc

    a, b, c = arrow

    def call() -> pa.Array:
        # pc.divide gives inf or nan for a float divisor of zero, like numpy.
        quotient = pc.divide(pc.add(pc.multiply(a, 1.07), b), pc.add(c, 1.0))
        return pc.if_else(pc.greater(a, b), quotient, pc.subtract(a, b))

    return Case("pyarrow.compute if_else (both branches)", "pyarrow", call, check, len(a), threads=bench.options.threads)


def numba_cases(bench: Bench, columns: dict[str, np.ndarray], raising: np.ndarray, check: Any) -> list[Case]:
    count = len(columns["a"])
    names = {
        "raising": 'Numba error_model="python" loop (raises)',
        "catching": 'Numba error_model="python" loop, try/except',
        "unchecked": 'Numba error_model="numpy" loop',
    }
    if bench.import_peer("numba") is None:
        return [bench.missing_case(name, "numba", count) for name in names.values()]
    kernels = numba_kernels()
    assert kernels is not None
    a, b, c = columns["a"], columns["b"], columns["c"]
    # The raising loop stops at the first row where CPython raises, so it is timed on a copy of
    # c with 0.0 there: the same rows divide, and none by zero.
    safe_c = np.where(c == -1.0, 0.0, c)

    def check_raising(result: Any) -> Check:
        if raising.any():
            try:
                kernels["raising"](a, b, c, np.empty(count))
            except ZeroDivisionError:
                pass
            else:
                return failed("it did not raise ZeroDivisionError where CPython does")
        comparison = check(result)
        note = ". It raises ZeroDivisionError on the real c, so it was timed with c = 0.0 there" if raising.any() else ""
        return Check(comparison.passed, comparison.message + note)

    def call(kernel: Any, divisor: np.ndarray) -> Any:
        # np.empty in the timed call, so that Numba allocates its output as the others do.
        return lambda: kernel(a, b, divisor, np.empty(count))

    return [
        Case(names["raising"], "numba", call(kernels["raising"], safe_c), check_raising, count),
        Case(names["catching"], "numba", call(kernels["catching"], c), check, count),
        Case(names["unchecked"], "numba", call(kernels["unchecked"], c), check, count),
    ]


def polars_case(bench: Bench, arrow: list[pa.Array], check: Any) -> Case:
    name = "Polars when/then/otherwise"
    count = len(arrow[0])
    polars = bench.import_peer("polars")
    if polars is None:
        return bench.missing_case(name, "polars", count)
    frame = polars.from_arrow(pa.table({"a": arrow[0], "b": arrow[1], "c": arrow[2]}))
    a, b, c = polars.col("a"), polars.col("b"), polars.col("c")
    expression = polars.when(a > b).then((a * 1.07 + b) / (c + 1.0)).otherwise(a - b)
    return Case(name, "polars", lambda: frame.select(expression), check, count, threads=polars.thread_pool_size())


def duckdb_case(bench: Bench, arrow: list[pa.Array], check: Any) -> Case:
    name = "DuckDB CASE WHEN, to Arrow"
    count = len(arrow[0])
    duckdb = bench.import_peer("duckdb")
    if duckdb is None:
        return bench.missing_case(name, "duckdb", count)
    connection = duckdb.connect()
    connection.execute(f"SET threads TO {bench.options.threads}")
    connection.register("columns", pa.table({"a": arrow[0], "b": arrow[1], "c": arrow[2]}))
    return Case(name, "duckdb", lambda: connection.sql(SQL).to_arrow_table(), check, count, threads=bench.options.threads)


def targets(rows: list[Any], largest: int) -> list[Target]:
    """Check the project's targets for this resolver on the largest row count."""
    at_largest = {row.name: row for row in rows if row.rows == largest and row.ok}
    featurejit = at_largest.get("featurejit")
    memory_bound = at_largest.get("memory-bound reference (featurejit a + b + c)")
    numba_raising = at_largest.get('Numba error_model="python" loop (raises)')
    result = []
    if featurejit and memory_bound:
        share = memory_bound.median_ms / featurejit.median_ms
        result.append(Target("at least 0.85x the memory-bound kernel", f"{share:.2f}x at {largest:,} rows", share >= 0.85))
    else:
        result.append(Target("at least 0.85x the memory-bound kernel", "not measured", None))
    if featurejit and numba_raising and numba_raising.ratio is not None:
        ratio = numba_raising.ratio
        result.append(Target("at least 5x Numba's raising loop", f"{ratio:.2f}x at {largest:,} rows", ratio >= 5))
    else:
        result.append(Target("at least 5x Numba's raising loop", "not measured", None))
    return result


NOTES = [
    "featurejit x is the row's median time per row over featurejit's at the same row count: above 1 means featurejit is faster.",
    "featurejit runs with on_error=\"null\": its kernel marks the rows where CPython raises ZeroDivisionError "
    "(a > b and c == -1.0), and the runtime makes them null without the interpreter. Peers are compared with "
    "featurejit on the rows where c != -1.0.",
    "The Python loop runs on at most --python-rows rows, so compare its rows/s, not its time. It catches "
    "ZeroDivisionError per row and appends None, and it is compared on every row of its slice.",
    "numpy, numexpr and pyarrow.compute evaluate both branches on every row and give inf or nan where a > b and "
    "c == -1.0 instead of raising, so they are not exact on those rows.",
    'Numba error_model="python" raises ZeroDivisionError where c == -1.0 and a > b. The "(raises)" loop is how it '
    "is usually written: it stops at the first such row, so it is timed on a copy of c with 0.0 on those rows. The "
    '"try/except" loop catches the error per row and writes NaN. error_model="numpy" does not check, gives inf or '
    "nan there, and so is not exact.",
    "Polars and DuckDB give inf or nan where the divisor is zero, so they are not exact where a > b and c == -1.0.",
    "The memory-bound reference is featurejit's a + b + c kernel: it reads the same three columns and writes one "
    "with trivial arithmetic, so it shows how fast a kernel with these reads and writes can be.",
    "Every case allocates its output on each call. The Numba loops write into an array that np.empty allocates in "
    "the timed call: numpy asks Linux for transparent huge pages for large arrays, and Numba's own allocator does not.",
    "DuckDB's time includes converting its result to an Arrow table, because featurejit returns Arrow.",
]

SUITE = BranchySuite()
