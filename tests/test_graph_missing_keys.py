"""Keys the entity's source does not contain: null only for the features that need its row.

A query for such a key works as a left join of the request with the source. Source columns
are null, and so are the features of resolvers that read them, directly or through other
resolvers. Features computed from the key alone, such as aggregations over children found by
the key, keep their values. So a feature's result does not depend on the other outputs of
the query, online or offline.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

import featurejit as fj


@fj.features
class Member:
    id: int
    name: str | None
    visits: list[Visit] = fj.has_many(lambda: Visit.member_id == Member.id)
    visit_count: int
    spent: float
    greeting: str | None
    name_length: int | None


@fj.features
class Visit:
    id: int
    member_id: int | None
    spend: float | None


@fj.jit_resolver
def visit_count(count: Member.visits.count()) -> Member.visit_count:
    return count


@fj.jit_resolver
def spent(total: Member.visits[Visit.spend].sum()) -> Member.spent:
    return total


@fj.jit_resolver
def greeting(name: Member.name) -> Member.greeting:
    return None if name is None else f"hi {name}"


@fj.jit_resolver
def name_length(greeting: Member.greeting) -> Member.name_length:
    return None if greeting is None else len(greeting) - 3


MEMBERS = pa.table({"id": [10, 11], "name": ["Åsa", None]})
# Member 12 has visits but no row in the member source.
VISITS = pa.table({"id": [1, 2, 3, 4], "member_id": [10, 12, 12, None], "spend": [5.0, 2.5, None, 9.0]})
KEYS = [12, 10, None, 11]
EXPECTED = {
    "visit_count": [2, 1, 0, 0],
    "spent": [2.5, 5.0, 0.0, 0.0],
    "name": [None, "Åsa", None, None],
    "greeting": [None, "hi Åsa", None, None],
    "name_length": [None, 3, None, None],
}
OUTPUT_SETS = [
    ["visit_count", "spent"],
    ["visit_count", "spent", "name"],
    ["name_length", "visit_count"],
    ["greeting", "spent", "name_length", "name"],
]


@pytest.fixture(scope="module")
def graph() -> Any:
    return fj.Graph([visit_count, spent, greeting, name_length], sources={Member: MEMBERS, Visit: VISITS})


@pytest.mark.parametrize("names", OUTPUT_SETS, ids=["+".join(names) for names in OUTPUT_SETS])
def test_online_values_ignore_other_outputs(graph: Any, names: list[str]) -> None:
    outputs = [getattr(Member, name) for name in names]
    result = graph.query(outputs, {Member.id: KEYS})
    for name in names:
        assert result[name] == EXPECTED[name], name


@pytest.mark.parametrize("names", OUTPUT_SETS, ids=["+".join(names) for names in OUTPUT_SETS])
def test_offline_values_ignore_other_outputs(graph: Any, names: list[str]) -> None:
    outputs = [getattr(Member, name) for name in names]
    result = graph.query_table(outputs, pa.table({"id": pa.array(KEYS, pa.int64())}))
    for name in names:
        assert result.column(name).to_pylist() == EXPECTED[name], name


def test_one_missing_key_online(graph: Any) -> None:
    result = graph.query([Member.visit_count, Member.greeting], {Member.id: 12})
    assert result.to_pylist() == [{"visit_count": 2, "greeting": None}]


def test_every_key_missing(graph: Any) -> None:
    online = graph.query([Member.spent, Member.name_length], {Member.id: [12, 99]})
    assert online.to_pylist() == [{"spent": 2.5, "name_length": None}, {"spent": 0.0, "name_length": None}]
    offline = graph.query_table([Member.spent, Member.name_length], pa.table({"id": [12, 99]}))
    assert offline.to_pylist() == online.to_pylist()


def test_kernels_split_by_source_use(graph: Any) -> None:
    text = graph.explain([Member.name_length, Member.visit_count], {Member.id: KEYS}, show=False)
    assert "fused kernel [visit_count]" in text
    assert "fused kernel [greeting, name_length]" in text
    scan = graph.explain([Member.name_length, Member.visit_count], show=False)
    assert "fused kernel [greeting, name_length, visit_count]" in scan
