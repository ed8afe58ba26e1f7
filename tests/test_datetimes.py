"""Differential tests of datetime, date and timedelta resolvers against CPython, over Arrow arrays."""

from __future__ import annotations

import datetime
import importlib.util
import sys
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from featurejit import CompileError, OutputTypeError, fuse, jit_resolver
from tests.temporal_differential import UNIT_NANOSECONDS, check_temporal, count_of, outcome

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
    ("is_missing", "t: datetime | None", "bool", "t == None"),
    ("unguarded_hour", "t: datetime | None", "int", "t.hour"),
    ("first_present", "t: datetime | None", "datetime | None", "t or CUTOFF"),
    ("equals_a_date", "t: datetime, d: date", "bool", "t == d"),
    ("before_a_date", "t: datetime, d: date", "bool", "t < d"),
    ("equals_a_number", "td: timedelta, n: int", "bool", "td != n"),
    ("below_a_number", "td: timedelta, n: int", "bool", "td < n"),
    ("within_a_day", "td: timedelta", "bool", "timedelta(0) < td <= timedelta(days=1)"),
    ("holiday", "d: date", "bool", "d in (date(2000, 2, 29), date(1970, 1, 1), date(9999, 12, 31))"),
    ("inlined", "t: datetime, u: datetime", "float", "hours_between(t, u)"),
    ("added_to_none", "t: datetime", "datetime", "t + None"),
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
# Expressions that mix t with a naive constant, which compile only for naive t.
NAIVE_ONLY = ("first_present",)


def zone_cases(name: str, kinds: list[str]) -> list[tuple[str | None, str | None]]:
    if "t" in kinds and "u" in kinds:
        return [pair for pair in ZONE_PAIRS if name not in SAME_ZONE_ONLY or pair[0] == pair[1]]
    if "t" in kinds:
        return [(zone, None) for zone in ZONES if name not in NAIVE_ONLY or not zone]
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
        "@jit_resolver",
        "def hours_between(a: datetime, b: datetime) -> float:",
        "    return (a - b) / timedelta(hours=1)",
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


# --------------------------------------------------------------------------------------
# Rows that need no interpreter stay native
# --------------------------------------------------------------------------------------

ORDINARY_POOLS: dict[str, list[Any]] = {
    "t": [DT(1970, 1, 1), DT(2013, 3, 10, 7, 30), DT(2013, 11, 3, 6, 15), DT(1999, 12, 31, 23, 59, 59, 1), DT(2050, 7, 4, 12)],
    "u": [DT(2013, 11, 3, 6, 15), DT(1960, 5, 5)],
    "d": [datetime.date(2013, 1, 1), datetime.date(1969, 12, 31), datetime.date(2000, 2, 29)],
    "e": [datetime.date(2013, 1, 1)],
    "td": [TD(0), TD(hours=-5), TD(days=3, seconds=7, microseconds=11)],
    "ud": [TD(hours=1), TD(microseconds=-3)],
    "n": [1, -2, 3],
}
# (expression, zone of t) whose rows always take the slow path, as documented.
ALWAYS_SLOW = {("timestamp", ""), ("in_new_york", ""), ("in_new_york_value", ""), ("in_fixed_zone", "")}


@pytest.mark.parametrize(("entry", "zones"), CASES)
def test_ordinary_rows_run_natively(temporal_module: ModuleType, entry: tuple[str, str, str, str], zones: tuple[str | None, str | None]) -> None:
    name, parameters, _, _ = entry
    kinds = kinds_of(parameters)
    zone_of = {"t": zones[0], "u": zones[1]}
    types = [arrow_type(kind, zone_of.get(kind)) for kind in kinds]
    resolver = getattr(temporal_module, name)
    rows: list[tuple[Any, ...]] = [()]
    for kind in kinds:
        rows = [(*row, value) for row in rows for value in ORDINARY_POOLS[kind]]
    counts = [[count_of(type_, value) for type_, value in zip(types, row, strict=True)] for row in rows]
    counts = [row for row in counts if outcome(resolver.function, types, row)[0] == "value"]
    columns = [pa.array([row[i] for row in counts], pa.int32() if pa.types.is_date32(t) else pa.int64()).cast(t) for i, t in enumerate(types)]
    resolver(*columns)
    slow = resolver.explain(show=False).last_slow_path_rows
    if (name, zones[0]) in ALWAYS_SLOW:
        assert slow == len(counts)
    else:
        assert slow == 0, f"{name}: {slow} of {len(counts)} ordinary rows took the slow path"


