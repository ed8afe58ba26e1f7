"""Joins of feature tables: online lookups through an index, and batch joins, against DuckDB, Polars and pyarrow.

Online: requests for 1, 10 and 100 random ids read a feature table of 1,000,000 rows (a
unique int64 id in random order and five features), timed request by request.
featurejit looks the ids up in an `Index` built once and returns a pyarrow Table of the
rows. DuckDB queries a native table declared with the id as PRIMARY KEY (so it has an ART
index) with `WHERE id IN (...)` and returns Arrow; Polars filters a DataFrame with
`is_in`, since it has no index.

Batch: a build table of 1,000,000 rows (key, bid, x) joined with probe tables of 100,000,
1,000,000 and 10,000,000 rows (key, pid), inner and left, on dense integer keys (the build
has every key of 0..999,999), sparse integer keys (random 62-bit values) and string keys.
About 10% of probe keys are missing from the build. Every library runs on the same Arrow
tables with the same thread count: `featurejit.joins.join`, `pyarrow.Table.join`, a DuckDB
query over the registered tables to Arrow, and Polars `DataFrame.join` on frames made
before timing.

Large build: the same dense-key inner and left joins with a build table of 10,000,000 rows,
probed by 100,000 and 10,000,000 rows.

TPC-H: lineitem inner join orders on l_orderkey = o_orderkey at scale factor 1 (6,001,215
lineitem rows, 1,500,000 orders), with l_linenumber, l_extendedprice and l_discount from
lineitem and o_orderdate and o_totalprice from orders. tpchgen-cli generates the tables as
Parquet into bench/data/ once, and each run reads them as pyarrow.parquet.read_table returns them.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench import tpch
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
    with_threads,
)

FEATURE_ROWS = 1_000_000
LOOKUP_KEYS = (1, 10, 100)
BUILD_ROWS = 1_000_000
PROBE_ROWS = (100_000, 1_000_000, 10_000_000)
QUICK_PROBE_ROWS = (100_000,)
KEY_KINDS = ("dense", "sparse", "string")
MISSING_SHARE = 0.1
LARGE_BUILD_ROWS = 10_000_000
LARGE_BUILD_PROBE_ROWS = (100_000, 10_000_000)
QUICK_LARGE_BUILD_ROWS = 300_000  # --quick runs the large-build groups on a small table, to try the code
QUICK_LARGE_BUILD_PROBE_ROWS = (100_000,)
TPCH_SCALE = 1
QUICK_TPCH_SCALE = 0.1
TPCH_LINEITEM_COLUMNS = ("l_orderkey", "l_linenumber", "l_extendedprice", "l_discount")
TPCH_ORDERS_COLUMNS = ("o_orderkey", "o_orderdate", "o_totalprice")
TPCH_SORT_KEYS = [("l_orderkey", "ascending"), ("l_linenumber", "ascending")]  # the primary key of lineitem
# Timed rounds of the groups whose calls take about a second (10,000,000 probe or build rows, and
# TPC-H at scale factor 1 or more), to keep a full run near five minutes.
LARGE_ROUNDS = 3
LOOKUP_GROUP_PREFIX = "lookup of"
TPCH_LINEITEM_ROWS_PER_SCALE = 6_000_000  # nominal; scale factor 1 has 6,001,215
FEATUREJIT_JOIN = "featurejit join"
PYARROW_JOIN = "pyarrow Table.join"
DUCKDB_JOIN = "DuckDB query to Arrow"
POLARS_JOIN = "Polars DataFrame.join"
JOIN_CASE_NAMES = (
    (FEATUREJIT_JOIN, "featurejit"), (PYARROW_JOIN, "pyarrow"), (DUCKDB_JOIN, "duckdb"), (POLARS_JOIN, "polars")
)


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------


def string_keys(numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise("key-", pc.cast(pa.array(numbers), pa.string()), "")


def build_table(kind: str, rng: np.random.Generator, rows: int = BUILD_ROWS) -> pa.Table:
    """Return `rows` rows of (k, bid, x), each key once, in random order. Dense keys are 0 to rows - 1."""
    order = rng.permutation(rows)
    if kind == "dense":
        keys: Any = order
    elif kind == "sparse":
        keys = rng.choice(2**62, size=rows, replace=False)
    else:
        keys = string_keys(order)
    return pa.table({"k": keys, "bid": np.arange(rows), "x": rng.random(rows)})


def probe_table(kind: str, build: pa.Table, rows: int, rng: np.random.Generator) -> pa.Table:
    """Return `rows` rows of (k, pid): keys of the build at random, and MISSING_SHARE keys it lacks."""
    build_rows = build.num_rows
    picked = pc.take(build.column("k"), pa.array(rng.integers(0, build_rows, rows)))
    missing = rng.random(rows) < MISSING_SHARE
    if kind == "dense":
        absent: Any = pa.array(rng.integers(build_rows, 2 * build_rows, rows))
    elif kind == "sparse":
        absent = pa.array(rng.integers(2**62, 2**63 - 1, rows))
    else:
        absent = string_keys(rng.integers(build_rows, 2 * build_rows, rows))
    keys = pc.if_else(pa.array(missing), absent, picked)
    return pa.table({"k": keys, "pid": np.arange(rows)})


def feature_table(rng: np.random.Generator) -> pa.Table:
    rows = FEATURE_ROWS
    return pa.table({
        "id": rng.permutation(rows),
        "age": rng.integers(0, 90, rows),
        "score": rng.random(rows),
        "segment": pc.cast(pa.array(rng.integers(0, 40, rows)), pa.string()),
        "active": rng.random(rows) > 0.3,
        "spend": rng.random(rows) * 1000,
    })


# --------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------


def as_arrow(result: Any) -> pa.Table:
    if isinstance(result, pa.Table):
        return result
    if hasattr(result, "to_arrow"):  # a Polars DataFrame
        return result.to_arrow()
    raise TypeError(f"unexpected result {type(result).__name__}")


class ReferenceJoin:
    """The build row of each probe row, found with Arrow's index_in on first use and shared by the
    checks of the inner and the left join of the same two tables."""

    def __init__(self, probe: pa.Table, build: pa.Table):
        self.probe = probe
        self.build = build
        self.bids: np.ndarray | None = None

    def matches(self, how: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (pid, bid) of the join, sorted by pid, with bid -1 for a left join's unmatched rows."""
        if self.bids is None:
            positions = pc.index_in(self.probe.column("k"), value_set=self.build.column("k"))
            found = positions.is_valid().to_numpy(zero_copy_only=False)
            bids = np.asarray(self.build.column("bid"))[np.asarray(positions.fill_null(0))]
            self.bids = np.where(found, bids, -1)
        pids = np.arange(self.probe.num_rows)
        if how == "inner":
            found = self.bids >= 0  # bids are 0 to build rows - 1
            return pids[found], self.bids[found]
        return pids, self.bids


