"""Measurement: warm-up and checks, timing in rounds, statistics, machine description.

A suite builds `Case`s, one per library computing the same values, and hands them to
`Bench.throughput` or `Bench.latency`. Every case first runs once as a warm-up, and its
result is checked against featurejit's. Only a case whose check passed is timed. The timed
calls run in rounds, each round timing every case once, so that a burst of load from other
processes slows all cases alike. The garbage collector is off while timing.
"""

from __future__ import annotations

import gc
import importlib
import importlib.metadata
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

# Thread counts that peers read from the environment when they are imported.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMEXPR_MAX_THREADS",
    "POLARS_MAX_THREADS",
    "RAYON_NUM_THREADS",
)
# Library key -> distribution name, for versions and for "missing" reports.
LIBRARIES = {
    "featurejit": "featurejit",
    "python": None,
    "numpy": "numpy",
    "numexpr": "numexpr",
    "pyarrow": "pyarrow",
    "numba": "numba",
    "polars": "polars",
    "duckdb": "duckdb",
}
VERSIONED = (
    "featurejit", "llvmlite", "xdsl", "numpy", "pyarrow", "numexpr", "numba", "polars", "duckdb", "matplotlib", "tpchgen-cli",
)


@dataclass
class Check:
    """The result of comparing a case's output with featurejit's."""

    passed: bool
    message: str


def passed(message: str) -> Check:
    return Check(True, message)


def failed(message: str) -> Check:
    return Check(False, message)


@dataclass
class Case:
    """One row of a suite's table: a library computing the suite's values.

    `call` runs one sample of `number` operations. It is None when the library is not
    installed, and `missing` then gives the reason. `check` compares the warm-up result with
    featurejit's. Ratios in the table compare each row with the suite's `reference` row.
    """

    name: str
    library: str
    call: Callable[[], Any] | None
    check: Callable[[Any], Check]
    rows: int
    values: int = 0  # values produced per call, rows times output columns; 0 means `rows`
    threads: int = 1
    note: str = ""
    reference: bool = False
    missing: str = ""
    number: int = 1  # operations per call of `call`, for operations shorter than the timer's resolution


@dataclass
class Row:
    """A measured case: its status, its check, and the time of each sample in ms per operation."""

    suite: str
    group: str
    name: str
    library: str
    rows: int
    values: int
    threads: int
    status: str  # "ok", "missing", "check failed", "error" or "skipped"
    check: str
    note: str = ""
    reference: bool = False
    samples_ms: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    ratio: float | None = None  # how many times faster the reference row is than this row

    @property
    def ok(self) -> bool:
        return self.status == "ok" and bool(self.samples_ms)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    def percentile_ms(self, percent: float) -> float:
        ordered = sorted(self.samples_ms)
        position = min(len(ordered) - 1, max(0, round(percent / 100 * (len(ordered) - 1))))
        return ordered[position]

    @property
    def rows_per_second(self) -> float:
        return self.rows / (self.median_ms / 1000)

    @property
    def values_per_second(self) -> float:
        return self.values / (self.median_ms / 1000)

    def summary(self) -> dict[str, Any]:
        summary = asdict(self)
        if self.ok:
            summary |= {
                "median_ms": self.median_ms,
                "min_ms": min(self.samples_ms),
                "max_ms": max(self.samples_ms),
                "p50_ms": self.percentile_ms(50),
                "p99_ms": self.percentile_ms(99),
                "rows_per_s": self.rows_per_second,
                "values_per_s": self.values_per_second,
            }
        return summary


@dataclass
class Target:
    """A project target and what this run measured for it."""

    description: str
    measured: str
    met: bool | None  # None when the run could not measure it


@dataclass
class SuiteResult:
    """A suite's report: its rows, the targets it checks, and notes on method and exactness."""

    name: str
    title: str
    description: str
    kind: str  # "throughput" or "latency"
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str = ""
    charts: list[str] = field(default_factory=list)


class Suite:
    """A benchmark suite. Subclasses set the class attributes and implement `run`."""

    name = ""
    title = ""
    description = ""
    kind = "throughput"
    order = 100  # suites run and print in this order

    def run(self, bench: Bench) -> SuiteResult:
        raise NotImplementedError(f"suite {self.name} does not implement run()")

    def result(self, **fields: Any) -> SuiteResult:
        return SuiteResult(self.name, self.title, self.description, self.kind, **fields)


# --------------------------------------------------------------------------------------
# Running cases
# --------------------------------------------------------------------------------------


@dataclass
class Options:
    """The run's settings from the command line."""

    rows: list[int]
    repeats: int
    threads: int
    quick: bool
    python_rows: int
    max_call_seconds: float = 10.0


