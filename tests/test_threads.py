"""Concurrent calls from several threads: kernels run with the GIL released and stay correct."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from featurejit import jit_resolver


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