# --------------------------------------------------------------------------------------
# Units, limits and values Python cannot hold
# --------------------------------------------------------------------------------------

MIN_SECONDS = -62_135_596_800  # datetime.min
MAX_SECONDS = 253_402_300_799  # datetime.max, whole seconds


@jit_resolver
def year_of(t: datetime.datetime) -> int:
    return t.year


@jit_resolver(on_error="null")
def year_or_null(t: datetime.datetime) -> int:
    return t.year


@jit_resolver
def moved(t: datetime.datetime) -> datetime.datetime:
    return t + datetime.timedelta(seconds=1)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("zone", [None, "UTC", NY, "-03:00"])
def test_limits_of_each_unit(unit: str, zone: str | None) -> None:
    per_second = 10**9 // UNIT_NANOSECONDS[unit]
    counts: list[int] = [0, -1, 1, 2**63 - 1, -(2**63), 2**62]
    if unit != "ns":
        counts += [MIN_SECONDS * per_second, MAX_SECONDS * per_second, MIN_SECONDS * per_second - 1, (MAX_SECONDS + 1) * per_second]
        counts += [MIN_SECONDS * per_second + 86_400 * per_second, (MAX_SECONDS - 3600) * per_second]
    else:
        counts += [1000, -1000, 2**63 - 807, -(2**63) + 808]
    type_ = pa.timestamp(unit, tz=zone)
    for resolver in (year_of, moved):
        check_temporal(resolver, [(count,) for count in counts], [type_])


def test_nanoseconds_python_cannot_hold_fail_their_row() -> None:
    array = pa.array([0, 1_000, 1_001, None], pa.int64()).cast(pa.timestamp("ns"))
    with pytest.raises(ValueError, match=r"timestamp\[ns\] value 1001 has nanoseconds.*row 2 of year_of"):
        year_of(array)
    assert year_or_null(array).to_pylist() == [1970, 1970, None, None]
    assert year_or_null.explain(show=False).last_error_rows == 2  # the nanoseconds, and None.year


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_durations_of_each_unit(unit: str) -> None:
    @jit_resolver
    def seconds_of(td: datetime.timedelta) -> float:
        return td.total_seconds()

    counts = [0, 1, -1, 1_000, 2**53, 2**63 - 1, -(2**63), 86_400 * 999_999_999, 10**14, -(10**14)]
    check_temporal(seconds_of, [(count,) for count in counts], [pa.duration(unit)])


def test_dates_of_each_width() -> None:
    @jit_resolver
    def next_day(d: datetime.date) -> datetime.date:
        return d + datetime.timedelta(days=1)

    day = 86_400_000
    check_temporal(next_day, [(count,) for count in (0, -1, 1, 2_932_896, 2_932_895, -719_162, -719_163, 2**31 - 1)], [pa.date32()])
    date64_counts = (0, -1, 5, day * 3 + 5, -day - 1, day * 2_932_895, day * 2_932_896, -day * 719_162, 2**63 - 1, -(2**63))
    check_temporal(next_day, [(count,) for count in date64_counts], [pa.date64()])


# --------------------------------------------------------------------------------------
# Layouts: sliced, chunked, empty and all-null arrays
# --------------------------------------------------------------------------------------

MOMENTS = [DT(2013, 1, 1, 10), None, DT(1969, 7, 20, 20, 17), DT(2013, 11, 3, 6, 30), DT(2100, 2, 28, 23), None, DT(1, 1, 2)]


@jit_resolver
def hour_or_none(t: datetime.datetime | None) -> int | None:
    return None if t is None else t.hour


def expected_hours(values: list[Any]) -> list[Any]:
    return [None if value is None else value.hour for value in values]


