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
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
LARGE_ROUNDS = 3  # timed rounds at 10,000,000 probe rows, to keep a full run near five minutes


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------


def string_keys(numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise("key-", pc.cast(pa.array(numbers), pa.string()), "")


def build_table(kind: str, rng: np.random.Generator) -> pa.Table:
    """Return BUILD_ROWS rows of (k, bid, x), each key once, in random order."""
    order = rng.permutation(BUILD_ROWS)
    if kind == "dense":
        keys: Any = order
    elif kind == "sparse":
        keys = rng.choice(2**62, size=BUILD_ROWS, replace=False)
    else:
        keys = string_keys(order)
    return pa.table({"k": keys, "bid": np.arange(BUILD_ROWS), "x": rng.random(BUILD_ROWS)})


def probe_table(kind: str, build: pa.Table, rows: int, rng: np.random.Generator) -> pa.Table:
    """Return `rows` rows of (k, pid): keys of the build at random, and MISSING_SHARE keys it lacks."""
    picked = pc.take(build.column("k"), pa.array(rng.integers(0, BUILD_ROWS, rows)))
    missing = rng.random(rows) < MISSING_SHARE
    if kind == "dense":
        absent: Any = pa.array(rng.integers(BUILD_ROWS, 2 * BUILD_ROWS, rows))
    elif kind == "sparse":
        absent = pa.array(rng.integers(2**62, 2**63 - 1, rows))
    else:
        absent = string_keys(rng.integers(BUILD_ROWS, 2 * BUILD_ROWS, rows))
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


def expected_matches(probe: pa.Table, build: pa.Table, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (pid, bid) of the join, sorted by pid, from Arrow's index_in; bid -1 for no match."""
    positions = pc.index_in(probe.column("k"), value_set=build.column("k"))
    found = positions.is_valid().to_numpy(zero_copy_only=False)
    bids = np.asarray(build.column("bid"))[np.asarray(positions.fill_null(0))]
    pids = np.arange(probe.num_rows)
    if how == "inner":
        return pids[found], bids[found]
    return pids, np.where(found, bids, -1)


def join_checker(probe: pa.Table, build: pa.Table, how: str) -> Callable[[Any], Check]:
    expected: list[tuple[np.ndarray, np.ndarray]] = []

    def check(result: Any) -> Check:
        if not expected:
            expected.append(expected_matches(probe, build, how))
        pids, bids = expected[0]
        table = as_arrow(result)
        if set(table.column_names) != {"k", "pid", "bid", "x"}:
            return failed(f"columns {table.column_names}, expected k, pid, bid and x")
        actual_pids = np.asarray(table.column("pid"))
        order = np.argsort(actual_pids, kind="stable")
        actual_bids = np.asarray(table.column("bid").fill_null(-1))[order]
        if len(actual_pids) != len(pids) or not np.array_equal(actual_pids[order], pids):
            return failed(f"{len(actual_pids):,} rows, expected {len(pids):,}, or other probe rows")
        if not np.array_equal(actual_bids, bids):
            return failed(f"{int(np.count_nonzero(actual_bids != bids)):,} rows matched another build row")
        return passed(f"every one of {len(pids):,} rows matches the build row Arrow's index_in finds")

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
        "rows on dense, sparse and string keys, inner and left, against pyarrow, DuckDB and Polars."
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
                for how in ("inner", "left"):
                    group = f"{kind} keys, {how}, {count:,} probe rows"
                    rounds = LARGE_ROUNDS if count >= 10_000_000 else None
                    rows += bench.measure(self.name, group, self.join_cases(bench, joins, probe, build, how), rounds)
                del probe
        for row in rows:
            row.name = f"{row.group}: {row.name}"
        return self.result(rows=rows, targets=targets(rows), notes=notes(bench))

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

    def join_cases(self, bench: Bench, joins: Any, probe: pa.Table, build: pa.Table, how: str) -> list[Case]:
        threads = bench.options.threads
        count = probe.num_rows
        check = join_checker(probe, build, how)
        cases = [
            Case(
                "featurejit join", "featurejit", with_threads(threads, lambda: joins.join(probe, build, on="k", how=how)),
                check, count, threads=threads, reference=True,
            ),
            Case(
                "pyarrow Table.join", "pyarrow",
                lambda: probe.join(build, "k", join_type="inner" if how == "inner" else "left outer", use_threads=threads > 1),
                check, count, threads=threads,
            ),
        ]
        duckdb = bench.import_peer("duckdb")
        if duckdb is None:
            cases.append(bench.missing_case("DuckDB query to Arrow", "duckdb", count, threads))
        else:
            connection = duckdb.connect()
            connection.execute(f"SET threads TO {threads}")
            connection.register("probe", probe)
            connection.register("build", build)
            kind = "JOIN" if how == "inner" else "LEFT JOIN"
            query = f"SELECT probe.k, probe.pid, build.bid, build.x FROM probe {kind} build ON probe.k = build.k"
            cases.append(Case("DuckDB query to Arrow", "duckdb", lambda: connection.sql(query).to_arrow_table(), check, count, threads=threads))
        polars = bench.import_peer("polars")
        if polars is None:
            cases.append(bench.missing_case("Polars DataFrame.join", "polars", count, threads))
        else:
            probe_frame, build_frame = polars.from_arrow(probe), polars.from_arrow(build)
            cases.append(Case(
                "Polars DataFrame.join", "polars", lambda: probe_frame.join(build_frame, on="k", how=how), check, count,
                threads=polars.thread_pool_size(),
            ))
        return cases


def targets(rows: list[Row]) -> list[Target]:
    result = []
    one_key = next((row for row in rows if row.reference and row.group.startswith("lookup of 1 key") and row.ok), None)
    description = f"online lookup of one key in {FEATURE_ROWS:,} rows under 20 us"
    if one_key is None:
        result.append(Target(description, "not measured", None))
    else:
        median = one_key.median_ms * 1000
        result.append(Target(description, f"median {median:.1f} us, p99 {one_key.percentile_ms(99) * 1000:.1f} us", median < 20))
    duckdb_rows = [row for row in rows if row.library == "duckdb" and row.ratio is not None and "probe rows" in row.group]
    if duckdb_rows:
        slower = [row for row in duckdb_rows if row.ratio is not None and row.ratio < 1]
        worst = min(duckdb_rows, key=lambda row: row.ratio or 0.0)
        result.append(Target(
            "batch joins at least as fast as DuckDB with the same thread count",
            f"{len(duckdb_rows) - len(slower)} of {len(duckdb_rows)} groups; lowest {worst.ratio:.2f}x ({worst.group})",
            not slower,
        ))
    return result


def notes(bench: Bench) -> list[str]:
    return [
        "featurejit x is the row's median over featurejit's median in the same group, so above 1 means featurejit is "
        "faster.",
        "Lookups: each request asks for the next of 64 sets of random ids; every library gets the same sequence. The "
        "featurejit index is built once before timing, as DuckDB's table and primary key index are. Polars has no "
        "index, so each request scans the id column.",
        "Lookup rows are timed request by request with time.perf_counter_ns; the check column adds the p99.",
        "Batch joins include building the hash table or array: nothing is kept between calls. Each library returns "
        "its own table of k, pid, bid and x: Arrow for featurejit, pyarrow and DuckDB, a Polars DataFrame for Polars.",
        "featurejit's planner builds on the side with fewer bytes, so at 1,000,000 and 10,000,000 probe rows it builds "
        "on the probe table, as a multimap when probe keys repeat.",
        f"Groups at {PROBE_ROWS[-1]:,} probe rows run {LARGE_ROUNDS} timed rounds, the others {bench.options.repeats}.",
        "The check of every row compares each output row's build row with the one Arrow's index_in finds for its "
        "probe key.",
    ]


SUITE = JoinSuite()
