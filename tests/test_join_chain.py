"""Several joins of one table: the order the planner chooses, and results equal to DuckDB's."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from featurejit.joins import JoinStep, KeyTypeError, join_all, plan_joins, table_stats
from tests.join_reference import normalized

duckdb = pytest.importorskip("duckdb")


def duckdb_chain(base: pa.Table, steps: list[JoinStep]) -> tuple[list[str], list[tuple]]:
    """Run the joins as one DuckDB query in request order; return its column names and sorted rows."""
    connection = duckdb.connect()
    connection.execute("SET threads TO 1")
    connection.register("t0", base)
    provider = {name: ("t0", name) for name in base.column_names}
    selects = [f't0."{name}" AS "{name}"' for name in base.column_names]
    joins = []
    for position, step in enumerate(steps, 1):
        alias = f"t{position}"
        table = step.table if isinstance(step.table, pa.Table) else pa.Table.from_batches([step.table])
        connection.register(alias, table)
        left_on = [step.on] if isinstance(step.on, str) else list(step.on or step.left_on or [])
        if isinstance(step.left_on, str):
            left_on = [step.left_on]
        right_on = [step.on] if isinstance(step.on, str) else list(step.on or step.right_on or [])
        if isinstance(step.right_on, str):
            right_on = [step.right_on]
        condition = " AND ".join(
            f'{provider[left][0]}."{provider[left][1]}" = {alias}."{right}"' for left, right in zip(left_on, right_on, strict=True)
        )
        joins.append(f"{'JOIN' if step.how == 'inner' else 'LEFT JOIN'} {alias} ON {condition}")
        for name in table.column_names:
            if name in right_on:
                continue
            final = name if name not in provider else f"{name}{step.suffix}"
            provider[final] = (alias, name)
            selects.append(f'{alias}."{name}" AS "{final}"')
    result = connection.sql(f"SELECT {', '.join(selects)} FROM t0 {' '.join(joins)}").to_arrow_table()
    connection.close()
    return result.column_names, normalized(result)


def check_against_duckdb(base: pa.Table, steps: list[JoinStep]) -> pa.Table:
    result = join_all(base, steps)
    names, rows = duckdb_chain(base, steps)
    assert result.column_names == names
    assert normalized(result) == rows
    return result


def star_tables(rows: int = 2000) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    rng = np.random.default_rng(7)
    orders = rng.integers(0, 500, rows)
    parts = rng.integers(0, 50, rows)
    base = pa.table({
        "order": pa.array(orders, mask=rng.random(rows) < 0.05),
        "part": pa.array(parts),
        "amount": pa.array(rng.normal(size=rows)),
    })
    order_table = pa.table({"order": pa.array(range(0, 500, 2)), "priority": pa.array([f"p{k % 5}" for k in range(250)])})
    part_table = pa.table({"part": pa.array([*range(40), 3, 3]), "name": pa.array([f"párt {k}" for k in range(42)])})
    rare = pa.table({"order": pa.array([4, 8, 400, None], pa.int32()), "flag": pa.array([True, False, True, True])})
    return base, order_table, part_table, rare


def test_selective_inner_join_runs_first() -> None:
    base, orders, parts, rare = star_tables()
    steps = [JoinStep(orders, on="order"), JoinStep(parts, on="part", how="left"), JoinStep(rare, on="order", name="rare")]
    plan = plan_joins(base, steps)
    assert plan.order == [2, 0, 1]
    check_against_duckdb(base, steps)


def test_left_joins_keep_request_order() -> None:
    base, orders, parts, rare = star_tables()
    steps = [
        JoinStep(parts, on="part", how="left"),
        JoinStep(orders, on="order", how="left", suffix="_o"),
        JoinStep(rare, on="order", how="left"),
    ]
    assert plan_joins(base, steps).order == [0, 1, 2]
    check_against_duckdb(base, steps)


def test_key_from_earlier_join_waits_for_it() -> None:
    base, orders, parts, _ = star_tables()
    priorities = pa.table({"priority": pa.array(["p1", "p3"]), "weight": pa.array([1.5, 3.5])})
    steps = [
        JoinStep(orders, on="order", how="left"),
        JoinStep(priorities, on="priority"),
        JoinStep(parts, on="part"),
    ]
    plan = plan_joins(base, steps)
    assert plan.order.index(0) < plan.order.index(1)
    check_against_duckdb(base, steps)


def test_duplicate_keys_nulls_and_unicode() -> None:
    base = pa.table({"k": pa.array(["ä", "b", None, "ä", "日本", ""]), "v": pa.array(range(6))})
    first = pa.table({"k": pa.array(["ä", "ä", "", None]), "x": pa.array([1, 2, 3, 4])})
    second = pa.table({"key": pa.array(["日本", "b", "b"]), "v": pa.array([10, 20, 30])})
    steps = [JoinStep(first, on="k", how="left"), JoinStep(second, left_on="k", right_on="key")]
    result = check_against_duckdb(base, steps)
    assert result.column_names == ["k", "v", "x", "v_right"]


def test_composite_keys_and_widths() -> None:
    base = pa.table({"a": pa.array([1, 2, 2, None], pa.int16()), "b": pa.array([10, 20, 20, 30]), "c": pa.array([1, 2, 3, 4])})
    right = pa.table({"a": pa.array([2, 1, 2], pa.int64()), "b": pa.array([20, 10, 99], pa.int32()), "d": pa.array(["x", "y", "z"])})
    other = pa.table({"c": pa.array([3, 1]), "e": pa.array([0.5, 1.5])})
    steps = [JoinStep(right, on=["a", "b"]), JoinStep(other, on="c", how="left")]
    plan = plan_joins(base, steps)
    assert "no estimate" in plan.explain()
    check_against_duckdb(base, steps)


@pytest.mark.parametrize("empty", ["base", "step"])
def test_empty_inputs(empty: str) -> None:
    base, orders, parts, _ = star_tables(50)
    if empty == "base":
        base = base.slice(0, 0)
    else:
        orders = orders.slice(0, 0)
    steps = [JoinStep(parts, on="part", how="left"), JoinStep(orders, on="order")]
    result = check_against_duckdb(base, steps)
    assert result.num_rows == 0


def test_record_batches_and_given_stats() -> None:
    base, orders, parts, rare = star_tables()
    stats = table_stats(rare, keys=["order"])
    steps = [JoinStep(orders.to_batches()[0], on="order"), JoinStep(rare, on="order", stats=stats)]
    plan = plan_joins(base.to_batches()[0], steps)
    assert plan.order == [1, 0]
    check_against_duckdb(base, [JoinStep(orders, on="order"), JoinStep(rare, on="order")])


def test_explain_names_order_estimates_and_actuals() -> None:
    base, orders, parts, rare = star_tables()
    plan = plan_joins(base, [JoinStep(orders, on="order"), JoinStep(rare, on="order", name="rare orders")])
    before = plan.explain()
    assert before.splitlines()[1].startswith("  1. rare orders: inner join on order, estimated ")
    plan.execute()
    after = plan.explain()
    assert f"actual: {base.num_rows:,} rows in" in after
    assert "hash join (inner)" in after or "merge join (inner)" in after or "array" in after
    assert "total:" in after


@pytest.mark.parametrize(
    ("steps", "error", "fragment"),
    [
        ([JoinStep(pa.table({"x": [1]}), on="missing")], KeyError, "step 1: no column 'missing' before this join"),
        ([JoinStep(pa.table({"x": [1]}), left_on="order", right_on="y")], KeyError, "step 1: its table has no column 'y'"),
        ([JoinStep(pa.table({"order": [1]}), on="order", how="outer")], ValueError, "invalid how='outer'"),
        ([JoinStep(pa.table({"order": [1]}), on="order", left_on="order")], ValueError, "give either on="),
        ([JoinStep(pa.table({"order": [1]}), left_on=["order", "part"], right_on="order")], ValueError, "the same number"),
        (
            [JoinStep(pa.table({"order": [1], "amount_x": [2]}), on="order"), JoinStep(pa.table({"part": [1], "amount": [3]}), on="part", suffix="_x")],
            ValueError,
            "step 2: its column 'amount' would be named 'amount_x'",
        ),
        (["not a step"], TypeError, "pass featurejit.joins.JoinStep objects"),
    ],
)
def test_invalid_steps_raise_clear_errors(steps: list, error: type[Exception], fragment: str) -> None:
    base, _, _, _ = star_tables(10)
    with pytest.raises(error, match=None) as raised:
        plan_joins(base, steps)
    assert fragment in str(raised.value)


def test_int_key_against_string_key_raises_when_planned() -> None:
    base, _, _, _ = star_tables(10)
    with pytest.raises(KeyTypeError) as raised:
        plan_joins(base, [JoinStep(pa.table({"order": ["1"]}), on="order")])
    assert "'order' (int64)" in str(raised.value)
    assert "'order' (string)" in str(raised.value)


def test_one_step_not_in_a_list_is_rejected() -> None:
    base, orders, _, _ = star_tables(10)
    with pytest.raises(TypeError, match="wrap one step in a list"):
        join_all(base, JoinStep(orders, on="order"))  # type: ignore[arg-type]


def test_left_join_on_unique_keys_keeps_its_estimate() -> None:
    base, _, parts, _ = star_tables()
    unique_parts = parts.slice(0, 40)
    plan = plan_joins(base, [JoinStep(unique_parts, on="part", how="left")])
    assert plan.estimates[0] == base.num_rows