@pytest.mark.parametrize("offset", [1, 2, 5])
def test_sliced_timestamp_arrays(offset: int) -> None:
    array = pa.array(MOMENTS * 5, pa.timestamp("ms", tz=NY)).slice(offset, 23)
    assert hour_or_none(array).to_pylist() == expected_hours(array.to_pylist())


NEW_YORK_ZONE = ZoneInfo(NY)


@jit_resolver
def zone_by_flag(moment: datetime.datetime, local: bool) -> datetime.datetime:
    if local:
        return moment.astimezone(NEW_YORK_ZONE)
    return moment.astimezone(datetime.UTC)


def test_two_zones_on_two_paths_suggest_astimezone() -> None:
    reason = zone_by_flag.explain(show=False).reason
    assert "a datetime in America/New_York on one path and a datetime in UTC on another" in reason
    assert "Give the value one zone on every path, for example with .astimezone(ZONE) on each." in reason


@jit_resolver
def new_york_time(moment: datetime.datetime | None) -> datetime.datetime | None:
    if moment is None:
        return None
    while False:  # a while loop keeps the resolver in the interpreter
        pass
    return moment.astimezone(ZoneInfo(NY))


def test_interpreted_chunk_of_nulls_takes_zone_of_others() -> None:
    utc = pa.timestamp("us", tz="UTC")
    for chunks in ([[None], [0]], [[0], [None]]):
        result = new_york_time(pa.chunked_array([pa.array(values, utc) for values in chunks]))
        assert result.type == pa.timestamp("us", tz=NY)
        assert [value is None for value in result.to_pylist()] == [value is None for chunk in chunks for value in chunk]


def test_chunked_timestamp_arrays() -> None:
    array = pa.chunked_array([MOMENTS[:3], MOMENTS[3:], []], pa.timestamp("us", tz="Europe/Dublin"))
    result = hour_or_none(array)
    assert isinstance(result, pa.ChunkedArray)
    assert result.to_pylist() == expected_hours(array.to_pylist())


def test_empty_and_all_null_arrays() -> None:
    assert hour_or_none(pa.array([], pa.timestamp("s", tz=NY))).to_pylist() == []
    assert hour_or_none(pa.nulls(3, pa.timestamp("s"))).to_pylist() == [None, None, None]
    assert hour_or_none(pa.nulls(2)).to_pylist() == [None, None]
    empty = moved(pa.array([], pa.timestamp("s", tz=NY)))
    assert empty.type == pa.timestamp("us", tz=NY)
    assert moved(pa.chunked_array([], pa.timestamp("s"))).type == pa.timestamp("us")


def test_result_types() -> None:
    @jit_resolver
    def day_of(t: datetime.datetime) -> datetime.date:
        return t.date()

    @jit_resolver
    def gap(t: datetime.datetime, u: datetime.datetime) -> datetime.timedelta | None:
        return t - u if t > u else None

    times = pa.array([DT(2020, 5, 1, 3)], pa.timestamp("s", tz="Asia/Kolkata"))
    assert moved(times).type == pa.timestamp("us", tz="Asia/Kolkata")
    assert day_of(times).type == pa.date32()
    assert gap(times, times).type == pa.duration("us")
    assert moved(pa.array([DT(2020, 5, 1)], pa.timestamp("ns"))).type == pa.timestamp("us")


# --------------------------------------------------------------------------------------
# Python scalars: a query-time now, scalar calls, lists and numpy arrays
# --------------------------------------------------------------------------------------


@jit_resolver
def age_days(created: datetime.datetime, now: datetime.datetime) -> float:
    return (now - created) / datetime.timedelta(days=1)


@jit_resolver
def is_recent(created: datetime.datetime | None, now: datetime.datetime) -> bool:
    return created is not None and now - created < datetime.timedelta(days=30)


class FixedZone(datetime.tzinfo):
    """A tzinfo that featurejit has no zone name for."""

    def utcoffset(self, moment: datetime.datetime | None) -> datetime.timedelta:
        return datetime.timedelta(hours=2)

    def dst(self, moment: datetime.datetime | None) -> datetime.timedelta:
        return datetime.timedelta(0)


