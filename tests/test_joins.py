"""Joins against pyarrow.Table.join and DuckDB on the same data, through every operator.

Each case runs as the planner chooses and forced through each operator. Those are hash joins
built on either side, with and without the pushed-down filter, a merge join over the inputs
sorted on the key, and a join through a persistent index. Each runs with direct-address
tables and with hash tables for integer keys.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from featurejit.joins import Index, JoinChoice, KeyTypeError, join, plan_join, table_stats
from featurejit.joins import operators as join_operators
from featurejit.settings import settings
from tests.join_reference import duckdb_join, normalized, output_names, pyarrow_join

duckdb = pytest.importorskip("duckdb")

TEXT = ["é", "日本", "ß", "a", "", "a\x00b", "🙂", "Straße", "ab", "ba", "x" * 40]


def int_case(rng: np.random.Generator, left_keys: Any, right_keys: Any, left_type: pa.DataType, right_type: pa.DataType) -> tuple[pa.Table, pa.Table]:
    left = pa.table({"k": pa.array(left_keys, left_type), "a": np.arange(len(left_keys)), "same": rng.integers(0, 9, len(left_keys))})
    right = pa.table({"k": pa.array(right_keys, right_type), "b": pa.array([f"r{i}" for i in range(len(right_keys))], pa.string()), "same": rng.integers(0, 9, len(right_keys))})
    return left, right


def with_nulls(rng: np.random.Generator, values: list[Any], share: float) -> list[Any]:
    return [None if rng.random() < share else value for value in values]


def make_case(name: str) -> tuple[pa.Table, pa.Table, list[str], list[str]]:
    """Return (left, right, left key columns, right key columns) of a named case."""
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    if name == "dense unique":
        right_keys = rng.permutation(200).tolist()
        left_keys = with_nulls(rng, rng.integers(-10, 220, 300).tolist(), 0.05)
        left, right = int_case(rng, left_keys, right_keys, pa.int64(), pa.int64())
    elif name == "sparse":
        right_keys = rng.integers(-(2**62), 2**62, 150).tolist()
        left_keys = [rng.choice(right_keys) if rng.random() < 0.6 else int(rng.integers(-(2**62), 2**62)) for _ in range(250)]
        left, right = int_case(rng, [int(key) for key in left_keys], right_keys, pa.int64(), pa.int64())
    elif name == "duplicates":
        left, right = int_case(rng, rng.integers(0, 12, 120).tolist(), rng.integers(0, 15, 90).tolist(), pa.int64(), pa.int64())
    elif name == "null keys":
        left_keys = with_nulls(rng, rng.integers(0, 30, 100).tolist(), 0.3)
        right_keys = with_nulls(rng, rng.integers(0, 30, 80).tolist(), 0.3)
        left, right = int_case(rng, left_keys, right_keys, pa.int64(), pa.int64())
    elif name == "all null keys":
        left, right = int_case(rng, [None] * 20, with_nulls(rng, list(range(10)), 0.5), pa.int64(), pa.int64())
    elif name == "integer widths":
        left, right = int_case(rng, with_nulls(rng, rng.integers(-128, 127, 150).tolist(), 0.1), rng.integers(0, 200, 100).tolist(), pa.int8(), pa.uint32())
    elif name == "int16 against int64":
        left, right = int_case(rng, rng.integers(-300, 300, 150).tolist(), rng.integers(-300, 300, 100).tolist(), pa.int16(), pa.int64())
    elif name == "uint64 against int64":
        high = [2**63, 2**64 - 1, 2**63 + 5, 5, 7, 0]
        left, right = int_case(rng, [high[i % 6] for i in range(30)], [-1, 5, 7, 0, -(2**63), 2**63 - 1, 7], pa.uint64(), pa.int64())
    elif name == "uint64 on both sides":
        high = [2**63, 2**64 - 1, 2**63 + 5, 5, 7, 0, None]
        left_keys = [high[i] for i in rng.integers(0, len(high), 40)]
        right_keys = [high[i] for i in rng.integers(0, len(high) - 1, 25)]
        left, right = int_case(rng, left_keys, right_keys, pa.uint64(), pa.uint64())
    elif name == "strings":
        left_keys = with_nulls(rng, [TEXT[i] for i in rng.integers(0, len(TEXT), 150)], 0.1)
        right_keys = with_nulls(rng, [TEXT[i] for i in rng.integers(0, len(TEXT) - 2, 60)], 0.1)
        left, right = int_case(rng, left_keys, right_keys, pa.string(), pa.large_string())
    elif name == "dictionary strings":
        left_keys = [TEXT[i] for i in rng.integers(0, len(TEXT), 100)]
        right_keys = [TEXT[i] for i in range(len(TEXT) - 3)]
        left, right = int_case(rng, left_keys, right_keys, pa.string(), pa.string())
        left = left.set_column(0, "k", left.column("k").dictionary_encode())
    elif name == "empty left":
        left, right = int_case(rng, [], list(range(10)), pa.int64(), pa.int64())
    elif name == "empty right":
        left, right = int_case(rng, list(range(10)), [], pa.int64(), pa.int64())
    elif name == "both empty":
        left, right = int_case(rng, [], [], pa.string(), pa.string())
    elif name in ("composite packed", "composite strings", "composite wide"):
        return composite_case(rng, name)
    elif name == "chunked strings":
        # Keys of one type on both sides, repeated, with nulls, and the right side in chunks.
        left_keys = with_nulls(rng, [TEXT[i] for i in rng.integers(0, len(TEXT), 200)], 0.1)
        right_keys = with_nulls(rng, [TEXT[i] for i in rng.integers(0, len(TEXT) - 1, 300)], 0.1)
        left, right = int_case(rng, left_keys, right_keys, pa.string(), pa.string())
        right = pa.concat_tables([right.slice(5, 120), right.slice(130, 1), right.slice(140)])
    elif name == "chunked and sliced":
        left, right = int_case(rng, with_nulls(rng, rng.integers(0, 50, 400).tolist(), 0.1), rng.integers(0, 60, 200).tolist(), pa.int32(), pa.int64())
        left = pa.concat_tables([left.slice(3, 100), left.slice(150, 200)])
        right = right.slice(7)
    else:
        raise AssertionError(f"unknown case {name}")
    return left, right, ["k"], ["k"]


def composite_case(rng: np.random.Generator, name: str) -> tuple[pa.Table, pa.Table, list[str], list[str]]:
    if name == "composite packed":
        first = lambda count: with_nulls(rng, rng.integers(0, 4, count).tolist(), 0.1)  # noqa: E731
        second = lambda count: with_nulls(rng, rng.integers(-3, 3, count).tolist(), 0.1)  # noqa: E731
        left = pa.table({"x": pa.array(first(120), pa.int32()), "y": pa.array(second(120), pa.int64()), "a": np.arange(120)})
        right = pa.table({"x2": pa.array(first(40), pa.int64()), "y2": pa.array(second(40), pa.int8()), "b": np.arange(40)})
        return left, right, ["x", "y"], ["x2", "y2"]
    if name == "composite strings":
        hours = [datetime.datetime(2013, 1, 1, hour) for hour in range(4)]
        origin = lambda count: with_nulls(rng, [["EWR", "JFK", "LGA", "Zürich"][i] for i in rng.integers(0, 4, count)], 0.1)  # noqa: E731
        time_hour = lambda count: with_nulls(rng, [hours[i] for i in rng.integers(0, 4, count)], 0.1)  # noqa: E731
        left = pa.table({"origin": origin(150), "time_hour": pa.array(time_hour(150), pa.timestamp("us")), "a": np.arange(150)})
        right = pa.table({"origin": origin(30), "time_hour": pa.array(time_hour(30), pa.timestamp("us")), "temp": rng.random(30)})
        return left, right, ["origin", "time_hour"], ["origin", "time_hour"]
    wide = [-(2**63), 2**63 - 1, 0, 1, -1]
    left = pa.table({"x": [wide[i] for i in rng.integers(0, 5, 60)], "y": rng.integers(0, 3, 60), "a": np.arange(60)})
    right = pa.table({"x": wide * 2, "y": [0, 1, 2, 0, 1, 2, 0, 1, 2, 0], "b": np.arange(10)})
    return left, right, ["x", "y"], ["x", "y"]


CASES = [
    "dense unique", "sparse", "duplicates", "null keys", "all null keys", "integer widths", "int16 against int64",
    "uint64 against int64", "uint64 on both sides", "strings", "dictionary strings", "empty left", "empty right", "both empty",
    "composite packed", "composite strings", "composite wide", "chunked strings", "chunked and sliced",
]
PYARROW_UNSUPPORTED = {"uint64 against int64"}  # pyarrow's join needs equal key types, and uint64 does not widen to int64

Operator = Callable[[pa.Table, pa.Table, list[str], list[str], str], pa.Table]


def forced(operator: str, build: str | None, pushdown: bool) -> Operator:
    def run(left: pa.Table, right: pa.Table, left_on: list[str], right_on: list[str], how: str) -> pa.Table:
        plan = plan_join(left, right, how=how, left_on=left_on, right_on=right_on)
        plan.choice = JoinChoice(operator, build, pushdown, ["forced by the test"])
        return plan.execute()

    return run


def merged(left: pa.Table, right: pa.Table, left_on: list[str], right_on: list[str], how: str) -> pa.Table:
    left = left.sort_by([(left_on[0], "ascending")])
    right = right.sort_by([(right_on[0], "ascending")])
    plan = plan_join(left, right, how=how, left_on=left_on, right_on=right_on)
    assert plan.choice.operator == "merge join", plan.explain()
    return plan.execute()


def indexed(left: pa.Table, right: pa.Table, left_on: list[str], right_on: list[str], how: str) -> pa.Table:
    return Index.build(right, right_on).join(left, on=left_on, how=how)


OPERATORS: dict[str, Operator] = {
    "planned": lambda left, right, left_on, right_on, how: join(left, right, how=how, left_on=left_on, right_on=right_on),
    "hash, build right": forced("hash join", "right", False),
    "hash, build left": forced("hash join", "left", False),
    "hash, build right, pushdown": forced("hash join", "right", True),
    "hash, build left, pushdown": forced("hash join", "left", True),
    "index": indexed,
}


@pytest.fixture(params=["array", "hash"])
def table_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make integer builds use direct-address arrays whenever they can, or hash tables always."""
    if request.param == "array":
        monkeypatch.setattr(join_operators, "ARRAY_DENSITY_LIMIT", 1 << 20)
        monkeypatch.setattr(join_operators, "ARRAY_SLACK", 1 << 20)
    else:
        monkeypatch.setattr(join_operators, "ARRAY_DENSITY_LIMIT", 0)
        monkeypatch.setattr(join_operators, "ARRAY_SLACK", 0)
    return str(request.param)


