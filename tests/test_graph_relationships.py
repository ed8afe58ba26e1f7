"""Relationships in feature graphs: results equal pyarrow joins, DuckDB aggregations and the plain functions.

Has-one features are checked against `pyarrow.Table.join` (a left outer join, whose null keys
never match) followed by the plain Python resolvers row by row. Has-many aggregations are
checked against DuckDB's LEFT JOIN ... GROUP BY and against plain Python over the child rows.
"""

from __future__ import annotations

import html
import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import featurejit as fj
from tests.graph_relationship_models import (
    BIG_AMOUNT,
    COMPUTED,
    RESOLVERS,
    TREATS,
    Customer,
    Order,
    Store,
    Txn,
    amount_range,
    big_spend,
    busy,
    child_aggregates,
    discount,
    same_tier,
    sources,
    treat_price,
)

DIRECT = [Order.customer.tier, Order.referrer.age, Order.store.footfall, Order.txns.count()]
OUTPUTS = [*(getattr(Order, name) for name in COMPUTED), *DIRECT]
NAMES = [feature.name for feature in OUTPUTS]


@pytest.fixture(scope="module")
def tables() -> dict[Any, pa.Table]:
    return sources()


@pytest.fixture(scope="module")
def graph(tables: dict[Any, pa.Table]) -> Any:
    return fj.Graph(RESOLVERS, sources=tables)


def left_join(left: pa.Table, right: pa.Table, left_keys: list[str], right_keys: list[str], prefix: str) -> pa.Table:
    """Left-join with pyarrow, the right columns prefixed, in the left table's order."""
    renamed = right.rename_columns([f"{prefix}{name}" for name in right.column_names])
    joined = left.join(renamed, left_keys, [f"{prefix}{name}" for name in right_keys], join_type="left outer")
    return joined.sort_by("id")


def duckdb_aggregates(tables: dict[Any, pa.Table]) -> dict[int, dict[str, Any]]:
    duckdb = pytest.importorskip("duckdb")
    connection = duckdb.connect()
    connection.register("orders", tables[Order])
    connection.register("txns", tables[Txn])
    treats = ", ".join(f"'{name}'" for name in TREATS)
    rows = connection.execute(
        f"""
        SELECT o.id, count(t.id), coalesce(sum(t.amount) FILTER (WHERE t.amount > {BIG_AMOUNT}), 0),
               avg(t.price) FILTER (WHERE t.category IN ({treats})), min(t.amount), max(t.amount)
        FROM orders o LEFT JOIN txns t ON t.user_id = o.user_id
        GROUP BY o.id ORDER BY o.id
        """
    ).fetchall()
    names = ["txns.count()", "big_total", "treat_mean", "amount_min", "amount_max"]
    return {row[0]: dict(zip(names, row[1:], strict=True)) for row in rows}


@pytest.fixture(scope="module")
def expected(tables: dict[Any, pa.Table]) -> list[dict[str, Any]]:
    """Every output of every order, from pyarrow joins, DuckDB aggregations and the plain Python functions."""
    joined = left_join(tables[Order], tables[Customer], ["customer_code"], ["code"], "c_")
    joined = left_join(joined, tables[Customer], ["referrer_code"], ["code"], "r_")
    joined = left_join(joined, tables[Store], ["city", "day"], ["city", "day"], "s_")
    aggregates = duckdb_aggregates(tables)
    by_user = child_aggregates(tables[Txn].to_pylist())
    rows = []
    for row in joined.to_pylist():
        children = aggregates[row["id"]]
        python = by_user[row["user_id"]]
        assert children == {name: python[name] for name in children}, f"DuckDB and Python differ for order {row['id']}"
        rows.append(
            {
                "discount": discount.function(row["quantity"], row["c_age"], row["c_score"]),
                "same_tier": same_tier.function(row["c_tier"], row["r_tier"]),
                "busy": busy.function(row["s_footfall"]),
                "big_spend": big_spend.function(children["big_total"], row["quantity"]),
                "treat_price": treat_price.function(children["treat_mean"]),
                "amount_range": amount_range.function(children["amount_min"], children["amount_max"]),
                "customer.tier": row["c_tier"],
                "referrer.age": row["r_age"],
                "store.footfall": row["s_footfall"],
                "txns.count()": children["txns.count()"],
            }
        )
    return rows