NOWS = [
    pytest.param(DT(2013, 12, 1), pa.timestamp("s"), id="naive"),
    pytest.param(DT(2013, 12, 1, tzinfo=datetime.UTC), pa.timestamp("s", tz="UTC"), id="utc"),
    pytest.param(DT(2013, 11, 3, 1, 30, fold=1, tzinfo=ZoneInfo(NY)), pa.timestamp("s", tz=NY), id="new-york-fold"),
    pytest.param(DT(2013, 11, 3, 1, 30, tzinfo=ZoneInfo("Europe/Paris")), pa.timestamp("s", tz=NY), id="other-zone"),
    pytest.param(DT(2013, 3, 10, 2, 30, tzinfo=ZoneInfo(NY)), pa.timestamp("s", tz=NY), id="skipped-time"),
    pytest.param(DT(2013, 12, 1, tzinfo=FixedZone()), pa.timestamp("s", tz="UTC"), id="custom-tzinfo"),
    pytest.param(DT(2013, 12, 1, tzinfo=ZoneInfo.no_cache(NY)), pa.timestamp("s", tz=NY), id="uncached-zoneinfo"),
    pytest.param(DT(9999, 12, 31, 23, tzinfo=ZoneInfo(NY)), pa.timestamp("s", tz=NY), id="year-10000-in-utc"),
    pytest.param(DT(1, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=5))), pa.timestamp("s", tz="UTC"), id="year-0-in-utc"),
]


@pytest.mark.parametrize(("now", "type_"), NOWS)
def test_query_time_now_is_broadcast(now: datetime.datetime, type_: pa.DataType) -> None:
    values = [DT(2013, 11, 3, 5, 30), DT(2013, 11, 3, 6, 30), None, DT(2013, 3, 10, 7), DT(1990, 1, 1)]
    array = pa.array([None if v is None else int((v - DT(1970, 1, 1)).total_seconds()) for v in values], pa.int64()).cast(type_)
    python_values = array.to_pylist()
    expected = [is_recent.function(value, now) for value in python_values]
    assert is_recent(array, now).to_pylist() == expected
    present = array.filter(array.is_valid())
    try:
        expected_ages = [age_days.function(value, now) for value in present.to_pylist()]
    except TypeError:  # naive with aware
        with pytest.raises(TypeError, match="row 0 "):
            age_days(present, now)
        return
    assert age_days(present, now).to_pylist() == expected_ages


def test_compiled_unless_the_now_zone_has_no_name() -> None:
    array = pa.array([0, 3600], pa.timestamp("s", tz=NY))
    is_recent(array, DT(2013, 12, 1, tzinfo=ZoneInfo(NY)))
    assert is_recent.explain(show=False).last_slow_path_rows == 0
    is_recent(array, DT(2013, 12, 1, tzinfo=FixedZone()))
    explanation = is_recent.explain(show=False)
    assert explanation.last_slow_path_rows == 2
    assert "is not compiled" in explanation.reason


def test_scalar_calls_return_python_values() -> None:
    now = DT(2013, 12, 1, tzinfo=ZoneInfo(NY))
    created = DT(2013, 11, 3, 1, 30, tzinfo=ZoneInfo(NY))
    assert age_days(created, now) == age_days.function(created, now)
    assert is_recent(None, now) is False
    assert moved(DT(2000, 1, 1)) == DT(2000, 1, 1, 0, 0, 1)
    with pytest.raises(TypeError):
        age_days(DT(2000, 1, 1), now)
    with pytest.raises(TypeError, match="expects datetime"):
        year_of(datetime.date(2000, 1, 1))


def test_lists_and_numpy_arrays() -> None:
    import numpy as np

    naive = [DT(2013, 1, 1, 10), None, DT(1969, 12, 31, 23)]
    assert hour_or_none(naive).to_pylist() == expected_hours(naive)
    aware = [DT(2013, 11, 3, 1, 30, fold=1, tzinfo=ZoneInfo(NY)), None]
    assert hour_or_none(aware).to_pylist() == expected_hours(aware)
    stamps = np.array(["2013-01-01T10:00", "NaT", "1900-05-05T23:59:59.5"], dtype="datetime64[ms]")
    assert hour_or_none(stamps).to_pylist() == [10, None, 23]
    with pytest.raises(TypeError, match="different tzinfo objects"):
        hour_or_none([DT(2013, 1, 1, tzinfo=datetime.UTC), DT(2013, 1, 1, tzinfo=ZoneInfo(NY))])
    with pytest.raises(TypeError, match="skips"):
        hour_or_none([DT(2013, 3, 10, 2, 30, tzinfo=ZoneInfo(NY))])


