"""A Trip entity, resolvers over it, and synthetic trips, shared by the feature graph tests.

The resolvers mix what the planner must handle: compiled resolvers that fuse, a chain
through a computed feature, a resolver that raises on some rows (with on_error="null"), a str
resolver, a datetime resolver that runs in the interpreter (strftime is not compiled), and
one that writes two features as a tuple.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

import featurejit as fj

FAST_SPEED = 30.0  # miles per hour; a module constant, which compiled kernels capture


@fj.features
class Trip:
    id: int
    distance: int
    minutes: int | None
    fare: float | None
    paid: bool | None
    city: str | None
    started: datetime.datetime | None
    speed: float | None
    is_fast: bool | None
    cost_per_mile: float | None
    log_fare: float | None
    city_code: str | None
    start_hour: int | None
    hour_of_week: int | None
    is_weekend: bool | None
    tip: float | None


@fj.jit_resolver
def speed(distance: Trip.distance, minutes: Trip.minutes) -> Trip.speed:
    if minutes is None or minutes == 0:
        return None
    return distance / (minutes / 60)


@fj.jit_resolver
def is_fast(speed: Trip.speed) -> Trip.is_fast:
    if speed is None:
        return None
    return speed > FAST_SPEED


@fj.jit_resolver(on_error="null")
def cost_per_mile(fare: Trip.fare, distance: Trip.distance) -> Trip.cost_per_mile:
    if fare is None:
        return None
    return fare / distance


@fj.jit_resolver
def log_fare(fare: Trip.fare, paid: Trip.paid) -> Trip.log_fare:
    if fare is None or not paid:
        return None
    return math.log1p(fare)


@fj.jit_resolver
def city_code(city: Trip.city) -> Trip.city_code:
    return None if city is None else city[:3].upper()


@fj.jit_resolver
def start_hour(started: Trip.started) -> Trip.start_hour:
    return None if started is None else int(started.strftime("%H"))  # strftime keeps it interpreted


@fj.jit_resolver
def week(start_hour: Trip.start_hour, started: Trip.started) -> tuple[Trip.hour_of_week, Trip.is_weekend]:
    if started is None or start_hour is None:
        return None, None
    return started.weekday() * 24 + start_hour, started.weekday() >= 5


RESOLVERS = [speed, is_fast, cost_per_mile, log_fare, city_code, start_hour, week]
COMPUTED = ["speed", "is_fast", "cost_per_mile", "log_fare", "city_code", "start_hour", "hour_of_week", "is_weekend"]
CITIES = ["Berlin", "paris", "Oslo", "", "Zürich"]


def trips(rows: int, seed: int = 7, first_id: int = 0) -> pa.Table:
    """Return synthetic trips with nulls in every optional column and zero distances (division by zero)."""
    generator = np.random.default_rng(seed)
    start = datetime.datetime(2024, 3, 1)
    hours = generator.integers(0, 24 * 30, rows)
    return pa.table(
        {
            "id": pa.array(np.arange(first_id, first_id + rows) * 3, type=pa.int64()),
            "distance": pa.array(generator.integers(0, 50, rows)),
            "minutes": pa.array(generator.integers(0, 90, rows), mask=generator.random(rows) < 0.1),
            "fare": pa.array(np.abs(generator.normal(20, 8, rows)), mask=generator.random(rows) < 0.1),
            "paid": pa.array(generator.random(rows) < 0.8, mask=generator.random(rows) < 0.05),
            "city": pa.array([CITIES[i] for i in generator.integers(0, len(CITIES), rows)], mask=generator.random(rows) < 0.1),
            "started": pa.array(
                [start + datetime.timedelta(hours=int(hour), seconds=int(hour) % 59) for hour in hours],
                type=pa.timestamp("us"),
                mask=generator.random(rows) < 0.1,
            ),
        }
    )


def plain_row(row: dict[str, Any]) -> dict[str, Any]:
    """Compute every feature of one row with the plain Python functions, as CPython does, in dependency order."""
    values = dict(row)
    calls: list[tuple[Callable[..., Any], list[str], list[str]]] = [
        (speed.function, ["distance", "minutes"], ["speed"]),
        (is_fast.function, ["speed"], ["is_fast"]),
        (cost_per_mile.function, ["fare", "distance"], ["cost_per_mile"]),
        (log_fare.function, ["fare", "paid"], ["log_fare"]),
        (city_code.function, ["city"], ["city_code"]),
        (start_hour.function, ["started"], ["start_hour"]),
        (week.function, ["start_hour", "started"], ["hour_of_week", "is_weekend"]),
    ]
    for function, inputs, outputs in calls:
        try:
            result = function(*(values[name] for name in inputs))
        except ZeroDivisionError:  # cost_per_mile has on_error="null"
            result = None
        results = result if len(outputs) > 1 else (result,)
        values.update(zip(outputs, results, strict=True))
    if values["speed"] is not None:
        values["speed"] = float(values["speed"])
    return values


def plain_rows(table: pa.Table) -> list[dict[str, Any]]:
    return [plain_row(row) for row in table.to_pylist()]
