"""Time one branchy float resolver over float64 columns against its peers, on one thread.

The resolver is `(a * 1.07 + b) / (c + 1.0) if a > b else a - b`. The peers are a plain Python
loop, numpy, numexpr, three Numba loops (two with Python's error model, one with numpy's) and a
memory-bound reference: featurejit's own `a + b + c` kernel, which reads and writes the same
columns. The script prints the median time of each, its throughput and featurejit's throughput
divided by the peer's. It also times featurejit's first compile, each in a fresh subprocess.

    python bench/branchy_float.py --rows 10000000 --repeats 7 --json bench/results/branchy_float.json

Every peer's result is checked against featurejit's before the peer is timed. bench/README.md explains
what each row means and where a peer's result is not exact.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import gc
import importlib.metadata
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import featurejit as fj

# The compile probe times from here, the end of `import featurejit`, to the end of the first compile.
FEATUREJIT_IMPORTED_AT = time.perf_counter()

SEED = 20240601
ZERO_DIVISOR_STEP = 1000  # c[::ZERO_DIVISOR_STEP] = -1.0, so c + 1.0 is zero on those rows
COMPILE_PROBE_FLAG = "--compile-probe"
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "NUMEXPR_NUM_THREADS", "OMP_NUM_THREADS")
NUMPY_NAME = "numpy np.where (both branches)"
NUMEXPR_NAME = "numexpr where (both branches)"
NUMBA_RAISING_NAME = 'Numba error_model="python" loop (raises)'
NUMBA_CATCHING_NAME = 'Numba error_model="python" loop, try/except'
NUMBA_UNCHECKED_NAME = 'Numba error_model="numpy" loop'
NUMBA_NAMES = (NUMBA_RAISING_NAME, NUMBA_CATCHING_NAME, NUMBA_UNCHECKED_NAME)
PEER_NAMES = ("Python loop over lists", NUMPY_NAME, NUMEXPR_NAME, *NUMBA_NAMES)


@fj.jit_resolver(on_error="null")
def branchy(a: float, b: float, c: float) -> float:
    return (a * 1.07 + b) / (c + 1.0) if a > b else a - b


@fj.jit_resolver
def add_three(a: float, b: float, c: float) -> float:
    return a + b + c


def branchy_python_loop(
    a_values: list[float], b_values: list[float], c_values: list[float]
) -> list[float | None]:
    """Run the resolver's expression row by row, with None where CPython raises, as on_error="null" does."""
    results: list[float | None] = []
    for a, b, c in zip(a_values, b_values, c_values, strict=True):
        try:
            results.append((a * 1.07 + b) / (c + 1.0) if a > b else a - b)
        except ZeroDivisionError:
            results.append(None)
    return results


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


@dataclass
class Measurement:
    """One row of the table: a peer, how its result compared with featurejit's, and its timings."""

    name: str
    rows: int
    # "ok", "missing" (not installed), "check failed" (not timed), "error" (raised) or "skipped"
    status: str
    check: str
    times_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    call: Callable[[], Any] | None = field(default=None, repr=False)  # set once the check has passed

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def mrows_per_second(self) -> float:
        return self.rows / self.median_ms / 1000.0

    @property
    def cpu_per_wall(self) -> float:
        """CPU time of the whole process over wall time: about 1.0 means one thread did the work."""
        return statistics.median(cpu / wall for cpu, wall in zip(self.cpu_ms, self.times_ms, strict=True))

    def summary(self, featurejit_mrows: float | None) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "name": self.name,
            "rows": self.rows,
            "status": self.status,
            "check": self.check,
        }
        if self.status == "ok":
            summary |= {
                "median_ms": self.median_ms,
                "min_ms": min(self.times_ms),
                "max_ms": max(self.times_ms),
                "mrows_per_s": self.mrows_per_second,
                "cpu_per_wall": self.cpu_per_wall,
                "times_ms": self.times_ms,
            }
            if featurejit_mrows is not None:
                summary["featurejit_ratio"] = featurejit_mrows / self.mrows_per_second
        return summary