class Bench:
    """The state of one run that suites use: options, progress display and peer imports."""

    def __init__(self, options: Options, progress: Any = None):
        self.options = options
        self.progress = progress
        self.task: Any = None
        self.missing: dict[str, str] = {}
        # Seconds per row of each case at its last row count, to skip calls that would take too long.
        self.seconds_per_row: dict[tuple[str, str, str], float] = {}

    def status(self, text: str) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, description=text)

    def import_peer(self, module: str) -> Any | None:
        """Import a peer library, or return None and remember it as missing."""
        try:
            return importlib.import_module(module)
        except ImportError as error:
            self.missing[module] = f"{module} is not installed ({error})"
            return None

    def missing_case(self, name: str, library: str, rows: int, threads: int = 1) -> Case:
        reason = self.missing.get(library, f"{library} is not installed")
        return Case(name, library, None, lambda _: failed(reason), rows, threads=threads, missing=reason)

    # ----------------------------------------------------------------------------------

    def prepare(self, suite: str, group: str, case: Case) -> Row:
        """Warm the case up and check its result; return a row that is timed only if the check passed."""
        values = case.values or case.rows
        row = Row(suite, group, case.name, case.library, case.rows, values, case.threads, "ok", "", case.note, case.reference)
        if case.call is None:
            row.status, row.check = "missing", case.missing or f"{case.library} is not installed"
            return row
        predicted = self.seconds_per_row.get(case_key(suite, group, case.name), 0.0) * case.rows
        if predicted > self.options.max_call_seconds:
            row.status = "skipped"
            row.check = (
                f"a call would take about {predicted:.0f} s, judging by the smaller row counts, "
                f"more than --max-call-seconds {self.options.max_call_seconds:g}"
            )
            return row
        self.status(f"{suite}: {group}: warming up {case.name}")
        try:
            result = case.call()
        except Exception as error:  # noqa: BLE001 - a failing peer is reported, the others still run
            row.status, row.check = "error", f"warm-up call raised {type(error).__name__}: {error}"
            return row
        try:
            check = case.check(result)
        except Exception as error:  # noqa: BLE001 - a broken check is reported like a failed one
            check = failed(f"the check raised {type(error).__name__}: {error}")
        del result
        row.check = check.message
        if not check.passed:
            row.status = "check failed"
        return row

    def measure(
        self, suite: str, group: str, cases: Sequence[Case], rounds: int | None = None
    ) -> list[Row]:
        """Check every case, then time the checked ones in rounds; return one row per case.

        The reference case is prepared first. If it is skipped, so is every other case, because
        nothing could check their values.
        """
        order = sorted(range(len(cases)), key=lambda index: not cases[index].reference)
        prepared: dict[int, Row] = {}
        for index in order:
            case = cases[index]
            reference = next((prepared[other] for other in prepared if cases[other].reference), None)
            if reference is not None and reference.status == "skipped" and not case.reference:
                row = Row(suite, group, case.name, case.library, case.rows, case.values or case.rows, case.threads,
                          "skipped", f"the reference row, {reference.name}, was skipped, so nothing checks this one")
                prepared[index] = row
                continue
            prepared[index] = self.prepare(suite, group, case)
        rows = [prepared[index] for index in range(len(cases))]
        timed = [(row, case) for row, case in zip(rows, cases, strict=True) if row.status == "ok"]
        rounds = rounds or self.options.repeats
        with collector_off():
            for round_number in range(rounds):
                self.status(f"{suite}: {group}: round {round_number + 1} of {rounds}")
                for row, case in timed:
                    if row.status != "ok":
                        continue
                    assert case.call is not None
                    start = time.perf_counter_ns()
                    try:
                        case.call()
                    except Exception as error:  # noqa: BLE001 - reported in the table
                        row.status, row.check = "error", f"timed call raised {type(error).__name__}: {error}"
                        continue
                    row.samples_ms.append((time.perf_counter_ns() - start) / 1e6 / case.number)
        # Time per row, because a plain Python loop runs on fewer rows than the other cases.
        set_ratios(rows, lambda row: row.median_ms / max(row.rows, 1))
        for row in rows:
            if row.ok:
                self.seconds_per_row[case_key(suite, group, row.name)] = row.median_ms / 1000 / max(row.rows, 1)
        return rows


def case_key(suite: str, group: str, name: str) -> tuple[str, str, str]:
    """Return a key of a case that is the same at every row count of its group."""
    return suite, re.sub(r"[\d,]+ rows", "", group), name


@contextmanager
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def set_ratios(rows: list[Row], cost: Callable[[Row], float]) -> None:
    """Set each row's ratio: its cost over the reference row's, so 2.0 means featurejit is twice as fast."""
    reference = next((row for row in rows if row.reference and row.ok), None)
    if reference is None:
        return
    for row in rows:
        if row.ok:
            row.ratio = cost(row) / cost(reference)


@contextmanager
def featurejit_threads(count: int) -> Iterator[None]:
    """Run featurejit's batch calls on `count` threads inside the block."""
    from featurejit.settings import settings

    saved = settings.threads
    settings.threads = count
    try:
        yield
    finally:
        settings.threads = saved


def with_threads(count: int, call: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with featurejit_threads(count):
            return call()

    return run


def use_threads(count: int) -> None:
    """Fix every thread count that a peer reads, before any peer is imported."""
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(count)
    import pyarrow as pa

    pa.set_cpu_count(count)
    pa.set_io_thread_count(max(1, count))
    from featurejit.settings import settings

    settings.threads = count


# --------------------------------------------------------------------------------------
# Machine and versions
# --------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe_machine() -> dict[str, Any]:
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_model": cpu_model(),
        "llvm_host_cpu": llvm.get_host_cpu_name(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "missing"
    import llvmlite.binding as llvm

    versions["llvm"] = ".".join(str(part) for part in llvm.llvm_version_info)
    return versions
