"""Small resolvers whose compile times the compile suite measures."""

import math

import featurejit as fj


@fj.jit_resolver
def speed_mph(distance: int, air_time: int | None) -> float | None:
    if air_time is None or air_time == 0:
        return None
    return distance / (air_time / 60)


@fj.jit_resolver(on_error="null")
def branchy(a: float, b: float, c: float) -> float:
    return (a * 1.07 + b) / (c + 1.0) if a > b else a - b


@fj.jit_resolver
def is_delayed(arr_delay: int | None) -> bool | None:
    if arr_delay is None:
        return None
    return arr_delay >= 15


@fj.jit_resolver
def clock_minutes(sched_dep_time: int, sched_arr_time: int) -> int:
    departure = sched_dep_time // 100 * 60 + sched_dep_time % 100
    arrival = sched_arr_time // 100 * 60 + sched_arr_time % 100
    return (arrival - departure) % (24 * 60)


@fj.jit_resolver
def log_distance(distance: int) -> float:
    return math.log1p(distance)


WARM = [branchy, is_delayed, clock_minutes, log_distance]