def prepare(
    name: str, rows: int, call: Callable[[], Any], check: Callable[[Any], tuple[bool, str]]
) -> Measurement:
    """Warm up `call` and check its result. Only a peer whose check passed is timed later."""
    try:
        result = call()
    except Exception as error:  # noqa: BLE001 - a peer that fails is reported, and the others still run
        return Measurement(name, rows, "error", f"warm-up call raised {type(error).__name__}: {error}")
    passed, description = check(result)
    del result
    if not passed:
        return Measurement(name, rows, "check failed", description)
    return Measurement(name, rows, "ok", description, call=call)


def time_in_rounds(measurements: list[Measurement], repeats: int) -> None:
    """Time every checked peer once per round, for `repeats` rounds, recording wall and CPU ms.

    Rounds spread a burst of load from other processes over all peers, where timing one peer's
    repeats back to back would slow only that peer.
    """
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            for measurement in measurements:
                if measurement.call is None:
                    continue
                cpu_start = time.process_time_ns()
                wall_start = time.perf_counter_ns()
                try:
                    measurement.call()
                except Exception as error:  # noqa: BLE001 - reported in the table, like a failed warm-up
                    measurement.status = "error"
                    measurement.check = f"timed call raised {type(error).__name__}: {error}"
                    measurement.call = None
                    continue
                measurement.times_ms.append((time.perf_counter_ns() - wall_start) / 1e6)
                measurement.cpu_ms.append((time.process_time_ns() - cpu_start) / 1e6)
    finally:
        gc.enable()


# ----------------------------------------------------------------------------------------------
# Data and checks
# ----------------------------------------------------------------------------------------------


@dataclass
class Columns:
    """The benchmark's input: numpy arrays for the peers and Arrow arrays over the same memory for featurejit."""

    a: Any
    b: Any
    c: Any
    arrow: list[Any]

    @property
    def rows(self) -> int:
        return len(self.a)


def make_columns(rows: int) -> Columns:
    """Return a, b and c: standard normal float64 from a fixed seed, with c = -1.0 on every 1000th row."""
    import numpy as np
    import pyarrow as pa

    generator = np.random.default_rng(SEED)
    a = generator.standard_normal(rows)
    b = generator.standard_normal(rows)
    c = generator.standard_normal(rows)
    c[::ZERO_DIVISOR_STEP] = -1.0
    return Columns(a, b, c, [pa.array(column) for column in (a, b, c)])


def compare_values(expected: Any, actual: Any, selected: Any) -> tuple[bool, str]:
    """Compare two float64 arrays on the rows where the boolean mask `selected` is true.

    Exact equality passes, and so does np.allclose, which the description then names.
    """
    import numpy as np

    actual = np.asarray(actual, dtype=np.float64)
    row_numbers = np.flatnonzero(selected)
    expected_values = expected[row_numbers]
    actual_values = actual[row_numbers]
    compared = f"{len(row_numbers):,} rows"
    if np.array_equal(expected_values, actual_values, equal_nan=True):
        return True, f"exact on {compared}"
    if np.allclose(actual_values, expected_values, equal_nan=True):
        with np.errstate(invalid="ignore", divide="ignore"):
            relative = np.abs(actual_values - expected_values) / np.abs(expected_values)
        return True, f"allclose on {compared} (max relative difference {float(np.nanmax(relative)):.1e})"
    different = np.flatnonzero(~np.isclose(actual_values, expected_values, equal_nan=True))
    first = row_numbers[different[0]]
    return False, (
        f"{len(different):,} of {compared} differ; first at row {first}: "
        f"expected {expected[first]!r}, got {actual[first]!r}"
    )


def check_native(resolver: fj.JitResolver) -> tuple[bool, str]:
    """Check that the resolver compiled, because timing its interpreter fallback would mislead."""
    explanation = resolver.explain(show=False)
    if explanation.native:
        return True, "native"
    return False, f"{resolver.name} runs in the interpreter: {explanation.reason}"


def check_featurejit(result: Any, columns: Columns) -> tuple[bool, str]:
    """Check that featurejit compiled the resolver and set to null exactly the rows where CPython raises."""
    import numpy as np

    native, reason = check_native(branchy)
    if not native:
        return False, reason
    nulls = result.is_null().to_numpy(zero_copy_only=False)
    raising = (columns.a > columns.b) & (columns.c == -1.0)
    if not np.array_equal(nulls, raising):
        first = int(np.flatnonzero(nulls != raising)[0])
        return False, (
            f"null rows differ from the rows where CPython raises: {int(nulls.sum()):,} nulls, "
            f"{int(raising.sum()):,} raising rows, first difference at row {first}"
        )
    return True, f"null on exactly the {int(raising.sum()):,} rows where CPython raises"


