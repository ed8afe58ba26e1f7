"""Time zones of datetime values: their names in the IR and in Arrow, and the tzinfo objects behind them.

A datetime type carries a zone name. It is "" for a naive datetime, "UTC" or a fixed offset
such as "+05:30" for a `datetime.timezone`, and a key such as "America/New_York" for a
`zoneinfo.ZoneInfo`. CPython computes aware datetimes that share one tzinfo object on their
local clock times, and those with different tzinfo objects on their UTC instants. Two values
of one zone name share one tzinfo object: fixed offsets behave the same either way, and
`ZoneInfo(key)` returns one cached object per key. Other tzinfo objects (a `ZoneInfo` made
with `no_cache`, a pytz or dateutil zone) have no zone name, and values in them run in the
interpreter.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo

NAIVE = ""
UTC = "UTC"
FIXED_OFFSET = re.compile(r"^([+-])(\d\d):(\d\d)$")


def fixed_zone_name(offset_seconds: int) -> str | None:
    """Return the zone name of a fixed UTC offset, or None for one with seconds (Arrow has no name for it)."""
    if offset_seconds == 0:
        return UTC
    if offset_seconds % 60 or abs(offset_seconds) >= 24 * 3600:
        return None
    sign = "+" if offset_seconds > 0 else "-"
    minutes = abs(offset_seconds) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def fixed_offset(zone: str) -> int | None:
    """Return the UTC offset in seconds of a fixed-offset zone name, or None for a zone key or naive.

    Raises ValueError for an offset of 24 hours or more, or of 60 minutes or more past the hour.
    """
    if zone == UTC:
        return 0
    match = FIXED_OFFSET.match(zone)
    if match is None:
        return None
    hours, minutes = int(match.group(2)), int(match.group(3))
    if hours >= 24 or minutes >= 60:
        raise ValueError(f"the UTC offset {zone!r} is out of range; offsets lie between -23:59 and +23:59")
    seconds = hours * 3600 + minutes * 60
    return seconds if match.group(1) == "+" else -seconds


def is_fixed(zone: str) -> bool:
    """Return whether `zone` is named as UTC or a fixed offset, so that no zone data is needed for it."""
    return fixed_offset(zone) is not None


def zone_of_tzinfo(tzinfo: datetime.tzinfo | None) -> str | None:
    """Return the zone name of a datetime's tzinfo, or None for a tzinfo that featurejit does not compile."""
    if tzinfo is None:
        return NAIVE
    if type(tzinfo) is datetime.timezone:
        offset = tzinfo.utcoffset(None)
        return fixed_zone_name(offset.days * 86400 + offset.seconds) if offset.microseconds == 0 else None
    if type(tzinfo) is zoneinfo.ZoneInfo:
        key = tzinfo.key
        if key is None:
            return None
        try:
            cached = zoneinfo.ZoneInfo(key)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return None
        return key if cached is tzinfo else None
    return None


def zone_hint(tzinfo: datetime.tzinfo) -> str:
    """Return the fix for a tzinfo that zone_of_tzinfo gives no zone for, as a hint sentence."""
    if type(tzinfo) is datetime.timezone:
        return "Arrow holds UTC offsets of whole minutes only; use an offset without seconds."
    if type(tzinfo) is zoneinfo.ZoneInfo:
        return "Use the cached zoneinfo.ZoneInfo(key), not ZoneInfo.no_cache(key) or ZoneInfo.from_file()."
    return "Use datetime.timezone or zoneinfo.ZoneInfo(key)."


def zone_of_arrow(arrow_tz: str | None) -> str:
    """Return the zone name of an Arrow timestamp type's `tz` field ("" or None for naive)."""
    if not arrow_tz:
        return NAIVE
    match = FIXED_OFFSET.match(arrow_tz)
    if match is not None:
        name = fixed_zone_name(fixed_offset(arrow_tz) or 0)
        assert name is not None, "an Arrow offset of hours and minutes has a name"
        return name
    return arrow_tz


def tzinfo_of_arrow(arrow_tz: str) -> datetime.tzinfo:
    """Return the tzinfo of the Python values of an Arrow timestamp type, as pyarrow's `as_py()` makes them.

    Offsets such as "+05:30" become `datetime.timezone`, and names become `zoneinfo.ZoneInfo`.
    Raises ValueError for a name that zoneinfo does not know.
    """
    offset = fixed_offset(arrow_tz) if FIXED_OFFSET.match(arrow_tz) else None
    if offset is not None:
        return datetime.timezone(datetime.timedelta(seconds=offset))
    try:
        return zoneinfo.ZoneInfo(arrow_tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"the time zone {arrow_tz!r} is not in the zoneinfo database ({error})") from None
