"""How a kernel call's morsels are spread over threads: only where that pays, and each morsel once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pyarrow as pa
import pytest

from featurejit import jit_resolver
from featurejit.runtime import parallel
from featurejit.settings import settings


class Morsels:
    """A stand-in for a kernel: records which thread ran each morsel start, and can be slow or fail."""

    def __init__(self, seconds: float = 0.0, failing: int | None = None) -> None:
        self.seconds = seconds
        self.failing = failing
        self.threads: dict[int, int] = {}
        self.lock = threading.Lock()

    def __call__(self, start: int) -> int:
        if self.seconds:
            time.sleep(self.seconds)
        if start == self.failing:
            raise RuntimeError(f"morsel at {start} failed")
        with self.lock:
            assert start not in self.threads, f"morsel {start} ran twice"
            self.threads[start] = threading.get_ident()
        return start // 100


@pytest.fixture
def fresh_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "_kernel_rates", {})
    monkeypatch.setattr(settings, "threads", 2)


@pytest.mark.usefixtures("fresh_rates")
def test_short_calls_stay_on_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "parallel_min_us", 10**9)
    run = Morsels()
    total = parallel.run_morsels_on_threads(1, 1000, 100, run)
    assert total == sum(range(10))
    assert sorted(run.threads) == list(range(0, 1000, 100))
    assert set(run.threads.values()) == {threading.get_ident()}


@pytest.mark.usefixtures("fresh_rates")
def test_long_calls_share_morsels_with_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "parallel_min_us", 0)
    run = Morsels(seconds=0.002)
    total = parallel.run_morsels_on_threads(2, 1000, 100, run)
    assert total == sum(range(10))
    assert sorted(run.threads) == list(range(0, 1000, 100))
    # The first call of a kernel times its first morsel on the calling thread, then shares
    # the rest, and the calling thread keeps taking morsels instead of waiting.
    assert run.threads[0] == threading.get_ident()
    assert len(set(run.threads.values())) == 2
    assert sum(thread == threading.get_ident() for thread in run.threads.values()) >= 2


@pytest.mark.usefixtures("fresh_rates")
def test_kernel_rate_decides_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "parallel_min_us", 5_000)
    slow = Morsels(seconds=0.002)  # 10 morsels of 2 ms: 18 ms left after the first
    parallel.run_morsels_on_threads(3, 1000, 100, slow)
    assert len(set(slow.threads.values())) == 2
    quick = Morsels()  # microseconds in all
    parallel.run_morsels_on_threads(4, 1000, 100, quick)
    assert set(quick.threads.values()) == {threading.get_ident()}
    # The slow kernel's rate is remembered: its next call shares every morsel.
    again = Morsels(seconds=0.002)
    parallel.run_morsels_on_threads(3, 1000, 100, again)
    assert len(set(again.threads.values())) == 2


@pytest.mark.usefixtures("fresh_rates")
def test_failing_morsel_raises_after_threads_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "parallel_min_us", 0)
    run = Morsels(seconds=0.002, failing=500)
    with pytest.raises(RuntimeError, match="morsel at 500 failed"):
        parallel.run_morsels_on_threads(5, 1000, 100, run)
    finished = dict(run.threads)
    time.sleep(0.02)
    assert run.threads == finished, "no morsel ran after the call returned"


@pytest.mark.usefixtures("fresh_rates")
def test_one_thread_or_one_morsel_runs_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "parallel_min_us", 0)
    run = Morsels()
    assert parallel.run_morsels_on_threads(6, 50, 100, run) == 0
    assert list(run.threads) == [0]
    monkeypatch.setattr(settings, "threads", 1)
    run = Morsels()
    parallel.run_morsels_on_threads(7, 1000, 100, run)
    assert set(run.threads.values()) == {threading.get_ident()}


def test_hand_off_is_measured_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "_hand_off_seconds", None)
    monkeypatch.setattr(settings, "parallel_min_us", None)
    first = parallel.parallel_threshold_seconds()
    assert first == parallel.PARALLEL_FACTOR * parallel.hand_off_seconds()
    assert 0 < first < 1
    assert parallel.parallel_threshold_seconds() == first


@jit_resolver(on_error="null")
def ratio(a: int, b: int | None) -> float | None:
    if b is None:
        return None
    return a / b


@pytest.mark.parametrize("minimum", [0, 10**9], ids=["several threads", "one thread"])
def test_kernel_results_do_not_depend_on_the_choice(minimum: int, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = np.random.default_rng(4)
    rows = 20_000
    a = pa.array(generator.integers(-50, 50, rows))
    b = pa.array(generator.integers(-2, 3, rows), mask=generator.random(rows) < 0.2)
    monkeypatch.setattr(settings, "threads", 1)
    expected = ratio(a, b)
    monkeypatch.setattr(settings, "threads", 3)
    monkeypatch.setattr(settings, "morsel_rows", 640)
    monkeypatch.setattr(settings, "parallel_min_us", minimum)
    assert ratio(a, b).equals(expected)
    assert ratio(a.slice(7), b.slice(7)).equals(expected.slice(7))


def test_parallel_minimum_from_the_environment() -> None:
    probe = "from featurejit.settings import settings, problems; print(settings.parallel_min_us, problems)"
    for value, expected in [("250", "250 []"), ("", "None []")]:
        completed = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "FEATUREJIT_PARALLEL_MIN_US": value},
        )
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.strip() == expected