def check_add_three(result: Any, columns: Columns) -> tuple[bool, str]:
    import numpy as np

    native, reason = check_native(add_three)
    if not native:
        return False, reason
    if result.null_count:
        return False, f"{result.null_count} unexpected nulls"
    everything = np.ones(columns.rows, dtype=bool)
    passed, description = compare_values(columns.a + columns.b + columns.c, result.to_numpy(), everything)
    return passed, f"{description} against numpy's a + b + c"


def check_python_loop(result: list[float | None], expected: Any, expected_nulls: Any) -> tuple[bool, str]:
    """Compare the Python loop with featurejit on every row of the slice, null positions included."""
    import numpy as np

    nulls = np.array([value is None for value in result])
    if not np.array_equal(nulls, expected_nulls):
        return False, f"None on {int(nulls.sum())} rows, featurejit null on {int(expected_nulls.sum())}"
    values = np.array([0.0 if value is None else value for value in result])
    passed, description = compare_values(np.where(expected_nulls, 0.0, expected), values, ~nulls)
    return passed, f"{description}, None on the same {int(nulls.sum())} rows"


# ----------------------------------------------------------------------------------------------
# Peers
# ----------------------------------------------------------------------------------------------


@dataclass
class NumbaKernels:
    """The resolver as three Numba loops, compiled on first call, each writing into `out`."""

    raising: Callable[..., Any]
    catching: Callable[..., Any]
    unchecked: Callable[..., Any]


def make_numba_kernels(numba: Any) -> NumbaKernels:
    import numpy as np

    # error_model="python" checks every divisor and raises ZeroDivisionError, as CPython does. The
    # raise leaves the loop early, and that exit keeps LLVM from vectorizing it.
    @numba.njit(error_model="python")
    def raising(a: Any, b: Any, c: Any, out: Any) -> Any:
        for i in range(a.size):
            out[i] = (a[i] * 1.07 + b[i]) / (c[i] + 1.0) if a[i] > b[i] else a[i] - b[i]
        return out

    # The same check, but the try/except turns the raise into NaN, as on_error="null" turns it into
    # null. Nothing leaves the loop early here.
    @numba.njit(error_model="python")
    def catching(a: Any, b: Any, c: Any, out: Any) -> Any:
        for i in range(a.size):
            try:
                out[i] = (a[i] * 1.07 + b[i]) / (c[i] + 1.0) if a[i] > b[i] else a[i] - b[i]
            except Exception:
                out[i] = np.nan
        return out

    # error_model="numpy" divides without a check: x / 0.0 is inf or nan, and nothing raises.
    @numba.njit(error_model="numpy")
    def unchecked(a: Any, b: Any, c: Any, out: Any) -> Any:
        for i in range(a.size):
            out[i] = (a[i] * 1.07 + b[i]) / (c[i] + 1.0) if a[i] > b[i] else a[i] - b[i]
        return out

    return NumbaKernels(raising, catching, unchecked)


def call_numba_kernel(kernel: Callable[..., Any], a: Any, b: Any, c: Any) -> Any:
    """Call a Numba loop with an output from np.empty, so that it allocates as numpy and featurejit do.

    numpy advises Linux to back large arrays with transparent huge pages (madvise), and Numba's own
    allocator does not. On an AMD EPYC (Zen 4) Linux VM with transparent huge pages set to "madvise",
    a 10M-row loop that allocated its output inside @njit ran 2 to 5 times slower, from page faults.
    """
    import numpy as np

    return kernel(a, b, c, np.empty(a.size))


def numpy_where(a: Any, b: Any, c: Any) -> Any:
    import numpy as np

    # Both branches run on every row, so a > b and c == -1.0 give inf or nan instead of raising.
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > b, (a * 1.07 + b) / (c + 1.0), a - b)


