"""Zone names, POSIX TZ rules and the offset tables that kernels search, against zoneinfo."""

from __future__ import annotations

import datetime
import hashlib
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurejit.codegen.zonetables import (
    END_YEAR,
    PosixRule,
    RuleDate,
    ZoneDataError,
    local_offset,
    parse_posix_rule,
    read_zone_file,
    utc_offset,
    year_start,
    zone_table,
)
from featurejit.zones import fixed_offset, fixed_zone_name, tzinfo_of_arrow, zone_of_arrow, zone_of_tzinfo

ZONES = [
    "America/New_York",
    "Europe/Dublin",  # daylight saving time below standard time
    "Australia/Lord_Howe",  # half-hour daylight saving time
    "America/Sao_Paulo",  # daylight saving time until 2019
    "Africa/Casablanca",  # listed transitions until 2087
    "Pacific/Apia",  # skipped 30 December 2011, no daylight saving time since 2021
    "Asia/Kolkata",
    "Etc/GMT+5",
]
TABLE_END = year_start(END_YEAR)


def test_posix_rules_parse() -> None:
    assert parse_posix_rule("") is None
    assert parse_posix_rule("<+0330>-3:30") == PosixRule(12_600, None, None, None)
    new_york = parse_posix_rule("EST5EDT,M3.2.0,M11.1.0")
    assert new_york == PosixRule(-18_000, -14_400, RuleDate("M", (3, 2, 0), 7200), RuleDate("M", (11, 1, 0), 7200))
    dublin = parse_posix_rule("IST-1GMT0,M10.5.0,M3.5.0/1")
    assert dublin is not None and (dublin.standard, dublin.daylight) == (3600, 0)
    assert parse_posix_rule("XXX3EDT4,J60/-1,100/25:30") == PosixRule(
        -10_800, -14_400, RuleDate("J", (60,), -3600), RuleDate("n", (100,), 91_800)
    )
    with pytest.raises(ZoneDataError, match="no daylight saving dates"):
        parse_posix_rule("EST5EDT")


def test_rule_dates_follow_the_calendar() -> None:
    new_york = parse_posix_rule("EST5EDT,M3.2.0,M11.1.0")
    assert new_york is not None
    expected = [datetime.datetime(2024, 3, 10, 7), datetime.datetime(2024, 11, 3, 6)]
    epoch = datetime.datetime(1970, 1, 1)
    assert [epoch + datetime.timedelta(seconds=t) for t in new_york.transitions(2024)] == expected
    leap = RuleDate("J", (60,), 0)  # 1 March, leap year or not
    assert leap.utc_seconds(2024, 0) == year_start(2024) + 60 * 86_400
    assert leap.utc_seconds(2023, 0) == year_start(2023) + 59 * 86_400


@pytest.mark.parametrize("key", ZONES)
def test_tables_match_zoneinfo_at_every_transition(key: str) -> None:
    table = zone_table(key)
    zone = zoneinfo.ZoneInfo(key)
    for instant in table.transitions:
        assert utc_offset(zone, instant - 1) == table.offset_at(instant - 1)
        assert utc_offset(zone, instant) == table.offset_at(instant)
    ends_with_rule = key in ("America/New_York", "Europe/Dublin", "Australia/Lord_Howe")
    assert table.end == (TABLE_END if ends_with_rule else None)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ZONES), st.integers(-5_000_000_000, TABLE_END - 3 * 86_400), st.sampled_from([0, 1]))
def test_tables_match_zoneinfo_at_random_times(key: str, seconds: int, fold: int) -> None:
    table = zone_table(key)
    zone = zoneinfo.ZoneInfo(key)
    assert utc_offset(zone, seconds) == table.offset_at(seconds)
    assert local_offset(zone, seconds, fold) == table.offset_of_local(seconds, fold)


def test_invalid_keys_raise_zone_data_error() -> None:
    for key in ("", "/etc/passwd", "../x", "Mars/Olympus"):
        with pytest.raises(ZoneDataError):
            read_zone_file(key)


def test_zone_names() -> None:
    assert zone_of_tzinfo(None) == ""
    assert zone_of_tzinfo(datetime.UTC) == "UTC"
    assert zone_of_tzinfo(datetime.timezone(datetime.timedelta(hours=-3, minutes=-30))) == "-03:30"
    assert zone_of_tzinfo(datetime.timezone(datetime.timedelta(seconds=30))) is None
    assert zone_of_tzinfo(zoneinfo.ZoneInfo("Europe/Paris")) == "Europe/Paris"
    assert zone_of_tzinfo(zoneinfo.ZoneInfo.no_cache("Europe/Paris")) is None
    assert zone_of_arrow("+00:00") == "UTC"
    assert zone_of_arrow("+05:30") == "+05:30"
    assert zone_of_arrow(None) == ""
    assert fixed_offset("-03:30") == -12_600
    assert fixed_offset("Europe/Paris") is None
    assert fixed_zone_name(19_800) == "+05:30"
    assert tzinfo_of_arrow("+05:30") == datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    assert tzinfo_of_arrow("UTC") is zoneinfo.ZoneInfo("UTC")


def test_cache_descriptions_of_datetime_constants() -> None:
    from featurejit.cache import describe_value

    paris = zoneinfo.ZoneInfo("Europe/Paris")
    moment = datetime.datetime(2013, 11, 3, 1, 30, fold=1, tzinfo=paris)
    assert describe_value(moment) == describe_value(moment.replace(microsecond=0))
    assert describe_value(moment) != describe_value(moment.replace(fold=0))
    assert describe_value(paris) == f"zoneinfo:Europe/Paris:{hashlib.sha256(read_zone_file('Europe/Paris')).hexdigest()}"
    assert describe_value(datetime.timedelta(days=-1, microseconds=5)) == "timedelta:-1:0:5"
    assert describe_value(datetime.date(2000, 2, 29)) == "date:2000-02-29"
    assert describe_value(zoneinfo.ZoneInfo.no_cache("Europe/Paris")) is None
    assert describe_value(moment.replace(tzinfo=zoneinfo.ZoneInfo.no_cache("Europe/Paris"))) is None
