"""Large kernel outputs reuse freed memory, and never memory that a live array still reads."""

from __future__ import annotations

import gc

import numpy as np
import pyarrow as pa
import pytest

from featurejit import jit_resolver
from featurejit.runtime import memory
from featurejit.runtime.memory import FEW_WORDS, OutputMemory, any_bits, count_bits, pool_array

ROWS = 100_000  # 800 KB of float64: above POOL_BYTES


def data_address(array: np.ndarray) -> int:
    return int(array.__array_interface__["data"][0])


@pytest.fixture
def fresh_memory(monkeypatch: pytest.MonkeyPatch) -> OutputMemory:
    fresh = OutputMemory()
    monkeypatch.setattr(memory, "OUTPUT_MEMORY", fresh)
    return fresh


def test_block_returns_after_last_arrow_buffer(fresh_memory: OutputMemory) -> None:
    values = pool_array(ROWS, np.float64, zeroed=True)
    first = data_address(values)
    column = pa.Array.from_buffers(pa.float64(), ROWS, [None, pa.py_buffer(values)])
    tail = column.slice(10)
    del values, column
    gc.collect()
    assert not fresh_memory.returned, "a slice of the column still reads the block"
    while_alive = pool_array(ROWS, np.float64, zeroed=False)
    assert data_address(while_alive) != first
    del tail
    gc.collect()
    assert len(fresh_memory.returned) == 1
    reused = pool_array(ROWS, np.float64, zeroed=False)
    assert data_address(reused) == first
    assert reused.flags.writeable


def test_zeroed_reuse_is_zero(fresh_memory: OutputMemory) -> None:
    values = pool_array(ROWS, np.float64, zeroed=False)
    values.fill(7.5)
    del values
    again = pool_array(ROWS, np.float64, zeroed=True)
    assert not again.any()


def test_oversized_block_not_reused(fresh_memory: OutputMemory) -> None:
    large = pool_array(4 * ROWS, np.float64, zeroed=False)
    large_address = data_address(large)
    del large
    small = pool_array(ROWS, np.float64, zeroed=False)
    assert data_address(small) != large_address
    assert len(fresh_memory.reusable) == 1


def test_idle_blocks_are_dropped(fresh_memory: OutputMemory, monkeypatch: pytest.MonkeyPatch) -> None:
    values = pool_array(ROWS, np.float64, zeroed=False)
    del values
    fresh_memory.sweep()
    assert len(fresh_memory.reusable) == 1
    monkeypatch.setattr(memory, "IDLE_SECONDS", 0.0)
    pool_array(10, np.float64, zeroed=True)  # small arrays sweep too
    assert fresh_memory.reusable == []


def test_reusable_bytes_are_bounded(fresh_memory: OutputMemory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "REUSABLE_BYTES", 3 * ROWS * 8)
    arrays = [pool_array(ROWS, np.float64, zeroed=False) for _ in range(5)]
    del arrays
    fresh_memory.sweep()
    assert len(fresh_memory.reusable) == 3
    assert sum(block.nbytes for _, block in fresh_memory.reusable) <= 3 * ROWS * 8


@jit_resolver
def doubled(x: float) -> float:
    return x * 2.0


def test_later_calls_keep_earlier_results(fresh_memory: OutputMemory) -> None:
    first_input = pa.array(np.arange(ROWS, dtype=np.float64))
    first_result = doubled(first_input)
    expected = first_result.to_pylist()
    for value in (1.0, -3.0, 0.5):
        later = doubled(pa.array(np.full(ROWS, value)))
        assert later.to_pylist()[:3] == [value * 2.0] * 3
        del later
    assert first_result.to_pylist() == expected


@pytest.mark.parametrize("words", [0, 1, 2, FEW_WORDS - 1, FEW_WORDS, FEW_WORDS + 1, 1000])
def test_bit_counts_on_both_sides_of_few_words(words: int) -> None:
    generator = np.random.default_rng(words)
    bitmap = generator.integers(0, 2**63, words, dtype=np.uint64, endpoint=True)
    bitmap[::3] = np.uint64(2**64 - 1)
    expected = sum(int(word).bit_count() for word in bitmap.tolist())
    assert count_bits(bitmap) == expected
    assert any_bits(bitmap) == (expected > 0)
    empty = np.zeros(words, dtype=np.uint64)
    assert count_bits(empty) == 0
    assert not any_bits(empty)
    if words:
        empty[-1] = np.uint64(1) << np.uint64(63)  # the last bit of the last word
        assert count_bits(empty) == 1
        assert any_bits(empty)