def check_against_references(result: pa.Table, left: pa.Table, right: pa.Table, left_on: list[str], right_on: list[str], how: str, case: str) -> None:
    columns = output_names(left, right, right_on)
    assert result.column_names == [output for _, _, output in columns]
    source_types = [(left if side == "l" else right).schema.field(source).type for side, source, _ in columns]
    assert result.schema.types == source_types
    actual = normalized(result)
    assert actual == duckdb_join(left, right, left_on, right_on, how)
    if case not in PYARROW_UNSUPPORTED:
        assert actual == pyarrow_join(left, right, left_on, right_on, how)


@pytest.mark.parametrize("how", ["inner", "left"])
@pytest.mark.parametrize("operator", list(OPERATORS))
@pytest.mark.parametrize("case", CASES)
def test_join_matches_references(case: str, operator: str, how: str, table_mode: str) -> None:
    left, right, left_on, right_on = make_case(case)
    result = OPERATORS[operator](left, right, left_on, right_on, how)
    check_against_references(result, left, right, left_on, right_on, how, case)


MERGE_CASES = [case for case in CASES if not case.startswith("composite") and case not in ("strings", "chunked strings", "dictionary strings", "both empty", "uint64 on both sides")]


@pytest.mark.parametrize("how", ["inner", "left"])
@pytest.mark.parametrize("case", MERGE_CASES)
def test_merge_join_matches_references(case: str, how: str) -> None:
    left, right, left_on, right_on = make_case(case)
    result = merged(left, right, left_on, right_on, how)
    check_against_references(result, left, right, left_on, right_on, how, case)