def same(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, float) and isinstance(actual, float):
        return actual == wanted or (math.isnan(actual) and math.isnan(wanted))
    return actual == wanted and type(actual) is type(wanted)


def assert_rows_equal(actual: dict[str, list[Any]], expected: list[dict[str, Any]]) -> None:
    for name in NAMES:
        column = actual[name]
        assert len(column) == len(expected), name
        for row, (value, wanted) in enumerate(zip(column, (row[name] for row in expected), strict=True)):
            assert same(value, wanted), f"{name} row {row}: {value!r}, expected {wanted!r}"


def test_reference_covers_hard_cases(tables: dict[Any, pa.Table], expected: list[dict[str, Any]]) -> None:
    orders = tables[Order]
    assert orders.column("customer_code").null_count > 0
    assert any(row["customer.tier"] is None for row in expected)
    assert any(row["txns.count()"] == 0 for row in expected)
    assert any(row["amount_range"] is None for row in expected)
    assert any(row["busy"] is None for row in expected)
    assert any(row["same_tier"] is True for row in expected)


def test_offline_equals_joins_and_plain_python(graph: Any, expected: list[dict[str, Any]]) -> None:
    result = graph.query_table(OUTPUTS)
    assert result.column_names == NAMES
    assert_rows_equal(result.to_pydict(), expected)


def test_online_equals_joins_and_plain_python(graph: Any, tables: dict[Any, pa.Table], expected: list[dict[str, Any]]) -> None:
    rows = [0, 399, 17, 5, 200, 123, 3, 250, 77, 301, 42, 11, 9, 388, 64, 100, 101, 150, 222]
    keys = [tables[Order].column("id")[row].as_py() for row in rows]
    result = graph.query(OUTPUTS, {Order.id: keys})
    assert_rows_equal(dict(result), [expected[row] for row in rows])


def test_online_one_key_at_a_time(graph: Any, tables: dict[Any, pa.Table], expected: list[dict[str, Any]]) -> None:
    for row in range(0, 400, 37):
        key = tables[Order].column("id")[row].as_py()
        result = graph.query(OUTPUTS, {Order.id: key})
        for name in NAMES:
            assert same(result[name][0], expected[row][name]), (name, row)


def test_online_equals_offline_over_every_key(graph: Any, tables: dict[Any, pa.Table]) -> None:
    keys = tables[Order].column("id").to_pylist()[::-1]
    online = graph.query(OUTPUTS, {Order.id: keys})
    offline = graph.query_table(OUTPUTS, pa.table({"id": keys}))
    assert online.to_arrow().to_pylist() == offline.to_pylist()


def test_result_indexed_by_feature(graph: Any) -> None:
    features = [Order.txns.count(), Order.customer.age, Order.busy, Order.id]
    result = graph.query(features, {Order.id: [1]})
    for feature in features:
        assert result[feature] == result[feature.name]
    with pytest.raises(KeyError, match=r"Order.discount is not a feature of this query; the features queried are: Order.txns.count\(\)"):
        result[Order.discount]
    with pytest.raises(KeyError, match="Store.id is not a feature of this query"):
        result[Store.id]  # named "id", as the column of Order.id is


def test_missing_parent_key_gives_none(graph: Any) -> None:
    result = graph.query([Order.txns.count(), Order.busy], {Order.id: [1, 2]})
    assert result["txns.count()"][1] is None
    assert result["busy"][1] is None