def import_optional(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


@dataclass
class Reference:
    """featurejit's result, which every peer is checked against."""

    values: Any  # float64, NaN where null
    nulls: Any  # bool
    divisor_nonzero: Any  # bool: the rows where c != -1.0, on which the peers are compared

    def check(self, result: Any) -> tuple[bool, str]:
        return compare_values(self.values, result, self.divisor_nonzero)


def prepare_featurejit(columns: Columns) -> tuple[list[Measurement], Reference | None]:
    """Prepare the branchy resolver and the memory-bound reference, and keep the branchy result."""
    results: list[Any] = []

    def check(result: Any) -> tuple[bool, str]:
        results.append(result)
        return check_featurejit(result, columns)

    branchy_row = prepare("featurejit", columns.rows, lambda: branchy(*columns.arrow), check)
    add_three_row = prepare(
        "memory-bound reference (featurejit a + b + c)",
        columns.rows,
        lambda: add_three(*columns.arrow),
        lambda result: check_add_three(result, columns),
    )
    if branchy_row.status != "ok":
        return [branchy_row, add_three_row], None
    reference = Reference(
        values=results[0].to_numpy(zero_copy_only=False),
        nulls=results[0].is_null().to_numpy(zero_copy_only=False),
        divisor_nonzero=columns.c != -1.0,
    )
    return [branchy_row, add_three_row], reference


def prepare_python_loop(columns: Columns, reference: Reference, python_rows: int) -> Measurement:
    """Prepare the plain Python loop on the first `python_rows` rows, which keeps its calls short."""
    part = slice(0, python_rows)
    lists = (columns.a[part].tolist(), columns.b[part].tolist(), columns.c[part].tolist())
    return prepare(
        f"Python loop over lists (first {python_rows:,} rows)",
        python_rows,
        lambda: branchy_python_loop(*lists),
        lambda result: check_python_loop(result, reference.values[part], reference.nulls[part]),
    )


def prepare_numexpr(columns: Columns, reference: Reference) -> Measurement:
    numexpr = import_optional("numexpr")
    if numexpr is None:
        return Measurement(NUMEXPR_NAME, columns.rows, "missing", "numexpr is not installed")
    numexpr.set_num_threads(1)
    expression = "where(a > b, (a * 1.07 + b) / (c + 1.0), a - b)"
    arrays = {"a": columns.a, "b": columns.b, "c": columns.c}
    call = functools.partial(numexpr.evaluate, expression, local_dict=arrays)
    return prepare(NUMEXPR_NAME, columns.rows, call, reference.check)


def prepare_numba(columns: Columns, reference: Reference) -> list[Measurement]:
    import numpy as np

    numba = import_optional("numba")
    if numba is None:
        return [Measurement(name, columns.rows, "missing", "numba is not installed") for name in NUMBA_NAMES]
    kernels = make_numba_kernels(numba)
    a, b, c = columns.a, columns.b, columns.c

    # The raising loop stops at the first row that divides by zero, so it is timed on a copy of c with
    # 0.0 in place of -1.0. It still divides on the same rows, and the check skips those rows.
    c_without_zero_divisors = np.where(c == -1.0, 0.0, c)
    raising_rows = np.flatnonzero((a > b) & (c == -1.0))

    def check_raising(result: Any) -> tuple[bool, str]:
        if len(raising_rows):
            first = int(raising_rows[0])
            try:
                call_numba_kernel(kernels.raising, a[: first + 1], b[: first + 1], c[: first + 1])
            except ZeroDivisionError:
                pass
            else:
                return False, f"did not raise ZeroDivisionError at row {first}, where c + 1.0 == 0.0"
        passed, description = reference.check(result)
        return (
            passed,
            f"{description}. It raises ZeroDivisionError on the real c, so it was timed with c = 0.0 there",
        )

    raising = functools.partial(call_numba_kernel, kernels.raising, a, b, c_without_zero_divisors)
    catching = functools.partial(call_numba_kernel, kernels.catching, a, b, c)
    unchecked = functools.partial(call_numba_kernel, kernels.unchecked, a, b, c)
    return [
        prepare(NUMBA_RAISING_NAME, columns.rows, raising, check_raising),
        prepare(NUMBA_CATCHING_NAME, columns.rows, catching, reference.check),
        prepare(NUMBA_UNCHECKED_NAME, columns.rows, unchecked, reference.check),
    ]


def run_peers(rows: int, repeats: int, python_rows: int) -> tuple[list[Measurement], dict[str, Any]]:
    """Check and time featurejit and every peer on the same columns.

    Returns the table's rows and the row counts of featurejit's last call.
    """
    columns = make_columns(rows)

    # featurejit goes first, because every peer is checked against its result.
    measurements, reference = prepare_featurejit(columns)
    if reference is None:
        for name in PEER_NAMES:
            measurements.append(
                Measurement(name, rows, "skipped", "not run, because featurejit's result failed its check")
            )
    else:
        measurements.append(prepare_python_loop(columns, reference, python_rows))
        numpy_call = functools.partial(numpy_where, columns.a, columns.b, columns.c)
        measurements.append(prepare(NUMPY_NAME, rows, numpy_call, reference.check))
        measurements.append(prepare_numexpr(columns, reference))
        measurements.extend(prepare_numba(columns, reference))

    time_in_rounds(measurements, repeats)
    explanation = branchy.explain(show=False)
    counts = {
        "native": explanation.native,
        "slow_path_rows": explanation.last_slow_path_rows,
        "error_rows": explanation.last_error_rows,
    }
    return measurements, counts


# ----------------------------------------------------------------------------------------------
# Compile time, each run in a fresh process
# ----------------------------------------------------------------------------------------------


def run_compile_probe() -> None:
    """Compile the branchy resolver once and print the elapsed time and stage times as JSON.

    This runs in a fresh interpreter that has imported only the standard library and featurejit, so
    the time includes featurejit's lazy imports (xDSL, llvmlite, pyarrow, numpy) and the JIT engine's setup.
    """
    branchy.compile()
    elapsed_ms = (time.perf_counter() - FEATUREJIT_IMPORTED_AT) * 1000
    explanation = branchy.explain(show=False)
    print(
        json.dumps(
            {"elapsed_ms": elapsed_ms, "native": explanation.native, "stages_ms": explanation.compile_ms}
        )
    )


def measure_compile(runs: int) -> dict[str, Any]:
    """Run the compile probe in `runs` fresh subprocesses, and return the medians and every run."""
    # NOTE: featurejit 0.1.0 has no disk cache, so every probe compiles from scratch. Once a disk
    # cache exists, the probe has to bypass it to keep measuring the first compile.
    probes: list[dict[str, Any]] = []
    for _ in range(runs):
        completed = subprocess.run(
            [sys.executable, os.path.abspath(__file__), COMPILE_PROBE_FLAG],
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            return {
                "status": "error",
                "message": f"the compile probe exited with {completed.returncode}: {completed.stderr.strip()}",
            }
        probes.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    if not probes:
        return {"status": "skipped"}
    stages = list(probes[0]["stages_ms"])
    return {
        "status": "ok" if all(probe["native"] for probe in probes) else "not native",
        "runs": runs,
        "median_elapsed_ms": statistics.median(probe["elapsed_ms"] for probe in probes),
        "median_stages_ms": {
            stage: statistics.median(probe["stages_ms"][stage] for probe in probes) for stage in stages
        },
        "probes": probes,
    }


# ----------------------------------------------------------------------------------------------
# Machine and versions
# ----------------------------------------------------------------------------------------------


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

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_model": cpu_model(),
        "llvm_host_cpu": llvm.get_host_cpu_name(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "featurejit": fj.__version__}
    for name in ("llvmlite", "numpy", "pyarrow", "numba", "numexpr"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "missing"
    try:
        import llvmlite.binding as llvm

        versions["llvm"] = ".".join(str(part) for part in llvm.llvm_version_info)
    except ImportError:
        pass
    return versions


# ----------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------


def format_table(measurements: list[Measurement]) -> list[str]:
    featurejit_row = measurements[0]
    featurejit_mrows = featurejit_row.mrows_per_second if featurejit_row.status == "ok" else None
    header = (
        f"{'':<46} {'rows':>11} {'median ms':>10} {'min-max ms':>17} {'Mrows/s':>8} "
        f"{'featurejit x':>12} {'cpu/wall':>8}"
    )
    lines = [header, "-" * len(header)]
    for row in measurements:
        if row.status != "ok":
            lines.append(f"{row.name:<46} {row.rows:>11,} {row.status.upper()}: {row.check}")
            continue
        spread = f"{min(row.times_ms):.1f}-{max(row.times_ms):.1f}"
        ratio = f"{featurejit_mrows / row.mrows_per_second:.2f}x" if featurejit_mrows is not None else "-"
        lines.append(
            f"{row.name:<46} {row.rows:>11,} {row.median_ms:>10.1f} {spread:>17} "
            f"{row.mrows_per_second:>8.1f} {ratio:>12} {row.cpu_per_wall:>8.2f}"
        )
    lines.append("")
    lines.append("Checks against featurejit's result:")
    for row in measurements:
        lines.append(f"  {row.name}: {row.check}")
    return lines


def format_compile(compile_result: dict[str, Any]) -> list[str]:
    if compile_result["status"] == "skipped":
        return ["First compile: skipped (--compile-runs 0)"]
    if compile_result["status"] == "error":
        return [f"First compile: ERROR: {compile_result['message']}"]
    stages = compile_result["median_stages_ms"]
    in_stages = sum(stages.values())
    elapsed = compile_result["median_elapsed_ms"]
    run_times = ", ".join(f"{probe['elapsed_ms']:.1f}" for probe in compile_result["probes"])
    lines = [
        f"First compile of the branchy resolver, each in a fresh subprocess, median of {compile_result['runs']} "
        f"(runs: {run_times} ms):",
        f"  from the end of `import featurejit` to the end of .compile(): {elapsed:.1f} ms",
        "  stages from explain().compile_ms: "
        + ", ".join(f"{stage} {ms:.1f} ms" for stage, ms in stages.items()),
        "  outside the stages (lazy imports of xDSL, llvmlite, pyarrow and numpy, JIT engine setup): "
        f"{elapsed - in_stages:.1f} ms",
    ]
    if compile_result["status"] != "ok":
        lines.append("  WARNING: explain() reports that the resolver did not compile to native code")
    return lines


def notes(rows: int, python_rows: int, counts: dict[str, Any]) -> list[str]:
    zero_rows = (rows + ZERO_DIVISOR_STEP - 1) // ZERO_DIVISOR_STEP
    return [
        f"Data: a, b, c standard normal float64 from numpy's default_rng({SEED}), with "
        f"c[::{ZERO_DIVISOR_STEP}] = -1.0, so c + 1.0 is zero on {zero_rows:,} rows.",
        'featurejit runs the resolver with on_error="null": rows that raise ZeroDivisionError in CPython '
        "(a > b and c == -1.0) go to its slow path and come back null. Peers are compared on the rows where "
        "c != -1.0.",
        f"featurejit's last call: native={counts.get('native')}, {counts.get('slow_path_rows', 0):,} rows on the "
        f"slow path, {counts.get('error_rows', 0):,} set to null.",
        f"The Python loop runs on the first {python_rows:,} rows only, so compare its Mrows/s, not its time. "
        "It catches ZeroDivisionError per row and appends None.",
        "numpy and numexpr evaluate both branches on every row and give inf or nan where a > b and c == -1.0 "
        "instead of raising, so they are not exact on those rows.",
        'Numba error_model="python" raises ZeroDivisionError where c == -1.0 and a > b. The "(raises)" loop is '
        "how it is usually written: it stops at the first such row, so it runs on a copy of c with 0.0 on those "
        'rows. The "try/except" loop catches the error per row and writes NaN. error_model="numpy" does not '
        "check, gives inf or nan there, and so is not exact.",
        "The memory-bound reference is featurejit's a + b + c kernel: it reads the same three columns and "
        "writes one with trivial arithmetic, so it shows how fast a kernel with these reads and writes can be.",
        "Every peer allocates its output on each call, as featurejit does. The Numba loops write into an "
        "array that np.empty allocates in the timed call.",
        "One thread: NUMBA_NUM_THREADS=1, NUMEXPR_NUM_THREADS=1, OMP_NUM_THREADS=1, numexpr.set_num_threads(1), "
        "pyarrow.set_cpu_count(1). featurejit runs each call on the calling thread. cpu/wall is the process's CPU "
        "time over wall time: above 1.00 means more than one thread worked, below 1.00 means the process waited "
        "for a CPU.",
        "The machine is shared and noisy, so the table reports medians with the min-max spread, and the "
        "repeats run in rounds so that a burst of load from other processes slows every row alike.",
        "'featurejit x' is featurejit's Mrows/s divided by the row's Mrows/s.",
    ]


def print_report(report: dict[str, Any], measurements: list[Measurement]) -> None:
    machine = report["machine"]
    versions = report["versions"]
    expression = "(a * 1.07 + b) / (c + 1.0) if a > b else a - b"
    print(f"branchy_float: {expression}, {report['rows']:,} float64 rows, one thread")
    print(f"date: {report['date']}")
    print(f"command: {report['command']}")
    print(
        f"CPU: {machine['cpu_model']} (LLVM host CPU {machine['llvm_host_cpu']}), {machine['logical_cpus']} logical "
        f"CPUs, {machine['usable_cpus']} usable; {machine['platform']}"
    )
    if machine["load_average_at_start"] is not None:
        print(
            "load average at start: " + ", ".join(f"{load:.2f}" for load in machine["load_average_at_start"])
        )
    print("versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()))
    print(f"repeats: one warm-up call per row, then {report['repeats']} rounds that each time every row once")
    print()
    for line in format_table(measurements):
        print(line)
    print()
    for line in format_compile(report["compile"]):
        print(line)
    print()
    print("Notes:")
    for line in report["notes"]:
        print(f"  - {line}")


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid: expected a positive integer")
    return value


def non_negative_int(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid: expected 0 or a positive integer")
    return value


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=positive_int, default=10_000_000, help="rows per column (default 10,000,000)"
    )
    parser.add_argument(
        "--repeats",
        type=positive_int,
        default=7,
        help="timed rounds after one warm-up call per peer, each timing every peer once (default 7)",
    )
    parser.add_argument(
        "--python-rows",
        type=positive_int,
        default=200_000,
        help="rows the plain Python loop runs on, at most --rows (default 200,000)",
    )
    parser.add_argument(
        "--compile-runs",
        type=non_negative_int,
        default=3,
        help="fresh subprocesses that each time the first compile, 0 to skip (default 3)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    return parser.parse_args()


def use_one_thread() -> None:
    """Set every thread count that a peer reads, before any peer is imported."""
    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"
    import pyarrow as pa

    pa.set_cpu_count(1)


def main() -> int:
    # The probe is checked before argparse so that the compile time includes as little else as possible.
    if sys.argv[1:] == [COMPILE_PROBE_FLAG]:
        run_compile_probe()
        return 0
    arguments = parse_arguments()
    python_rows = min(arguments.python_rows, arguments.rows)
    use_one_thread()
    # featurejit logs a warning on every call that sets rows to null, so the report states the count once instead.
    logging.getLogger("featurejit").setLevel(logging.ERROR)

    compile_result = measure_compile(arguments.compile_runs)
    measurements, counts = run_peers(arguments.rows, arguments.repeats, python_rows)
    featurejit_row = measurements[0]
    featurejit_mrows = featurejit_row.mrows_per_second if featurejit_row.status == "ok" else None
    report = {
        "benchmark": "branchy_float",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python", "bench/branchy_float.py", *sys.argv[1:]]),
        "rows": arguments.rows,
        "repeats": arguments.repeats,
        "python_rows": python_rows,
        "seed": SEED,
        "machine": describe_machine(),
        "versions": package_versions(),
        "featurejit_last_call": counts,
        "results": [row.summary(featurejit_mrows) for row in measurements],
        "compile": compile_result,
        "notes": notes(arguments.rows, python_rows, counts),
    }
    print_report(report, measurements)
    if arguments.json:
        os.makedirs(os.path.dirname(arguments.json) or ".", exist_ok=True)
        with open(arguments.json, "w", encoding="utf-8") as output:
            json.dump(report, output, indent=2)
        print(f"\nwrote {arguments.json}")
    failed = [row.name for row in measurements if row.status in ("check failed", "error")]
    failed += ["first compile"] if compile_result["status"] not in ("ok", "skipped") else []
    if failed:
        print(f"\nFAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
