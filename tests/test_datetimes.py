"""Differential tests of datetime, date and timedelta resolvers against CPython, over Arrow arrays."""

from __future__ import annotations

import datetime
import importlib.util
import sys
from types import ModuleType
from typing import Any

import pyarrow as pa
import pytest

from tests.temporal_differential import check_temporal

NY = "America/New_York"
DT = datetime.datetime
TD = datetime.timedelta

# Naive datetimes: clock times for naive columns, UTC instants for aware ones. They include
# both sides of New York's, Dublin's and Lord Howe's 2013 transitions, the first New York
# transition (1883), times outside the zone tables (from 2200) and datetime's limits.
EDGE_MOMENTS = [
    DT(1970, 1, 1),
    DT(1969, 12, 31, 23, 59, 59, 999_999),
    DT(2013, 3, 10, 6, 59, 59, 999_999),
    DT(2013, 3, 10, 7),
    DT(2013, 11, 3, 5, 30),
    DT(2013, 11, 3, 6, 0),
    DT(2013, 11, 3, 6, 30),
    DT(2013, 10, 27, 0, 30),
    DT(2013, 10, 5, 15, 45),
    DT(2000, 2, 29, 12, 34, 56, 789_012),
    DT(1883, 11, 18, 16, 59, 59),
    DT(1883, 11, 18, 17, 0),
    DT(1600, 3, 1, 1, 2, 3),
    DT(2199, 12, 31, 22),
    DT(2200, 6, 1, 12),
    DT(1, 1, 1),
    DT(1, 1, 2, 3),
    DT(9999, 12, 31, 23, 59, 59, 999_999),
    DT(9999, 12, 30, 12),
]
EDGE_DATES = [
    datetime.date(1970, 1, 1),
    datetime.date(1969, 12, 31),
    datetime.date(2000, 2, 29),
    datetime.date(1900, 2, 28),
    datetime.date(2024, 12, 31),
    datetime.date(1, 1, 1),
    datetime.date(9999, 12, 31),
]
EDGE_DELTAS = [
    TD(0),
    TD(microseconds=1),
    TD(microseconds=-1),
    TD(days=1),
    TD(hours=-1),
    TD(days=-1, microseconds=1),
    TD(hours=25, minutes=30),
    TD(days=365 * 400, seconds=5),
    TD(microseconds=2**53),
    TD(microseconds=2**53 + 1),
    TD(microseconds=2**63 - 1),
    TD(microseconds=-(2**63)),
]
SMALL_INTS = [0, 1, -1, 2, -3, 1_000_000, 2**62]

ZONES = ["", "UTC", NY, "Europe/Dublin", "Australia/Lord_Howe", "+05:30"]
ZONE_PAIRS = [("", ""), ("UTC", "UTC"), (NY, NY), (NY, "UTC"), ("Europe/Dublin", "Australia/Lord_Howe"), ("+05:30", NY), ("", "UTC")]