def test_numpy_days_for_datetime_name_the_conversion() -> None:
    import numpy as np

    days = np.array(["2013-01-01", "2013-01-02"], dtype="datetime64[D]")
    with pytest.raises(TypeError, match=r"dtype datetime64\[D\], which becomes Arrow dates; .*astype\('datetime64\[us\]'\)"):
        hour_or_none(days)
    assert hour_or_none(days.astype("datetime64[us]")).to_pylist() == [0, 0]


@jit_resolver
def whole_days(td: datetime.timedelta) -> int:
    return td.days


def test_numpy_durations_of_other_units_name_the_conversion() -> None:
    import numpy as np

    days = np.array([1, 2], dtype="timedelta64[D]")
    with pytest.raises(TypeError, match=r"dtype timedelta64\[D\], whose unit Arrow durations lack; .*astype\('timedelta64\[us\]'\)"):
        whole_days(days)
    assert whole_days(days.astype("timedelta64[us]")).to_pylist() == [1, 2]


def test_numpy_scalars_python_cannot_hold_are_named() -> None:
    import numpy as np

    with pytest.raises(TypeError, match=r"got numpy.datetime64 2020-01-01T00:00:00.000000001, which Python cannot hold"):
        hour_or_none(np.datetime64("2020-01-01T00:00:00.000000001"))
    with pytest.raises(TypeError, match=r"got numpy.datetime64 2020-01-01, which is not a datetime"):
        hour_or_none(np.datetime64("2020-01-01"))


NEW_YEAR_UTC = DT(2021, 1, 1, tzinfo=datetime.UTC)


@jit_resolver
def new_year_if_missing(t: datetime.datetime | None) -> datetime.datetime:
    # Naive on one path and aware on the other, so it runs in the interpreter.
    return NEW_YEAR_UTC if t is None else t


@jit_resolver(on_error="null")
def new_year_if_missing_or_null(t: datetime.datetime | None) -> datetime.datetime:
    return NEW_YEAR_UTC if t is None else t


def test_naive_and_aware_results_fail_the_later_row() -> None:
    column = pa.array([DT(2020, 1, 1), None, DT(2020, 1, 2)], pa.timestamp("us"))
    assert [new_year_if_missing.function(t) for t in column.to_pylist()][1] == NEW_YEAR_UTC, "CPython mixes both kinds"

    with pytest.raises(OutputTypeError, match=r"is an aware datetime, but an earlier row returned a naive one; .*\(row 1 of new_year_if_missing"):
        new_year_if_missing(column)
    assert new_year_if_missing_or_null(column).to_pylist() == [DT(2020, 1, 1), None, DT(2020, 1, 2)]
    assert new_year_if_missing_or_null.explain(show=False).last_error_rows == 1


def test_naive_and_aware_results_across_chunks() -> None:
    chunked = pa.chunked_array([pa.array([DT(2020, 1, 1)], pa.timestamp("us")), pa.array([None, DT(2020, 1, 2)], pa.timestamp("us"))])

    with pytest.raises(OutputTypeError, match=r"an earlier row returned a naive one; .*\(row 1 of new_year_if_missing"):
        new_year_if_missing(chunked)
    assert new_year_if_missing_or_null(chunked).to_pylist() == [DT(2020, 1, 1), None, DT(2020, 1, 2)]
    fused = fuse(new_year_if_missing_or_null)
    assert fused(pa.table({"t": chunked})).column(0).to_pylist() == [DT(2020, 1, 1), None, DT(2020, 1, 2)]


