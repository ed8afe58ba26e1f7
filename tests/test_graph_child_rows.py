"""Has-many child rows: the same results online and offline for dictionary text, nanosecond
timestamps, and child resolvers that raise on rows that no parent reads or a filter drops."""

from __future__ import annotations

import datetime
import operator
from typing import Any

import pyarrow as pa
import pytest

import featurejit as fj


@fj.features
class Item:
    id: int
    basket_id: int | None
    label: str | None
    quantity: int | None
    in_stock: bool | None
    packed_at: datetime.datetime | None
    share: int | None
    packed_type: str | None


@fj.features
class Basket:
    id: int
    opened_at: datetime.datetime | None
    opened_type: str | None
    items: list[Item] = fj.has_many(lambda: Item.basket_id == Basket.id)


@fj.jit_resolver
def share(quantity: Item.quantity) -> Item.share:
    return None if quantity is None else 100 // quantity


def type_name(value: Any) -> str:
    while False:  # a while loop, so that the resolvers below run in the interpreter
        pass
    return type(value).__name__


@fj.jit_resolver
def opened_type(opened_at: Basket.opened_at) -> Basket.opened_type:
    return type_name(opened_at)


@fj.jit_resolver
def packed_type(packed_at: Item.packed_at) -> Item.packed_type:
    return type_name(packed_at)