# Each entry: a resolver name, its parameters, its return annotation and its expression. Parameters
# named t and u are datetimes, d and e dates, td and ud timedeltas, n ints.
EXPRESSIONS: list[tuple[str, str, str, str]] = [
    ("year", "t: datetime", "int", "t.year"),
    ("month", "t: datetime", "int", "t.month"),
    ("day", "t: datetime", "int", "t.day"),
    ("hour", "t: datetime", "int", "t.hour"),
    ("minute", "t: datetime", "int", "t.minute"),
    ("second", "t: datetime", "int", "t.second"),
    ("microsecond", "t: datetime", "int", "t.microsecond"),
    ("weekday", "t: datetime", "int", "t.weekday()"),
    ("isoweekday", "t: datetime", "int", "t.isoweekday()"),
    ("toordinal", "t: datetime", "int", "t.toordinal()"),
    ("to_date", "t: datetime", "date", "t.date()"),
    ("timestamp", "t: datetime", "float", "t.timestamp()"),
    ("identity", "t: datetime", "datetime", "t"),
    ("weekend", "t: datetime | None", "bool | None", "None if t is None else t.weekday() >= 5"),
    ("later", "t: datetime", "datetime", "t + timedelta(days=1, hours=2)"),
    ("earlier", "t: datetime", "datetime", "t - timedelta(microseconds=1)"),
    ("shift", "t: datetime, td: timedelta", "datetime", "t + td"),
    ("shift_left", "t: datetime, td: timedelta", "datetime", "td + t"),
    ("unshift", "t: datetime, td: timedelta", "datetime", "t - td"),
    ("shifted_hour", "t: datetime, td: timedelta", "int", "(t + td).hour"),
    ("in_new_york", "t: datetime", "int", "t.astimezone(NEW_YORK).hour"),
    ("in_new_york_value", "t: datetime", "datetime", "t.astimezone(NEW_YORK)"),
    ("in_fixed_zone", "t: datetime", "int", "t.astimezone(INDIA).minute"),
    ("constant_cutoff", "t: datetime", "bool", "t < CUTOFF"),
    ("new_datetime", "t: datetime", "bool", "t >= datetime(2013, 6, 1)"),
    ("elapsed", "t: datetime, u: datetime", "timedelta", "t - u"),
    ("elapsed_days", "t: datetime, u: datetime", "float", "(t - u) / timedelta(days=1)"),
    ("elapsed_seconds", "t: datetime, u: datetime", "float", "(t - u).total_seconds()"),
    ("less", "t: datetime, u: datetime", "bool", "t < u"),
    ("less_equal", "t: datetime, u: datetime", "bool", "t <= u"),
    ("equal", "t: datetime, u: datetime", "bool", "t == u"),
    ("not_equal", "t: datetime, u: datetime", "bool", "t != u"),
    ("greater", "t: datetime, u: datetime", "bool", "t > u"),
    ("latest", "t: datetime, u: datetime", "datetime", "max(t, u)"),
    ("earliest", "t: datetime, u: datetime", "datetime", "t if t < u else u"),
    ("date_year", "d: date", "int", "d.year"),
    ("date_month", "d: date", "int", "d.month"),
    ("date_day", "d: date", "int", "d.day"),
    ("date_weekday", "d: date", "int", "d.weekday()"),
    ("date_isoweekday", "d: date", "int", "d.isoweekday()"),
    ("date_ordinal", "d: date", "int", "d.toordinal()"),
    ("date_identity", "d: date", "date", "d"),
    ("date_shift", "d: date, td: timedelta", "date", "d + td"),
    ("date_unshift", "d: date, td: timedelta", "date", "d - td"),
    ("date_difference", "d: date, e: date", "timedelta", "d - e"),
    ("date_less", "d: date, e: date", "bool", "d < e"),
    ("date_equal", "d: date, e: date", "bool", "d == e"),
    ("date_is_leap_day", "d: date", "bool", "d == date(2000, 2, 29)"),
    ("days", "td: timedelta", "int", "td.days"),
    ("seconds", "td: timedelta", "int", "td.seconds"),
    ("microseconds", "td: timedelta", "int", "td.microseconds"),
    ("total_seconds", "td: timedelta", "float", "td.total_seconds()"),
    ("negate", "td: timedelta", "timedelta", "-td"),
    ("positive", "td: timedelta", "timedelta", "+td"),
    ("absolute", "td: timedelta", "timedelta", "abs(td)"),
    ("nonzero", "td: timedelta", "bool", "bool(td)"),
    ("zero", "td: timedelta", "bool", "not td"),
    ("sum", "td: timedelta, ud: timedelta", "timedelta", "td + ud"),
    ("difference", "td: timedelta, ud: timedelta", "timedelta", "td - ud"),
    ("ratio", "td: timedelta, ud: timedelta", "float", "td / ud"),
    ("whole_ratio", "td: timedelta, ud: timedelta", "int", "td // ud"),
    ("remainder", "td: timedelta, ud: timedelta", "timedelta", "td % ud"),
    ("delta_less", "td: timedelta, ud: timedelta", "bool", "td < ud"),
    ("delta_equal", "td: timedelta, ud: timedelta", "bool", "td == ud"),
    ("shortest", "td: timedelta, ud: timedelta", "timedelta", "min(td, ud)"),
    ("scaled", "td: timedelta, n: int", "timedelta", "td * n"),
    ("scaled_left", "td: timedelta, n: int", "timedelta", "n * td"),
    ("divided", "td: timedelta, n: int", "timedelta", "td // n"),
    ("built", "n: int", "timedelta", "timedelta(days=n, hours=1)"),
    ("built_weeks", "n: int", "int", "timedelta(weeks=n, microseconds=n).days"),
    ("in_hours", "td: timedelta", "int", "td // timedelta(hours=1)"),
]