def has_each_once(actual_pids: np.ndarray, pids: np.ndarray, probe_rows: int) -> bool:
    """Return whether `actual_pids` contains each of `pids` exactly once and nothing else."""
    if len(actual_pids) != len(pids):
        return False
    if len(actual_pids) and (actual_pids.min() < 0 or actual_pids.max() >= probe_rows):
        return False
    expected_counts = np.zeros(probe_rows, dtype=np.int64)
    expected_counts[pids] = 1
    return np.array_equal(np.bincount(actual_pids, minlength=probe_rows), expected_counts)


def join_checker(reference: ReferenceJoin, how: str) -> Callable[[Any], Check]:
    def check(result: Any) -> Check:
        pids, bids = reference.matches(how)
        table = as_arrow(result)
        if set(table.column_names) != {"k", "pid", "bid", "x"}:
            return failed(f"columns {table.column_names}, expected k, pid, bid and x")
        probe_rows = reference.probe.num_rows
        actual_pids = np.asarray(table.column("pid"))
        if not has_each_once(actual_pids, pids, probe_rows):
            return failed(f"{len(actual_pids):,} rows, expected {len(pids):,}, or other probe rows")
        # Each probe row occurs once, so placing the bids by pid orders them as `bids` without a sort.
        bid_by_pid = np.full(probe_rows, -1, dtype=np.int64)
        bid_by_pid[actual_pids] = np.asarray(table.column("bid").fill_null(-1))
        actual_bids = bid_by_pid[pids]
        if not np.array_equal(actual_bids, bids):
            return failed(f"{int(np.count_nonzero(actual_bids != bids)):,} rows matched another build row")
        return passed(f"every one of {len(pids):,} rows matches the build row Arrow's index_in finds")

    return check


