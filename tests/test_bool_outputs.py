"""Bool columns of rows that the slow path rewrites: a flagged row's value must not touch its neighbours' bits.

A bool column is a bitmap, so the kernel ORs each row's bit into a word that later rows share.
A resolver annotated `-> bool` that returns an int or a float on some row flags that row. The
interpreter then writes that row's value, so the kernel's own value must leave the other bits alone.
"""

from __future__ import annotations

import pyarrow as pa

from featurejit import jit_resolver
from tests.differential import check_resolver


@jit_resolver
def overflow_or_flag(x: int, flag: bool) -> bool:
    if x * x < 0:  # never true in Python; x * x overflows int64 for x = 3037000501, which flags the row
        return x
    return flag


@jit_resolver(on_error="null")
def minus_one_at_five(x: int) -> bool:
    if x == 5:
        return -1  # not a bool: the row raises OutputTypeError and becomes null
    return x > 100


@jit_resolver(on_error="null")
def float_for_none(x: float | None) -> bool | None:
    if x is None:
        return 2.675
    return x > 1.0


def test_int_result_leaves_next_rows_alone() -> None:
    rows = [(3037000501, True)] + [(1, False)] * 9 + [(-3037000501, False), (255, True), (2, False)]
    check_resolver(overflow_or_flag, rows, [int, bool])


def test_nulled_int_result_leaves_next_rows_alone() -> None:
    assert minus_one_at_five(pa.array([5] + [0] * 9)).to_pylist() == [None] + [False] * 9
    assert minus_one_at_five(pa.array([0, 5, 200, 0, 5, 101])).to_pylist() == [False, None, True, False, None, True]


def test_nulled_float_result_leaves_next_rows_alone() -> None:
    assert float_for_none(pa.array([None] + [0.0] * 9, pa.float64())).to_pylist() == [None] + [False] * 9
    chunked = pa.chunked_array([[0.5, None], [2.0, None, 0.0]], pa.float64())
    assert float_for_none(chunked).to_pylist() == [False, None, True, None, False]
