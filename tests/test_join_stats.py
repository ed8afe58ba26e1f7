"""Column statistics, the HyperLogLog sketch, Parquet metadata and the pushed-down filters."""

from __future__ import annotations

import datetime
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurejit.joins import HyperLogLog, JoinFilter, column_stats, parquet_stats, table_stats
from featurejit.joins.keys import KeyBuffers, int_key, string_key
from featurejit.joins.operators import build


def test_column_stats_of_integer_key() -> None:
    stats = column_stats(pa.array([5, 3, None, 9, 3], pa.int16()), "k", key=True)
    assert (stats.rows, stats.nulls, stats.min, stats.max) == (5, 1, 3, 9)
    assert stats.distinct == 3
    assert stats.distinct_exact
    assert stats.unique is False
    assert stats.sorted is False
    assert stats.density == pytest.approx(3 / 7)
    assert "k: 5 rows, 1 null, min 3, max 9, 3 distinct, density 0.43, repeated values, unsorted" == stats.describe()


def test_column_stats_sortedness_ignores_nulls() -> None:
    assert column_stats(pa.array([None, 1, 1, None, 4]), key=True).sorted is True
    assert column_stats(pa.array(["a", None, "b", "b"])).sorted is True
    assert column_stats(pa.array(["b", "a"])).sorted is False
    assert column_stats(pa.array([2**64 - 1, 1], pa.uint64()), key=True).sorted is False
    assert column_stats(pa.array([1.5, float("nan")])).sorted is False


def test_column_stats_unique_string_key() -> None:
    stats = column_stats(pa.chunked_array([["é", "a"], ["日本", None]]), "s", key=True)
    assert (stats.distinct, stats.unique, stats.min, stats.max) == (3, True, "a", "日本")
    assert stats.density is None


def test_column_stats_of_empty_and_all_null_columns() -> None:
    empty = column_stats(pa.array([], pa.int64()), key=True)
    assert (empty.rows, empty.distinct, empty.min, empty.sorted) == (0, 0, None, True)
    nulls = column_stats(pa.array([None, None], pa.string()))
    assert (nulls.nulls, nulls.distinct, nulls.min) == (2, 0, None)


def test_non_key_distinct_is_estimated() -> None:
    values = pa.array(np.random.default_rng(0).integers(0, 5000, 100_000))
    stats = column_stats(values, "v")
    exact = len(np.unique(np.asarray(values)))
    assert not stats.distinct_exact
    assert stats.unique is None
    assert stats.distinct is not None
    assert abs(stats.distinct - exact) <= 4 * 1.04 / math.sqrt(2**14) * exact


