"""The cost of calling a compiled resolver with Python scalars, against a plain Python call.

Each sample runs a `timeit` loop of many calls. The cost of the loop itself, measured with
an empty statement in the same way, is subtracted, so a row is the cost of one call.
"""

from __future__ import annotations

import math
import timeit
from collections.abc import Callable
from typing import Any

import featurejit as fj
from bench.harness import (
    Bench,
    Case,
    Check,
    Row,
    Suite,
    SuiteResult,
    Target,
    collector_off,
    failed,
    passed,
    set_ratios,
)

LIMIT = 200.0


def plain_branchy(a: float, b: float, c: float) -> float:
    return (a * 1.07 + b) / (c + 1.0) if a > b else a - b


@fj.jit_resolver
def branchy(a: float, b: float, c: float) -> float:
    return (a * 1.07 + b) / (c + 1.0) if a > b else a - b


def plain_speed(distance: int, air_time: int | None) -> float | None:
    if air_time is None or air_time == 0:
        return None
    return distance / (air_time / 60)


@fj.jit_resolver
def speed(distance: int, air_time: int | None) -> float | None:
    if air_time is None or air_time == 0:
        return None
    return distance / (air_time / 60)


def plain_capped(x: float) -> float:
    return math.sqrt(x) if x < LIMIT else LIMIT


@fj.jit_resolver
def capped(x: float) -> float:
    return math.sqrt(x) if x < LIMIT else LIMIT


class ScalarCallSuite(Suite):
    name = "scalar"
    title = "Scalar call overhead"
    description = (
        "One call with Python scalars: the plain function, the compiled resolver (its native entry), and Numba's "
        "dispatcher for the same function. Times are per call, with the timeit loop's own cost subtracted."
    )
    kind = "latency"
    order = 40

    def run(self, bench: Bench) -> SuiteResult:
        number = 20_000 if bench.options.quick else 200_000
        samples = 5 if bench.options.quick else 15
        empty = timeit.Timer("pass")
        numba = bench.import_peer("numba")
        groups = [
            ("branchy(3.0, 2.0, 3.0)", plain_branchy, branchy, (3.0, 2.0, 3.0)),
            ("speed(1400, 227)", plain_speed, speed, (1400, 227)),
            ("speed(1400, None)", plain_speed, speed, (1400, None)),
            ("capped(49.0), a module constant and math.sqrt", plain_capped, capped, (49.0,)),
        ]
        rows: list[Row] = []
        targets = []
        for label, plain, compiled, arguments in groups:
            expected = plain(*arguments)

            def check(result: Any, expected: Any = expected) -> Check:
                if type(result) is type(expected) and result == expected:
                    return passed(f"returns {expected!r}, as the plain function does")
                return failed(f"returned {result!r}, the plain function returns {expected!r}")

            cases = [
                ("plain Python function", "python", plain, True),
                ("featurejit resolver", "featurejit", compiled, False),
            ]
            if numba is not None and plain is plain_branchy:
                cases.append(("Numba @njit, called from Python", "numba", numba.njit(plain), False))
            group_rows = [self.measure_calls(bench, label, name, library, function, arguments, check, number, samples, empty)
                          for name, library, function, _ in cases]
            if numba is None and plain is plain_branchy:
                group_rows.append(Row(self.name, label, "Numba @njit", "numba", 1, 1, 1, "missing", "numba is not installed"))
            set_ratios(group_rows, lambda row: row.median_ms)
            for row in group_rows:
                row.name = f"{label}: {row.name}"
            rows += group_rows
            plain_row, compiled_row = group_rows[0], group_rows[1]
            if plain_row.ok and compiled_row.ok:
                ratio = compiled_row.median_ms / plain_row.median_ms
                targets.append(Target(f"{label}: at most 1.5x a plain Python call", f"{ratio:.2f}x", ratio <= 1.5))
        return self.result(rows=rows, targets=targets, notes=notes(number, samples))

    def measure_calls(
        self,
        bench: Bench,
        group: str,
        name: str,
        library: str,
        function: Callable[..., Any],
        arguments: tuple[Any, ...],
        check: Callable[[Any], Check],
        number: int,
        samples: int,
        empty: timeit.Timer,
    ) -> Row:
        row = bench.prepare(self.name, group, Case(name, library, lambda: function(*arguments), check, 1, reference=library == "python"))
        if row.status != "ok":
            return row
        # A literal call, as users write it: f(*arguments) would favor builtins, which take the tuple as it is.
        statement = f"function({', '.join(map(repr, arguments))})"
        timer = timeit.Timer(statement, globals={"function": function})
        bench.status(f"{self.name}: {group}: timing {name}")
        with collector_off():
            for _ in range(samples):
                loop = empty.timeit(number)
                total = timer.timeit(number)
                row.samples_ms.append(max(total - loop, 0.0) / number * 1000)
        return row


def notes(number: int, samples: int) -> list[str]:
    return [
        f"Each sample is a timeit loop of {number:,} calls minus an empty loop of as many iterations; {samples} samples.",
        "x reference is the row's time over the plain function's, so the compiled call's row is how many plain "
        "calls it costs.",
        "A compiled resolver's `__call__` is a builtin over its kernel's native entry, which checks the argument "
        "types and captured names, unboxes, computes and boxes. Calls it does not handle take the general path.",
        "speed(1400, None) runs the kernel of speed(1400, 227), which takes air_time as an optional int: a value and a "
        "flag that is 0 for None.",
    ]


SUITE = ScalarCallSuite()
