"""Comparisons of a peer's result with featurejit's, shared by the suites."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.harness import Check, failed, passed


def to_float_array(result: Any) -> np.ndarray:
    """Return a peer's result as float64 numpy, with NaN for nulls: numpy, Arrow, Polars or DuckDB output."""
    import pyarrow as pa

    if isinstance(result, np.ndarray):
        return result.astype(np.float64, copy=False)
    if isinstance(result, pa.Table):
        result = result.column(0)
    if isinstance(result, pa.ChunkedArray):
        result = result.combine_chunks()
    if isinstance(result, pa.Array):
        return result.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    if hasattr(result, "to_arrow"):  # a Polars Series or DataFrame
        return to_float_array(result.to_arrow())
    return np.asarray(result, dtype=np.float64)


def compare_values(expected: np.ndarray, actual: Any, selected: np.ndarray) -> Check:
    """Compare float64 values on the rows where the boolean mask `selected` is true.

    Exact equality passes, and so does np.allclose, which the message then names with the
    largest relative difference.
    """
    actual = to_float_array(actual)
    if actual.shape != expected.shape:
        return failed(f"{actual.shape[0]:,} values, expected {expected.shape[0]:,}")
    row_numbers = np.flatnonzero(selected)
    expected_values = expected[row_numbers]
    actual_values = actual[row_numbers]
    compared = f"{len(row_numbers):,} rows"
    if np.array_equal(expected_values, actual_values, equal_nan=True):
        return passed(f"exact on {compared}")
    if np.allclose(actual_values, expected_values, equal_nan=True):
        with np.errstate(invalid="ignore", divide="ignore"):
            relative = np.abs(actual_values - expected_values) / np.abs(expected_values)
        return passed(f"allclose on {compared} (max relative difference {float(np.nanmax(relative)):.1e})")
    different = np.flatnonzero(~np.isclose(actual_values, expected_values, equal_nan=True))
    first = row_numbers[different[0]]
    return failed(
        f"{len(different):,} of {compared} differ; first at row {first}: expected {expected[first]!r}, got {actual[first]!r}"
    )


def native(resolver: Any) -> Check:
    """Check that a resolver compiled, because timing its interpreter fallback would mislead."""
    explanation = resolver.explain(show=False)
    if explanation.native:
        return passed("native")
    return failed(f"{resolver.name} runs in the interpreter: {explanation.reason}")