def tpch_expected(lineitem: pa.Table, orders: pa.Table) -> pa.Table:
    """Return lineitem inner join orders from Arrow's index_in, sorted by lineitem's primary key."""
    positions = pc.index_in(lineitem.column("l_orderkey"), value_set=orders.column("o_orderkey"))
    found = positions.is_valid()
    matched = lineitem.filter(found)
    matched_orders = orders.take(positions.filter(found))
    columns = {name: matched.column(name) for name in lineitem.column_names}
    for name in orders.column_names:
        if name != "o_orderkey":
            columns[name] = matched_orders.column(name)
    table = pa.table(columns)
    return table.take(pc.sort_indices(table, sort_keys=TPCH_SORT_KEYS))


def tpch_checker(lineitem: pa.Table, orders: pa.Table) -> Callable[[Any], Check]:
    expected: list[pa.Table] = []

    def check(result: Any) -> Check:
        if not expected:
            expected.append(tpch_expected(lineitem, orders))
        reference = expected[0]
        table = as_arrow(result)
        if set(table.column_names) != set(reference.column_names):
            return failed(f"columns {table.column_names}, expected {', '.join(reference.column_names)}")
        if table.num_rows != reference.num_rows:
            return failed(f"{table.num_rows:,} rows, expected {reference.num_rows:,}")
        table = table.take(pc.sort_indices(table, sort_keys=TPCH_SORT_KEYS))
        for name in reference.column_names:
            actual, expected_column = table.column(name), reference.column(name)
            if actual.type != expected_column.type:
                return failed(f"column {name} is {actual.type}, expected {expected_column.type}")
            if not actual.equals(expected_column):
                differing = pc.sum(pc.not_equal(actual, expected_column)).as_py()
                return failed(f"{differing:,} values of {name} differ from the join that Arrow's index_in finds")
        return passed(
            f"every value of the {reference.num_rows:,} rows, sorted by l_orderkey and l_linenumber, equals the "
            "join that Arrow's index_in finds"
        )

    return check


def lookup_checker(table: pa.Table, keys: list[int]) -> Callable[[Any], Check]:
    position = {key: row for row, key in enumerate(np.asarray(table.column("id")).tolist())}
    spend = np.asarray(table.column("spend"))

    def check(result: Any) -> Check:
        rows = as_arrow(result)
        ids = rows.column("id").to_pylist()
        if sorted(ids) != sorted(keys):
            return failed(f"ids {sorted(ids)[:5]}..., expected {sorted(keys)[:5]}...")
        for identifier, value in zip(ids, rows.column("spend").to_pylist(), strict=True):
            if value != spend[position[identifier]]:
                return failed(f"spend of id {identifier} is {value}, the table has {spend[position[identifier]]}")
        return passed(f"the {len(keys)} rows of the first request, every column read from the table")

    return check


# --------------------------------------------------------------------------------------
# The suite
# --------------------------------------------------------------------------------------