def test_arrow_scalars_convert_as_elements() -> None:
    assert moved(pa.scalar(1_000, pa.timestamp("ns"))) == DT(1970, 1, 1, 0, 0, 1, 1)
    assert type(moved(pa.scalar(1_000, pa.timestamp("ns")))) is DT, "not a pandas Timestamp"
    assert whole_days(pa.scalar(86_400 * 10**9 * 3, pa.duration("ns"))) == 3
    assert year_of(pa.scalar(DT(2024, 5, 1), pa.timestamp("s", tz=NY))) == 2024
    assert day_year(pa.scalar(86_400_000 * 365, pa.date64())) == 1971
    with pytest.raises(ValueError, match=r"moved\(\): parameter 't': the timestamp\[ns\] value 1500 has nanoseconds"):
        moved(pa.scalar(1_500, pa.timestamp("ns")))
    with pytest.raises(OverflowError, match=r"day_year\(\): parameter 'd': the date32\[day\] value 2147483647 is outside"):
        day_year(pa.scalar(2**31 - 1, pa.date32()))


@jit_resolver
def day_year(d: datetime.date) -> int:
    return d.year


def test_list_of_naive_and_aware_is_named() -> None:
    with pytest.raises(TypeError, match="both naive and aware datetimes"):
        hour_or_none([DT(2013, 1, 1), DT(2013, 1, 1, tzinfo=datetime.UTC)])


def test_offset_with_seconds_gets_its_own_hint() -> None:
    odd = datetime.timezone(datetime.timedelta(hours=5, minutes=30, seconds=1))
    with pytest.raises(TypeError, match="Arrow holds UTC offsets of whole minutes only"):
        hour_or_none([DT(2013, 1, 1, tzinfo=odd)])


ODD_OFFSET = datetime.timezone(datetime.timedelta(hours=5, minutes=30, seconds=1))
LONGEST = datetime.timedelta(days=999999999)


@jit_resolver
def in_odd_offset(t: datetime.datetime) -> datetime.datetime:
    return t.astimezone(ODD_OFFSET)


@jit_resolver
def shorter_than_longest(td: datetime.timedelta) -> bool:
    return td < LONGEST


def test_constants_that_do_not_compile_get_fitting_hints() -> None:
    assert "Arrow holds UTC offsets of whole minutes only" in in_odd_offset.explain(show=False).reason
    reason = shorter_than_longest.explain(show=False).reason
    assert "does not fit in 64 bits of microseconds" in reason
    assert "zone" not in reason


@jit_resolver
def floor_part(td: datetime.timedelta, n: int | None) -> datetime.timedelta:
    return td // max(-1, n)  # type: ignore[type-var]


def test_mixed_type_operand_names_timedelta() -> None:
    assert "arithmetic of a timedelta value with a value whose type differs" in floor_part.explain(show=False).reason


def test_wrong_array_types_are_rejected() -> None:
    with pytest.raises(TypeError, match=r"expects datetime, but got values of Arrow type date32.*pass timestamp"):
        year_of(pa.array([datetime.date(2000, 1, 1)]))
    with pytest.raises(ValueError, match="'Mars/Olympus' is not in the zoneinfo database"):
        year_of(pa.array([0], pa.timestamp("s", tz="Mars/Olympus")))


# --------------------------------------------------------------------------------------
# CPython's errors on the slow path, and constructs that do not compile
# --------------------------------------------------------------------------------------


def test_naive_with_aware_comparisons() -> None:
    @jit_resolver
    def before(t: datetime.datetime, u: datetime.datetime) -> bool:
        return t < u

    @jit_resolver
    def same(t: datetime.datetime, u: datetime.datetime) -> bool:
        return t == u

    naive = pa.array([0, 60], pa.timestamp("s"))
    aware = pa.array([0, 60], pa.timestamp("s", tz="UTC"))
    assert same(naive, aware).to_pylist() == [False, False]
    assert same.explain(show=False).native
    with pytest.raises(TypeError, match=r"can't compare offset-naive and offset-aware datetimes \(row 0 of .*before"):
        before(naive, aware)


