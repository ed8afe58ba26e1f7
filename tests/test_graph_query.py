"""Feature graph queries: results equal the plain Python functions applied row by row, online and offline."""

from __future__ import annotations

import datetime
import logging
import math
from typing import Any

import pyarrow as pa
import pytest

import featurejit as fj
from featurejit.graph.errors import GraphError
from featurejit.settings import settings
from tests.graph_models import COMPUTED, RESOLVERS, Trip, plain_rows, speed, trips

ROWS = 3000


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return trips(ROWS)


@pytest.fixture(scope="module")
def graph(table: pa.Table) -> Any:
    return fj.Graph(RESOLVERS, sources={Trip: table})


@pytest.fixture(scope="module")
def expected(table: pa.Table) -> list[dict[str, Any]]:
    return plain_rows(table)


def same(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, float) and isinstance(wanted, float):
        return actual == wanted or (math.isnan(actual) and math.isnan(wanted))
    return actual == wanted and type(actual) is type(wanted)


def assert_rows_equal(actual: dict[str, list[Any]], expected: list[dict[str, Any]], names: list[str]) -> None:
    for name in names:
        column = actual[name]
        assert len(column) == len(expected), name
        for row, (value, wanted) in enumerate(zip(column, (row[name] for row in expected), strict=True)):
            assert same(value, wanted), f"{name} row {row}: {value!r}, CPython gives {wanted!r}"


def test_offline_equals_plain_python(graph: Any, expected: list[dict[str, Any]]) -> None:
    result = graph.query_table([getattr(Trip, name) for name in COMPUTED])
    assert result.column_names == COMPUTED
    assert_rows_equal(result.to_pydict(), expected, COMPUTED)


def test_online_equals_plain_python(graph: Any, table: pa.Table, expected: list[dict[str, Any]]) -> None:
    rows = [5, 0, 2999, 17, 1234, 640, 2]
    keys = [table.column("id")[row].as_py() for row in rows]
    result = graph.query(COMPUTED, {Trip.id: keys})
    assert_rows_equal(dict(result), [expected[row] for row in rows], COMPUTED)


def test_online_one_key_at_a_time(graph: Any, table: pa.Table, expected: list[dict[str, Any]]) -> None:
    for row in range(0, ROWS, 97):
        key = table.column("id")[row].as_py()
        result = graph.query([Trip.speed, Trip.cost_per_mile, Trip.city_code, Trip.is_weekend], {Trip.id: key})
        for name in ("speed", "cost_per_mile", "city_code", "is_weekend"):
            assert same(result[name][0], expected[row][name]), (name, row)


def test_online_equals_offline_over_many_keys(graph: Any, table: pa.Table) -> None:
    keys = table.column("id").to_pylist()[::-1]
    online = graph.query(COMPUTED, {Trip.id: keys})
    offline = graph.query_table(COMPUTED, pa.table({"id": keys}))
    assert online.to_arrow().to_pylist() == offline.to_pylist()