@pytest.mark.parametrize("count", [1, 10, 100, 1000, 20_000, 300_000])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hyperloglog_within_four_standard_errors(count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.choice(2**62, size=count, replace=False).astype(np.int64)
    repeated = np.concatenate([values, values[: count // 2]])  # repeats do not change the count
    sketch = HyperLogLog()
    assert sketch.add(pa.array(repeated)) == len(repeated)
    assert abs(sketch.estimate() - count) <= max(4 * sketch.standard_error * count, 0.5)


@pytest.mark.parametrize("count", [50, 5000, 100_000])
def test_hyperloglog_of_strings(count: int) -> None:
    strings = pa.array([f"key-é-{i}" for i in range(count)] * 2, pa.large_string())
    sketch = HyperLogLog(12)
    sketch.add(strings)
    assert abs(sketch.estimate() - count) <= 4 * sketch.standard_error * count


def test_hyperloglog_merge_equals_union() -> None:
    first, second, union = HyperLogLog(10), HyperLogLog(10), HyperLogLog(10)
    first.add(pa.array(np.arange(0, 6000)))
    second.add(pa.array(np.arange(4000, 10_000)))
    union.add(pa.array(np.arange(0, 10_000)))
    first.merge(second)
    assert np.array_equal(first.registers, union.registers)
    with pytest.raises(ValueError, match="precision 12 into one of precision 10"):
        first.merge(HyperLogLog(12))
    with pytest.raises(ValueError, match="outside 4 to 18"):
        HyperLogLog(3)


def test_hyperloglog_counts_floats_by_value() -> None:
    sketch = HyperLogLog()
    sketch.add(pa.array([0.0, -0.0, float("nan"), float("nan"), 1.5, None]))
    assert round(sketch.estimate()) == 3


def test_table_stats_bytes_and_keys() -> None:
    table = pa.table({"id": [1, 2, 3], "x": [1.0, 1.0, 2.0]})
    stats = table_stats(table, keys=["id"])
    assert stats.rows == 3
    assert stats.nbytes == table.nbytes
    assert stats["id"].unique is True
    assert stats["x"].distinct == 2


# --------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------


def test_parquet_stats_from_metadata(tmp_path: Path) -> None:
    path = tmp_path / "sorted.parquet"
    table = pa.table({"id": np.arange(1000), "name": [f"n{i % 7}" if i % 10 else None for i in range(1000)]})
    pq.write_table(table, path, row_group_size=300, sorting_columns=[pq.SortingColumn(0)])
    stats = parquet_stats(path, keys=["id"], read_data=False)
    assert stats.rows == 1000
    identifier = stats["id"]
    assert (identifier.nulls, identifier.min, identifier.max, identifier.sorted) == (0, 0, 999, True)
    assert identifier.source == "parquet metadata"
    assert identifier.distinct is None
    assert stats["name"].nulls == 100
    filled = parquet_stats(path, keys=["id"])
    assert (filled["id"].distinct, filled["id"].unique, filled["id"].sorted) == (1000, True, True)
    assert filled["id"].source == "parquet metadata and data"


def test_parquet_without_statistics_reads_data(tmp_path: Path) -> None:
    path = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"k": [3, 1, None, 2]}), path, write_statistics=False)
    assert parquet_stats(path, read_data=False)["k"].nulls is None
    stats = parquet_stats(path, keys=["k"])["k"]
    assert (stats.nulls, stats.min, stats.max, stats.distinct, stats.sorted) == (1, 1, 3, 3, False)


def test_parquet_unsorted_row_groups_are_not_sorted(tmp_path: Path) -> None:
    path = tmp_path / "groups.parquet"
    pq.write_table(pa.table({"t": [datetime.date(2013, 1, day) for day in (5, 6, 1, 2)]}), path, row_group_size=2)
    stats = parquet_stats(path, read_data=False)["t"]
    assert stats.sorted is None  # no sorting columns are declared
    assert (stats.min, stats.max) == (datetime.date(2013, 1, 1), datetime.date(2013, 1, 6))
    with pytest.raises(KeyError, match="no column 'missing'"):
        parquet_stats(path, columns=["missing"])


# --------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------


def integer_keys(values: np.ndarray) -> KeyBuffers:
    array = pa.array(values)
    return int_key(np.asarray(values, dtype=np.int64), None, array, "k")


def test_bloom_filter_keeps_every_key_and_few_others() -> None:
    rng = np.random.default_rng(4)
    values = rng.choice(2**40, size=200_000, replace=False).astype(np.int64)
    present, absent = values[:100_000], values[100_000:]
    join_filter = JoinFilter.from_build(build(integer_keys(present)))
    assert join_filter.bloom is not None
    assert len(join_filter.select(integer_keys(present))) == len(present)
    # Keys outside the build's range are dropped by min/max alone, so test the Bloom filter inside it.
    inside = absent[(absent >= present.min()) & (absent <= present.max())]
    false_positive = len(join_filter.select(integer_keys(inside))) / len(inside)
    assert false_positive < 0.01


def test_string_filter_keeps_matches() -> None:
    build_strings = pa.array([f"k{i}é" for i in range(100)] + [None])
    probe_strings = pa.array([f"k{i}é" for i in range(0, 400, 3)] + [None])
    join_filter = JoinFilter.from_build(build(string_key(build_strings, "k")))
    selected = join_filter.select(string_key(probe_strings, "k"))
    expected = [row for row, value in enumerate(probe_strings.to_pylist()) if value is not None and int(value[1:-1]) < 100]
    assert set(expected) <= set(selected.tolist())
    assert len(selected) <= len(expected) + 3


def test_in_list_filter_and_expression() -> None:
    join_filter = JoinFilter.from_build(build(integer_keys(np.array([40, 7, 7, 12]))))
    assert join_filter.in_list is not None
    assert join_filter.in_list.tolist() == [7, 12, 40]
    assert join_filter.select(integer_keys(np.array([1, 7, 12, 13, 40, 41]))).tolist() == [1, 2, 4]
    expression = join_filter.expression("k")
    assert expression is not None
    table = pa.table({"k": [1, 7, 12, 13, 40, 41]})
    assert table.filter(expression).column("k").to_pylist() == [7, 12, 40]
    strings = JoinFilter.from_build(build(string_key(pa.array(["é", "b"]), "s")))
    string_expression = strings.expression("s")
    assert string_expression is not None
    assert pa.table({"s": ["a", "b", "é"]}).filter(string_expression).column("s").to_pylist() == ["b", "é"]


def test_filter_of_row_ranges_matches_whole_filter() -> None:
    rng = np.random.default_rng(6)
    present = rng.choice(2**40, 3000, replace=False)
    probe = np.where(rng.random(5000) < 0.5, rng.choice(present, 5000), rng.integers(0, 2**41, 5000))
    keys = int_key(probe, rng.random(5000) > 0.1, None, "k")
    join_filter = JoinFilter.from_build(build(integer_keys(present)))
    whole = join_filter.select(keys)
    out = np.empty(1000, dtype=np.int64)
    pieces = []
    for start in range(0, 5000, 1000):
        count = join_filter.select_range(keys, start, start + 1000, out)
        pieces.append(out[:count].copy())
    assert np.array_equal(np.concatenate(pieces), whole)
    assert join_filter.select_range(keys, 4000, 4000, out) == 0


def test_sample_pass_fraction_of_short_and_empty_keys() -> None:
    join_filter = JoinFilter.from_build(build(integer_keys(np.arange(100) * 1000)))
    assert join_filter.sample_pass_fraction(integer_keys(np.array([0, 1000, 5, 7]))) == (0.5, 4)
    assert join_filter.sample_pass_fraction(integer_keys(np.zeros(0, dtype=np.int64))) == (0.0, 0)
    fraction, sampled = join_filter.sample_pass_fraction(integer_keys(np.arange(100_000) * 1000))
    assert sampled == 16 * 1024
    assert 0 < fraction < 0.05
