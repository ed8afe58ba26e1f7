"""Sources: Parquet scans read only the needed columns and row groups, CSV files and key lookups."""

from __future__ import annotations

import datetime
import gzip
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import featurejit as fj
from featurejit.graph.errors import GraphError
from featurejit.graph.keys import KeyIndex
from featurejit.graph.offline import OfflineTrace
from featurejit.graph.sources import ParquetSource, make_source
from tests.graph_models import RESOLVERS, Trip, plain_rows, trips

ROWS = 1000
GROUP_ROWS = 100


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return trips(ROWS)


@pytest.fixture(scope="module")
def parquet_path(table: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write the trips, sorted by id, as ten row groups, so that a filter on id can skip most of them."""
    path = tmp_path_factory.mktemp("sources") / "trips.parquet"
    pq.write_table(table, path, row_group_size=GROUP_ROWS)
    return path


def scan_trace(graph: Any, outputs: list[Any], filters: Any = None) -> tuple[pa.Table, OfflineTrace]:
    trace = OfflineTrace()
    result, _, _ = graph.run_table_query(outputs, None, filters, trace)
    return result, trace


def test_parquet_scan_reads_only_needed_columns(parquet_path: Path) -> None:
    graph = fj.Graph(RESOLVERS, sources={Trip: parquet_path})
    _, trace = scan_trace(graph, [Trip.is_fast])
    stats = trace.scan
    assert stats is not None
    assert stats.columns == ["distance", "minutes"]
    assert stats.row_groups_total == stats.row_groups_read == ROWS // GROUP_ROWS
    metadata = pq.ParquetFile(parquet_path).metadata
    expected = sum(
        metadata.row_group(group).column(column).total_compressed_size
        for group in range(metadata.num_row_groups)
        for column in (1, 2)  # distance and minutes
    )
    assert stats.bytes_read == expected
    assert stats.bytes_total is not None and stats.bytes_read < stats.bytes_total / 2


def test_parquet_filter_prunes_row_groups(parquet_path: Path, table: pa.Table) -> None:
    graph = fj.Graph(RESOLVERS, sources={Trip: parquet_path})
    # ids are 3 * row, so id < 450 is rows 0 to 149: the first two row groups
    result, trace = scan_trace(graph, [Trip.id, Trip.speed], pc.field("id") < 450)
    stats = trace.scan
    assert stats is not None
    assert (stats.row_groups_read, stats.row_groups_total) == (2, 10)
    assert stats.rows == 150
    assert stats.columns == ["id", "distance", "minutes"]
    expected = [row["speed"] for row in plain_rows(table.slice(0, 150))]
    assert result.column("speed").to_pylist() == expected
    assert result.column("id").to_pylist() == list(range(0, 450, 3))


def test_filter_only_column_counts_as_read(parquet_path: Path) -> None:
    graph = fj.Graph(RESOLVERS, sources={Trip: parquet_path})
    text = graph.explain([Trip.speed], filters=[("fare", ">", 10.0)], analyze=True, show=False)
    assert "columns read: distance, minutes; for the filter: fare (3 of" in text
    _, trace = scan_trace(graph, [Trip.speed], pc.field("fare") > 10.0)
    _, without_filter = scan_trace(graph, [Trip.speed], None)
    assert trace.scan is not None and without_filter.scan is not None
    metadata = pq.ParquetFile(parquet_path).metadata
    fare = metadata.schema.to_arrow_schema().get_field_index("fare")
    fare_bytes = sum(metadata.row_group(group).column(fare).total_compressed_size for group in range(metadata.num_row_groups))
    assert trace.scan.bytes_read == without_filter.scan.bytes_read + fare_bytes


def test_dnf_filters_and_explain(parquet_path: Path) -> None:
    graph = fj.Graph(RESOLVERS, sources={Trip: parquet_path})
    filters = [("id", ">=", 2700), ("distance", ">", 10)]
    result = graph.query_table([Trip.id, Trip.distance], filters=filters)
    assert result.num_rows > 0
    assert min(result.column("id").to_pylist()) >= 2700
    assert min(result.column("distance").to_pylist()) > 10
    text = graph.explain([Trip.speed], filters=filters, analyze=True, show=False)
    assert "filter pushed into the scan: ((id >= 2700) and (distance > 10))" in text
    assert "row groups: 1 of 10 may match, by their statistics" in text
    assert "estimated rows: 100" in text
    assert "read 1 of 10 row groups" in text


def test_filter_forms_users_try(parquet_path: Path) -> None:
    graph = fj.Graph(RESOLVERS, sources={Trip: parquet_path})
    by_name = graph.query_table([Trip.id], filters=[("id", ">=", 2990)])
    by_feature = graph.query_table([Trip.id], filters=[(Trip.id, ">=", 2990)])
    ids = pq.read_table(parquet_path, columns=["id"]).column("id").to_pylist()
    assert by_feature.to_pylist() == by_name.to_pylist()
    assert by_name.column("id").to_pylist() == [key for key in ids if key >= 2990]
    assert graph.query_table([Trip.id], filters=[]).num_rows == len(ids)
    disjunction = graph.query_table([Trip.id], filters=[[(Trip.id, "<", 4)], [(Trip.id, ">", 8990)]])
    assert disjunction.column("id").to_pylist() == [key for key in ids if key < 4 or key > 8990]
    with pytest.raises(GraphError, match="a dict is not a filter; pass tuples such as"):
        graph.query_table([Trip.id], filters={"id": 5})


def test_filter_of_mismatched_type_lists_column_types(tmp_path: Path) -> None:
    path = tmp_path / "trips.parquet"
    pq.write_table(pa.table({"id": [1], "distance": pa.array([5], pa.int16())}), path)
    graph = fj.Graph(RESOLVERS, sources={Trip: path})
    with pytest.raises(GraphError, match="a value of its type, .*; the columns are: id int64, distance int16$"):
        graph.query_table([Trip.id], filters=pc.field("distance") > "far")


def test_filter_on_unknown_column_is_rejected(parquet_path: Path) -> None:
    graph = fj.Graph(RESOLVERS, sources={Trip: parquet_path})
    with pytest.raises(GraphError, match="the filter .*speed.* does not apply to the source .*only the source's columns"):
        graph.query_table([Trip.speed], filters=pc.field("speed") > 3)
    with pytest.raises(GraphError, match="invalid filters"):
        graph.query_table([Trip.speed], filters=[("id", "~", 3)])
    with pytest.raises(GraphError, match="filter the table before passing it"):
        graph.query_table([Trip.speed], pa.table({"id": [3]}), filters=pc.field("id") > 1)
    with pytest.raises(GraphError, match="an online query takes no filters"):
        graph.explain([Trip.speed], {Trip.id: 3}, filters=pc.field("id") > 1, show=False)


def test_parquet_source_online_equals_table_source(parquet_path: Path, table: pa.Table) -> None:
    from_parquet = fj.Graph(RESOLVERS, sources={Trip: parquet_path})
    from_table = fj.Graph(RESOLVERS, sources={Trip: table})
    keys = [0, 3, 2997, 1500, 7]
    outputs = [Trip.speed, Trip.city_code, Trip.hour_of_week, Trip.started]
    assert from_parquet.query(outputs, {Trip.id: keys}).to_pylist() == from_table.query(outputs, {Trip.id: keys}).to_pylist()


def test_parquet_folder_source(table: pa.Table, tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(table.slice(0, 400), folder / "a.parquet")
    pq.write_table(table.slice(400), folder / "b.parquet")
    graph = fj.Graph(RESOLVERS, sources={Trip: folder})
    assert isinstance(graph.sources[graph.entities[0]], ParquetSource)
    _, trace = scan_trace(graph, [Trip.speed], pc.field("id") >= 1500)
    assert trace.scan is not None
    assert trace.scan.files == 2
    assert trace.scan.rows == ROWS - 500


def test_csv_source(tmp_path: Path) -> None:
    path = tmp_path / "trips.csv.gz"
    with gzip.open(path, "wt") as file:
        file.write("id,distance,minutes,city\n1,10,30,Oslo\n2,5,,NA\n3,8,0,\n")
    graph = fj.Graph(RESOLVERS, sources={Trip: str(path)})
    result = graph.query_table([Trip.id, Trip.speed, Trip.city_code])
    assert result.to_pydict() == {"id": [1, 2, 3], "speed": [20.0, None, None], "city_code": ["OSL", None, None]}
    assert graph.query([Trip.speed], {Trip.id: [3, 1]})["speed"] == [None, 20.0]


def test_one_column_csv_source_empty_lines(tmp_path: Path) -> None:
    path = tmp_path / "cities.csv"
    path.write_text("\ncity\nOslo\n\nBergen\n")
    assert make_source(path).dataset.to_table().to_pydict() == {"city": ["Oslo", None, "Bergen"]}, "the header stays"


@fj.features
class Rota:
    id: int
    day: datetime.datetime | None
    staff: int | None


@fj.features
class Clinic:
    id: int
    day: datetime.datetime | None
    rota: Rota = fj.has_one(on="day")
    rotas: list[Rota] = fj.has_many(on="day")


@pytest.mark.parametrize(
    "day",
    [
        pa.array([datetime.datetime(2024, 1, 1)], pa.timestamp("us")),
        pa.array([datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)], pa.timestamp("us", tz="UTC")),
        pa.array([1_704_067_200_000_000_500], pa.timestamp("ns")),
    ],
    ids=["naive", "aware", "nanoseconds"],
)
def test_csv_datetime_key_without_values(tmp_path: Path, day: pa.Array) -> None:
    path = tmp_path / "rotas.csv"
    path.write_text("id,day,staff\n1,,3\n")
    graph = fj.Graph([], sources={Clinic: pa.table({"id": [1], "day": day}), Rota: str(path)})
    features = [Clinic.rota.staff, Clinic.rotas.count()]

    assert graph.query_table(features).to_pylist() == [{"rota.staff": None, "rotas.count()": 0}], "a null key matches nothing"
    assert graph.query(features, {Clinic.id: 1}).to_pylist() == [{"rota.staff": None, "rotas.count()": 0}]


def test_csv_source_value_that_does_not_parse(tmp_path: Path) -> None:
    path = tmp_path / "trips.csv"
    path.write_text("id,distance,minutes\n1,10,30\n2,far,5\n")
    with pytest.raises(GraphError, match=r"In CSV column #1 \('distance'\): .*invalid value 'far'"):
        fj.Graph(RESOLVERS, sources={Trip: str(path)})


def test_csv_source_with_latin1_header(tmp_path: Path) -> None:
    path = tmp_path / "cities.csv"
    path.write_bytes(b"caf\xe9\n1\n")
    with pytest.raises(GraphError, match="the column names of .* are not UTF-8 text"):
        make_source(path)


def test_source_errors(tmp_path: Path) -> None:
    with pytest.raises(GraphError, match="was not found"):
        make_source(tmp_path / "missing.parquet")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(GraphError, match="neither a Parquet file or folder nor a CSV file"):
        make_source(tmp_path / "notes.txt")
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(GraphError, match="could not be read as Parquet"):
        make_source(tmp_path / "broken.parquet")


def test_duplicate_keys_are_rejected_when_looked_up() -> None:
    graph = fj.Graph(RESOLVERS, sources={Trip: pa.table({"id": [1, 2, 1], "distance": [1, 2, 3], "minutes": [1, 1, 1]})})
    with pytest.raises(GraphError, match="the key id = 1 is on rows 0 and 2 of the source; a primary key must be unique"):
        graph.query([Trip.speed], {Trip.id: 1})


def test_source_without_key_column_cannot_be_looked_up() -> None:
    graph = fj.Graph(RESOLVERS, sources={Trip: pa.table({"distance": [1], "minutes": [1]})})
    assert graph.query_table([Trip.speed]).column("speed").to_pylist() == [60.0]
    with pytest.raises(GraphError, match="has no column id, the primary key of Trip"):
        graph.query([Trip.speed], {Trip.id: 1})


@pytest.mark.parametrize(
    "keys",
    [pa.array([5, None, 1, 9, 2**40], type=pa.int64()), pa.array([5, None, 1, 9, 7], type=pa.int32())],
)
def test_integer_key_index(keys: pa.Array) -> None:
    index = KeyIndex("id", pa.chunked_array([[9, 1], [None, 5]], type=pa.int64()))
    assert index.lookup_one(5) == 3
    assert index.lookup_one(1) == 1
    assert index.lookup_one(4) == -1
    assert index.lookup_one("5") == -1
    assert index.lookup_one(2**70) == -1
    assert index.lookup([9, 4]).tolist() == [0, -1]
    assert index.lookup_arrow(keys).tolist() == [3, -1, 1, 0, -1]


def test_string_key_index() -> None:
    index = KeyIndex("code", pa.array(["b", None, "a"]))
    assert index.lookup(["a", "c", None, 3]).tolist() == [2, -1, -1, -1]
    assert index.lookup_arrow(pa.array(["b", None])).tolist() == [0, -1]
    with pytest.raises(GraphError, match="keys must be integers or strings"):
        KeyIndex("when", pa.array([1.5]))


def test_key_index_sparse_unicode_and_empty() -> None:
    sparse = KeyIndex("id", pa.array([-(2**63), 2**63 - 1, 0, 10**15], type=pa.int64()))
    assert sparse.lookup([2**63 - 1, -(2**63), 10**15, 1, True]).tolist() == [1, 0, 3, -1, -1]
    assert "hash" in sparse.index.describe()
    dense = KeyIndex("id", pa.array(range(1000, 0, -1), type=pa.uint16()))
    assert dense.lookup_one(1000) == 0
    assert dense.lookup_arrow(pa.array([1, None, 2000], type=pa.int64())).tolist() == [999, -1, -1]
    assert "direct-address" in dense.index.describe()
    words = KeyIndex("code", pa.array(["日本", "", "straße", None, "e\u0301"], type=pa.large_string()))
    assert words.lookup(["", "straße", "e\u0301", "é", "日本"]).tolist() == [1, 2, 4, -1, 0]
    assert words.lookup_arrow(pa.array(["日本", None], type=pa.string())).tolist() == [0, -1]
    empty = KeyIndex("id", pa.array([], type=pa.int64()))
    assert empty.lookup([1]).tolist() == [-1]
    assert empty.lookup_arrow(pa.array([1, None])).tolist() == [-1, -1]


def test_repeated_string_key_names_rows() -> None:
    with pytest.raises(GraphError, match="the key code = 'b' is on rows 1 and 3 of the source"):
        KeyIndex("code", pa.array(["a", "b", None, "b", None]))


def test_string_primary_key() -> None:
    @fj.jit_resolver
    def doubled(visits: Store.visits) -> Store.twice:
        return None if visits is None else visits * 2

    graph = fj.Graph([doubled], sources={Store: pa.table({"code": ["x", "y"], "visits": [1, None]})})
    assert graph.query([Store.twice], {Store.code: ["y", "x", "z"]})["twice"] == [None, 2, None]


@fj.features
class Store:
    code: str = fj.primary_key()
    visits: int | None
    twice: int | None


@fj.features
class Carrier:
    id: int
    code: str
    seats: int


@fj.features
class Leg:
    id: int
    code: str | None
    carrier: Carrier = fj.has_one(on="code")
    lowered: str | None
    seats: int | None
    label: str | None


@fj.jit_resolver
def lowered(code: Leg.code) -> Leg.lowered:
    return None if code is None else code.lower() + "!"


@fj.jit_resolver
def leg_seats(seats: Leg.carrier.seats) -> Leg.seats:
    return seats


@fj.jit_resolver
def leg_label(code: Leg.code, seats: Leg.seats) -> Leg.label:
    return f"{code}:{seats}"


def test_dictionary_encoded_text_sources(tmp_path: Path) -> None:
    # Parquet files of categorical columns read back as dictionaries; keys and resolvers read them as text.
    codes = ["AA", None, "DL", "ZZ"]
    legs = pa.table({"id": [1, 2, 3, 4], "code": pa.array(codes).dictionary_encode()})
    carriers = pa.table({"id": [1, 2], "code": pa.array(["AA", "DL"]).dictionary_encode(), "seats": [100, 200]})
    path = tmp_path / "legs.parquet"
    pq.write_table(legs, path)
    assert pa.types.is_dictionary(pq.read_table(path).schema.field("code").type)
    seat_counts = {"AA": 100, "DL": 200}
    expected = [
        {
            "lowered": lowered.function(code),
            "seats": seat_counts.get(code),  # type: ignore[arg-type]
            "label": leg_label.function(code, seat_counts.get(code)),  # type: ignore[arg-type]
        }
        for code in codes
    ]
    outputs = [Leg.lowered, Leg.seats, Leg.label]
    for source in (legs, path):
        graph = fj.Graph([lowered, leg_seats, leg_label], sources={Leg: source, Carrier: carriers})
        assert graph.query_table(outputs).to_pylist() == expected
        online = graph.query(outputs, {Leg.id: [1, 2, 4]})
        assert [dict(zip(online.keys(), row, strict=True)) for row in zip(*online.values(), strict=True)] == [expected[0], expected[1], expected[3]]
        # A source column read through comes back as its values' type, online as offline.
        passthrough = [Leg.code, Leg.lowered]
        assert graph.query(passthrough, {Leg.id: [1, 3]}).to_arrow().schema == graph.query_table(passthrough).schema


@fj.features
class Tag:
    code: str = fj.primary_key()
    weight: int | None
    heavy: bool | None


@fj.jit_resolver
def heavy(weight: Tag.weight) -> Tag.heavy:
    return None if weight is None else weight > 5


def test_dictionary_encoded_primary_key() -> None:
    tags = pa.table({"code": pa.array(["a", "b", "ç"]).dictionary_encode(), "weight": [3, 9, None]})
    graph = fj.Graph([heavy], sources={Tag: tags})
    assert graph.query([Tag.heavy], {Tag.code: ["b", "zz", "ç", "a"]})["heavy"] == [True, None, None, False]
    given = pa.table({"code": pa.array(["ç", "b", None]).dictionary_encode()})
    assert graph.query_table([Tag.heavy], given).column("heavy").to_pylist() == [None, True, None]
    assert graph.query_table([Tag.heavy], pa.table({"code": ["a"]})).column("heavy").to_pylist() == [False]


@fj.features
class Pupil:
    id: int
    age: int
    age_bucket: int


@fj.jit_resolver
def age_bucket(age: Pupil.age) -> Pupil.age_bucket:
    return age // 10


def test_filter_on_computed_feature_column_rejected() -> None:
    # The source still has an old age_bucket column, which the resolver's values replace.
    pupils = pa.table({"id": [1, 2, 3], "age": [15, 25, 35], "age_bucket": [0, 0, 0]})
    graph = fj.Graph([age_bucket], sources={Pupil: pupils})
    with pytest.raises(GraphError, match="the filter reads the source column age_bucket, but the resolver age_bucket computes"):
        graph.query_table([Pupil.id, Pupil.age_bucket], filters=[("age_bucket", "=", 3)])
    result = graph.query_table([Pupil.id, Pupil.age_bucket], filters=[("age", ">", 20)])
    assert result.to_pylist() == [{"id": 2, "age_bucket": 2}, {"id": 3, "age_bucket": 3}]


@fj.features
class Shop:
    id: int
    zip: str | None
    price: float | None
    label: str | None


@fj.jit_resolver
def shop_label(zip: Shop.zip, price: Shop.price) -> Shop.label:
    return None if zip is None or price is None else f"{zip}:{price}"


def test_csv_columns_take_declared_types(tmp_path: Path) -> None:
    # ZIP codes of digits stay text with their leading zero, and whole prices are floats.
    path = tmp_path / "shops.csv"
    path.write_text("id,zip,price\n1,02134,3\n2,NA,4\n3,00501,\n")
    graph = fj.Graph([shop_label], sources={Shop: path})
    result = graph.query_table([Shop.zip, Shop.price, Shop.label])
    assert result.schema.field("zip").type == pa.string()
    assert result.schema.field("price").type == pa.float64()
    assert result.to_pylist() == [
        {"zip": "02134", "price": 3.0, "label": "02134:3.0"},
        {"zip": None, "price": 4.0, "label": None},
        {"zip": "00501", "price": None, "label": None},
    ]
    assert graph.query([Shop.label], {Shop.id: 1})["label"] == [shop_label.function("02134", 3.0)]


@fj.features
class Aircraft:
    id: int
    weight: float


@fj.features
class Hop:
    id: int
    aircraft_id: int
    fuel: float
    aircraft: Aircraft = fj.has_one(lambda: Aircraft.id == Hop.aircraft_id)
    description: str | None


@fj.features
class Operator:
    id: int
    hops: list[Hop] = fj.has_many(lambda: Hop.aircraft_id == Operator.id)
    fuel_total: str | None


@fj.jit_resolver
def describe_hop(weight: Hop.aircraft.weight, fuel: Hop.fuel) -> Hop.description:
    return None if weight is None else f"{weight}/{fuel // 2}"


@fj.jit_resolver
def fuel_total(total: Operator.hops[Hop.fuel].sum(), most: Operator.hops[Hop.fuel].max()) -> Operator.fuel_total:
    return f"{total}/{most}"


def test_int_column_of_float_feature() -> None:
    big = 2**53 + 1  # rounds to 2**53 as a float
    aircraft = pa.table({"id": [1, 2], "weight": [100, big]})
    hops = pa.table({"id": [10, 11, 12], "aircraft_id": [1, 2, 2], "fuel": [7, 9, big]})
    graph = fj.Graph([describe_hop, fuel_total], sources={Aircraft: aircraft, Hop: hops, Operator: pa.table({"id": [1, 2, 3]})})
    expected = ["100.0/3.0", "9007199254740992.0/4.0", "9007199254740992.0/4503599627370496.0"]
    assert graph.query([Hop.description], {Hop.id: [10, 11, 12]})["description"] == expected
    assert graph.query_table([Hop.description]).column("description").to_pylist() == expected
    request_table = pa.table({"id": [10, 11], "fuel": [5, 3]})
    assert graph.query_table([Hop.description], request_table).column("description").to_pylist() == ["100.0/2.0", "9007199254740992.0/1.0"]
    assert graph.query([Hop.description], {Hop.id: [10, 11], Hop.fuel: [5, 3]})["description"] == ["100.0/2.0", "9007199254740992.0/1.0"]
    totals = [f"{7.0}/{7.0}", f"{9.0 + float(big)}/{float(big)}", "0.0/None"]
    assert graph.query([Operator.fuel_total], {Operator.id: [1, 2, 3]})["fuel_total"] == totals
    assert graph.query_table([Operator.fuel_total]).column("fuel_total").to_pylist() == totals