def both_ways(graph: Any, features: list[Any], keys: list[int]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the online and the offline results of the features for the baskets of `keys`."""
    online = graph.query(features, {Basket.id: keys}).to_pylist()
    offline = graph.query_table(features, pa.table({"id": keys}))
    return online, offline.to_pylist()


def items(**columns: Any) -> pa.Table:
    """Return an Item source of the given columns; columns left out are null, except in_stock, which is True."""
    rows = len(columns["id"])
    names = [name for name in Item.__annotations__ if name not in ("share", "packed_type")]
    defaults = {"label": pa.array([None] * rows, pa.string()), "in_stock": pa.array([True] * rows)}
    filled = {name: columns.get(name, defaults.get(name, pa.nulls(rows, pa.int64()))) for name in names}
    filled["packed_at"] = columns.get("packed_at", pa.nulls(rows, pa.timestamp("us")))
    return pa.table(filled)


def baskets(ids: list[int]) -> pa.Table:
    return pa.table({"id": ids, "opened_at": pa.nulls(len(ids), pa.timestamp("us"))})


@pytest.mark.parametrize("aggregation", ["min", "max"])
def test_dictionary_text_min_max(aggregation: str) -> None:
    labels = pa.array(["pear", "apple", "fig"]).dictionary_encode()
    graph = fj.Graph([], sources={Basket: baskets([1, 2]), Item: items(id=[0, 1, 2], basket_id=[1, 1, 1], label=labels)})
    feature = getattr(Basket.items[Item.label], aggregation)()

    online, offline = both_ways(graph, [feature], [1, 2])

    expected = {"min": "apple", "max": "pear"}[aggregation]
    assert [row[feature.name] for row in online] == [expected, None]
    assert offline == online


def test_nanosecond_timestamps_reach_resolvers_as_datetimes() -> None:
    stamp = pa.array([datetime.datetime(2024, 1, 1, 15)], pa.timestamp("ns"))
    opened = pa.table({"id": [1], "opened_at": stamp})
    graph = fj.Graph([opened_type, packed_type], sources={Basket: opened, Item: items(id=[0], basket_id=[1], packed_at=stamp)})
    features = [Basket.opened_type, Basket.items[Item.packed_type].max(), Basket.items[Item.packed_at].max()]

    online, offline = both_ways(graph, features, [1])

    assert online[0]["opened_type"] == "datetime"
    assert online[0]["items[Item.packed_type].max()"] == "datetime"
    assert type(online[0]["items[Item.packed_at].max()"]) is datetime.datetime
    assert offline[0]["opened_type"] == "datetime"
    assert offline[0]["items[Item.packed_type].max()"] == "datetime"


def test_nanoseconds_that_datetime_cannot_hold() -> None:
    stamp = pa.array([1], pa.timestamp("ns"))
    graph = fj.Graph([opened_type], sources={Basket: pa.table({"id": [1], "opened_at": stamp}), Item: items(id=[], basket_id=[])})

    result = graph.query([Basket.opened_at], {Basket.id: [1]})

    assert result["opened_at"] == stamp.to_pylist(), "a value with nanoseconds comes as pyarrow gives it"


def test_child_resolver_skips_unread_children() -> None:
    # Item 2 divides by zero, but its basket (99) is not asked for, and item 3 has no basket.
    source = items(id=[0, 1, 2, 3], basket_id=pa.array([1, 2, 99, None], pa.int64()), quantity=[5, 4, 0, 0])
    graph = fj.Graph([share], sources={Basket: baskets([1, 2, 3]), Item: source})
    feature = Basket.items[Item.share].sum()

    online, offline = both_ways(graph, [feature], [1, 2, 3])

    assert [row[feature.name] for row in online] == [20, 25, 0]
    assert offline == online
    assert graph.query_table([feature]).column(0).to_pylist() == [20, 25, 0], "a scan of every basket"
    with pytest.raises(ZeroDivisionError, match="share for the Item with id=2"):
        graph.query([feature], {Basket.id: [99]})


def test_child_resolver_skips_filtered_children() -> None:
    source = items(id=[0, 1], basket_id=[1, 1], quantity=[5, 0], in_stock=[True, False])
    graph = fj.Graph([share], sources={Basket: baskets([1]), Item: source})
    feature = Basket.items[Item.in_stock == True, Item.share].sum()  # noqa: E712 - a filter, not a test

    online, offline = both_ways(graph, [feature], [1])

    assert [row[feature.name] for row in online] == [20]
    assert offline == online


def test_child_resolver_runs_before_filter_on_its_output() -> None:
    source = items(id=[0, 1], basket_id=[1, 1], quantity=[5, 0], in_stock=[True, False])
    graph = fj.Graph([share], sources={Basket: baskets([1]), Item: source})
    feature = Basket.items[Item.share > 1, Item.quantity].sum()

    for query in (lambda: graph.query([feature], {Basket.id: [1]}), lambda: graph.query_table([feature])):
        with pytest.raises(ZeroDivisionError, match="share for the Item with id=1"):
            query()


def test_int_sum_skips_unread_children() -> None:
    # The items of basket 2 sum past int64, but only basket 1 is asked for.
    source = items(id=[0, 1, 2], basket_id=[1, 2, 2], quantity=[5, 2**62, 2**62])
    graph = fj.Graph([], sources={Basket: baskets([1, 2, 3, 4, 5]), Item: source})
    feature = Basket.items[Item.quantity].sum()

    for keys in ([1], [1, 3]):
        online, offline = both_ways(graph, [feature], keys)
        assert [row[feature.name] for row in online] == [5, 0][: len(keys)]
        assert offline == online
    with pytest.raises(OverflowError, match="Basket.id = 2"):
        graph.query_table([feature], pa.table({"id": [2]}))


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("zone", ["UTC", "Europe/Dublin", "+05:30"])
def test_datetime_filter_on_another_unit_and_zone(unit: str, zone: str) -> None:
    utc = datetime.UTC
    packed = pa.array([datetime.datetime(2024, 1, 1, 1, tzinfo=utc), datetime.datetime(2024, 1, 1, 3, tzinfo=utc)], pa.timestamp(unit, tz=zone))
    graph = fj.Graph([], sources={Basket: baskets([1]), Item: items(id=[0, 1], basket_id=[1, 1], packed_at=packed)})
    late = Basket.items[Item.packed_at >= datetime.datetime(2024, 1, 1, 2, tzinfo=utc)].count()
    listed = Basket.items[Item.packed_at.isin([datetime.datetime(2024, 1, 1, 3, tzinfo=utc)])].count()

    online, offline = both_ways(graph, [late, listed], [1])

    assert online == [{late.name: 1, listed.name: 1}]
    assert offline == online


def test_datetime_filter_of_the_other_kind() -> None:
    # An aware column and a naive constant, which Python orders with TypeError and never finds equal.
    packed = pa.array([datetime.datetime(2024, 3, 15, 2, tzinfo=datetime.UTC), None], pa.timestamp("us", tz="America/New_York"))
    graph = fj.Graph([], sources={Basket: baskets([1]), Item: items(id=[0, 1], basket_id=[1, 1], packed_at=packed)})
    naive = datetime.datetime(2024, 3, 15)
    equal = Basket.items[Item.packed_at == naive].count()
    unequal = Basket.items[Item.packed_at != naive].count()
    listed = Basket.items[Item.packed_at.isin([naive])].count()

    online, offline = both_ways(graph, [equal, unequal, listed], [1])

    assert online == [{equal.name: 0, unequal.name: 1, listed.name: 0}], "the null row is in neither count"
    assert offline == online
    later = Basket.items[Item.packed_at >= naive].count()
    for query in (lambda: graph.query([later], {Basket.id: [1]}), lambda: graph.query_table([later])):
        with pytest.raises(TypeError, match=r"orders an aware timestamp column .* give the datetime a zone"):
            query()


OPERATORS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize(
    "constant",
    [datetime.datetime(2024, 1, 1, 2, 0, 0, 250_000), datetime.datetime(2024, 1, 1, 2), datetime.datetime(3000, 1, 1), datetime.datetime(1000, 1, 1)],
    ids=["a fraction finer than seconds", "whole seconds", "after the ns range", "before the ns range"],
)
def test_datetime_filter_equals_python(unit: str, constant: datetime.datetime) -> None:
    values = [datetime.datetime(2024, 1, 1, 1), datetime.datetime(2024, 1, 1, 2), datetime.datetime(2024, 1, 1, 3), None]
    packed = pa.array(values, pa.timestamp(unit))
    graph = fj.Graph([], sources={Basket: baskets([1]), Item: items(id=[0, 1, 2, 3], basket_id=[1, 1, 1, 1], packed_at=packed)})
    features = {name: Basket.items[compare(Item.packed_at, constant)].count() for name, compare in OPERATORS.items()}
    features["isin"] = Basket.items[Item.packed_at.isin([constant, datetime.datetime(2024, 1, 1, 3)])].count()

    online, offline = both_ways(graph, list(features.values()), [1])

    present = [value for value in values if value is not None]
    expected = {name: sum(compare(value, constant) for value in present) for name, compare in OPERATORS.items()}
    expected["isin"] = sum(value in (constant, datetime.datetime(2024, 1, 1, 3)) for value in present)
    assert {name: online[0][feature.name] for name, feature in features.items()} == expected
    assert offline == online


@fj.features
class Reading:
    id: int
    sensor_id: int
    value: float


@fj.features
class Sensor:
    id: int
    readings: list[Reading] = fj.has_many(lambda: Reading.sensor_id == Sensor.id)


def test_min_max_skip_nan() -> None:
    nan = float("nan")
    readings = pa.table({"id": [1, 2, 3, 4, 5], "sensor_id": [1, 1, 2, 3, 3], "value": [nan, 1.0, nan, 2.0, -0.5]})
    graph = fj.Graph([], sources={Sensor: pa.table({"id": [1, 2, 3]}), Reading: readings})
    aggregates = {
        "min": Sensor.readings[Reading.value].min(),
        "max": Sensor.readings[Reading.value].max(),
        "sum": Sensor.readings[Reading.value].sum(),
        "mean": Sensor.readings[Reading.value].mean(),
    }
    expected = {"min": [1.0, nan, -0.5], "max": [1.0, nan, 2.0], "sum": [nan, nan, 1.5], "mean": [nan, nan, 0.75]}
    online = graph.query(list(aggregates.values()), {Sensor.id: [1, 2, 3]})
    offline = graph.query_table(list(aggregates.values()))
    for name, feature in aggregates.items():
        expected_reprs = [repr(value) for value in expected[name]]
        assert [repr(value) for value in online[feature]] == expected_reprs, name
        assert [repr(value) for value in offline.column(f"readings[Reading.value].{name}()").to_pylist()] == expected_reprs, name