def test_empty_child_set_values(graph: Any, tables: dict[Any, pa.Table]) -> None:
    lonely = tables[Order].filter(pc.greater_equal(tables[Order].column("user_id"), 60)).column("id")[0].as_py()
    features = [
        Order.txns.count(),
        Order.txns[Txn.amount].sum(),
        Order.txns[Txn.price].sum(),
        Order.txns[Txn.amount].mean(),
        Order.txns[Txn.amount].min(),
        Order.txns[Txn.category].max(),
    ]
    for result in (graph.query(features, {Order.id: lonely}).to_pylist()[0], graph.query_table(features, pa.table({"id": [lonely]})).to_pylist()[0]):
        assert list(result.values()) == [0, 0, 0.0, None, None, None]
        assert type(result["txns[Txn.price].sum()"]) is float


def test_filter_that_drops_every_child(graph: Any, tables: dict[Any, pa.Table]) -> None:
    nothing = Order.txns[Txn.amount > 10**6, Txn.amount]
    features = [nothing.count(), nothing.sum(), nothing.mean()]
    keys = tables[Order].column("id").to_pylist()[:20]
    online = graph.query(features, {Order.id: keys})
    offline = graph.query_table(features, pa.table({"id": keys}))
    for result in (dict(online), offline.to_pydict()):
        assert [set(values) for values in result.values()] == [{0}, {0}, {None}]


def test_unknown_aggregation_lists_known_ones() -> None:
    with pytest.raises(AttributeError, match=r"has no aggregation median\(\); the aggregations are count\(\)"):
        Order.txns[Txn.amount].median()
    with pytest.raises(AttributeError, match=r"Order.txns.sum\(\) needs a feature to aggregate; .* as in Order.txns\[Txn.price\].sum\(\)"):
        Order.txns.sum()
    with pytest.raises(AttributeError, match=r"Order.txns has no attribute 'total'; index it with filters"):
        Order.txns.total  # noqa: B018 - the attribute access is the test


def test_filters_combine(graph: Any, tables: dict[Any, pa.Table]) -> None:
    condition = ((Txn.category == "fuel") | (Txn.amount <= 0)) & ~Txn.price.is_null()
    feature = Order.txns[condition].count()
    users = tables[Order].column("user_id").to_pylist()
    children = tables[Txn].to_pylist()
    wanted = [
        sum(
            1 for row in children
            if row["user_id"] == user and row["price"] is not None
            and (row["category"] == "fuel" or (row["amount"] is not None and row["amount"] <= 0))
        )
        for user in users
    ]
    assert graph.query_table([feature]).column(0).to_pylist() == wanted


def test_composite_key_with_null_part(graph: Any, tables: dict[Any, pa.Table]) -> None:
    orders = tables[Order]
    null_day = orders.filter(pc.is_null(orders.column("day"))).column("id").to_pylist()
    null_city = orders.filter(pc.is_null(orders.column("city"))).column("id").to_pylist()
    assert null_day and null_city
    result = graph.query([Order.store.footfall, Order.busy], {Order.id: null_day + null_city})
    assert set(result["store.footfall"]) == {None}
    assert set(result["busy"]) == {None}


def test_request_gives_the_key(graph: Any) -> None:
    result = graph.query([Order.customer.age, Order.customer.tier], {Order.customer_code: ["c1", "nobody", None, "ç40"]})
    customers = {row["code"]: row for row in sources()[Customer].to_pylist()}
    assert result["customer.age"] == [customers["c1"]["age"], None, None, customers["ç40"]["age"]]


