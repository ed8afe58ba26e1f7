"""Graph resolvers that read and write datetime features compile into the fused kernel of their stage."""

from __future__ import annotations

import datetime
import zoneinfo

import pyarrow as pa
import pytest

import featurejit as fj
from featurejit.graph.online import INTERPRETED_ROWS

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


@fj.features
class Ride:
    id: int
    started: datetime.datetime | None
    local_start: datetime.datetime | None
    local_hour: int | None
    finished: datetime.datetime | None


@fj.jit_resolver
def local_start(started: Ride.started) -> Ride.local_start:
    return None if started is None else started.astimezone(NEW_YORK)


@fj.jit_resolver
def local_hour(local_start: Ride.local_start) -> Ride.local_hour:
    return None if local_start is None else local_start.hour


@fj.jit_resolver
def finished(started: Ride.started) -> Ride.finished:
    return None if started is None else started + datetime.timedelta(minutes=90)


RIDES = pa.table(
    {"id": [1, 2, 3, 4], "started": pa.array([0, None, 1_700_000_000 * 10**6, -(10**15)], pa.timestamp("us", tz="UTC"))}
)
OUTPUTS = [Ride.local_start, Ride.local_hour, Ride.finished]


def expected_rows(started: list[datetime.datetime | None]) -> list[dict[str, object]]:
    rows = []
    for value in started:
        local = local_start.function(value)
        rows.append({"local_start": local, "local_hour": local_hour.function(local), "finished": finished.function(value)})
    return rows


def ride_graph() -> fj.Graph:
    return fj.Graph([local_start, local_hour, finished], sources={Ride: RIDES})


def test_datetime_resolvers_share_one_fused_stage() -> None:
    text = ride_graph().explain(OUTPUTS, show=False)
    assert "stage 1: fused kernel [local_start, local_hour, finished], native" in text
    assert "stage 2" not in text


def test_offline_datetime_features_equal_python() -> None:
    table = ride_graph().query_table(OUTPUTS)
    assert table.schema.field("local_start").type == pa.timestamp("us", tz="America/New_York")
    assert table.schema.field("finished").type == pa.timestamp("us", tz="UTC")
    assert table.to_pylist() == expected_rows(RIDES.column("started").to_pylist())


def test_online_datetime_features_equal_offline() -> None:
    graph = ride_graph()
    keys = [3, 1, 9, 2, 4]
    online = graph.query(OUTPUTS, {Ride.id: keys}).to_pylist()
    offline = graph.query_table(OUTPUTS, pa.table({"id": keys})).to_pylist()
    assert online == offline
    started = dict(zip(RIDES.column("id").to_pylist(), RIDES.column("started").to_pylist(), strict=True))
    assert online == expected_rows([started.get(key) for key in keys])


def test_online_request_gives_the_datetime() -> None:
    moment = datetime.datetime(2024, 7, 1, 12, tzinfo=datetime.UTC)
    result = ride_graph().query([Ride.local_hour], {Ride.started: [moment, None]})
    assert result.to_pylist() == [{"local_hour": 8}, {"local_hour": None}]


def test_few_online_rows_run_in_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    graph = ride_graph()
    calls = []
    kernel_call = fj.FusedResolvers.__call__

    def counted(self: fj.FusedResolvers, table: pa.Table) -> pa.Table:
        calls.append(table.num_rows)
        return kernel_call(self, table)

    monkeypatch.setattr(fj.FusedResolvers, "__call__", counted)
    few = graph.query(OUTPUTS, {Ride.id: [3, 1]}).to_pylist()
    assert calls == []
    keys = [1, 2, 3, 4] * (INTERPRETED_ROWS // 4 + 1)
    many = graph.query(OUTPUTS, {Ride.id: keys}).to_pylist()
    assert calls == [len(keys)]
    assert many[:2] == [few[1], expected_rows([None])[0]]
    assert few == expected_rows(RIDES.column("started").take([2, 0]).to_pylist())


@fj.features
class Visit:
    id: int
    left: datetime.datetime | None
    left_or_new_year: datetime.datetime | None


NEW_YEAR_UTC = datetime.datetime(2021, 1, 1, tzinfo=datetime.UTC)


@fj.jit_resolver(on_error="null")
def left_or_new_year(left: Visit.left) -> Visit.left_or_new_year:
    while False:  # a while loop, so that it runs in the interpreter, which allows both kinds of datetime
        pass
    return NEW_YEAR_UTC if left is None else left


@pytest.mark.parametrize("pool", [False, True], ids=["one process", "process pool"])
def test_naive_and_aware_results_null_the_later_row(monkeypatch: pytest.MonkeyPatch, pool: bool) -> None:
    from featurejit.settings import settings

    if pool:
        monkeypatch.setattr(settings, "threads", 2)
        monkeypatch.setattr(settings, "pool_rows", 1)  # every chunk of rows in a process of its own
    left = pa.array([datetime.datetime(2020, 1, 1), None, datetime.datetime(2020, 1, 2)], pa.timestamp("us"))
    graph = fj.Graph([left_or_new_year], sources={Visit: pa.table({"id": [0, 1, 2], "left": left})})
    expected = [datetime.datetime(2020, 1, 1), None, datetime.datetime(2020, 1, 2)]

    assert graph.query([Visit.left_or_new_year], {Visit.id: [0, 1, 2]})["left_or_new_year"] == expected
    assert graph.query_table([Visit.left_or_new_year]).column(0).to_pylist() == expected