@pytest.mark.parametrize("how", ["inner", "left"])
@pytest.mark.parametrize("with_stats", [False, True])
def test_sorted_uint64_keys_skip_merge_join(how: str, with_stats: bool) -> None:
    # As int64 bits, 2**63 sorts before 1, so a merge join would miss that match.
    left = pa.table({"k": pa.array([1, 2**63, 2**64 - 1], pa.uint64()), "a": [0, 1, 2]})
    right = pa.table({"k": pa.array([2**63, 2**64 - 1], pa.uint64()), "b": [7, 8]})
    stats = {"left_stats": table_stats(left, keys=["k"]), "right_stats": table_stats(right, keys=["k"])} if with_stats else {}
    plan = plan_join(left, right, on="k", how=how, **stats)
    assert plan.choice.operator == "hash join"
    check_against_references(plan.execute(), left, right, ["k"], ["k"], how, "uint64 on both sides")


def test_merge_join_with_nulls_between_keys() -> None:
    left = pa.table({"k": [None, 1, 1, None, 2, 4, None, 4], "a": range(8)})
    right = pa.table({"k": [1, None, 1, 2, None, None, 4, 5], "b": range(8)})
    plan = plan_join(left, right, on="k", how="left")
    assert plan.choice.operator == "merge join"
    result = plan.execute()
    check_against_references(result, left, right, ["k"], ["k"], "left", "merge")


def test_int_key_against_string_key_names_both() -> None:
    left = pa.table({"tailnum_id": [1, 2]})
    right = pa.table({"tailnum": ["N1", "N2"]})
    with pytest.raises(KeyTypeError, match=r"'tailnum_id' \(int64\) with 'tailnum' \(string\)"):
        join(left, right, left_on="tailnum_id", right_on="tailnum")
    with pytest.raises(TypeError):
        Index.build(right, "tailnum").join(left, on="tailnum_id")


def test_float_key_rejected() -> None:
    table = pa.table({"k": [1.5]})
    with pytest.raises(KeyTypeError, match="'k' is double"):
        join(table, table, on="k")


