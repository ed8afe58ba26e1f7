"""UTC offset tables of zoneinfo zones, which kernels search to find local times.

A table lists the UTC instants at which a zone's UTC offset changes, and the offset in force
from each. It is built from the same TZif file that `zoneinfo` reads (RFC 8536): the
transitions it lists, then those of its POSIX TZ rule for each year up to END_YEAR. The
offsets are read from the live `ZoneInfo` object at each transition, and the table is checked
against that object before it is used. The check probes both sides of every transition, in
UTC and in local time for fold 0 and 1, the start of every month, and times before the first
transition. A zone whose table disagrees anywhere raises ZoneDataError, and its values run in
the interpreter.

Local times map back to UTC as `zoneinfo` maps them. Transition i is at local time
T[i] + max(before, after) for fold 0 and at T[i] + min(before, after) for fold 1. A local time
maps to the offset after the last transition at or before it. So in a gap fold 0 takes the
offset before the transition and fold 1 the offset after, and in a repeated hour fold 0 is
the first occurrence.
"""

from __future__ import annotations

import bisect
import datetime
import functools
import hashlib
import importlib.resources
import re
import struct
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Tables end on 1 January of this year, UTC, for zones whose offsets follow a yearly rule.
END_YEAR = 2200

EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
EPOCH_NAIVE = datetime.datetime(1970, 1, 1)
EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
# Transitions this close to datetime's limits change no local time inside datetime's range.
FIRST_SECOND = (datetime.datetime.min - EPOCH_NAIVE) // datetime.timedelta(seconds=1) + 2 * 86400
LAST_SECOND = (datetime.datetime.max - EPOCH_NAIVE) // datetime.timedelta(seconds=1) - 2 * 86400
# Times before the first transition at which the table is checked, as years.
EARLY_PROBE_YEARS = (2, 100, 1000, 1600, 1800)


class ZoneDataError(Exception):
    """A zone whose data cannot be read, or whose table disagrees with `zoneinfo`."""