class JoinSuite(Suite):
    name = "joins"
    title = "Joins and lookups"
    description = (
        f"Online lookups of 1, 10 and 100 keys in a {FEATURE_ROWS:,}-row feature table, per request, against DuckDB "
        f"with a primary key and Polars; batch joins of 100,000 to 10,000,000 probe rows with {BUILD_ROWS:,} build "
        f"rows on dense, sparse and string keys, and with {LARGE_BUILD_ROWS:,} build rows on dense keys, inner and "
        f"left, and TPC-H lineitem inner join orders at scale factor {TPCH_SCALE}, against pyarrow, DuckDB and Polars."
    )
    order = 70

    def run(self, bench: Bench) -> SuiteResult:
        try:
            from featurejit import joins
        except ImportError as error:
            return self.result(skipped=f"featurejit.joins does not import: {error}")
        rows = self.lookups(bench, joins)
        probe_counts = QUICK_PROBE_ROWS if bench.options.quick else PROBE_ROWS
        rng = np.random.default_rng(20240607)
        for kind in KEY_KINDS:
            bench.status(f"{self.name}: making {kind} tables")
            build = build_table(kind, rng)
            for count in probe_counts:
                probe = probe_table(kind, build, count, rng)
                reference = ReferenceJoin(probe, build)
                for how in ("inner", "left"):
                    group = f"{kind} keys, {how}, {count:,} probe rows"
                    rounds = large_rounds(bench) if count >= 10_000_000 else None
                    cases = self.join_cases(bench, joins, probe, build, how, join_checker(reference, how))
                    rows += bench.measure(self.name, group, cases, rounds)
                del probe, reference
        del build
        rows += self.large_build(bench, joins)
        rows += self.tpch(bench, joins)
        for row in rows:
            row.name = f"{row.group}: {row.name}"
        return self.result(rows=rows, targets=targets(rows), notes=notes(bench, rows))

    def large_build(self, bench: Bench, joins: Any) -> list[Row]:
        """Measure dense-key inner and left joins with a build table of LARGE_BUILD_ROWS rows."""
        build_rows = QUICK_LARGE_BUILD_ROWS if bench.options.quick else LARGE_BUILD_ROWS
        probe_counts = QUICK_LARGE_BUILD_PROBE_ROWS if bench.options.quick else LARGE_BUILD_PROBE_ROWS
        rng = np.random.default_rng(20240608)
        bench.status(f"{self.name}: making a dense build table of {build_rows:,} rows")
        build = build_table("dense", rng, build_rows)
        rows: list[Row] = []
        for count in probe_counts:
            probe = probe_table("dense", build, count, rng)
            reference = ReferenceJoin(probe, build)
            for how in ("inner", "left"):
                group = f"dense keys, {how}, {count:,} probe rows, {build_rows:,} build rows"
                cases = self.join_cases(bench, joins, probe, build, how, join_checker(reference, how))
                rows += bench.measure(self.name, group, cases, large_rounds(bench))
            del probe, reference
        return rows

    def tpch(self, bench: Bench, joins: Any, data_folder: Path = tpch.DATA_FOLDER) -> list[Row]:
        """Measure TPC-H lineitem inner join orders, generating the tables with tpchgen-cli on first use."""
        scale = QUICK_TPCH_SCALE if bench.options.quick else TPCH_SCALE
        group = f"TPC-H SF {scale:g}: lineitem inner join orders"
        threads = bench.options.threads
        nominal_rows = round(TPCH_LINEITEM_ROWS_PER_SCALE * scale)

        bench.status(f"{self.name}: reading the TPC-H tables at scale factor {scale:g}, generating them if needed")
        try:
            folder = tpch.ensure_tables(scale, ("lineitem", "orders"), data_folder)
        except tpch.GeneratorMissing as error:
            reason = str(error)
            cases = [
                Case(name, library, None, lambda _: failed(reason), nominal_rows, threads=threads, missing=reason)
                for name, library in JOIN_CASE_NAMES
            ]
            return bench.measure(self.name, group, cases)
        except RuntimeError as error:
            return self.error_rows(group, f"the TPC-H tables could not be generated: {error}", nominal_rows, threads)
        try:
            lineitem = tpch.read_table(folder, "lineitem", TPCH_LINEITEM_COLUMNS)
            orders = tpch.read_table(folder, "orders", TPCH_ORDERS_COLUMNS)
        except (OSError, pa.ArrowInvalid) as error:
            message = f"the TPC-H tables in {folder} could not be read ({error}). Delete the folder to generate them again."
            return self.error_rows(group, message, nominal_rows, threads)

        check = tpch_checker(lineitem, orders)
        cases = self.join_cases(bench, joins, lineitem, orders, "inner", check, probe_key="l_orderkey", build_key="o_orderkey")
        rows = bench.measure(self.name, group, cases, large_rounds(bench) if scale >= 1 else None)

        plan = joins.plan_join(lineitem, orders, how="inner", left_on="l_orderkey", right_on="o_orderkey")
        for row in rows:
            if row.library == "featurejit":
                row.details["plan"] = plan.explain()
        return rows

    # ----------------------------------------------------------------------------------

    def lookups(self, bench: Bench, joins: Any) -> list[Row]:
        requests = 300 if bench.options.quick else 2000
        rng = np.random.default_rng(20240606)
        bench.status(f"{self.name}: building the {FEATURE_ROWS:,}-row feature table and its index")
        table = feature_table(rng)
        index = joins.Index.build(table, "id")
        duckdb = bench.import_peer("duckdb")
        connection = None
        if duckdb is not None:
            connection = duckdb.connect()
            connection.execute(f"SET threads TO {bench.options.threads}")
            connection.register("arrow_features", table)
            connection.execute(
                "CREATE TABLE features (id BIGINT PRIMARY KEY, age BIGINT, score DOUBLE, segment VARCHAR, "
                "active BOOLEAN, spend DOUBLE)"
            )
            connection.execute("INSERT INTO features SELECT * FROM arrow_features")
        polars = bench.import_peer("polars")
        frame = polars.from_arrow(table) if polars is not None else None

        rows: list[Row] = []
        for count in LOOKUP_KEYS:
            requests_keys = [rng.choice(FEATURE_ROWS, size=count, replace=False).tolist() for _ in range(64)]
            check = lookup_checker(table, requests_keys[0])
            cases = [self.lookup_case("featurejit Index.lookup", "featurejit", lambda keys: index.lookup(keys), requests_keys, check, count, True)]
            if connection is not None:
                query = f"SELECT * FROM features WHERE id IN ({', '.join('?' * count)})"
                cases.append(self.lookup_case(
                    "DuckDB, PRIMARY KEY, WHERE id IN", "duckdb",
                    lambda keys, query=query: connection.sql(query, params=keys).to_arrow_table(), requests_keys, check, count,
                ))
            else:
                cases.append(bench.missing_case("DuckDB, PRIMARY KEY, WHERE id IN", "duckdb", count))
            if polars is not None and frame is not None:
                cases.append(self.lookup_case(
                    "Polars filter is_in", "polars",
                    lambda keys: frame.filter(polars.col("id").is_in(keys)), requests_keys, check, count,
                ))
            else:
                cases.append(bench.missing_case("Polars filter is_in", "polars", count))

            group = f"lookup of {count} key{'s' if count > 1 else ''} in {FEATURE_ROWS:,} rows"
            rows += [self.sample(bench, group, case, requests) for case in cases]
            reference = next((row for row in rows[-len(cases):] if row.reference and row.ok), None)
            for row in rows[-len(cases):]:
                if reference is not None and row.ok:
                    row.ratio = row.median_ms / reference.median_ms
        return rows

    def lookup_case(
        self, name: str, library: str, lookup: Callable[[list[int]], Any], requests: list[list[int]],
        check: Callable[[Any], Check], count: int, reference: bool = False,
    ) -> Case:
        next_keys = itertools.cycle(requests).__next__
        first = requests[0]
        calls = iter([first])

        def call() -> Any:
            return lookup(next(calls, None) or next_keys())

        return Case(name, library, call, check, count, reference=reference)

    def sample(self, bench: Bench, group: str, case: Case, requests: int) -> Row:
        """Time `requests` single requests, each on its own, after the warm-up and check."""
        row = bench.prepare(self.name, group, case)
        row.group = group
        if row.status != "ok":
            return row
        assert case.call is not None
        call = case.call
        bench.status(f"{self.name}: timing {case.name}, {group}")
        with collector_off():
            for _ in range(requests):
                start = time.perf_counter_ns()
                call()
                row.samples_ms.append((time.perf_counter_ns() - start) / 1e6)
        row.check += f"; p99 {row.percentile_ms(99) * 1000:.1f} us over {requests:,} requests"
        return row

    def error_rows(self, group: str, message: str, rows: int, threads: int) -> list[Row]:
        """Return a row with status "error" for each library of a join group that could not run."""
        return [
            Row(self.name, group, name, library, rows, rows, threads, "error", message) for name, library in JOIN_CASE_NAMES
        ]

    def join_cases(
        self, bench: Bench, joins: Any, probe: pa.Table, build: pa.Table, how: str, check: Callable[[Any], Check], *,
        probe_key: str = "k", build_key: str = "k",
    ) -> list[Case]:
        """Return one case per library for `probe` joined with `build`, which outputs the probe's
        columns, then the build's columns other than its key."""
        threads = bench.options.threads
        count = probe.num_rows
        cases = [
            Case(
                FEATUREJIT_JOIN, "featurejit",
                with_threads(threads, lambda: joins.join(probe, build, how=how, left_on=probe_key, right_on=build_key)),
                check, count, threads=threads, reference=True,
            ),
            Case(
                PYARROW_JOIN, "pyarrow",
                lambda: probe.join(
                    build, probe_key, right_keys=build_key, join_type="inner" if how == "inner" else "left outer",
                    use_threads=threads > 1,
                ),
                check, count, threads=threads,
            ),
        ]
        duckdb = bench.import_peer("duckdb")
        if duckdb is None:
            cases.append(bench.missing_case(DUCKDB_JOIN, "duckdb", count, threads))
        else:
            connection = duckdb.connect()
            connection.execute(f"SET threads TO {threads}")
            connection.register("probe", probe)
            connection.register("build", build)
            kind = "JOIN" if how == "inner" else "LEFT JOIN"
            build_columns = "".join(f", build.{name}" for name in build.column_names if name != build_key)
            query = f"SELECT probe.*{build_columns} FROM probe {kind} build ON probe.{probe_key} = build.{build_key}"
            cases.append(Case(DUCKDB_JOIN, "duckdb", lambda: connection.sql(query).to_arrow_table(), check, count, threads=threads))
        polars = bench.import_peer("polars")
        if polars is None:
            cases.append(bench.missing_case(POLARS_JOIN, "polars", count, threads))
        else:
            probe_frame, build_frame = polars.from_arrow(probe), polars.from_arrow(build)
            cases.append(Case(
                POLARS_JOIN, "polars", lambda: probe_frame.join(build_frame, left_on=probe_key, right_on=build_key, how=how),
                check, count, threads=polars.thread_pool_size(),
            ))
        return cases