def test_timestamp_keys_of_other_units_name_the_rule() -> None:
    seconds = pa.table({"k": pa.array([0], pa.timestamp("s"))})
    micros = pa.table({"k": pa.array([0], pa.timestamp("us"))})
    with pytest.raises(KeyTypeError, match="join only with keys of the same type, unit and zone; cast one"):
        join(seconds, micros, on="k")


def test_null_typed_key_column_is_named() -> None:
    nulls = pa.table({"k": pa.nulls(2)})
    with pytest.raises(KeyTypeError, match="'k' has only nulls \\(Arrow type null\\), which match no key"):
        join(nulls, pa.table({"k": [1, 2]}), on="k")


def test_left_merge_join_explain_text() -> None:
    left = pa.table({"k": pa.array([1, 2], pa.int64()), "x": ["p", "q"]})
    right = pa.table({"k": pa.array([2, 3], pa.int64()), "y": [1, 2]})
    plan = plan_join(left, right, on="k", how="left")
    assert plan.execute().to_pylist() == [{"k": 1, "x": "p", "y": None}, {"k": 2, "x": "q", "y": 1}]
    text = plan.explain()
    assert text.startswith("merge join (left)")
    assert "every left row gives one output row" in text
    assert "matched once" not in text


def test_bad_arguments_raise() -> None:
    table = pa.table({"k": [1]})
    with pytest.raises(ValueError, match="invalid how='outer'"):
        join(table, table, on="k", how="outer")
    with pytest.raises(KeyError, match="no column 'missing'"):
        join(table, table, on="missing")
    with pytest.raises(ValueError, match="either on="):
        join(table, table, on="k", left_on="k", right_on="k")
    with pytest.raises(TypeError, match="pyarrow Table"):
        join({"k": [1]}, table, on="k")  # type: ignore[arg-type]


@pytest.mark.parametrize("side", ["left", "right"])
def test_repeated_column_name_rejected(side: str) -> None:
    doubled = pa.Table.from_arrays([pa.array([1, 2]), pa.array([3, 4]), pa.array([5, 6])], names=["k", "x", "x"])
    plain = pa.table({"k": [1, 2]})
    left, right = (doubled, plain) if side == "left" else (plain, doubled)
    with pytest.raises(ValueError, match=f"the {side} table has 2 columns named 'x'; rename or drop all but one"):
        join(left, right, on="k")


def test_decimal_key_names_the_cast() -> None:
    table = pa.table({"k": pa.array([decimal.Decimal("1.5")])})
    with pytest.raises(TypeError, match=r"cast decimals to int or string first"):
        join(table, table, on="k")


def test_suffix_conflict_raises() -> None:
    left = pa.table({"k": [1], "v": [1], "v_right": [2]})
    right = pa.table({"k": [1], "v": [3]})
    with pytest.raises(ValueError, match="pass another suffix="):
        join(left, right, on="k")
    assert join(left, right, on="k", suffix="_r").column_names == ["k", "v", "v_right", "v_r"]


def test_record_batches_accepted() -> None:
    left = pa.record_batch({"k": [1, 2], "a": [3, 4]})
    right = pa.record_batch({"k": [2], "b": [5]})
    assert join(left, right, on="k").to_pylist() == [{"k": 2, "a": 4, "b": 5}]


# --------------------------------------------------------------------------------------
# Malformed arrays
# --------------------------------------------------------------------------------------


class ShortBufferArray:
    """An int64 array of 100 rows whose data buffer has room for 10, which pyarrow's constructors reject."""

    type = pa.int64()
    offset = 0
    null_count = 0

    def __len__(self) -> int:
        return 100

    def buffers(self) -> list[pa.Buffer | None]:
        return [None, pa.py_buffer(bytes(80))]


def test_short_data_buffer_rejected() -> None:
    from featurejit.joins.keys import int64_values

    with pytest.raises(ValueError, match="malformed: its data buffer has 80 bytes but needs 800"):
        int64_values(ShortBufferArray(), "k")  # type: ignore[arg-type]


class BadOffsetsArray:
    """A string array of 2 rows whose offsets point past its 5 data bytes, which pyarrow would reject."""

    offset = 0
    null_count = 0

    def __init__(self, offsets: list[int]):
        self.type = pa.string()
        self.offsets = pa.py_buffer(np.array(offsets, dtype=np.int32).tobytes())

    def __len__(self) -> int:
        return 2

    def buffers(self) -> list[pa.Buffer | None]:
        return [None, self.offsets, pa.py_buffer(b"hello")]


def test_string_offsets_outside_data_rejected() -> None:
    from featurejit.joins.keys import string_key

    with pytest.raises(ValueError, match="offsets are not ascending within its 5 data bytes"):
        string_key(BadOffsetsArray([0, 5, 100]), "k")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="offsets are not ascending"):
        string_key(BadOffsetsArray([0, 4, 2]), "k")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="offsets are not ascending"):
        string_key(BadOffsetsArray([-1, 4, 5]), "k")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Choice and explain
# --------------------------------------------------------------------------------------


