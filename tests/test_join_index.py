"""Persistent lookup indexes: single keys, lists of keys and tables of keys, against Python dicts and DuckDB."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from featurejit.joins import Index
from featurejit.joins import operators as join_operators
from tests.join_reference import duckdb_join, normalized


def first_rows(keys: list[Any]) -> dict[Any, int]:
    """Return the first row of each non-null key, as the index's rows() promises."""
    rows: dict[Any, int] = {}
    for row, key in enumerate(keys):
        if key is not None:
            rows.setdefault(key, row)
    return rows


@pytest.mark.parametrize("mode", ["array", "hash"])
def test_rows_and_get_of_integer_keys(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if mode == "hash":
        monkeypatch.setattr(join_operators, "ARRAY_DENSITY_LIMIT", 0)
        monkeypatch.setattr(join_operators, "ARRAY_SLACK", 0)
    rng = np.random.default_rng(1)
    keys = [None if rng.random() < 0.1 else int(value) for value in rng.integers(-50, 50, 300)]
    index = Index.build(pa.table({"id": pa.array(keys, pa.int32()), "v": np.arange(300)}), "id")
    assert index.table_structure.mode == mode
    assert not index.unique
    expected = first_rows(keys)
    probes = list(range(-60, 60)) + [2**63 - 1, -(2**63)]
    assert index.rows(probes).tolist() == [expected.get(key, -1) for key in probes]
    assert [index.get(key) for key in probes] == [expected.get(key, -1) for key in probes]
    assert index.get(2**70) == -1
    assert index.rows([None, 3]).tolist() == [-1, expected.get(3, -1)]


def test_rows_and_get_of_string_keys() -> None:
    keys = ["N10156", "é", "日本", "", None, "N10156", "Straße"]
    index = Index.build(pa.table({"tailnum": pa.array(keys, pa.large_string()), "year": range(7)}), "tailnum")
    expected = first_rows(keys)
    probes = ["N10156", "é", "日本", "", "missing", "Strasse", "Straße"]
    assert index.rows(probes).tolist() == [expected.get(key, -1) for key in probes]
    assert [index.get(key) for key in probes] == [expected.get(key, -1) for key in probes]
    assert index.get(b"\xc3\xa9") == 1


def test_get_rejects_wrong_key_type() -> None:
    integer_index = Index.build(pa.table({"id": [1, 2]}), "id")
    with pytest.raises(TypeError, match="has integer keys, but got str"):
        integer_index.get("1")
    string_index = Index.build(pa.table({"name": ["a"]}), "name")
    with pytest.raises(TypeError, match="has string keys, but got int"):
        string_index.get(1)
    with pytest.raises(TypeError, match="'id' has integer keys \\(int64\\), but got the key 'x' \\(str\\); pass ints"):
        integer_index.rows(["x"])


@pytest.mark.parametrize("keys", [[1.5], [2.0, 1], [1, None, 2.9], np.array([1.0, 2.0])], ids=["float", "whole float", "float after int", "float array"])
def test_float_keys_of_integer_index_rejected(keys: Any) -> None:
    index = Index.build(pa.table({"k": pa.array([1, 2, 3], pa.int32()), "v": ["a", "b", "c"]}), "k")
    with pytest.raises(TypeError, match=r"the key column 'k' has integer keys \(int32\), but got .*float.*; pass ints"):
        index.lookup(keys)
    with pytest.raises(TypeError, match="pass ints"):
        index.rows(keys)


def test_bool_keys_act_as_ints() -> None:
    index = Index.build(pa.table({"k": [0, 1, 5], "v": ["a", "b", "c"]}), "k")
    assert index.get(True) == 1
    assert index.rows([True, False, 5]).tolist() == [1, 0, 2]
    assert index.lookup([True, None]).column("v").to_pylist() == ["b", None]


def test_lookup_of_unknown_column_names_it() -> None:
    index = Index.build(pa.table({"k": [1], "v": [2]}), "k")
    with pytest.raises(KeyError, match="the indexed table has no column 'nope'; its columns are k, v"):
        index.lookup([1], columns=["nope"])


@pytest.mark.parametrize("keys", [[1], [1, 9], [None, 2], [9]])
def test_lookup_key_column_keeps_index_type(keys: list[Any]) -> None:
    index = Index.build(pa.table({"k": pa.array([1, 2, 3], pa.int32()), "v": ["a", "b", "c"]}), "k")
    result = index.lookup(keys)
    assert result.schema.field("k").type == pa.int32()
    assert result.column("k").to_pylist() == keys


def test_lookup_key_beyond_type_stays_int64() -> None:
    index = Index.build(pa.table({"k": pa.array([1, 2], pa.int32()), "v": ["a", "b"]}), "k")
    result = index.lookup([2, 2**40])
    assert result.schema.field("k").type == pa.int64()
    assert result.to_pylist() == [{"k": 2, "v": "b"}, {"k": 2**40, "v": None}]


def test_composite_key_of_wrong_length_is_rejected() -> None:
    index = Index.build(pa.table({"a": [1, 2], "b": ["x", "y"]}), ["a", "b"])
    assert index.rows([(2, "y"), [1, "x"]]).tolist() == [1, 0]
    for key in [(1,), (1, "x", 3), 1]:
        with pytest.raises(TypeError, match="the index's key has 2 columns \\(a, b\\), but got the key"):
            index.rows([key])
    with pytest.raises(TypeError, match="give each key as a tuple of 2 values"):
        index.lookup([(1,)])


def test_uint64_keys_above_int64() -> None:
    keys = [2**64 - 1, 2**63, 5, 0]
    index = Index.build(pa.table({"id": pa.array(keys, pa.uint64())}), "id")
    assert [index.get(key) for key in [2**64 - 1, 2**63, 5, 0, -1, 2**64]] == [0, 1, 2, 3, -1, -1]
    signed = pa.table({"id": pa.array([-1, 5, -(2**63)], pa.int64())})
    assert index.rows(signed).tolist() == [-1, 2, -1]


def test_int_keys_beyond_uint64_find_no_row() -> None:
    index = Index.build(pa.table({"id": pa.array([5, 7], pa.int64()), "v": ["a", "b"]}), "id")
    assert index.get(2**64) == -1
    assert index.rows([5, 2**64, -(2**63) - 1, 7]).tolist() == [0, -1, -1, 1]
    assert index.lookup([5, 2**64]).column("v").to_pylist() == ["a", None]


def test_aware_key_for_naive_timestamps_is_rejected() -> None:
    import datetime

    day = datetime.datetime(2024, 1, 1)
    naive = Index.build(pa.table({"day": pa.array([day], pa.timestamp("us"))}), "day")
    assert naive.rows([day]).tolist() == [0]
    with pytest.raises(TypeError, match=r"contains naive timestamps \(timestamp\[us\]\), but the lookup key .* is an aware"):
        naive.rows([day.replace(tzinfo=datetime.UTC)])
    aware = Index.build(pa.table({"day": pa.array([day], pa.timestamp("us", tz="UTC"))}), "day")
    assert aware.rows([day.replace(tzinfo=datetime.UTC)]).tolist() == [0]
    with pytest.raises(TypeError, match="contains aware timestamps .* is a naive datetime"):
        aware.rows([day])


def test_lookup_is_a_left_join_of_the_keys() -> None:
    table = pa.table({"id": [10, 20, 20, 30, None], "x": [1.0, 2.0, 3.0, 4.0, 5.0], "name": list("abcde")})
    index = Index.build(table, "id")
    result = index.lookup([20, 99, 10])
    assert result.column_names == ["id", "x", "name"]
    assert result.to_pylist() == [
        {"id": 20, "x": 2.0, "name": "b"},
        {"id": 20, "x": 3.0, "name": "c"},
        {"id": 99, "x": None, "name": None},
        {"id": 10, "x": 1.0, "name": "a"},
    ]
    assert index.lookup([30], columns=["name"]).to_pylist() == [{"id": 30, "name": "d"}]


def test_unique_lookup_keeps_key_order() -> None:
    table = pa.table({"id": np.arange(1000)[::-1].copy(), "v": np.arange(1000)})
    index = Index.build(table, "id")
    assert index.unique
    result = index.lookup(np.array([5, 999, 5, -3]))
    assert result.column("v").to_pylist() == [994, 0, 994, None]


def test_composite_index() -> None:
    table = pa.table({"origin": ["EWR", "JFK", "EWR", None], "hour": [1, 1, 2, 1], "temp": [3.0, 4.0, 5.0, 6.0]})
    index = Index.build(table, ["origin", "hour"])
    assert index.rows([("EWR", 2), ("JFK", 1), ("LGA", 1), (None, 1)]).tolist() == [2, 1, -1, -1]
    packed = Index.build(pa.table({"a": [1, 2, 3], "b": [7, 8, 9]}), ["a", "b"])
    assert packed.spec.encoding == "packed"
    assert packed.rows([(2, 8), (3, 9), (1, 9), (100, 7), (-5, 8)]).tolist() == [1, 2, -1, -1, -1]
    assert packed.get((3, 9)) == 2


def test_index_join_matches_duckdb() -> None:
    rng = np.random.default_rng(8)
    planes = pa.table({"tailnum": [f"N{i}" for i in range(300)], "year": rng.integers(1960, 2013, 300)})
    flights = pa.table({"tailnum": [f"N{i}" if i % 7 else None for i in rng.integers(0, 400, 2000)], "dep": np.arange(2000)})
    index = Index.build(planes, "tailnum")
    for how in ("inner", "left"):
        plan = index.plan_join(flights, how=how)
        result = plan.execute()
        assert normalized(result) == duckdb_join(flights, planes, ["tailnum"], ["tailnum"], how)
        assert plan.explain().startswith(f"index join ({how})")


def test_index_over_chunked_table() -> None:
    table = pa.concat_tables([pa.table({"id": [1, 2]}), pa.table({"id": [3, None]})])
    index = Index.build(table, "id")
    assert index.rows([3, 1]).tolist() == [2, 0]


def test_index_needs_known_columns() -> None:
    with pytest.raises(KeyError, match="no column 'missing'"):
        Index.build(pa.table({"id": [1]}), "missing")
    index = Index.build(pa.table({"id": [1]}), "id")
    with pytest.raises(KeyError, match="the keys have no column 'id'"):
        index.lookup(pa.table({"other": [1]}))


def test_lookup_of_python_keys_equals_arrow_keys() -> None:
    rng = np.random.default_rng(11)
    table = pa.table({"id": rng.permutation(5000), "x": rng.random(5000), "s": [f"s{i}" for i in range(5000)]})
    index = Index.build(table, "id")
    for keys in ([17], [4999, 0, 17], list(range(0, 5000, 50)), [3, 6000], [2**64 - 1], [None, 3]):
        arrow_keys = pa.array(keys, pa.uint64() if keys == [2**64 - 1] else pa.int64())
        assert index.lookup(keys).to_pylist() == index.lookup(arrow_keys).to_pylist()
        assert index.rows(keys).tolist() == index.rows(arrow_keys).tolist()
    assert index.lookup([42]).column_names == ["id", "x", "s"]
    strings = Index.build(table, "s")
    for string_keys in (["s5"], ["s9", "s1", "nope", "s9"]):
        assert strings.lookup(string_keys).to_pylist() == strings.lookup(pa.array(string_keys)).to_pylist()


def test_lookup_of_many_python_keys() -> None:
    table = pa.table({"id": np.arange(100_000)[::-1].copy(), "v": np.arange(100_000)})
    index = Index.build(table, "id")
    keys = list(range(99_999, -1, -1))
    assert index.rows(keys).tolist() == list(range(100_000))
