"""libm calls in batch kernels: made in a loop of their own per block, and cached by argument.

Batch kernels compute the arguments of a block's libm calls in one loop, make the calls in
another, through a cache of results keyed by the argument's bits, and read the results in
the loops of the outputs (featurejit.codegen.kernel.separate_calls). These tests compare
such kernels with CPython on enough rows for the cache to be on, with calls in branches
that some rows skip, calls whose arguments are other calls, and errors after the cache is
warm.
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys

import pyarrow as pa
import pytest

import featurejit as fj
from featurejit import jit_resolver
from featurejit.codegen.mathlib import CALL_CACHE_MIN_ROWS
from tests.differential import EDGE_FLOATS, EDGE_INTS, check_batch_call, check_resolver, outcome

ROWS = 3 * CALL_CACHE_MIN_ROWS + 37  # the last block is partial


@jit_resolver
def score(delay: int | None, distance: int) -> float | None:
    if delay is None:
        return None
    lateness = 1.0 / (1.0 + math.exp(-(delay - 15) / 10.0))
    return (lateness + math.sqrt(max(delay, 0) / 60.0)) * math.log1p(distance)


@jit_resolver
def log_or_zero(x: float) -> float:
    # Rows with x <= 0 skip the call; computing log(x) for them too must not raise.
    if x > 0:
        return math.log(x)
    return 0.0


@jit_resolver
def exp_of_log1p(x: float) -> float:
    return math.exp(math.log1p(x))


@jit_resolver
def tanh_or_cos(x: float | None, y: float) -> float:
    if x is None:
        return math.cos(y)
    return math.tanh(x) + math.cos(y)


@jit_resolver
def log_distance(distance: int) -> float:
    return math.log1p(distance)


@jit_resolver
def log_of_float(x: float) -> float:
    return math.log(x)


@jit_resolver(on_error="null")
def log_of_difference(x: float, y: float) -> float:
    return math.log(x - y)


def repeated(values: list, rows: int, seed: int) -> list:
    generator = random.Random(seed)
    return [generator.choice(values) for _ in range(rows)]


def test_calls_in_a_branch_with_none_rows() -> None:
    delays = repeated([*range(-30, 200), None, None, None], ROWS, 1)
    distances = repeated([0, 1, 17, 2475, 4983, 2**53, -1, -2, *EDGE_INTS], ROWS, 2)
    rows = list(zip(delays, distances, strict=True))
    check_batch_call(score, [row for row in rows if outcome(score.function, row)[0] == "value"], (int, int))
    check_batch_call(score, rows, (int, int))


def test_call_skipped_by_a_branch_does_not_raise() -> None:
    rows = [(value,) for value in repeated([*EDGE_FLOATS, -3.0, 0.25, 7.5], ROWS, 3)]
    assert any(row[0] < 0 for row in rows)
    check_batch_call(log_or_zero, rows, (float,))


def test_call_of_a_call() -> None:
    rows = [(value,) for value in repeated([*EDGE_FLOATS, -0.75, 3.0, 1e-300, 709.0], ROWS, 4)]
    check_resolver(exp_of_log1p, rows, (float,))


def test_optional_argument_and_a_call_on_every_row() -> None:
    xs = repeated([*EDGE_FLOATS, None, 0.3, -0.3], ROWS, 5)
    generator = random.Random(6)
    ys = [generator.uniform(-1e3, 1e3) for _ in range(ROWS)]  # distinct: the cache turns off
    check_batch_call(tanh_or_cos, list(zip(xs, ys, strict=True)), (float, float))


def test_domain_error_names_row_when_cache_is_warm() -> None:
    values = repeated([1.0, 2.0, 3.5, 10.0], ROWS, 7)
    bad_row = ROWS - 100
    values[bad_row] = -1.0
    with pytest.raises(ValueError, match=f"row {bad_row} "):
        log_of_float(pa.array(values))


def test_errors_set_to_null_per_row() -> None:
    xs = repeated([1.0, 2.0, 0.5, -1.0, math.nan, math.inf], ROWS, 8)
    ys = repeated([0.0, 1.0, 2.0, math.inf], ROWS, 9)
    result = log_of_difference(pa.array(xs), pa.array(ys)).to_pylist()
    for x, y, got in zip(xs, ys, result, strict=True):
        kind, value = outcome(log_of_difference.function, (x, y))
        if kind == "error":
            assert got is None, (x, y, got)
        else:
            assert got == value or (math.isnan(got) and math.isnan(value)), (x, y, got, value)


@pytest.mark.parametrize("offset", [0, 1, 63, 65])
def test_sliced_and_chunked_inputs(offset: int) -> None:
    distances = pa.array(repeated([0, 5, 17, 2475, 4983], ROWS + 200, 10))
    sliced = distances.slice(offset, ROWS)
    expected = [math.log1p(value) for value in sliced.to_pylist()]
    assert log_distance(sliced).to_pylist() == expected
    chunked = pa.chunked_array([sliced.slice(0, 5000), sliced.slice(5000)])
    assert log_distance(chunked).to_pylist() == expected


def test_fused_call_shared_inside_and_outside_branch() -> None:
    delays = repeated([*range(-10, 90), None], ROWS, 11)
    distances = repeated([17, 96, 2475, 4983], ROWS, 12)
    table = pa.table({"delay": pa.array(delays, pa.int64()), "distance": pa.array(distances, pa.int64())})
    result = fj.fuse(score, log_distance)(table)
    assert result.column("score").to_pylist() == score(table.column("delay"), table.column("distance")).to_pylist()
    assert result.column("log_distance").to_pylist() == [math.log1p(value) for value in distances]
    expected_scores = [score.function(delay, distance) for delay, distance in zip(delays, distances, strict=True)]
    assert result.column("score").to_pylist() == expected_scores


def test_empty_and_short_inputs() -> None:
    assert log_distance(pa.array([], pa.int64())).to_pylist() == []
    assert log_distance(pa.array([3], pa.int64())).to_pylist() == [math.log1p(3)]


FOUR_CALLS_SOURCE = '''
import math
import threading

import pyarrow as pa

import featurejit as fj


@fj.jit_resolver
def four_calls(x: float) -> float:
    return math.exp(x) + math.log1p(abs(x)) + math.tanh(x) + math.atan(x)


def run():
    values = [float(index % 50) / 7 for index in range(20_000)]
    result = four_calls(pa.array(values)).to_pylist()
    expected = [four_calls.function(value) for value in values]
    print("same" if result == expected else "different")


threading.stack_size(256 * 1024)
thread = threading.Thread(target=run)
thread.start()
thread.join()
'''


def test_cached_calls_run_on_small_thread_stack(tmp_path) -> None:
    # Four cached calls keep 256 KiB of keys and results: on the heap, not on the stack of
    # the calling thread, which is 256 KiB here.
    script = tmp_path / "four_calls.py"
    script.write_text(FOUR_CALLS_SOURCE)
    environment = {**os.environ, "FEATUREJIT_THREADS": "1"}
    completed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=environment, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "same"
