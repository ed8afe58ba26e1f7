"""Addresses of numpy buffers for kernel calls, and the memory of kernel outputs."""

from __future__ import annotations

import collections
import ctypes
import threading
import time

import numpy as np
import pyarrow as pa

from featurejit.settings import settings


def address(array: np.ndarray) -> int:
    """Return the address of a contiguous numpy array's first byte.

    Wrapping the array in an Arrow buffer took about 0.25 us on an AMD EPYC (Zen 4) VM,
    against 1 us for `array.ctypes.data`, which builds a ctypes object on every access.
    A one-row call reads about ten addresses.
    """
    return pa.py_buffer(array).address


# Up to this many words, count_bits counts through one Python int: 0.3 us for 16 words on an AMD
# EPYC (Zen 4) VM, against 1.5 us for the numpy reduction, which is faster from about 128 words.
FEW_WORDS = 96


def count_bits(words: np.ndarray) -> int:
    """Return the number of set bits in an array of 64-bit words."""
    if len(words) <= FEW_WORDS:
        return int.from_bytes(words, "little").bit_count()
    return int(np.bitwise_count(words).sum())


def any_bits(words: np.ndarray) -> bool:
    """Return whether any bit is set in an array of 64-bit words."""
    if len(words) <= FEW_WORDS:
        return int.from_bytes(words, "little") != 0
    return bool(words.any())


# Arrays of at least this many bytes come from OUTPUT_MEMORY (see pool_array).
POOL_BYTES = 1 << 16
# The byte that fills arrays left unzeroed while settings.poison_kernel_outputs is on.
POISON = 0xA5
# Freed blocks that OUTPUT_MEMORY keeps for reuse: at most this many bytes in all, each for at
# most IDLE_SECONDS.
REUSABLE_BYTES = 1 << 30
IDLE_SECONDS = 30.0


class Loan:
    """A block of OutputMemory lent out for one output array, which gives the block back when it is freed.

    The memory that OutputMemory.lend returns keeps the loan alive, and so do the arrays and
    Arrow buffers over it, so the block comes back when the last of them, such as a result
    column the caller held, is freed.
    """

    __slots__ = ("block", "returned")

    def __init__(self, block: np.ndarray, returned: collections.deque[tuple[float, np.ndarray]]) -> None:
        self.block = block
        self.returned = returned  # OutputMemory.returned

    def __del__(self) -> None:
        try:
            self.returned.append((time.monotonic(), self.block))
        except (AttributeError, TypeError):  # at interpreter exit, modules may already be torn down
            pass


class OutputMemory:
    """Blocks of memory for large kernel outputs, reused once the arrays over them are freed.

    Arrow's default pool on Linux (mimalloc) gives freed memory back to the operating system
    within milliseconds, and the next call that takes it faults on every page again. On a
    shared AMD EPYC (Zen 4) VM, eight fused resolvers over 10M rows took 115 ms back to back
    and 158 to 166 ms after a pause of 1.5 s, with about 1,200 page faults per call. From
    these blocks, calls after a pause or after other work took 120 to 141 ms in 7 of 8
    rounds, with no page faults. A block waits for reuse for up to IDLE_SECONDS, checked
    whenever pool_array runs.
    """

    def __init__(self) -> None:
        # Freed blocks arrive here from Loan.__del__, which may run on any thread and
        # inside lend itself, so it only appends, which a deque does atomically.
        self.returned: collections.deque[tuple[float, np.ndarray]] = collections.deque()
        self.reusable: list[tuple[float, np.ndarray]] = []  # (time given back, block), oldest first
        self.lock = threading.Lock()

    def lend(self, size: int) -> np.ndarray:
        """Return a uint8 array of `size` bytes, over a reusable block of at most twice the size, or a new one."""
        block = None
        with self.lock:
            self.collect()
            fitting = [index for index, (_, candidate) in enumerate(self.reusable) if size <= candidate.nbytes <= 2 * size]
            if fitting:
                best = min(fitting, key=lambda index: self.reusable[index][1].nbytes)
                block = self.reusable.pop(best)[1]
        if block is None:
            block = np.empty(size, dtype=np.uint8)
        # A ctypes array over the block, holding the loan, is the base of the array returned:
        # numpy collapses chains of ndarray views to the block, so an ndarray could not hold it.
        memory = (ctypes.c_uint8 * size).from_address(address(block))
        memory.loan = Loan(block, self.returned)  # type: ignore[attr-defined]
        return np.frombuffer(memoryview(memory), dtype=np.uint8)

    def collect(self) -> None:
        """Move the returned blocks to the reusable ones, and drop the blocks idle or over REUSABLE_BYTES. Call it under the lock."""
        while self.returned:
            self.reusable.append(self.returned.popleft())
        self.reusable.sort(key=lambda entry: entry[0])
        now = time.monotonic()
        self.reusable = [(given_back, block) for given_back, block in self.reusable if now - given_back < IDLE_SECONDS]
        total = sum(block.nbytes for _, block in self.reusable)
        while total > REUSABLE_BYTES:
            total -= self.reusable.pop(0)[1].nbytes

    def sweep(self) -> None:
        """Drop idle blocks, if any may be idle; cheap enough for every pool_array call."""
        with self.lock:
            oldest = self.reusable[0][0] if self.reusable else None
            if self.returned or (oldest is not None and time.monotonic() - oldest >= IDLE_SECONDS):
                self.collect()


OUTPUT_MEMORY = OutputMemory()


def pool_array(count: int, dtype: np.dtype | type, zeroed: bool) -> np.ndarray:
    """Return an array of `count` elements, zeroed or not, taken from OUTPUT_MEMORY if large.

    New pages fault on their first write: on an AMD EPYC (Zen 4) VM, filling 8 MB took about
    0.2 ms in memory used before, against 1.4 to 2.4 ms in new pages.
    """
    element = np.dtype(dtype)
    size = count * element.itemsize
    if size < POOL_BYTES:
        if OUTPUT_MEMORY.returned or OUTPUT_MEMORY.reusable:  # read without the lock: sweep checks again
            OUTPUT_MEMORY.sweep()
        array = np.zeros(count, dtype=element) if zeroed else np.empty(count, dtype=element)
    else:
        array = OUTPUT_MEMORY.lend(size).view(element)
        if zeroed:
            array.fill(0)
    if not zeroed and settings.poison_kernel_outputs:
        array.view(np.uint8).fill(POISON)
    return array