def test_explain_names_operator_and_statistics() -> None:
    left = pa.table({"k": np.random.default_rng(0).integers(0, 1000, 5000), "a": np.arange(5000)})
    right = pa.table({"k": np.arange(1000)[::-1].copy(), "b": np.arange(1000)})
    plan = plan_join(left, right, on="k")
    text = plan.explain()
    assert text.startswith("hash join (inner) on left.k = right.k")
    assert "build on the right side, which has fewer estimated bytes" in text
    assert "right statistics: k: 1,000 rows, 0 nulls, min 0, max 999, unsorted" in text
    plan.execute()
    text = plan.explain()
    assert "after the build: direct-address array of 1,000 entries, unique keys" in text
    assert "min 0, max 999 (density 1.00)" in text
    assert "output: 5,000 rows" in text


def test_sparse_keys_build_hash_table() -> None:
    keys = np.arange(1000) * 1_000_003
    plan = plan_join(pa.table({"k": keys[::-1].copy()}), pa.table({"k": keys[::-1].copy(), "b": keys}), on="k")
    plan.execute()
    assert "open-addressing hash table of 2,048 slots, unique keys" in plan.explain()


def test_sorted_inputs_choose_merge_join() -> None:
    left = pa.table({"k": [1, 2, 2, 5]})
    right = pa.table({"k": [2, 3, 5], "b": [1, 2, 3]})
    plan = plan_join(left, right, on="k")
    assert plan.choice.operator == "merge join"
    assert "both sides are sorted on the key (k, k)" in plan.explain()


def test_pushdown_of_in_list_after_small_build() -> None:
    left = pa.table({"k": np.arange(100_000)})
    right = pa.table({"k": np.array([7, 70_000, 9, 3]), "b": [1, 2, 3, 4]})
    plan = plan_join(left, right, on="k")
    result = plan.execute()
    assert sorted(result.column("k").to_pylist()) == [3, 7, 9, 70_000]
    assert "pushdown: min/max [3, 70,000] and an in-list of 4 keys kept 4 of 100,000 probe rows" in plan.explain()


def test_pushdown_of_bloom_filter_chosen_from_statistics() -> None:
    rng = np.random.default_rng(3)
    left = pa.table({"k": rng.integers(0, 1_000_000, 50_000), "a": np.arange(50_000)})
    right = pa.table({"k": rng.permutation(1_000_000)[:2000], "b": np.arange(2000)})
    plan = plan_join(left, right, on="k", left_stats=table_stats(left, keys=["k"]), right_stats=table_stats(right, keys=["k"]))
    assert plan.choice.pushdown
    assert "filter the probe side: an estimated 4% of its rows match" in plan.explain()
    result = plan.execute()
    assert "and a Bloom filter of 2,000 keys in 4,096 bytes kept" in plan.explain()
    assert normalized(result) == pyarrow_join(left, right, ["k"], ["k"], "inner")


def test_left_join_builds_on_smaller_left_side() -> None:
    left = pa.table({"k": [1, 2, None, 9]})
    right = pa.table({"k": np.arange(5000) % 3, "b": np.arange(5000)})
    plan = plan_join(left, right, on="k", how="left")
    assert plan.choice.build == "left"
    result = plan.execute()
    check_against_references(result, left, right, ["k"], ["k"], "left", "build left")
    assert "2 left rows without a match added after the probe" in plan.explain()


@pytest.mark.parametrize("right_type", [pa.string(), pa.large_string()])
def test_left_key_read_from_probe(right_type: pa.DataType) -> None:
    rng = np.random.default_rng(11)
    left = pa.table({"k": pa.array([TEXT[i] for i in rng.integers(0, len(TEXT), 30)], pa.string())})
    right_keys = with_nulls(rng, [TEXT[i] for i in rng.integers(0, len(TEXT), 3000)], 0.1)
    right = pa.table({"k": pa.array(right_keys, right_type), "b": np.arange(3000)})
    plan = plan_join(left, right, on="k")
    assert plan.choice.build == "left"
    result = plan.execute()
    read_from_probe = "output key column(s) k read from the right side in its row order" in plan.explain()
    assert read_from_probe == (right_type == pa.string())
    assert result.schema.types == [pa.string(), pa.int64()]
    assert normalized(result) == duckdb_join(left, right, ["k"], ["k"], "inner")


@pytest.mark.parametrize("how", ["inner", "left"])
def test_array_on_larger_dense_side_instead_of_hash(how: str) -> None:
    rng = np.random.default_rng(8)
    probe = pa.table({"k": rng.choice(400_000, 5000, replace=False), "a": np.arange(5000)})
    features = pa.table({"k": np.arange(200_000), "b": rng.random(200_000)})  # in order: the array fills front to back
    stats = {"left_stats": table_stats(probe, keys=["k"]), "right_stats": table_stats(features, keys=["k"])}
    plan = plan_join(probe, features, on="k", how=how, **stats)
    assert plan.choice.build == "right"
    assert "its 200,000 keys over 200,000 values fit a direct-address array" in plan.explain()
    result = plan.execute()
    assert "direct-address array" in plan.explain()
    assert normalized(result) == pyarrow_join(probe, features, ["k"], ["k"], how)