def test_results_equal_for_one_and_many_threads(table: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    big = pa.concat_tables([table] * 30)
    big = big.set_column(0, "id", pa.array(range(big.num_rows), type=pa.int64()))
    graph = fj.Graph(RESOLVERS, sources={Trip: big})
    monkeypatch.setattr(settings, "threads", 1)
    single = graph.query_table(COMPUTED)
    monkeypatch.setattr(settings, "threads", 4)
    monkeypatch.setattr(settings, "parallel_min_us", 0)  # run on several threads however short
    monkeypatch.setattr(settings, "morsel_rows", 4096)
    monkeypatch.setattr(settings, "pool_rows", 10_000)
    many = graph.query_table(COMPUTED)
    assert many.equals(single)
    assert "1 wave of stages ran on threads" in graph.explain(COMPUTED, analyze=True, show=False)


def test_process_pool_equals_in_process(table: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    graph = fj.Graph(RESOLVERS, sources={Trip: table})
    monkeypatch.setattr(settings, "pool_rows", 10**9)
    in_process = graph.query_table(COMPUTED)
    monkeypatch.setattr(settings, "threads", 3)
    monkeypatch.setattr(settings, "pool_rows", 100)
    pooled = graph.query_table(COMPUTED)
    assert pooled.equals(in_process)


def test_unknown_key_gives_nulls(graph: Any, table: pa.Table, expected: list[dict[str, Any]]) -> None:
    result = graph.query([Trip.speed, Trip.distance, Trip.city_code], {Trip.id: [1, 3, 10**12]})
    assert result["speed"][0] is None
    assert result["distance"] == [None, table.column("distance")[1].as_py(), None]
    assert same(result["speed"][1], expected[1]["speed"])
    assert result["city_code"][2] is None


def test_unknown_key_alone_gives_nulls(graph: Any) -> None:
    result = graph.query(COMPUTED, {Trip.id: -5})
    assert all(result[name] == [None] for name in COMPUTED)


def test_request_values_override_source(graph: Any, table: pa.Table) -> None:
    key = table.column("id")[10].as_py()
    result = graph.query([Trip.speed, Trip.distance], {Trip.id: key, Trip.distance: 30, Trip.minutes: 60})
    assert result["speed"] == [30.0]
    assert result["distance"] == [30]


def test_request_values_override_resolvers(graph: Any, table: pa.Table) -> None:
    key = table.column("id")[10].as_py()
    result = graph.query([Trip.is_fast], {Trip.id: key, Trip.speed: 99.5})
    assert result["is_fast"] == [True]


def test_whole_rows_without_keys(graph: Any) -> None:
    rows = [
        {"distance": 10, "minutes": 30, "fare": 5.0, "paid": True, "city": "Rome", "started": datetime.datetime(2024, 3, 2, 14)},
        {"distance": 0, "minutes": None, "fare": 3.0, "paid": None, "city": None, "started": None},
    ]
    result = graph.query(COMPUTED, rows)
    assert result.to_pylist() == [
        {"speed": 20.0, "is_fast": False, "cost_per_mile": 0.5, "log_fare": math.log1p(5.0), "city_code": "ROM",
         "start_hour": 14, "hour_of_week": 134, "is_weekend": True},
        {"speed": None, "is_fast": None, "cost_per_mile": None, "log_fare": None, "city_code": None,
         "start_hour": None, "hour_of_week": None, "is_weekend": None},
    ]


def test_given_table_joins_source_by_key(graph: Any, table: pa.Table, expected: list[dict[str, Any]]) -> None:
    request = pa.table({"id": [table.column("id")[4].as_py(), None, 7], "fare": [100.0, 1.0, 2.0]})
    result = graph.query_table(["log_fare", "cost_per_mile", "distance"], request)
    wanted_log = math.log1p(100.0) if expected[4]["paid"] else None
    assert result.column("log_fare").to_pylist() == [wanted_log, None, None]
    assert result.column("distance").to_pylist() == [expected[4]["distance"], None, None]


def test_row_error_names_resolver_and_row() -> None:
    @fj.jit_resolver
    def strict_ratio(fare: Trip.fare, distance: Trip.distance) -> Trip.cost_per_mile:
        return fare / distance  # type: ignore[operator]

    table = pa.table({"id": [1, 2, 3], "fare": [1.0, 2.0, 3.0], "distance": [1, 0, 2]})
    graph = fj.Graph([strict_ratio], sources={Trip: table})
    with pytest.raises(ZeroDivisionError, match="row 1 of .*strict_ratio"):
        graph.query_table([Trip.cost_per_mile])
    with pytest.raises(ZeroDivisionError, match="strict_ratio"):
        graph.query([Trip.cost_per_mile], {Trip.id: 2})


def test_interpreted_row_error_names_row() -> None:
    @fj.jit_resolver
    def first_letter(city: Trip.city, started: Trip.started) -> Trip.city_code:
        return city[0]  # type: ignore[index]

    table = pa.table({"id": [1, 2], "city": ["Oslo", None], "started": pa.array([None, None], pa.timestamp("us"))})
    graph = fj.Graph([first_letter], sources={Trip: table})
    with pytest.raises(TypeError, match=r"row 1 of .*first_letter, for the Trip with id=2: city=None, started=None"):
        graph.query_table([Trip.city_code])


def test_result_of_wrong_type_is_rejected() -> None:
    @fj.jit_resolver
    def bad_code(started: Trip.started) -> Trip.city_code:
        while False:  # a while loop keeps the resolver interpreted
            pass
        return 4  # type: ignore[return-value]

    @fj.jit_resolver
    def bad_length(city: Trip.city) -> Trip.city_code:
        return len(city or "")  # type: ignore[return-value]

    table = pa.table({"id": [1], "city": ["Oslo"], "started": [datetime.datetime(2024, 1, 1)]})
    interpreted = fj.Graph([bad_code], sources={Trip: table})
    with pytest.raises(TypeError, match=r"the result 4 \(int\) does not fit Trip.city_code, declared str \| None"):
        interpreted.query([Trip.city_code], {Trip.id: 1})
    compiled = fj.Graph([bad_length], sources={Trip: table})
    with pytest.raises(TypeError, match=r"the result 4 \(int\) does not match the return annotation str"):
        compiled.query_table([Trip.city_code])
    # A fused stage over str features runs a few online rows in the interpreter.
    with pytest.raises(TypeError, match=r"the result 4 \(int\) does not fit Trip.city_code, declared str \| None"):
        compiled.query([Trip.city_code], {Trip.id: 1})


def test_tuple_of_wrong_length_is_rejected() -> None:
    @fj.jit_resolver
    def halves(distance: Trip.distance) -> tuple[Trip.speed, Trip.fare]:
        return (distance / 2,)  # type: ignore[return-value]

    graph = fj.Graph([halves])
    with pytest.raises(TypeError, match="not a tuple of 2 values, one for each of Trip.speed, Trip.fare"):
        graph.query([Trip.speed], {Trip.distance: 4})


def test_request_errors(graph: Any) -> None:
    with pytest.raises(GraphError, match=r"Trip.distance is declared int, but the request gives 'far' \(str\) in row 0"):
        graph.query([Trip.speed], {Trip.id: 3, Trip.distance: "far"})
    with pytest.raises(GraphError, match="different numbers of values"):
        graph.query([Trip.speed], {Trip.distance: [1, 2], Trip.minutes: [1]})
    with pytest.raises(GraphError, match="must give Trip.id, the primary key"):
        graph.query([Trip.speed], {Trip.minutes: 4})
    with pytest.raises(GraphError, match="no feature 'Trip.nope'"):
        graph.query(["Trip.nope"], {Trip.id: 1})
    with pytest.raises(TypeError, match="takes inputs as a dict"):
        graph.query([Trip.speed], 42)


def test_empty_requests_give_empty_results(graph: Any) -> None:
    assert graph.query([Trip.speed, Trip.city_code], [])["speed"] == []
    assert graph.query([Trip.speed, Trip.city_code], [])["city_code"] == []
    assert graph.query([Trip.speed], {Trip.id: []})["speed"] == []


def test_string_names_of_features(graph: Any, table: pa.Table) -> None:
    key = table.column("id")[1].as_py()
    by_reference = graph.query([Trip.speed], {Trip.id: key})
    by_name = graph.query(["speed"], {"id": key})
    by_qualified_name = graph.query("Trip.speed", {"Trip.id": key})
    assert by_reference["speed"] == by_name["speed"] == by_qualified_name["speed"]


def test_plain_functions_are_wrapped() -> None:
    def double(distance: Trip.distance) -> Trip.speed:
        return distance * 2.0

    graph = fj.Graph([double])
    assert graph.query([Trip.speed], {Trip.distance: [1, 2]})["speed"] == [2.0, 4.0]
    assert isinstance(graph.resolvers[0], fj.JitResolver)


def test_rows_may_name_features_either_way(graph: Any, table: pa.Table, expected: list[dict[str, Any]]) -> None:
    keys = [table.column("id")[row].as_py() for row in (3, 8)]
    result = graph.query([Trip.speed], [{Trip.id: keys[0]}, {"id": keys[1]}, {"Trip.id": keys[0]}])
    assert result["speed"] == [expected[3]["speed"], expected[8]["speed"], expected[3]["speed"]]
    with pytest.raises(GraphError, match="the request gives Trip.id twice"):
        graph.query([Trip.speed], {Trip.id: 1, "id": 1})


def test_rows_giving_different_features(graph: Any, table: pa.Table, expected: list[dict[str, Any]]) -> None:
    # A row looks up every feature it leaves out, even where another row gives that feature.
    keys = [table.column("id")[row].as_py() for row in (3, 8, 5)]
    rows = [{Trip.id: keys[0]}, {Trip.id: keys[1], Trip.distance: 120, Trip.minutes: 60}, {Trip.id: keys[2], Trip.minutes: 30}]
    result = graph.query([Trip.speed, Trip.distance, Trip.city_code], rows)
    assert result["speed"][0] == expected[3]["speed"]
    assert result["speed"][1] == 120.0
    assert result["speed"][2] == speed.function(expected[5]["distance"], 30)
    assert result["distance"] == [expected[3]["distance"], 120, expected[5]["distance"]]
    assert result["city_code"] == [expected[3]["city_code"], expected[8]["city_code"], expected[5]["city_code"]]


@fj.features
class Share:
    id: int
    amount: float
    parts: int
    each: float


@fj.jit_resolver
def each(amount: Share.amount, parts: Share.parts) -> Share.each:
    return amount / parts


def test_row_error_names_request_row_across_groups() -> None:
    graph = fj.Graph([each], sources={Share: pa.table({"id": [1, 2], "amount": [6.0, 4.0], "parts": [3, 0]})})
    rows = [{Share.id: 1, Share.parts: 2}, {Share.id: 1}, {Share.id: 2}]
    assert graph.query([Share.each], rows[:2])["each"] == [3.0, 2.0]
    with pytest.raises(ZeroDivisionError, match=r"\(row 2 of each, for the Share with id=2: amount=4.0, parts=0\)") as caught:
        graph.query([Share.each], rows)
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


def test_groups_of_rows_check_values_by_request_row() -> None:
    graph = fj.Graph([each], sources={Share: pa.table({"id": [1, 2], "amount": [6.0, 4.0], "parts": [3, 2]})})
    rows = [{Share.id: 1}, {Share.id: 2}, {Share.id: 2, Share.amount: "x"}]
    with pytest.raises(GraphError, match=r"the request gives 'x' \(str\) in row 2"):
        graph.query([Share.each], rows)
    # A row that leaves out the key, where others give it, matches no source row.
    assert graph.query([Share.each], [{Share.id: 1}, {}])["each"] == [2.0, None]


def test_groups_of_rows_explained_one_by_one() -> None:
    graph = fj.Graph([each], sources={Share: pa.table({"id": [1, 2], "amount": [6.0, 4.0], "parts": [3, 2]})})
    text = graph.explain([Share.each], [{Share.id: 1, Share.parts: 2}, {Share.id: 1}, {Share.id: 2}], show=False)
    assert "request rows 0:\n  plan of Share: each (online, 1 request row)\n    request gives id, parts" in text
    assert "request rows 1, 2:\n  plan of Share: each (online, 2 request rows)\n    request gives id\n" in text


@fj.features
class Visit:
    id: int
    started: datetime.datetime | None
    start_hour: int | None


@fj.jit_resolver
def visit_hour(started: Visit.started) -> Visit.start_hour:
    return None if started is None else started.hour


def test_groups_keep_source_arrow_type() -> None:
    started = pa.array([datetime.datetime(2024, 1, 1, 5), datetime.datetime(2024, 1, 1, 7)], pa.timestamp("ms", tz="UTC"))
    graph = fj.Graph([visit_hour], sources={Visit: pa.table({"id": [1, 2], "started": started})})
    requested = datetime.datetime(2024, 2, 2, 9, tzinfo=datetime.UTC)
    result = graph.query([Visit.started, Visit.start_hour], [{Visit.id: 1}, {Visit.id: 2, Visit.started: requested}])
    assert result["start_hour"] == [5, 9]
    table = result.to_arrow()
    assert table.schema.field("started").type == pa.timestamp("ms", tz="UTC")
    assert table.column("started").to_pylist()[1] == requested


@fj.features
class Split:
    id: int
    parts: int
    share: float | None


@fj.jit_resolver(on_error="null")
def share(parts: Split.parts) -> Split.share:
    counted = 0
    for _ in range(parts):  # a loop runs in the interpreter
        counted += 1
    return 1 / counted


def test_interpreted_null_rows_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    graph = fj.Graph([share], sources={Split: pa.table({"id": [1, 2], "parts": [0, 4]})})
    with caplog.at_level(logging.WARNING, logger="featurejit"):
        assert graph.query_table([Split.share]).column("share").to_pylist() == [None, 0.25]
    assert "share: 1 of 2 rows raised and was set to null (on_error='null')" in caplog.text


def test_outputs_of_wrong_type_are_type_errors() -> None:
    table = pa.table({"id": [1, 2], "amount": [6.0, 4.0], "parts": [3, 2]})
    graph = fj.Graph([each], sources={Share: table}, outputs=Share.each)
    assert graph.query(None, {Share.id: 1})["each"] == [2.0]
    assert graph.query_table().column("each").to_pylist() == [2.0, 2.0]
    with pytest.raises(TypeError, match="the outputs are features, such as"):
        graph.query(5, {Share.id: 1})
    with pytest.raises(GraphError, match="name the output features"):
        fj.Graph([each], sources={Share: table}).query(None, {Share.id: 1})


def test_concurrent_online_queries(graph: Any, table: pa.Table, expected: list[dict[str, Any]]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ids = table.column("id").to_pylist()

    def ask(row: int) -> tuple[int, list[Any]]:
        result = graph.query([Trip.speed, Trip.log_fare, Trip.city_code], {Trip.id: ids[row]})
        return row, [result["speed"][0], result["log_fare"][0], result["city_code"][0]]

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(ask, range(0, ROWS, 7)))
    for row, values in answers:
        assert values == [expected[row]["speed"], expected[row]["log_fare"], expected[row]["city_code"]], row


def test_module_constant_change_is_seen_online() -> None:
    import tests.graph_models as models

    graph = fj.Graph(RESOLVERS, sources={Trip: trips(10)})
    request = {Trip.distance: 40, Trip.minutes: 60}
    assert graph.query([Trip.is_fast], request)["is_fast"] == [True]
    saved = models.FAST_SPEED
    models.FAST_SPEED = 50.0
    try:
        assert graph.query([Trip.is_fast], request)["is_fast"] == [False]
        assert graph.query_table([Trip.is_fast], pa.table({"distance": [40], "minutes": [60]})).column(0).to_pylist() == [False]
    finally:
        models.FAST_SPEED = saved


def test_resolver_without_inputs_runs_once_per_row(table: pa.Table) -> None:
    @fj.jit_resolver
    def flat_tip() -> Trip.tip:
        return 1.5

    graph = fj.Graph([flat_tip], sources={Trip: table})
    (stage,) = graph.plan((Trip.tip,), (), None).stages
    assert stage.kind == "interpreted"
    assert "reads no feature" in stage.reason
    assert graph.query_table([Trip.tip]).column("tip").to_pylist() == [1.5] * ROWS
    assert graph.query([Trip.tip], {Trip.id: [0, 3]})["tip"] == [1.5, 1.5]


@fj.features
class Event:
    id: int
    at: datetime.datetime | None
    next_day: datetime.datetime | None


@fj.jit_resolver
def next_day(at: Event.at) -> Event.next_day:
    return None if at is None else at + datetime.timedelta(days=1)


def test_offline_datetime_output_keeps_its_zone() -> None:
    # Interpreted in a graph (a datetime output), whose results keep the zone of the values.
    zone = "America/New_York"
    events = pa.table({"id": [1, 2], "at": pa.array([datetime.datetime(2024, 3, 10, 6, 30), None], pa.timestamp("us", tz=zone))})
    graph = fj.Graph([next_day], sources={Event: events})
    expected = [next_day.function(at) for at in events.column("at").to_pylist()]
    table = graph.query_table([Event.next_day])
    assert table.schema.field("next_day").type == pa.timestamp("us", tz=zone)
    assert table.column("next_day").to_pylist() == expected
    assert graph.query([Event.next_day], {Event.id: [1]})["next_day"] == expected[:1]


@fj.features
class Station:
    id: int
    day: datetime.datetime
    temp: float | None


@fj.features
class Reading:
    id: int
    day: datetime.datetime | None
    station: Station = fj.has_one(on="day")
    station_temp: float | None


@fj.jit_resolver
def station_temp(temp: Reading.station.temp) -> Reading.station_temp:
    return temp


def test_aware_request_key_rejected_online() -> None:
    day = datetime.datetime(2024, 1, 1)
    stations = pa.table({"id": [1], "day": pa.array([day], pa.timestamp("us")), "temp": [1.5]})
    readings = pa.table({"id": [1], "day": pa.array([day], pa.timestamp("us"))})
    graph = fj.Graph([station_temp], sources={Station: stations, Reading: readings})
    assert graph.query([Reading.station_temp], {Reading.day: [day]})["station_temp"] == [1.5]
    # In Python a naive datetime never equals an aware one, so the aware key cannot match.
    with pytest.raises(GraphError, match="'day' contains naive timestamps .* is an aware datetime"):
        graph.query([Reading.station_temp], {Reading.day: [day.replace(tzinfo=datetime.UTC)]})


def test_aware_key_column_rejected_offline() -> None:
    day = datetime.datetime(2024, 1, 1)
    stations = pa.table({"id": [1], "day": pa.array([day], pa.timestamp("us")), "temp": [1.5]})
    graph = fj.Graph([station_temp], sources={Station: stations})
    naive = pa.table({"id": [1], "day": pa.array([day], pa.timestamp("us"))})
    assert graph.query_table([Reading.station_temp], naive).column("station_temp").to_pylist() == [1.5]
    aware = pa.table({"id": [1], "day": pa.array([day], pa.timestamp("us", tz="UTC"))})
    with pytest.raises(GraphError, match="one contains naive timestamps and the other aware ones, which never match"):
        graph.query_table([Reading.station_temp], aware)