def test_explain_names_operators_and_statistics(graph: Any) -> None:
    text = graph.explain([Order.discount, Order.big_spend], show=False)
    assert "left join Order.customer (has one Customer on Order.customer_code = Customer.code)" in text
    assert "estimated operator: hash join (left)" in text
    assert "right statistics: code: 39 rows, 0 nulls" in text
    analyzed = graph.explain([Order.discount, Order.big_spend], analyze=True, show=False)
    assert "actual rows: 400, with a match: " in analyzed
    # The operator's condition names the features, not the key names the join reads them under.
    assert "hash join (left) on Order.customer_code = Customer.code" in analyzed
    # A filter on an in-memory source leaves the rows unknown until the scan runs.
    filtered = graph.explain([Order.discount], filters=[("quantity", ">", 1)], show=False)
    assert "estimated operator: none yet, because the rows that pass the scan's filter are counted" in filtered
    assert "left 0 rows" not in filtered
    assert "left statistics: Order.customer_code: 400 rows" in analyzed
    online = graph.explain([Order.busy], {Order.id: [1, 6]}, analyze=True, show=False)
    assert "index: " in online
    assert "unique keys over city, day" in online


def test_explain_reports_filter_pushdown(graph: Any) -> None:
    analyzed = graph.explain([Order.big_spend], analyze=True, show=False)
    assert f"filter pushed into the scan of an Arrow table of 900 rows: (amount > {BIG_AMOUNT})" in analyzed
    given = graph.explain([Order.big_spend], {Order.id: [1]}, show=False)
    assert "child rows filtered on Txn.amount > 100 before the aggregation" in given


def test_joins_run_before_one_fused_kernel(graph: Any) -> None:
    plan = graph.plan(tuple(getattr(Order, name) for name in COMPUTED), (), None)
    kinds = [stage.kind for stage in plan.stages]
    assert kinds == ["join", "join", "join", "join", "fused kernel"]
    joined = [stage.join.relationship.name for stage in plan.stages if stage.join is not None]
    assert joined == ["customer", "referrer", "store", "txns"]


def test_svg_boxes_fit_longest_label(graph: Any) -> None:
    import re

    svg = graph.draw("svg")
    labels = [html.unescape(label) for label in re.findall(r">([^<>]+)</text>", svg)]
    widths = {float(width) for width in re.findall(r'<rect [^>]*\swidth="([0-9.]+)"', svg)}
    longest = max(labels, key=len)
    assert len(longest) > 30, longest
    assert widths and min(widths) >= len(longest) * 7  # about 6 to 7 px per character in 12 px sans-serif


def test_drawing_lists_relationships(graph: Any) -> None:
    text = graph.draw("text")
    assert "    customer: has one Customer on Order.customer_code = Customer.code" in text
    assert "    store: has one Store on Order.city = Store.city AND Order.day = Store.day" in text
    assert "    txns: has many Txn on Order.user_id = Txn.user_id" in text
    assert '"Order.customer.age" -> "resolver discount"' in graph.draw("dot")


def test_negated_isin_drops_null_children(graph: Any, tables: dict[Any, pa.Table]) -> None:
    # As SQL's NOT IN: a child whose category is null is in neither the filter nor its negation.
    others = Order.txns[~Txn.category.isin(TREATS)]
    treats = Order.txns[Txn.category.isin(TREATS)]
    keys = tables[Order].column("id").to_pylist()
    offline = graph.query_table([others.count(), treats.count()], pa.table({"id": keys}))
    online = graph.query([others.count(), treats.count()], {Order.id: keys})
    user_of = dict(zip(tables[Order].column("id").to_pylist(), tables[Order].column("user_id").to_pylist(), strict=True))
    children = list(zip(tables[Txn].column("user_id").to_pylist(), tables[Txn].column("category").to_pylist(), strict=True))
    expected_others = [sum(1 for user, kind in children if user == user_of[key] and kind is not None and kind not in TREATS) for key in keys]
    expected_treats = [sum(1 for user, kind in children if user == user_of[key] and kind in TREATS) for key in keys]
    assert any(kind is None for _, kind in children), "the data has null categories"
    assert offline.column(0).to_pylist() == expected_others
    assert offline.column(1).to_pylist() == expected_treats
    assert online.to_arrow().column(0).to_pylist() == expected_others