def kinds_of(parameters: str) -> list[str]:
    return [part.split(":")[0].strip() for part in parameters.split(",")]


def arrow_type(kind: str, zone: str | None) -> pa.DataType:
    if kind in ("t", "u"):
        return pa.timestamp("us", tz=zone or None)
    if kind in ("d", "e"):
        return pa.date32()
    if kind in ("td", "ud"):
        return pa.duration("us")
    return pa.int64()


POOLS: dict[str, list[Any]] = {
    "t": EDGE_MOMENTS, "u": EDGE_MOMENTS[::2], "d": EDGE_DATES, "e": EDGE_DATES,
    "td": EDGE_DELTAS, "ud": EDGE_DELTAS[::2], "n": SMALL_INTS,
}


def rows_for(kinds: list[str]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = [()]
    for kind in kinds:
        rows = [(*row, value) for row in rows for value in [*POOLS[kind], None]]
    return rows


# Expressions whose result is t or u, which compile only when both share a zone.
SAME_ZONE_ONLY = ("latest", "earliest")


def zone_cases(name: str, kinds: list[str]) -> list[tuple[str | None, str | None]]:
    if "t" in kinds and "u" in kinds:
        return [pair for pair in ZONE_PAIRS if name not in SAME_ZONE_ONLY or pair[0] == pair[1]]
    if "t" in kinds:
        return [(zone, None) for zone in ZONES]
    return [(None, None)]


CASES = [
    pytest.param(entry, zones, id=f"{entry[0]}-{'-'.join(zone or 'naive' for zone in zones if zone is not None) or 'plain'}")
    for entry in EXPRESSIONS
    for zones in zone_cases(entry[0], kinds_of(entry[1]))
]


@pytest.fixture(scope="module")
def temporal_module(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    lines = [
        "from datetime import date, datetime, timedelta, timezone",
        "from zoneinfo import ZoneInfo",
        "from featurejit import jit_resolver",
        "NEW_YORK = ZoneInfo('America/New_York')",
        "INDIA = timezone(timedelta(hours=5, minutes=30))",
        "CUTOFF = datetime(2013, 11, 3, 1, 30)",
        "",
    ]
    for name, parameters, result, expression in EXPRESSIONS:
        lines += ["@jit_resolver", f"def {name}({parameters}) -> {result}:", f"    return {expression}", ""]
    path = tmp_path_factory.mktemp("generated") / "temporal_resolvers.py"
    path.write_text("\n".join(lines))
    spec = importlib.util.spec_from_file_location("generated_temporal_resolvers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("entry", "zones"), CASES)
def test_expression_matches_python(temporal_module: ModuleType, entry: tuple[str, str, str, str], zones: tuple[str | None, str | None]) -> None:
    name, parameters, _, _ = entry
    kinds = kinds_of(parameters)
    zone_of = {"t": zones[0], "u": zones[1]}
    types = [arrow_type(kind, zone_of.get(kind)) for kind in kinds]
    check_temporal(getattr(temporal_module, name), rows_for(kinds), types)