def test_hash_when_dense_side_is_unordered() -> None:
    rng = np.random.default_rng(8)
    probe = pa.table({"k": rng.choice(400_000, 5000, replace=False), "a": np.arange(5000)})
    features = pa.table({"k": rng.permutation(200_000), "b": np.arange(200_000)})
    plan = plan_join(probe, features, on="k", how="left", left_stats=table_stats(probe, keys=["k"]))
    assert plan.choice.build == "left"
    result = plan.execute()
    assert "pushdown: min/max" in plan.explain(), "right rows without a match are dropped, so a filter may drop them first"
    check_against_references(result, probe, features, ["k"], ["k"], "left", "build left with pushdown")


def test_hash_on_smaller_side_when_larger_is_sparse() -> None:
    rng = np.random.default_rng(8)
    probe = pa.table({"k": rng.choice(400_000, 5000, replace=False)})
    features = pa.table({"k": rng.choice(10**12, 200_000, replace=False), "b": np.arange(200_000)})
    plan = plan_join(probe, features, on="k", how="left", left_stats=table_stats(probe, keys=["k"]))
    assert plan.choice.build == "left"


def test_probe_morsels_on_two_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(join_operators, "PROBE_MORSEL_ROWS", 64)
    monkeypatch.setattr(settings, "threads", 2)
    rng = np.random.default_rng(5)
    left = pa.table({"k": with_nulls(rng, rng.integers(0, 300, 5000).tolist(), 0.1), "a": np.arange(5000)})
    right = pa.table({"k": rng.integers(0, 200, 700), "b": np.arange(700)})
    for how in ("inner", "left"):
        plan = plan_join(left, right, on="k", how=how)
        plan.choice = JoinChoice("hash join", "right", False)
        result = plan.execute()
        assert normalized(result) == pyarrow_join(left, right, ["k"], ["k"], how)


def test_validity_of_short_side_outlives_longer_side() -> None:
    # Keys without nulls read an all-ones bitmap; the short side's must stay valid while a
    # longer side is encoded after it.
    rng = np.random.default_rng(9)
    left = pa.table({"k": [f"key-{i}" for i in rng.integers(0, 300_000, 2000)], "a": np.arange(2000)})
    right = pa.table({"k": [f"key-{i}" for i in range(200_000)], "b": np.arange(200_000)})
    for how in ("inner", "left"):
        assert normalized(join(left, right, on="k", how=how)) == pyarrow_join(left, right, ["k"], ["k"], how)


def test_pushdown_chosen_after_build_from_probe_sketch() -> None:
    rng = np.random.default_rng(12)
    left = pa.table({"k": [f"k{i}" for i in rng.permutation(60_000)], "a": np.arange(60_000)})
    right = pa.table({"k": [f"k{i}" for i in rng.integers(0, 120_000, 3000)], "b": np.arange(3000)})
    plan = plan_join(left, right, on="k")
    assert not plan.choice.pushdown
    result = plan.execute()
    text = plan.explain()
    assert "after the build: filter the probe:" in text
    assert "pushdown: a Bloom filter of" in text
    assert normalized(result) == pyarrow_join(left, right, ["k"], ["k"], "inner")
    left_plan = plan_join(left, right, on="k", how="left")
    left_plan.execute()
    assert "pushdown" not in left_plan.explain()


# --------------------------------------------------------------------------------------
# Morsels and the pushdown's sample
# --------------------------------------------------------------------------------------