@dataclass(frozen=True)
class ZoneTable:
    """The UTC offsets of one zone: seconds east of UTC, before and from each transition."""

    key: str
    transitions: tuple[int, ...]  # UTC seconds, ascending, each with a different offset on either side
    offsets: tuple[int, ...]  # offsets[0] before transitions[0], offsets[i + 1] from transitions[i] on
    end: int | None  # UTC seconds from which the table no longer describes the zone, or None for never
    fingerprint: str  # SHA-256 of the zone file, for cache keys

    @property
    def is_fixed(self) -> bool:
        return not self.transitions and self.end is None

    def local_transitions(self, fold: int) -> tuple[int, ...]:
        """Return the local times of the transitions for `fold`, as `zoneinfo` finds them."""
        return self.local_times[fold]

    @functools.cached_property
    def local_times(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        def shifted(pick: Callable[[int, int], int]) -> tuple[int, ...]:
            return tuple(
                instant + pick(self.offsets[index], self.offsets[index + 1])
                for index, instant in enumerate(self.transitions)
            )

        return shifted(max), shifted(min)

    def offset_at(self, utc_seconds: int) -> int:
        """Return the offset at a UTC instant (seconds since the epoch) inside the table."""
        return self.offsets[bisect.bisect_right(self.transitions, utc_seconds)]

    def offset_of_local(self, local_seconds: int, fold: int) -> int:
        """Return the offset that `zoneinfo` gives a local time (seconds since the local epoch) with `fold`."""
        return self.offsets[bisect.bisect_right(self.local_transitions(fold), local_seconds)]


# --------------------------------------------------------------------------------------
# Reading the zone file
# --------------------------------------------------------------------------------------


def read_zone_file(key: str) -> bytes:
    """Return the TZif bytes that `zoneinfo.ZoneInfo(key)` loads: from TZPATH first, then the tzdata package."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ZoneDataError(f"{key!r} is not a valid zone key")
    for folder in zoneinfo.TZPATH:
        candidate = Path(folder).joinpath(*parts)
        if candidate.is_file():
            return candidate.read_bytes()
    try:
        package = ".".join(["tzdata", "zoneinfo", *parts[:-1]])
        return importlib.resources.files(package).joinpath(parts[-1]).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
        raise ZoneDataError(f"no zone file for {key!r} ({error})") from None


HEADER = struct.Struct(">4sc15x6l")


def parse_tzif(data: bytes) -> tuple[list[int], str]:
    """Return the transition times (UTC seconds) and the POSIX TZ footer of a TZif file.

    Version 2 and later files repeat the data with 64-bit times after the version 1 block,
    and end with the footer. A version 1 file has 32-bit times and no footer.
    """
    if len(data) < HEADER.size or data[:4] != b"TZif":
        raise ZoneDataError("not a TZif file")
    magic, version, isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt = HEADER.unpack_from(data, 0)
    time_size, leap_size, position = 4, 8, HEADER.size
    if version >= b"2":
        position += timecnt * 5 + typecnt * 6 + charcnt + leapcnt * 8 + isstdcnt + isutcnt
        magic, version, isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt = HEADER.unpack_from(data, position)
        time_size, leap_size, position = 8, 12, position + HEADER.size
    end = position + timecnt * (time_size + 1) + typecnt * 6 + charcnt + leapcnt * leap_size + isstdcnt + isutcnt
    if magic != b"TZif" or len(data) < end:
        raise ZoneDataError("truncated TZif file")
    transitions = list(struct.unpack_from(f">{timecnt}{'q' if time_size == 8 else 'l'}", data, position))
    footer = ""
    if version >= b"2":
        tail = data[end:].split(b"\n")
        footer = tail[1].decode("ascii") if len(tail) >= 3 else ""
    return transitions, footer


# --------------------------------------------------------------------------------------
# POSIX TZ rules: the transitions after the last one a TZif file lists
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleDate:
    """One end of a daylight saving period: a day form ("J", "n" or "M") and a local time in seconds."""

    form: str
    numbers: tuple[int, ...]
    seconds: int

    def utc_seconds(self, year: int, offset: int) -> int:
        """Return the UTC instant of this date in `year`, for a local time at UTC `offset` seconds."""
        if self.form == "J":  # day 1 to 365, never counting 29 February
            day_of_year = self.numbers[0] - 1
            if self.numbers[0] >= 60 and is_leap(year):
                day_of_year += 1
            day = datetime.date(year, 1, 1).toordinal() + day_of_year
        elif self.form == "n":  # day 0 to 365, counting 29 February
            day = datetime.date(year, 1, 1).toordinal() + self.numbers[0]
        else:  # weekday d (0 is Sunday) of week w (5 is the last) of month m
            month, week, weekday = self.numbers
            first = datetime.date(year, month, 1)
            day_of_month = 1 + (weekday - (first.weekday() + 1) % 7) % 7 + (week - 1) * 7
            while day_of_month > days_in_month(year, month):
                day_of_month -= 7
            day = first.toordinal() + day_of_month - 1
        return (day - EPOCH_ORDINAL) * 86400 + self.seconds - offset


@dataclass(frozen=True)
class PosixRule:
    """A POSIX TZ string: the standard offset, and the daylight saving offset and dates if any."""

    standard: int  # seconds east of UTC
    daylight: int | None
    start: RuleDate | None  # given in standard time
    end: RuleDate | None  # given in daylight saving time

    def transitions(self, year: int) -> list[int]:
        """Return the UTC instants of the year's two changes, or none for a rule without daylight saving."""
        if self.daylight is None or self.start is None or self.end is None:
            return []
        return sorted([self.start.utc_seconds(year, self.standard), self.end.utc_seconds(year, self.daylight)])


RULE_NAME = re.compile(r"<[^>]*>|[A-Za-z]+")
RULE_OFFSET = re.compile(r"([+-]?)(\d{1,3})(?::(\d{1,2}))?(?::(\d{1,2}))?")
RULE_DATE = re.compile(r"(?:J(\d{1,3})|M(\d{1,2})\.(\d)\.(\d)|(\d{1,3}))(?:/([+-]?\d{1,3}(?::\d{1,2}){0,2}))?")


def parse_posix_rule(text: str) -> PosixRule | None:
    """Parse a POSIX TZ string such as "EST5EDT,M3.2.0,M11.1.0", or return None for an empty one.

    POSIX offsets count hours west of UTC, so "EST5" is UTC-5. Raises ZoneDataError for a
    string this parser does not read.
    """
    if not text:
        return None
    position = 0

    def take(pattern: re.Pattern[str]) -> re.Match[str] | None:
        nonlocal position
        match = pattern.match(text, position)
        if match is not None:
            position = match.end()
        return match

    def offset_seconds(match: re.Match[str]) -> int:
        sign, hours, minutes, seconds = match.groups()
        total = int(hours) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)
        return -total if sign == "-" else total

    if take(RULE_NAME) is None or (standard_match := take(RULE_OFFSET)) is None:
        raise ZoneDataError(f"the TZ rule {text!r} has no standard offset")
    standard = -offset_seconds(standard_match)
    if position == len(text):
        return PosixRule(standard, None, None, None)
    if take(RULE_NAME) is None:
        raise ZoneDataError(f"the TZ rule {text!r} has an invalid daylight saving name")
    daylight_match = take(RULE_OFFSET)
    daylight = standard + 3600 if daylight_match is None else -offset_seconds(daylight_match)
    dates = []
    for _ in range(2):
        if position >= len(text) or text[position] != ",":
            raise ZoneDataError(f"the TZ rule {text!r} has no daylight saving dates")
        position += 1
        match = take(RULE_DATE)
        if match is None:
            raise ZoneDataError(f"the TZ rule {text!r} has an invalid date")
        dates.append(rule_date(match))
    if position != len(text):
        raise ZoneDataError(f"the TZ rule {text!r} has extra text")
    return PosixRule(standard, daylight, dates[0], dates[1])


