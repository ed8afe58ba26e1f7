"""Running a kernel call's morsels on several threads, where that is faster than one thread.

Handing work to a pool thread costs the time the thread takes to wake up. On a shared
two-core VM that is about 70 us, while a kernel that reads two float columns and writes one
gets through 100,000 rows in 80 us. So a call runs on several threads only if its kernel is
expected to take at least PARALLEL_FACTOR hand-offs on one thread. The expectation comes from
the kernel's time per row on the morsels the calling thread ran in earlier calls. A kernel's
first call runs its first morsel on the calling thread and times it before deciding.

On several threads, the calling thread and the pool's threads take morsels from one counter,
so the calling thread works instead of waiting for a pool thread to wake up.
"""

from __future__ import annotations

import itertools
import os
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from featurejit.settings import settings

# A kernel that does little work per row is limited by memory bandwidth, which one core of a
# small VM already fills (1M rows of the kernel above: 541 us on one thread, 607 us on two).
# So the second thread pays only where the hand-off is small next to the call.
PARALLEL_FACTOR = 8
HAND_OFF_SAMPLES = 5
# Past this many kernels, the rates are cleared and measured again.
KERNEL_RATES_LIMIT = 4096

class LazyThreadPool:
    """A thread pool created on first use, and dropped in a forked child, whose copy has no threads to run its tasks."""

    def __init__(self, size: Callable[[], int], name_prefix: str):
        self.size = size
        self.name_prefix = name_prefix
        self.pool: ThreadPoolExecutor | None = None
        self.lock = threading.Lock()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self.forget_in_child)

    def forget_in_child(self) -> None:
        self.pool = None
        self.lock = threading.Lock()

    def get(self) -> ThreadPoolExecutor:
        with self.lock:
            if self.pool is None:
                self.pool = ThreadPoolExecutor(max_workers=self.size(), thread_name_prefix=self.name_prefix)
            return self.pool


_kernel_pool = LazyThreadPool(lambda: settings.threads, "featurejit")
_hand_off_seconds: float | None = None
# Seconds per row of the kernels run so far, keyed by the id of the kernel's entry point.
_kernel_rates: dict[int, float] = {}


def thread_pool() -> ThreadPoolExecutor:
    """Return the process's pool of kernel threads, sized by the FEATUREJIT_THREADS setting."""
    return _kernel_pool.get()


def hand_off_seconds() -> float:
    """Return the median time to hand a pool thread a task that does nothing and get its result, measured once."""
    global _hand_off_seconds
    if _hand_off_seconds is None:
        pool = thread_pool()
        samples = []
        for _ in range(HAND_OFF_SAMPLES):
            began = time.perf_counter()
            pool.submit(int).result()
            samples.append(time.perf_counter() - began)
        _hand_off_seconds = statistics.median(samples)
    return _hand_off_seconds


def parallel_threshold_seconds() -> float:
    """Return the expected one-thread time from which a call runs on several threads."""
    if settings.parallel_min_us is not None:
        return settings.parallel_min_us / 1e6
    return PARALLEL_FACTOR * hand_off_seconds()


def run_morsels_on_threads(key: int, rows: int, morsel: int, run: Callable[[int], int]) -> int:
    """Run `run(start)` for each morsel start (0, morsel, 2 * morsel, ... below `rows`); return the sum of the results.

    `key` identifies the kernel, whose time per row decides between one thread and several
    (see the module docstring). `run` must be safe to call from several threads at once.
    """
    starts = list(range(0, rows, morsel))
    if settings.threads == 1 or len(starts) == 1:
        return sum(run(start) for start in starts)
    total = 0
    rate = _kernel_rates.get(key)
    if rate is None:
        first = starts.pop(0)
        total += timed(key, run, first, min(morsel, rows))
        rate = _kernel_rates.get(key, 0.0)  # another thread may have cleared the rates
    if rate * (rows - starts[0]) < parallel_threshold_seconds():
        return total + sum(timed(key, run, start, min(morsel, rows - start)) for start in starts)
    return total + share_morsels(key, rows, morsel, starts, run)


def share_morsels(key: int, rows: int, morsel: int, starts: list[int], run: Callable[[int], int]) -> int:
    """Run the morsels on the calling thread and on up to settings.threads - 1 pool threads, which take them from one counter."""
    counter = itertools.count()  # next() on it is atomic under the GIL

    def take_morsels(timing: bool) -> int:
        flagged = 0
        while (index := next(counter)) < len(starts):
            start = starts[index]
            flagged += timed(key, run, start, min(morsel, rows - start)) if timing else run(start)
        return flagged

    helpers: list[Future[int]] = [
        thread_pool().submit(take_morsels, False) for _ in range(min(settings.threads, len(starts)) - 1)
    ]
    try:
        total = take_morsels(True)
    finally:
        # The morsels write into the caller's buffers: wait for every helper, even after an error.
        for helper in helpers:
            helper.exception()
    return total + sum(helper.result() for helper in helpers)


def timed(key: int, run: Callable[[int], int], start: int, rows: int) -> int:
    """Run one morsel and fold its time per row into the kernel's rate."""
    began = time.perf_counter()
    flagged = run(start)
    rate = (time.perf_counter() - began) / max(rows, 1)
    previous = _kernel_rates.get(key)
    if previous is None and len(_kernel_rates) >= KERNEL_RATES_LIMIT:
        _kernel_rates.clear()
    _kernel_rates[key] = rate if previous is None else (previous + rate) / 2
    return flagged