MORSEL_OPERATORS = [name for name in OPERATORS if name != "planned"]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("how", ["inner", "left"])
@pytest.mark.parametrize("operator", MORSEL_OPERATORS)
@pytest.mark.parametrize("case", CASES)
def test_join_in_small_morsels_matches_references(case: str, operator: str, how: str, threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Morsels of 16 rows split every case into several output chunks, some of them empty.
    monkeypatch.setattr(join_operators, "GATHER_MORSEL_ROWS", 16)
    monkeypatch.setattr(join_operators, "PROBE_MORSEL_ROWS", 16)
    monkeypatch.setattr(settings, "threads", threads)
    left, right, left_on, right_on = make_case(case)
    result = OPERATORS[operator](left, right, left_on, right_on, how)
    check_against_references(result, left, right, left_on, right_on, how, case)


def test_output_has_one_chunk_per_morsel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(join_operators, "GATHER_MORSEL_ROWS", 100)
    monkeypatch.setattr(settings, "threads", 1)
    left = pa.table({"k": np.arange(1000) % 300, "a": np.arange(1000)})
    right = pa.table({"k": np.arange(300)[::-1].copy(), "b": np.arange(300)})
    result = join(left, right, on="k", how="left")
    assert result.column("k").num_chunks == 10
    assert result.column("a").to_pylist() == list(range(1000)), "a left join of unique keys keeps the left order"
    assert result.column("b").to_pylist() == [299 - key for key in np.arange(1000) % 300]


def test_repeated_hot_key_outgrows_morsel_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    # One build key has 500 rows among 2,000 unique ones, so the pairs per probe row estimated
    # from the averages fall short in the morsels that probe it, which run again into larger buffers.
    monkeypatch.setattr(join_operators, "GATHER_MORSEL_ROWS", 64)
    monkeypatch.setattr(settings, "threads", 1)
    right = pa.table({"k": np.concatenate([np.full(500, 7), np.arange(100, 2100)]), "b": np.arange(2500)})
    left = pa.table({"k": np.where(np.arange(3000) % 50 == 0, 7, np.arange(3000)), "a": np.arange(3000)})
    for how in ("inner", "left"):
        plan = plan_join(left, right, on="k", how=how)
        plan.choice = JoinChoice("hash join", "right", False, ["forced by the test"])
        check_against_references(plan.execute(), left, right, ["k"], ["k"], how, "hot key")


def sparse_probe(rng: np.random.Generator, build_keys: np.ndarray, rows: int, matching: float, absent_low: int) -> np.ndarray:
    """Return `rows` probe keys: a `matching` share drawn from `build_keys`, the others from [absent_low, 3 * absent_low)."""
    picked = rng.choice(build_keys, rows)
    absent = rng.integers(absent_low, 3 * absent_low, rows)
    return np.where(rng.random(rows) < matching, picked, absent)


def test_pushdown_skipped_when_sample_mostly_passes() -> None:
    # The probe's key range is three times the build's, so the planner estimates that a third
    # of the probe rows match, but 90% do: the sample of the filter shows it would not pay.
    rng = np.random.default_rng(21)
    build_keys = rng.choice(2**40, 20_000, replace=False)
    left = pa.table({"k": sparse_probe(rng, build_keys, 200_000, 0.9, 2**40), "a": np.arange(200_000)})
    right = pa.table({"k": build_keys, "b": np.arange(20_000)})
    plan = plan_join(left, right, on="k")
    assert plan.choice.pushdown
    result = plan.execute()
    text = plan.explain()
    assert "no pushdown after all: min/max [" in text
    assert "of a sample of 16,384 probe rows, and filtering pays only below 50%" in text
    assert "pushdown: min/max" not in text
    assert normalized(result) == pyarrow_join(left, right, ["k"], ["k"], "inner")


def test_pushdown_kept_when_sample_mostly_fails() -> None:
    rng = np.random.default_rng(22)
    build_keys = rng.choice(2**40, 20_000, replace=False)
    left = pa.table({"k": sparse_probe(rng, build_keys, 200_000, 0.1, 2**40), "a": np.arange(200_000)})
    right = pa.table({"k": build_keys, "b": np.arange(20_000)})
    plan = plan_join(left, right, on="k")
    result = plan.execute()
    text = plan.explain()
    assert "no pushdown after all" not in text
    assert "and a Bloom filter of 20,000 keys in 65,536 bytes kept" in text
    assert "of 200,000 probe rows" in text
    assert normalized(result) == pyarrow_join(left, right, ["k"], ["k"], "inner")


def test_pushdown_sample_with_null_keys_on_two_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "threads", 2)
    rng = np.random.default_rng(23)
    build_keys = rng.choice(2**40, 5_000, replace=False)
    probe_keys = pa.array(sparse_probe(rng, build_keys, 150_000, 0.2, 2**40), mask=rng.random(150_000) < 0.3)
    left = pa.table({"k": probe_keys, "a": np.arange(150_000)})
    right = pa.table({"k": pa.array(build_keys, mask=rng.random(5_000) < 0.1), "b": np.arange(5_000)})
    for how in ("inner", "left"):
        for build in ("left", "right"):
            plan = plan_join(left, right, on="k", how=how)
            plan.choice = JoinChoice("hash join", build, True, ["forced by the test"])
            check_against_references(plan.execute(), left, right, ["k"], ["k"], how, "sampled pushdown")


def payload_table(rng: np.random.Generator, rows: int) -> pa.Table:
    """Return `rows` rows of unique keys in random order and nullable columns of many types."""
    mask = rng.random(rows) < 0.2
    values = rng.integers(-1000, 1000, rows)
    return pa.table({
        "k": rng.permutation(rows),
        "i8": pa.array(values.astype(np.int8), mask=mask),
        "u64": pa.array(np.abs(values).astype(np.uint64)),
        "f32": pa.array(values.astype(np.float32) / 7, mask=mask),
        "flag": pa.array(values > 0, mask=mask),
        "day": pa.array(values.astype(np.int32), mask=mask).cast(pa.date32()),
        "at": pa.array(values, mask=mask).cast(pa.timestamp("ms", tz="UTC")),
        "price": pa.array([None if gap else f"{value}.25" for value, gap in zip(values, mask, strict=True)]).cast(pa.decimal128(9, 2)),
        "code": pa.array([None if gap else bytes([value % 256, 7]) for value, gap in zip(values, mask, strict=True)], pa.binary(2)),
        "name": pa.array([None if gap else f"n{value}" for value, gap in zip(values, mask, strict=True)]),
        "group": pa.array([f"g{value % 5}" for value in values]).dictionary_encode(),
        "tags": pa.array([None if gap else [int(value)] for value, gap in zip(values, mask, strict=True)]),
        "nothing": pa.nulls(rows),
    })


