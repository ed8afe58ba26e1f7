"""Concurrent calls from several threads: kernels run with the GIL released and stay correct."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pytest

from featurejit import jit_resolver
from featurejit.settings import settings


@jit_resolver
def weighted(a: float, b: float, weight: float) -> float:
    return a * weight + b * (1 - weight) if a > b else (a + b) / 2


def test_concurrent_batch_and_scalar_calls_match_numpy() -> None:
    generator = np.random.default_rng(3)
    inputs = [(generator.standard_normal(50_000), generator.standard_normal(50_000), 0.1 * k) for k in range(8)]

    def run(arguments: tuple[np.ndarray, np.ndarray, float]) -> tuple[np.ndarray, float]:
        a, b, weight = arguments
        batch = weighted(pa.array(a), pa.array(b), weight).to_numpy()
        scalar = weighted(float(a[0]), float(b[0]), weight)
        return batch, scalar

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, inputs))
    for (a, b, weight), (batch, scalar) in zip(inputs, results, strict=True):
        expected = np.where(a > b, a * weight + b * (1 - weight), (a + b) / 2)
        assert np.array_equal(batch, expected)
        assert scalar == expected[0]


@jit_resolver
def checked_ratio(a: int, b: int | None, flag: bool) -> float | None:
    if b is None:
        return None
    return a / b if flag else a // b + 0.5


@jit_resolver(on_error="null")
def checked_ratio_or_null(a: int, b: int | None, flag: bool) -> bool | None:
    if b is None:
        return None
    return a // b > 3 if flag else a % b == 1


@pytest.mark.parametrize("resolver", [checked_ratio_or_null, checked_ratio], ids=lambda r: r.name)
def test_results_equal_for_one_and_many_threads(resolver, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = np.random.default_rng(9)
    rows = 300_000
    a = pa.array(generator.integers(-1000, 1000, rows))
    # Zero divisors raise for checked_ratio, which keeps on_error="raise", so it gets none.
    low = 1 if resolver is checked_ratio else -3
    b = pa.array(generator.integers(low, 50, rows), mask=generator.random(rows) < 0.1)
    flag = pa.array(generator.random(rows) < 0.5)
    a, b, flag = (column.slice(3, rows - 10) for column in (a, b, flag))
    monkeypatch.setattr(settings, "threads", 1)
    single = resolver(a, b, flag)
    single_stats = resolver.explain(show=False)
    monkeypatch.setattr(settings, "threads", 4)
    monkeypatch.setattr(settings, "parallel_min_us", 0)  # run on several threads however short
    monkeypatch.setattr(settings, "morsel_rows", 1000)
    several = resolver(a, b, flag)
    several_stats = resolver.explain(show=False)
    assert single.equals(several)
    assert single_stats.last_slow_path_rows == several_stats.last_slow_path_rows
    assert single_stats.last_error_rows == several_stats.last_error_rows
    sample = range(0, rows - 10, 997)
    columns = [column.to_pylist() for column in (a, b, flag)]
    expected_values = []
    for row in sample:
        try:
            expected_values.append(resolver.function(*(column[row] for column in columns)))
        except ZeroDivisionError:
            expected_values.append(None)
    assert [several[row].as_py() for row in sample] == expected_values


def test_all_valid_bitmap_outlives_growth() -> None:
    from featurejit.runtime.batch import AllValidBitmap

    bitmap = AllValidBitmap()
    small_address, small_size = bitmap.get(100)
    large_address, large_size = bitmap.get(small_size * 8 * 4)
    assert large_size >= small_size * 4
    assert large_address != small_address
    still_there = [buffer for buffer in bitmap.outgrown if int(buffer.ctypes.data) == small_address]
    assert len(still_there) == 1
    assert bool((still_there[0] == 0xFF).all())


def test_resolvers_compiling_on_several_threads_at_once(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # Each compile has an LLVM context of its own and each thread its own target machines,
    # so different resolvers may compile at the same time.
    source = "import featurejit as fj\n"
    for number in range(24):
        source += (
            f"\n@fj.jit_resolver\ndef mix{number}(a: int, b: float | None) -> float | None:\n"
            f"    if b is None:\n        return None\n"
            f"    return (a * {number + 1} + b) / (b + {number}.5) if a > {number} else a - b * {number}\n"
        )
    (tmp_path / "concurrent_resolvers.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    import concurrent_resolvers  # type: ignore[import-not-found]

    resolvers = [getattr(concurrent_resolvers, f"mix{number}") for number in range(24)]
    a = pa.array(range(-50, 50))
    b = pa.array([float(value) if value % 7 else None for value in range(100)])

    def run(resolver):  # type: ignore[no-untyped-def]
        return resolver(a, b).to_pylist(), resolver(3, 2.0)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, resolvers))
    for resolver, (column, scalar) in zip(resolvers, results, strict=True):
        expected = [resolver.function(x, y) for x, y in zip(a.to_pylist(), b.to_pylist(), strict=True)]
        assert column == expected, resolver.name
        assert scalar == resolver.function(3, 2.0), resolver.name