def rule_date(match: re.Match[str]) -> RuleDate:
    julian, month, week, weekday, day, time = match.groups()
    seconds = 7200
    if time is not None:
        parsed = RULE_OFFSET.fullmatch(time)
        assert parsed is not None, "RULE_DATE accepts only times that RULE_OFFSET reads"
        sign, hours, minutes, rest = parsed.groups()
        seconds = int(hours) * 3600 + int(minutes or 0) * 60 + int(rest or 0)
        seconds = -seconds if sign == "-" else seconds
    if julian is not None:
        return RuleDate("J", (int(julian),), seconds)
    if month is not None:
        return RuleDate("M", (int(month), int(week), int(weekday)), seconds)
    return RuleDate("n", (int(day),), seconds)


def is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def year_start(year: int) -> int:
    """Return 1 January of `year`, 00:00 UTC, in seconds since the epoch."""
    return (datetime.date(year, 1, 1).toordinal() - EPOCH_ORDINAL) * 86400


# --------------------------------------------------------------------------------------
# Building and checking a table
# --------------------------------------------------------------------------------------


def utc_offset(zone: zoneinfo.ZoneInfo, utc_seconds: int) -> int | None:
    """Return the zone's offset at a UTC instant, or None where the local time leaves datetime's range."""
    try:
        local = (EPOCH_UTC + datetime.timedelta(seconds=utc_seconds)).astimezone(zone)
    except OverflowError:
        return None
    return seconds_of(local.utcoffset())


def local_offset(zone: zoneinfo.ZoneInfo, local_seconds: int, fold: int) -> int | None:
    """Return the offset that the zone gives a local time with `fold`."""
    try:
        local = (EPOCH_NAIVE + datetime.timedelta(seconds=local_seconds)).replace(tzinfo=zone, fold=fold)
    except OverflowError:
        return None
    return seconds_of(local.utcoffset())