@pytest.mark.parametrize("chunked", [False, True])
def test_left_join_nulls_in_every_payload_type(chunked: bool) -> None:
    # 20,000 left rows, about a third without a match, take the right rows of the matched ones.
    # Fixed-width columns get the other rows' nulls from a bitmap, other columns from null indices.
    rng = np.random.default_rng(31)
    right = payload_table(rng, 15_000)
    if chunked:
        right = pa.concat_tables([right.slice(0, 4000), right.slice(4000, 6000), right.slice(10_000)])
    left = pa.table({"k": pa.array(rng.integers(0, 22_000, 20_000), mask=rng.random(20_000) < 0.05), "a": np.arange(20_000)})
    for build in ("left", "right"):
        plan = plan_join(left, right, on="k", how="left")
        plan.choice = JoinChoice("hash join", build, False, ["forced by the test"])
        result = plan.execute()
        assert result.schema.field("price").type == pa.decimal128(9, 2)
        assert result.schema.field("group").type == right.schema.field("group").type
        # pyarrow's join takes no list columns, so DuckDB alone is the reference here.
        assert normalized(result) == duckdb_join(left, right, ["k"], ["k"], "left")


def test_take_rows_with_nulls_matches_masked_take() -> None:
    from featurejit.joins.plan import take_rows_with_nulls

    rng = np.random.default_rng(32)
    table = payload_table(rng, 5000)
    rows = rng.integers(-1, 5000, 9000)
    rows[:10] = -1
    missing = rows < 0
    expected = table.take(pa.array(rows, mask=missing))
    actual = take_rows_with_nulls(table, rows, missing)
    assert actual.schema == expected.schema
    for name in table.column_names:
        assert actual.column(name).equals(expected.column(name)), name


@pytest.mark.parametrize(
    ("left_keys", "right_keys", "how", "kept"),
    [
        ([1, 1, 2, 5, 9], [1, 2, 5, 9], "inner", True),  # a sorted foreign key into unique keys
        ([1, 1, 2, 5, 9], [1, 2, 5, 9, 11], "left", True),
        ([1, 3, 5, 9], [1, 2, 5, 9], "left", True),  # 3 has no partner and gets nulls
        ([1, 3, 5, 9], [1, 2, 5, 9], "inner", False),  # 3 drops out
        ([1, 2, 5, 9], [1, 2, 2, 5, 9], "inner", False),  # 2 matches twice
        ([None, 1, 2], [1, 2], "left", True),
        ([None, 1, 2], [1, 2], "inner", False),
        ([], [1, 2], "inner", True),
    ],
)
def test_merge_join_keeps_matched_left_columns(
    left_keys: list[int | None], right_keys: list[int], how: str, kept: bool
) -> None:
    left = pa.table({"k": pa.array(left_keys, pa.int64()), "v": pa.array(range(len(left_keys)), pa.int64())})
    right = pa.table({"k": pa.array(right_keys, pa.int64()), "w": pa.array([f"w{key}" for key in right_keys])})
    plan = plan_join(left, right, on="k", how=how)
    assert plan.choice.operator == "merge join"
    result = plan.execute()
    assert ("kept without a copy" in plan.explain()) is kept
    assert normalized(result) == pyarrow_join(left, right, ["k"], ["k"], how)


def test_string_view_columns_join_as_strings() -> None:
    # Newer Polars writes string_view; Arrow's take has no kernel for it, so joins cast it to string.
    left = pa.table({"k": pa.array(["x", "y", None], pa.string_view()), "s": pa.array(["a", "b", "c"], pa.string_view())})
    right = pa.table({"k": ["y", "z"], "v": [5, 6]})
    joined = join(left, right, on="k", how="left")
    assert joined.to_pylist() == [{"k": "x", "s": "a", "v": None}, {"k": "y", "s": "b", "v": 5}, {"k": None, "s": "c", "v": None}]
    assert joined.schema.field("s").type == pa.string()
    assert join(right, left, on="k").to_pylist() == [{"k": "y", "v": 5, "s": "b"}]
    index = Index.build(left, "k")
    assert index.rows(["y", "q"]).tolist() == [1, -1]
    assert index.lookup(["x"]).to_pylist() == [{"k": "x", "s": "a"}]