def large_rounds(bench: Bench) -> int:
    return min(LARGE_ROUNDS, bench.options.repeats)


def targets(rows: list[Row]) -> list[Target]:
    result = []
    one_key = next((row for row in rows if row.reference and row.group.startswith("lookup of 1 key") and row.ok), None)
    description = f"online lookup of one key in {FEATURE_ROWS:,} rows under 20 us"
    if one_key is None:
        result.append(Target(description, "not measured", None))
    else:
        median = one_key.median_ms * 1000
        result.append(Target(description, f"median {median:.1f} us, p99 {one_key.percentile_ms(99) * 1000:.1f} us", median < 20))
    duckdb_rows = [row for row in rows if row.library == "duckdb" and row.ratio is not None and is_batch(row)]
    if duckdb_rows:
        slower = [row for row in duckdb_rows if row.ratio is not None and row.ratio < 1]
        worst = min(duckdb_rows, key=lambda row: row.ratio or 0.0)
        result.append(Target(
            "batch joins, TPC-H included, at least as fast as DuckDB with the same thread count",
            f"{len(duckdb_rows) - len(slower)} of {len(duckdb_rows)} groups; lowest {worst.ratio:.2f}x ({worst.group})",
            not slower,
        ))
    return result


def is_batch(row: Row) -> bool:
    return not row.group.startswith(LOOKUP_GROUP_PREFIX)


