"""Lookups in module dicts, D[k], D.get(k[, default]) and k in D, against CPython row for row."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import featurejit as fj
from tests.differential import (
    EDGE_FLOATS,
    EDGE_INTS,
    EDGE_STRINGS,
    check_fallback,
    check_resolver,
    import_source,
)

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

RISK = {"US": 0.1, "CN": 0.5, "ÅL": 0.9, "": -1.0, "日本": math.inf}
CODES = {0: "zero", -1: "minus one", INT64_MAX: "max", INT64_MIN: "min", 2**53 + 1: "past 2**53"}
STEPS = {0.0: 1, 1.5: 2, math.inf: 3, -2.5: 4}
MIXED = {1: "int", "1": "str", None: "none"}
COUNTS = {"a": 1, "b": 2}
EMPTY: dict[int, int] = {}
FLAGS = {1: "one", 0: "zero"}
LARGE = {index * 7 - 300: index * 0.5 for index in range(128)}
WORDS = {f"w{index}é": f"word {index}" for index in range(32)}


@fj.jit_resolver
def risk(country: str) -> float:
    return RISK.get(country, 0.0)


@fj.jit_resolver
def risk_or_none(country: str | None) -> float | None:
    return RISK.get(country)  # type: ignore[arg-type]


@fj.jit_resolver
def code_name(code: int) -> str:
    return CODES[code]


@fj.jit_resolver
def step(x: float) -> int:
    return STEPS.get(x, -1)


@fj.jit_resolver
def step_of_int(x: int | None) -> int | None:
    return STEPS.get(x)  # type: ignore[arg-type]


@fj.jit_resolver
def mixed_name(key: int | None) -> str:
    return MIXED.get(key, "missing")


@fj.jit_resolver
def count_or_half(key: str) -> float:
    return COUNTS.get(key, 0.5) * 2


@fj.jit_resolver
def count_or_quotient(key: str, d: int) -> int:
    return COUNTS.get(key, 10 // d)


@fj.jit_resolver
def known(key: str) -> bool:
    return key in RISK


@fj.jit_resolver
def unknown_code(code: int) -> bool:
    return code not in CODES


@fj.jit_resolver
def from_empty(x: int) -> int:
    return EMPTY[x]


@fj.jit_resolver
def default_of_empty(x: int) -> int:
    return EMPTY.get(x, x + 1)


@fj.jit_resolver
def flag_name(flag: bool) -> str:
    return FLAGS[flag]


@fj.jit_resolver
def float_code(x: float) -> str:
    return CODES.get(x, "none")  # type: ignore[call-overload]


@fj.jit_resolver
def large(x: int) -> float:
    return LARGE[x]


@fj.jit_resolver
def word(key: str | None) -> str | None:
    return WORDS.get(key)  # type: ignore[arg-type]


STRINGS = [*EDGE_STRINGS, *RISK, "1", "a", "b"]


@pytest.mark.parametrize(
    ("resolver", "rows", "types"),
    [
        (risk, [(value,) for value in STRINGS], [str]),
        (risk_or_none, [(value,) for value in [*STRINGS, None]], [str]),
        (code_name, [(value,) for value in [*EDGE_INTS, 2**53]], [int]),
        (step, [(value,) for value in [*EDGE_FLOATS, 1.5, -2.5]], [float]),
        (step_of_int, [(value,) for value in [*EDGE_INTS, None]], [int]),
        (mixed_name, [(value,) for value in [*EDGE_INTS, None]], [int]),
        (count_or_half, [(value,) for value in STRINGS], [str]),
        (count_or_quotient, [(key, d) for key in ("a", "b", "c", "") for d in (0, 3, -3)], [str, int]),
        (known, [(value,) for value in STRINGS], [str]),
        (unknown_code, [(value,) for value in EDGE_INTS], [int]),
        (from_empty, [(value,) for value in EDGE_INTS], [int]),
        (default_of_empty, [(value,) for value in EDGE_INTS], [int]),
        (flag_name, [(True,), (False,)], [bool]),
        (large, [(value,) for value in [*EDGE_INTS, *range(-310, 600, 3)]], [int]),
        (word, [(value,) for value in [*STRINGS, *WORDS, "w1", None]], [str]),
        (float_code, [(value,) for value in [*EDGE_FLOATS, float(INT64_MIN), float(2**53 + 1)]], [float]),
    ],
    ids=lambda value: getattr(value, "name", ""),
)
def test_lookup_matches_python(resolver: Any, rows: list[tuple[Any, ...]], types: list[type]) -> None:
    check_resolver(resolver, rows, types)


def test_lookup_in_sliced_and_chunked_arrays() -> None:
    countries = pa.array(["x", "US", None, "ÅL", "", "CN", "日本"])
    expected = [risk_or_none.function(value) for value in countries.to_pylist()]
    assert risk_or_none(countries.slice(1)).to_pylist() == expected[1:]
    chunked = pa.chunked_array([countries.slice(0, 3), countries.slice(3)])
    assert risk_or_none(chunked).to_pylist() == expected
    assert risk_or_none(pa.array([], pa.string())).to_pylist() == []


def test_missing_key_names_row() -> None:
    with pytest.raises(KeyError, match="7") as raised:
        code_name(pa.array([0, -1, 7]))
    assert raised.value.__notes__ == ["in row 2 of code_name: code=7"]


DICT_FILE = '''
import featurejit as fj

PRICES = {1: 10, 2: 20}


@fj.jit_resolver
def price(item: int) -> float:
    return PRICES.get(item, 0) / 4
'''


def test_changed_dict_is_seen_by_next_call(tmp_path: Path) -> None:
    module = import_source(tmp_path, "changing_prices", DICT_FILE)
    price = module.price
    items = pa.array([1, 2, 3])
    assert price(items).to_pylist() == [2.5, 5.0, 0.0]
    assert price(2) == 5.0
    module.PRICES[3] = 30  # a scalar call first, as a batch call would also drop the old kernels
    assert price(3) == 7.5
    assert price(items).to_pylist() == [2.5, 5.0, 7.5]
    module.PRICES[1] = 10.0  # an equal value of another type
    assert price(1) == 2.5
    assert price.explain(show=False).native
    module.PRICES = {1: 1}
    assert price(items).to_pylist() == [0.25, 0.0, 0.0]
    assert price(1) == 0.25


@pytest.mark.parametrize(
    ("definition", "reason"),
    [
        ("TABLE = {1: [1, 2]}", "compiled for int, float, bool, str and None keys and values, but it has the value [1, 2]"),
        ("TABLE = {float('nan'): 1}", "CPython finds its NaN key only by identity"),
        ("TABLE = {i: i for i in range(129)}", "the dict TABLE has 129 items; lookups are compiled in dicts of up to 128"),
        ("TABLE = {str(i): i for i in range(33)}", "has 33 items and a str key; dicts with str keys are compiled up to 32"),
        ("TABLE = {1: 10, 2**64: 20}", "lookups in TABLE are compiled for ints within int64, but it has the key 18446744073709551616"),
    ],
    ids=["list-value", "nan-key", "too-large", "too-many-str-keys", "wide-int"],
)
def test_unsupported_dict_falls_back(tmp_path: Path, definition: str, reason: str) -> None:
    source = f"import featurejit as fj\n\n{definition}\n\n\n@fj.jit_resolver\ndef look(x: int) -> int:\n    return len(str(TABLE.get(x)))\n"
    module = import_source(tmp_path, f"unsupported_{abs(hash(definition))}", source)
    check_fallback(module.look, reason, [1, 2])


GRAPH_FILE = '''
import pyarrow as pa
import featurejit as fj

WEIGHTS = {840: 1.0, 156: 2.0}  # by ISO 3166 country number


@fj.features
class Payment:
    id: int
    country: int
    amount: float
    weighted: float


@fj.jit_resolver
def weighted(country: Payment.country, amount: Payment.amount) -> Payment.weighted:
    return WEIGHTS.get(country, 0.0) * amount


@fj.jit_resolver
def doubled(amount: float) -> float:
    return amount * 2


payments = pa.table({"id": [1, 2, 3], "country": [840, 156, 250], "amount": [10.0, 20.0, 30.0]})
graph = fj.Graph([weighted], sources={Payment: payments})
'''


def test_changed_dict_in_fused_and_graph(tmp_path: Path) -> None:
    module = import_source(tmp_path, "changing_weights", GRAPH_FILE)
    fused = fj.fuse(module.weighted, module.doubled)
    table = pa.table({"country": [840, 250], "amount": [1.0, 2.0]})
    assert fused(table).column("weighted").to_pylist() == [1.0, 0.0]
    online = module.graph.query([module.Payment.weighted], {module.Payment.id: [3]})
    assert online["weighted"] == [0.0]
    module.WEIGHTS[250] = 3.0
    online = module.graph.query([module.Payment.weighted], {module.Payment.id: [3]})
    assert online["weighted"] == [90.0]
    assert fused(table).column("weighted").to_pylist() == [1.0, 6.0]
    offline = module.graph.query_table([module.Payment.weighted])
    assert offline.column("weighted").to_pylist() == [10.0, 40.0, 90.0]


STICKY_FILE = '''
import featurejit as fj

LOOKUP = {1: 10, 2: 20}


@fj.jit_resolver
def look(k: int) -> int:
    return LOOKUP.get(k, -1)
'''


def test_dict_that_compiles_again_after_a_change(tmp_path: Path) -> None:
    module = import_source(tmp_path, "sticky_lookup", STICKY_FILE)
    keys = pa.array([1, 2, 3])
    assert module.look(keys).to_pylist() == [10, 20, -1]
    module.LOOKUP[2] = [20]
    with pytest.raises(TypeError):
        module.look(keys)
    assert not module.look.explain(show=False).native
    module.LOOKUP[2] = 20
    assert module.look(keys).to_pylist() == [10, 20, -1]
    assert module.look.explain(show=False).native
    module.LOOKUP.update({index: index for index in range(3, 200)})
    assert module.look(keys).to_pylist() == [10, 20, 3]
    assert not module.look.explain(show=False).native
    for index in range(3, 200):
        del module.LOOKUP[index]
    assert module.look(keys).to_pylist() == [10, 20, -1]
    assert module.look.explain(show=False).native
