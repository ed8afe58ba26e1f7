"""Row errors of graph queries name the row of the request, table or scan, and the row's key.

The kernels count rows from the start of their own call, which a graph makes on a subset of
the query's rows (the keys the source contains) or on the partner rows of a join. These tests
put the failing row after rows that the subset leaves out, so a row number that the graph did
not restate would be wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import featurejit as fj


@fj.features
class Airport:
    code: str = fj.primary_key()
    runways: int
    gates: int
    gates_per_runway: int


@fj.features
class Leg:
    id: int
    origin: str
    minutes: int
    stops: int
    minutes_per_stop: int
    origin_gates: int
    airport: Airport = fj.has_one(left_on="origin", right_on="code")


class StopsError(Exception):
    """A user's own exception class, which keeps its identity and gets the row as a note."""


@fj.jit_resolver
def minutes_per_stop(minutes: Leg.minutes, stops: Leg.stops) -> Leg.minutes_per_stop:
    return minutes // stops


@fj.jit_resolver
def gates_per_runway(gates: Airport.gates, runways: Airport.runways) -> Airport.gates_per_runway:
    return gates // runways


@fj.jit_resolver
def origin_gates(per_runway: Leg.airport.gates_per_runway) -> Leg.origin_gates:
    return per_runway


def checked_stops(minutes: Leg.minutes, stops: Leg.stops) -> Leg.minutes_per_stop:
    if stops == 0:
        raise StopsError("a leg without stops")
    return minutes // stops


LEGS = pa.table({"id": [10, 11, 12, 13], "origin": ["JFK", "ÅES", "LGA", "JFK"], "minutes": [60, 70, 80, 90], "stops": [1, 2, 0, 3]})
AIRPORTS = pa.table({"code": ["JFK", "ÅES", "LGA"], "runways": [4, 0, 2], "gates": [120, 9, 70]})


def leg_graph(resolver: Any = minutes_per_stop) -> fj.Graph:
    return fj.Graph([resolver], sources={Leg: LEGS})


def join_graph(legs: Any = LEGS, airports: Any = AIRPORTS) -> fj.Graph:
    return fj.Graph([gates_per_runway, origin_gates], sources={Leg: legs, Airport: airports})


def test_scan_names_row_and_key() -> None:
    with pytest.raises(ZeroDivisionError, match=r"\(row 2 of minutes_per_stop, for the Leg with id=12: minutes=80, stops=0\)"):
        leg_graph().query_table([Leg.minutes_per_stop])


def test_filtered_scan_counts_rows_after_filter() -> None:
    with pytest.raises(ZeroDivisionError, match=r"row 1 of minutes_per_stop, for the Leg with id=12:"):
        leg_graph().query_table([Leg.minutes_per_stop], filters=[("id", ">", 10)])


def test_parquet_scan_names_key(tmp_path: Path) -> None:
    path = tmp_path / "legs.parquet"
    pq.write_table(LEGS, path, row_group_size=2)
    graph = fj.Graph([minutes_per_stop], sources={Leg: str(path)})
    with pytest.raises(ZeroDivisionError, match=r"row 1 of minutes_per_stop, for the Leg with id=12:"):
        graph.query_table([Leg.minutes_per_stop], filters=[("minutes", ">=", 70)])


def test_given_table_counts_rows_with_missing_keys() -> None:
    request = pa.table({"id": [99, 10, 12]})
    with pytest.raises(ZeroDivisionError, match=r"row 2 of minutes_per_stop, for the Leg with id=12:"):
        leg_graph().query_table([Leg.minutes_per_stop], request)


def test_online_counts_request_rows_with_missing_keys() -> None:
    with pytest.raises(ZeroDivisionError, match=r"row 2 of minutes_per_stop, for the Leg with id=12:"):
        leg_graph().query([Leg.minutes_per_stop], {Leg.id: [99, 10, 12]})


def test_online_request_rows_without_source() -> None:
    graph = fj.Graph([minutes_per_stop], sources={})
    request = {Leg.id: [5, 6], Leg.minutes: [1, 2], Leg.stops: [1, 0]}
    with pytest.raises(ZeroDivisionError, match=r"row 1 of minutes_per_stop, for the Leg with id=6:"):
        graph.query([Leg.minutes_per_stop], request)
    without_key = {Leg.minutes: [1, 2], Leg.stops: [1, 0]}
    with pytest.raises(ZeroDivisionError, match=r"\(row 1 of minutes_per_stop: minutes=2, stops=0\)"):
        graph.query([Leg.minutes_per_stop], without_key)


def test_partner_row_named_by_partner_key_online() -> None:
    with pytest.raises(ZeroDivisionError, match=r"\(gates_per_runway for the Airport with code='ÅES': gates=9, runways=0\)"):
        join_graph().query([Leg.origin_gates], {Leg.id: [10, 11]})


def test_partner_row_named_by_partner_key_offline() -> None:
    with pytest.raises(ZeroDivisionError, match=r"\(gates_per_runway for the Airport with code='ÅES': gates=9, runways=0\)"):
        join_graph().query_table([Leg.origin_gates])


def test_user_exception_gets_one_note() -> None:
    resolver = fj.jit_resolver(checked_stops)
    with pytest.raises(StopsError) as raised:
        leg_graph(resolver).query([Leg.minutes_per_stop], {Leg.id: [99, 10, 12]})
    notes = raised.value.__notes__
    assert notes == ["in row 2 of checked_stops, for the Leg with id=12: minutes=80, stops=0"]
    assert str(raised.value) == "a leg without stops"


def test_error_outside_graph_keeps_call_row() -> None:
    with pytest.raises(ZeroDivisionError, match=r"\(row 2 of minutes_per_stop: minutes=80, stops=0\)"):
        minutes_per_stop(LEGS["minutes"], LEGS["stops"])


def test_null_mode_rows_still_null() -> None:
    lenient = fj.jit_resolver(on_error="null")(minutes_per_stop.function)
    table = leg_graph(lenient).query_table([Leg.minutes_per_stop])
    assert table.column("minutes_per_stop").to_pylist() == [60, 35, None, 30]


def stops_in_interpreter(minutes: Leg.minutes, stops: Leg.stops) -> Leg.minutes_per_stop:
    while False:  # a while loop keeps this resolver in the interpreter
        pass
    return minutes // stops


@pytest.mark.parametrize("resolver", [minutes_per_stop, fj.jit_resolver(stops_in_interpreter)], ids=["compiled", "interpreted"])
def test_graph_null_names_annotation(resolver: Any) -> None:
    legs = LEGS.set_column(3, "stops", pa.array([1, None, 2, 3], pa.int64()))
    graph = fj.Graph([resolver], sources={Leg: legs})
    name = resolver.name
    hint = rf"\(row 1 of {name}, for the Leg with id=11: minutes=70, stops=None; stops is annotated int, not int \| None\)"
    with pytest.raises(TypeError, match=hint):
        graph.query_table([Leg.minutes_per_stop])
    with pytest.raises(TypeError, match=hint):
        graph.query([Leg.minutes_per_stop], {Leg.id: [10, 11]})