def notes(bench: Bench, rows: list[Row]) -> list[str]:
    quick = bench.options.quick
    large_build = QUICK_LARGE_BUILD_ROWS if quick else LARGE_BUILD_ROWS
    scale = QUICK_TPCH_SCALE if quick else TPCH_SCALE
    result = [
        "featurejit x is the row's median over featurejit's median in the same group, so above 1 means featurejit is "
        "faster.",
        "Lookups: each request asks for the next of 64 sets of random ids; every library gets the same sequence. The "
        "featurejit index is built once before timing, as DuckDB's table and primary key index are. Polars has no "
        "index, so each request scans the id column.",
        "Lookup rows are timed request by request with time.perf_counter_ns; the check column adds the p99.",
        "Batch joins include building the hash table or array: nothing is kept between calls. Each library returns "
        "its own table of the probe's columns and the build's columns other than the key: Arrow for featurejit, "
        "pyarrow and DuckDB, a Polars DataFrame for Polars.",
        "featurejit's planner builds on the side with fewer bytes, so at 1,000,000 and 10,000,000 probe rows it builds "
        "on the probe table, as a multimap when probe keys repeat. It builds on the larger side instead when the "
        "smaller side's keys would need a hash table and the larger side's dense keys fit a direct-address array "
        "at a lower estimated cost, which needs those keys in order; here they are in random order. A left join "
        "that builds on its left side filters the right side with the build's min/max and Bloom filter.",
        f"The groups with {large_build:,} build rows use dense keys 0 to {large_build - 1:,} in random order and "
        "probe tables made as for the other groups, about 10% of their keys missing from the build.",
        f"TPC-H: tpchgen-cli wrote lineitem and orders at scale factor {scale:g} as Parquet into "
        f"bench/data/tpch-sf{scale:g}/, which git ignores and later runs reuse. The tables are read as "
        "pyarrow.parquet.read_table returns them, one chunk per row group, in the order tpchgen-cli wrote them. "
        "Every lineitem row has its order, so the join returns every lineitem row.",
        f"Groups with 10,000,000 probe rows, the groups with {large_build:,} build rows and TPC-H at scale factor 1 "
        f"or more run {large_rounds(bench)} timed rounds, the others {bench.options.repeats}.",
        "The check of every row of the key-kind groups compares each output row's build row with the one Arrow's "
        "index_in finds for its probe key. The TPC-H check sorts the output by l_orderkey and l_linenumber, "
        "lineitem's primary key, and compares every value of every column with a join made from Arrow's index_in.",
    ]
    plan = next((row.details["plan"] for row in rows if "plan" in row.details), None)
    if plan is not None:
        result.append(f"featurejit's plan for TPC-H: {'; '.join(line.strip() for line in plan.splitlines()[:2])}.")
    return result


SUITE = JoinSuite()