def test_overflow_past_datetime_max_raises_overflow_error() -> None:
    array = pa.array([DT(9999, 12, 31, 23, 59, 58), DT(9999, 12, 31, 23, 59, 59)], pa.timestamp("s"))
    with pytest.raises(OverflowError, match=r"date value out of range \(row 1 of moved"):
        moved(array)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("datetime.datetime.now() - t", "reads the clock"),
        ("datetime.date.today() - t.date()", "reads the clock"),
        ("(t - t) * 1.5", "multiplying or dividing a timedelta by a float"),
        ("str(t)", r"str\(\) of a naive datetime is not compiled"),
        ("t.astimezone()", r"astimezone\(\) without a zone"),
        ("t.tzinfo", "datetime.tzinfo is not compiled"),
        ("t.replace(hour=1)", r"datetime.replace\(\) is not compiled"),
        ("datetime.timedelta(days=t.hour * 0.5)", "computed float argument"),
        ("datetime.datetime(t.year, 1, 1)", "compiled only with literal or module-constant arguments"),
    ],
)
def test_unsupported_constructs_raise_located_compile_errors(tmp_path: Any, source: str, message: str) -> None:
    path = tmp_path / "resolvers_under_test.py"
    path.write_text(f"import datetime\n\ndef f(t: datetime.datetime) -> object:\n    return {source}\n")
    spec = importlib.util.spec_from_file_location(f"unsupported_{abs(hash(source))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.f.__annotations__["return"] = int
    with pytest.raises(CompileError, match=message) as raised:
        jit_resolver(module.f, mode="require")
    assert f"{path}:4:" in str(raised.value)


# --------------------------------------------------------------------------------------
# Random values from hypothesis
# --------------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

CHECKS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Microseconds from 1800 to 2300, beyond the zone tables' end, with transitions often near.
INSTANTS = st.integers(-5_364_662_400_000_000, 10_413_792_000_000_000)
NEAR_TRANSITIONS = st.sampled_from([1_362_898_800, 1_383_458_400, 1_382_835_600, 1_396_710_000]).flatmap(
    lambda seconds: st.integers(seconds * 10**6 - 7_200_000_000, seconds * 10**6 + 7_200_000_000)
)
MOMENT_COUNTS = st.one_of(INSTANTS, NEAR_TRANSITIONS, st.none())
DELTA_COUNTS = st.one_of(st.integers(-(10**15), 10**15), st.integers(-(2**63), 2**63 - 1), st.none())
RANDOM_ZONES = st.sampled_from(["", "UTC", NY, "Europe/Dublin", "Australia/Lord_Howe", "Asia/Kolkata", "America/Sao_Paulo"])


@jit_resolver
def mixed_features(t: datetime.datetime | None, u: datetime.datetime | None, td: datetime.timedelta | None) -> float | None:
    if t is None or u is None:
        return None
    score = float(t.hour * 60 + t.minute)
    if t < u:
        score += (u - t).total_seconds() / 3600
    elif t == u:
        score = -1.0
    if td is not None and td > datetime.timedelta(0):
        score += (t + td).weekday()
    return score


@jit_resolver
def shifted_clock(t: datetime.datetime, td: datetime.timedelta) -> datetime.datetime:
    return t + td


@CHECKS
@given(st.lists(st.tuples(MOMENT_COUNTS, MOMENT_COUNTS, DELTA_COUNTS), min_size=1, max_size=30), RANDOM_ZONES, RANDOM_ZONES)
def test_random_datetimes_match_python(rows: list[tuple[Any, ...]], first_zone: str, second_zone: str) -> None:
    if bool(first_zone) != bool(second_zone):
        second_zone = first_zone  # naive with aware raises on every row, which other tests cover
    types = [pa.timestamp("us", tz=first_zone or None), pa.timestamp("us", tz=second_zone or None), pa.duration("us")]
    check_temporal(mixed_features, rows, types)
    check_temporal(shifted_clock, [(t, td) for t, _, td in rows], [types[0], types[2]])


# --------------------------------------------------------------------------------------
# Fused resolvers
# --------------------------------------------------------------------------------------


@jit_resolver
def departure_hour(time_hour: datetime.datetime) -> int:
    return time_hour.hour


@jit_resolver
def departure_day(time_hour: datetime.datetime) -> datetime.date:
    return time_hour.date()


@jit_resolver
def next_hour(time_hour: datetime.datetime) -> datetime.datetime:
    return time_hour + datetime.timedelta(hours=1)


def test_fused_resolvers_read_timestamps() -> None:
    import featurejit as fj

    column = pa.array([DT(2013, 1, 1, 10), DT(2013, 11, 3, 6), None, DT(1, 1, 2)], pa.timestamp("s", tz=NY))
    table = pa.table({"time_hour": column})
    values = column.to_pylist()
    fused = fj.fuse(departure_hour, departure_day)
    result = fused(pa.table({"time_hour": column.fill_null(0)}))
    filled = column.fill_null(0).to_pylist()
    assert result.column("departure_hour").to_pylist() == [value.hour for value in filled]
    assert result.column("departure_day").to_pylist() == [value.date() for value in filled]
    assert "compiled to one native kernel" in fused.explain(show=False)
    with_datetime = fj.fuse(departure_hour, next_hour)
    with pytest.raises(AttributeError, match="row 2 "):
        with_datetime(table)
    shifted = with_datetime(pa.table({"time_hour": column.fill_null(0)})).column("next_hour")
    assert shifted.type == pa.timestamp("us", tz=NY)
    assert shifted.to_pylist()[:2] == [value + datetime.timedelta(hours=1) for value in values[:2]]


# --------------------------------------------------------------------------------------
# Morsels and resolvers that run in the interpreter
# --------------------------------------------------------------------------------------


def test_results_equal_for_one_and_many_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from featurejit.settings import settings

    @jit_resolver
    def local_day(t: datetime.datetime | None) -> datetime.date | None:
        return None if t is None else (t + datetime.timedelta(hours=30)).date()

    generator = np.random.default_rng(11)
    seconds = generator.integers(-2_000_000_000, 4_000_000_000, 20_000)
    array = pa.array(seconds, pa.int64(), mask=seconds % 13 == 0).cast(pa.timestamp("s", tz=NY))
    monkeypatch.setattr(settings, "threads", 1)
    single = local_day(array)
    monkeypatch.setattr(settings, "threads", 4)
    monkeypatch.setattr(settings, "parallel_min_us", 0)  # run on several threads however short
    monkeypatch.setattr(settings, "morsel_rows", 1000)
    assert local_day(array).equals(single)
    assert single.to_pylist()[:500] == [None if t is None else (t + datetime.timedelta(hours=30)).date() for t in array.to_pylist()[:500]]


def test_interpreted_datetime_results_take_their_zone_from_the_values() -> None:
    @jit_resolver
    def in_paris(t: datetime.datetime) -> datetime.datetime:
        try:  # a try statement, so the resolver runs in the interpreter
            t = t.astimezone(ZoneInfo("Europe/Paris"))
        finally:
            pass
        return t

    @jit_resolver
    def naive_or_aware(t: datetime.datetime) -> datetime.datetime:
        try:
            if t.year > 2000:
                t = t.replace(tzinfo=None)
        finally:
            pass
        return t

    array = pa.array([0, 3600 * 24 * 365 * 40], pa.timestamp("s", tz="UTC"))
    result = in_paris(array)
    assert not in_paris.explain(show=False).native
    assert result.type == pa.timestamp("us", tz="Europe/Paris")
    assert result.cast(pa.int64()).to_pylist() == [0, 3600 * 24 * 365 * 40 * 10**6]
    with pytest.raises(OutputTypeError, match=r"is a naive datetime, but an earlier row returned an aware one; .*\(row 1 of "):
        naive_or_aware(array)


CUTOFF = DT(2013, 6, 1)


@jit_resolver
def year_after(n: int) -> int:
    return (CUTOFF + datetime.timedelta(days=n)).year


def test_native_scalar_entry_with_datetime_constants() -> None:
    assert [year_after(n) for n in (0, 300, -5000)] == [2013, 2014, 1999]
    assert year_after.explain(show=False).native
    with pytest.raises(OverflowError, match="must have magnitude <= 999999999"):
        year_after(10**9)
    with pytest.raises(OverflowError, match="date value out of range"):
        year_after(3_000_000)
    check_temporal(year_after, [(n,) for n in (0, 1, -1, 10**6, -(10**6), 2_900_000, 10**9, 2**62, None)], [pa.int64()])