def seconds_of(offset: datetime.timedelta | None) -> int:
    if offset is None or offset.microseconds:
        raise ZoneDataError(f"the offset {offset} is not a whole number of seconds")
    return offset.days * 86400 + offset.seconds


@functools.lru_cache(maxsize=64)
def zone_table(key: str) -> ZoneTable:
    """Build and check the offset table of zone `key`, or raise ZoneDataError if zoneinfo disagrees with it."""
    data = read_zone_file(key)
    try:
        zone = zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ZoneDataError(f"zoneinfo cannot load {key!r} ({error})") from None
    listed, footer = parse_tzif(data)
    rule = parse_posix_rule(footer)
    end = year_start(END_YEAR) if rule is not None and rule.daylight is not None else None
    limit = LAST_SECOND if end is None else end
    candidates = [instant for instant in listed if FIRST_SECOND < instant < limit]
    if rule is not None:
        last = listed[-1] if listed else None
        first_year = 1970 if last is None else (EPOCH_NAIVE + datetime.timedelta(seconds=last)).year
        for year in range(first_year, END_YEAR):
            candidates += [t for t in rule.transitions(year) if (last is None or t > last) and t < limit]
    table = measure(key, zone, sorted(set(candidates)), end, hashlib.sha256(data).hexdigest())
    check_table(table, zone)
    return table


def measure(key: str, zone: zoneinfo.ZoneInfo, candidates: list[int], end: int | None, fingerprint: str) -> ZoneTable:
    """Read the offset at each candidate transition from `zone`, keeping the transitions that change it."""
    first_probe = candidates[0] - 1 if candidates else 0
    before = utc_offset(zone, first_probe)
    if before is None:
        raise ZoneDataError(f"zoneinfo gives no offset for {key!r} before its first transition")
    transitions: list[int] = []
    offsets = [before]
    for instant in candidates:
        after = utc_offset(zone, instant)
        if after is None:
            raise ZoneDataError(f"zoneinfo gives no offset for {key!r} at {instant}")
        if after != offsets[-1]:
            transitions.append(instant)
            offsets.append(after)
    return ZoneTable(key, tuple(transitions), tuple(offsets), end, fingerprint)


def check_table(table: ZoneTable, zone: zoneinfo.ZoneInfo) -> None:
    """Raise ZoneDataError unless `zone` gives the table's offset at every probe."""
    problems: list[str] = []

    def expect(probe_name: str, actual: int | None, expected: int) -> None:
        if actual is not None and actual != expected and len(problems) < 3:
            problems.append(f"{probe_name}: zoneinfo gives {actual}, the table {expected}")

    for fold in (0, 1):
        local = table.local_transitions(fold)
        if any(later <= earlier for earlier, later in zip(local, local[1:], strict=False)):
            raise ZoneDataError(f"the local times of the transitions of {table.key!r} are not in order")
    for instant in table.transitions:
        for probe in (instant - 1, instant):
            expect(f"UTC {probe}", utc_offset(zone, probe), table.offset_at(probe))
    for fold in (0, 1):
        for moment in {*table.local_transitions(0), *table.local_transitions(1)}:
            for probe in (moment - 1, moment):
                expect(f"local {probe} fold {fold}", local_offset(zone, probe, fold), table.offset_of_local(probe, fold))
    first_year = 1900
    if table.transitions:
        first_year = min(first_year, (EPOCH_NAIVE + datetime.timedelta(seconds=table.transitions[0])).year)
    last_year = END_YEAR if table.end is not None else 2100
    probes = [year_start(year) for year in EARLY_PROBE_YEARS if year < first_year]
    for year in range(first_year, last_year):
        probes += [(datetime.date(year, month, 1).toordinal() - EPOCH_ORDINAL) * 86400 for month in range(1, 13)]
    for probe in probes:
        if table.end is None or probe < table.end:
            expect(f"UTC {probe}", utc_offset(zone, probe), table.offset_at(probe))
    if problems:
        raise ZoneDataError(f"the offset table of {table.key!r} disagrees with zoneinfo: {'; '.join(problems)}")
