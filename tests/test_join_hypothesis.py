"""Random joins from hypothesis against pyarrow.Table.join, through every operator."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurejit.joins import Index, JoinChoice, plan_join
from tests.join_reference import normalized, pyarrow_join

INTEGER_TYPES = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint32()]
small_integers = st.one_of(st.none(), st.integers(-3, 12))
wide_integers = st.one_of(st.none(), st.integers(-(2**62), 2**62), st.sampled_from([-(2**63), 2**63 - 1, 0]))
texts = st.one_of(st.none(), st.text(alphabet="aé日\x00b", max_size=3))


def fits(value: Any, arrow_type: pa.DataType) -> Any:
    """Clamp an integer into an Arrow type's range, so that a generated value always fits."""
    if value is None or not pa.types.is_integer(arrow_type):
        return value
    if pa.types.is_unsigned_integer(arrow_type):
        return min(abs(value), 2**arrow_type.bit_width - 1)
    bound = 2 ** (arrow_type.bit_width - 1)
    return max(-bound, min(bound - 1, value))


@st.composite
def join_inputs(draw: st.DrawFn) -> tuple[pa.Table, pa.Table, list[str], str]:
    kind = draw(st.sampled_from(["small", "wide", "text", "pair"]))
    left_rows = draw(st.integers(0, 40))
    right_rows = draw(st.integers(0, 40))
    if kind == "text":
        values = texts
        left_type = draw(st.sampled_from([pa.string(), pa.large_string()]))
        right_type = draw(st.sampled_from([pa.string(), pa.large_string()]))
    else:
        values = small_integers if kind in ("small", "pair") else wide_integers
        left_type = draw(st.sampled_from(INTEGER_TYPES)) if kind != "wide" else pa.int64()
        right_type = draw(st.sampled_from(INTEGER_TYPES)) if kind != "wide" else pa.int64()

    def column(rows: int, arrow_type: pa.DataType) -> pa.Array:
        return pa.array([fits(draw(values), arrow_type) for _ in range(rows)], arrow_type)

    left = {"k": column(left_rows, left_type), "a": pa.array(range(left_rows), pa.int64())}
    right = {"k": column(right_rows, right_type), "b": pa.array(range(right_rows), pa.int64())}
    keys = ["k"]
    if kind == "pair":
        left["j"] = column(left_rows, pa.int64())
        right["j"] = column(right_rows, pa.int64())
        keys = ["k", "j"]
    return pa.table(left), pa.table(right), keys, draw(st.sampled_from(["inner", "left"]))


def run_operator(name: str, left: pa.Table, right: pa.Table, keys: list[str], how: str) -> pa.Table:
    if name == "index":
        return Index.build(right, keys).join(left, how=how)
    if name == "merge":
        left = left.sort_by([(keys[0], "ascending")])
        right = right.sort_by([(keys[0], "ascending")])
    plan = plan_join(left, right, on=keys, how=how)
    if name != "merge":
        build, pushdown = {"right": ("right", False), "left": ("left", False), "pushdown": ("right", True)}[name]
        plan.choice = JoinChoice("hash join", build, pushdown)
    elif plan.spec.encoding != "int":
        plan.choice = JoinChoice("hash join", "right", False)  # merge joins read single integer keys only
    return plan.execute()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(join_inputs(), st.sampled_from(["right", "left", "pushdown", "merge", "index"]))
def test_random_join_matches_pyarrow(inputs: tuple[pa.Table, pa.Table, list[str], str], operator: str) -> None:
    left, right, keys, how = inputs
    result = run_operator(operator, left, right, keys, how)
    assert normalized(result) == pyarrow_join(left, right, keys, keys, how)
