"""Differential tests of str resolvers against CPython, on text in several scripts and edge cases."""

from __future__ import annotations

import importlib.util
import json
import locale
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pytest

import featurejit as fj
from featurejit import jit_resolver
from tests.differential import EDGE_STRINGS, check_resolver

SECOND = ["", "a", "b,", ",", "é", "aa", "日", "x", "ß"]
SMALL_INTS = [0, 1, 2, -1, -3, 5, 100, -100]

# Each entry: a resolver name, its parameters, its return annotation and its expression.
STRING_EXPRESSIONS: list[tuple[str, str, str, str]] = [
    ("length", "s: str", "int", "len(s)"),
    ("length_of_int", "n: int", "int", "len(n)"),
    ("length_of_float", "x: float", "int", "len(x) + 1"),
    ("truthiness", "s: str", "bool", "not s"),
    ("either", "s: str, t: str", "str", "s or t"),
    ("equal", "s: str, t: str", "bool", "s == t"),
    ("not_equal", "s: str, t: str", "bool", "s != t"),
    ("less", "s: str, t: str", "bool", "s < t"),
    ("less_equal", "s: str, t: str", "bool", "s <= t"),
    ("greater", "s: str, t: str", "bool", "s > t"),
    ("greater_equal", "s: str, t: str", "bool", "s >= t"),
    ("contains", "s: str, t: str", "bool", "t in s"),
    ("not_contains", "s: str, t: str", "bool", "t not in s"),
    ("member", "s: str", "bool", "s in ('a', 'héllo', '', '日本語')"),
    ("starts", "s: str, t: str", "bool", "s.startswith(t)"),
    ("ends", "s: str, t: str", "bool", "s.endswith(t)"),
    ("starts_any", "s: str", "bool", "s.startswith(('a', 'é', 'H'))"),
    ("find", "s: str, t: str", "int", "s.find(t)"),
    ("rfind", "s: str, t: str", "int", "s.rfind(t)"),
    ("count", "s: str, t: str", "int", "s.count(t)"),
    ("lower", "s: str", "str", "s.lower()"),
    ("upper", "s: str", "str", "s.upper()"),
    ("strip", "s: str", "str", "s.strip()"),
    ("lstrip", "s: str", "str", "s.lstrip()"),
    ("rstrip", "s: str", "str", "s.rstrip()"),
    ("strip_chars", "s: str, t: str", "str", "s.strip(t)"),
    ("strip_ascii_chars", "s: str", "str", "s.strip('a ,x')"),
    ("replace", "s: str, t: str", "str", "s.replace(t, '-')"),
    ("replace_with", "s: str, t: str", "str", "s.replace('a', t)"),
    ("split_first", "s: str, t: str", "str", "s.split(t)[0]"),
    ("split_last", "s: str, t: str", "str", "s.split(t)[-1]"),
    ("split_second", "s: str", "str", "s.split(',')[1]"),
    ("rsplit_first", "s: str, t: str", "str", "s.rsplit(t)[0]"),
    ("rsplit_second_last", "s: str", "str", "s.rsplit('a')[-2]"),
    ("remove_prefix", "s: str, t: str", "str", "s.removeprefix(t)"),
    ("remove_suffix", "s: str, t: str", "str", "s.removesuffix(t)"),
    ("concat", "s: str, t: str", "str", "s + '|' + t"),
    ("fstring", "s: str, n: int", "str", "f'<{s}:{n}:{n > 0}>'"),
    ("int_text", "n: int", "str", "str(n)"),
    ("float_text", "x: float", "str", "str(x)"),
    ("slice", "s: str, n: int", "str", "s[n:]"),
    ("slice_both", "s: str, n: int", "str", "s[1:n]"),
    ("slice_end", "s: str", "str", "s[-3:]"),
    ("index", "s: str, n: int", "str", "s[n]"),
    ("isdigit", "s: str", "bool", "s.isdigit()"),
    ("isalpha", "s: str", "bool", "s.isalpha()"),
    ("isspace", "s: str", "bool", "s.isspace()"),
    ("isupper", "s: str", "bool", "s.isupper()"),
    ("islower", "s: str", "bool", "s.islower()"),
    ("isalnum", "s: str", "bool", "s.isalnum()"),
    ("parse_int", "s: str", "int", "int(s)"),
    ("parse_float", "s: str", "float", "float(s)"),
    ("pick", "s: str, t: str", "str", "s if len(s) > len(t) else t.upper()"),
]


def parameter_types(parameters: str) -> tuple[type, ...]:
    names = {"str": str, "int": int, "float": float}
    return tuple(names[part.split(":")[1].strip()] for part in parameters.split(","))


@pytest.fixture(scope="module")
def string_module(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    lines = ["from featurejit import jit_resolver", ""]
    for name, parameters, result, expression in STRING_EXPRESSIONS:
        lines += ["@jit_resolver", f"def {name}({parameters}) -> {result}:", f"    return {expression}", ""]
    path = tmp_path_factory.mktemp("generated") / "string_resolvers.py"
    path.write_text("\n".join(lines))
    spec = importlib.util.spec_from_file_location("generated_string_resolvers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def rows_for(types: tuple[type, ...]) -> list[tuple]:
    pools = {str: EDGE_STRINGS, int: SMALL_INTS, float: [0.5, -0.0, 1e16, float("nan")]}
    if types == (str, str):
        return [(s, t) for s in EDGE_STRINGS for t in SECOND]
    if types == (str, int):
        return [(s, n) for s in EDGE_STRINGS for n in SMALL_INTS]
    return [(value,) for value in pools[types[0]]]


@pytest.mark.parametrize("entry", STRING_EXPRESSIONS, ids=[entry[0] for entry in STRING_EXPRESSIONS])
def test_string_expression_matches_python(string_module: ModuleType, entry: tuple[str, str, str, str]) -> None:
    name, parameters, _, _ = entry
    types = parameter_types(parameters)
    check_resolver(getattr(string_module, name), rows_for(types), types)


def ascii_rows(rows: list[tuple]) -> list[tuple]:
    return [row for row in rows if all(not isinstance(value, str) or value.isascii() for value in row)]


@pytest.mark.parametrize("entry", STRING_EXPRESSIONS, ids=[entry[0] for entry in STRING_EXPRESSIONS])
def test_string_expression_on_ascii_columns(string_module: ModuleType, entry: tuple[str, str, str, str]) -> None:
    """Columns of ASCII text get kernels that count code points as bytes."""
    name, parameters, _, _ = entry
    types = parameter_types(parameters)
    check_resolver(getattr(string_module, name), ascii_rows(rows_for(types)), types)


def test_ascii_check_reads_only_the_slice() -> None:
    mixed = pa.array(["héllo", "abc", "de", "日本", "xyz"])
    ascii_part, mixed_part = mixed.slice(1, 2), mixed.slice(2, 2)
    assert length_of(ascii_part).to_pylist() == [3, 2]
    assert length_of(mixed_part).to_pylist() == [2, 2]
    assert length_of(pa.chunked_array([ascii_part, mixed_part])).to_pylist() == [3, 2, 2, 2]
    dictionary = pa.DictionaryArray.from_arrays(pa.array([1, 0, 1], pa.int8()), pa.array(["ab", "ü"]))
    assert length_of(dictionary).to_pylist() == [1, 2, 1]


@jit_resolver
def length_of(text: str) -> int:
    return len(text)


@jit_resolver(on_error="null")
def length_or_null(text: str) -> int:
    return len(text)


@pytest.mark.parametrize("resolver", [length_of, length_or_null], ids=["raise", "null"])
def test_dictionary_index_past_the_end(resolver: fj.JitResolver) -> None:
    indices = pa.array([0, 5, 1], pa.int32())
    broken = pa.DictionaryArray.from_arrays(indices, pa.array(["a", "bb"]), safe=False)
    with pytest.raises(ValueError, match="the Arrow array for parameter 'text' is malformed: index with value of 5"):
        resolver(broken)


@jit_resolver
def domain(email: str | None) -> str | None:
    if email is None or "@" not in email:
        return None
    return email.split("@")[1].lower()


@jit_resolver
def label(name: str | None, count: int | None) -> str:
    if name is None:
        return "unknown"
    return f"{name.strip().title() if False else name.strip()} ({count})"


EMAILS = ["Bob@Example.COM", None, "no-at-sign", "x@y", "héllo@Dömain.de", "", "a@b@c", "@", "ß@STRASSE.de"]


def expected(resolver, *columns: list) -> list:
    return [resolver.function(*row) for row in zip(*columns, strict=True)]


def test_none_in_every_position() -> None:
    assert domain(pa.array(EMAILS)).to_pylist() == expected(domain, EMAILS)
    names = [None, " ann ", "bö", None]
    counts = [1, None, None, 4]
    assert label(pa.array(names), pa.array(counts)).to_pylist() == expected(label, names, counts)


@pytest.mark.parametrize(
    "make",
    [
        lambda values: pa.array(values, pa.large_string()),
        lambda values: pa.array(values).dictionary_encode(),
        lambda values: pa.array(values, pa.string()).slice(0),
        lambda values: pa.chunked_array([values[:3], values[3:]]),
    ],
    ids=["large_string", "dictionary", "string", "chunked"],
)
def test_string_layouts(make) -> None:
    result = domain(make(EMAILS))
    assert result.to_pylist() == expected(domain, EMAILS)


@pytest.mark.parametrize("offset", [1, 2, 5])
def test_sliced_string_arrays(offset: int) -> None:
    array = pa.array(EMAILS * 3).slice(offset, 11)
    assert domain(array).to_pylist() == expected(domain, array.to_pylist())


def test_dictionary_with_int8_indices_and_nulls() -> None:
    array = pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 0, 2], pa.int8()), pa.array(["a@b", "c@D", "none"]))
    assert domain(array).to_pylist() == expected(domain, array.to_pylist())


@pytest.mark.parametrize(
    ("index_type", "value_type"),
    [
        (pa.uint8(), pa.string()),
        (pa.uint16(), pa.string()),
        (pa.uint32(), pa.string()),
        (pa.uint64(), pa.string()),
        (pa.int32(), pa.large_string()),
        (pa.uint32(), pa.large_string()),  # a Polars categorical column
        (pa.int32(), pa.string_view()),
    ],
    ids=str,
)
def test_dictionary_layouts_cast_for_kernels(index_type: pa.DataType, value_type: pa.DataType) -> None:
    dictionary = pa.array(["a@b", "c@D", "none", "ü@ß"], value_type)
    indices = pa.array([0, 1, None, 3, 0, 2] * 50, index_type)
    array = pa.DictionaryArray.from_arrays(indices, dictionary)
    values = array.to_pylist()
    assert domain(array).to_pylist() == expected(domain, values)
    chunked = pa.chunked_array([array.slice(0, 7), array.slice(7)])
    assert domain(chunked).to_pylist() == expected(domain, values)
    table = pa.table({"email": array})
    assert fj.fuse(domain)(table).column("domain").to_pylist() == expected(domain, values)


@pytest.mark.parametrize("value_type", [pa.string(), pa.large_string(), pa.string_view()], ids=str)
@pytest.mark.parametrize("index_type", [pa.int8(), pa.int32(), pa.uint32()], ids=str)
def test_null_entry_of_dictionary_is_null(index_type: pa.DataType, value_type: pa.DataType) -> None:
    # A row whose index points at a null entry of the dictionary is null, as to_pylist() gives it.
    dictionary = pa.array(["a@b", None, "ü@ß"], value_type)
    array = pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 2, 1, 0] * 30, index_type), dictionary)
    values = array.to_pylist()
    assert values[1] is None
    assert domain(array).to_pylist() == expected(domain, values)
    clean = pa.DictionaryArray.from_arrays(pa.array([0, 2], index_type), dictionary)
    assert domain(clean).to_pylist() == expected(domain, clean.to_pylist())
    chunked = pa.chunked_array([clean, array.slice(5, 40)])
    assert domain(chunked).to_pylist() == expected(domain, chunked.to_pylist())
    table = pa.table({"email": array})
    assert fj.fuse(domain)(table).column("domain").to_pylist() == expected(domain, values)


def test_string_view_cast_for_kernels() -> None:
    array = pa.array(["a@b", None, "ü@ß", "", "none"] * 40, pa.string_view())
    values = array.to_pylist()
    assert domain(array).to_pylist() == expected(domain, values)
    assert domain(pa.chunked_array([array.slice(0, 3), array.slice(3)])).to_pylist() == expected(domain, values)


def test_empty_and_all_null_string_arrays() -> None:
    assert domain(pa.array([], pa.string())).to_pylist() == []
    assert domain(pa.array([None, None], pa.string())).to_pylist() == [None, None]
    assert domain(pa.nulls(3, pa.string())).to_pylist() == [None, None, None]


def test_scalar_calls_match_python() -> None:
    for value in EMAILS:
        assert domain(value) == domain.function(value)


def test_non_ascii_takes_slow_path_and_stays_exact() -> None:
    @jit_resolver
    def shout(s: str) -> str:
        return s.upper()

    assert shout(pa.array(["straße", "abc", "ǆ"])).to_pylist() == ["STRASSE", "ABC", "Ǆ"]
    assert shout.explain(show=False).last_slow_path_rows == 2


def test_long_strings_and_large_results() -> None:
    @jit_resolver
    def doubled(s: str) -> str:
        return s + s

    values = ["x" * 300_000, "y" * 10, "z" * 600_000]
    assert doubled(pa.array(values)).to_pylist() == [value + value for value in values]


def test_string_result_beyond_int32_offsets_is_not_built_in_tests() -> None:
    from featurejit.runtime.string_output import INT32_LIMIT

    assert INT32_LIMIT == 2**31 - 1


def test_int_and_str_mixed_in_branches_is_rejected_with_location() -> None:
    @jit_resolver
    def mixed(flag: bool) -> str:
        value = "yes" if flag else 1  # type: ignore[assignment]
        return str(value)

    assert mixed(True) == "yes"
    explanation = mixed.explain(show=False)
    assert not explanation.native
    assert "a value is a str on one path and an int on another" in explanation.reason


def test_str_comparison_with_number_is_false_and_ordering_raises() -> None:
    @jit_resolver
    def equals_one(s: str) -> bool:
        return s == 1  # type: ignore[comparison-overlap]

    @jit_resolver
    def below_one(s: str) -> bool:
        return s < 1  # type: ignore[operator]

    assert equals_one(pa.array(["1", "a"])).to_pylist() == [False, False]
    with pytest.raises(TypeError, match="row 0 "):
        below_one(pa.array(["1"]))


def test_invalid_utf8_binary_column_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"expects str \| None, but got values of Arrow type binary"):
        domain(pa.array([b"\xff\xfe"], pa.binary()))


def test_split_forms_not_compiled() -> None:
    from featurejit import CompileError

    with pytest.raises(CompileError, match=r"str.split\(\) without a separator is not compiled"):

        @jit_resolver(mode="require")
        def first_word(text: str) -> str:
            return text.split()[0]

    with pytest.raises(CompileError, match="with a separator only, without maxsplit"):

        @jit_resolver(mode="require")
        def head(text: str) -> str:
            return text.rsplit(",", 1)[0]


def test_scalar_none_keeps_native() -> None:
    assert length_or_none(None) is None
    assert length_or_none("héllo") == 5
    assert length_or_none.explain(show=False).native
    assert length_or_none(pa.array(["ab", None])).to_pylist() == [2, None]


@jit_resolver
def length_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    return len(text)


LEGACY_CARRIERS = ("AA", "DL", "UA", "héllo", "")
HUB_SET = frozenset({"JFK", "LGA", "日本語", "EWR"})
PREFIXES = ("a", "é", "Hel")
SMALL_CODES = (1, 2.5, True, None)
MUTABLE_CODES = ["AA", "DL"]


@jit_resolver
def is_legacy(carrier: str) -> bool:
    return carrier in LEGACY_CARRIERS


@jit_resolver
def not_hub(origin: str) -> bool:
    return origin not in HUB_SET


@jit_resolver
def has_prefix(text: str) -> bool:
    return text.startswith(PREFIXES) or text.endswith(PREFIXES)


@jit_resolver
def small_code(code: int | None) -> bool:
    return code in SMALL_CODES


@pytest.mark.parametrize("resolver", [is_legacy, not_hub, has_prefix], ids=lambda resolver: resolver.name)
def test_constant_collections_match_python(resolver) -> None:
    rows = [(value,) for value in [*EDGE_STRINGS, "AA", "JFK", "日本語", "dl"]]
    check_resolver(resolver, rows, (str,))


def test_constant_tuple_of_numbers_and_none() -> None:
    check_resolver(small_code, [(1,), (2,), (0,), (None,), (-1,)], (int,))


def test_rebound_constant_tuple_is_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_legacy(pa.array(["AA", "B6"])).to_pylist() == [True, False]
    monkeypatch.setattr(sys.modules[__name__], "LEGACY_CARRIERS", ("B6",))
    assert is_legacy(pa.array(["AA", "B6"])).to_pylist() == [False, True]


def test_mutable_constant_collection_is_explained() -> None:
    from featurejit import CompileError

    with pytest.raises(CompileError, match="'in' over the list MUTABLE_CODES is not compiled") as raised:

        @jit_resolver(mode="require")
        def is_mutable_code(carrier: str) -> bool:
            return carrier in MUTABLE_CODES

    assert "frozenset" in str(raised.value)


def test_str_method_with_extra_argument_names_it() -> None:
    @jit_resolver
    def found_after(text: str, needle: str) -> int:
        return text.find(needle, 1)

    explanation = found_after.explain(show=False)
    assert not explanation.native
    assert "str.find() is compiled with 1 argument, but got 2" in explanation.reason
    assert found_after("abcb", "b") == "abcb".find("b", 1)


def test_min_max_of_str_fall_back_cleanly() -> None:
    @jit_resolver
    def smaller(text: str, other: str) -> str:
        return min(text, other)

    @jit_resolver
    def larger(text: str) -> str:
        return max(text, "b")

    for resolver in (smaller, larger):
        explanation = resolver.explain(show=False)
        assert not explanation.native
        assert "of str values is not compiled yet" in explanation.reason
        assert "internal compiler error" not in explanation.reason
    assert smaller(pa.array(["abc", "", "é"]), pa.array(["b", "a", "e"])).to_pylist() == ["abc", "", "e"]
    assert larger("abc") == "b"


EMPTY_TAIL_RESOLVERS = '''
from featurejit import jit_resolver


@jit_resolver
def parse_rest(s: str) -> int:
    return int("ab".removeprefix("ab"))


@jit_resolver
def guarded_strip(s: str) -> bool:
    if "ab"[2:].strip() == "x":
        return s.rstrip("a") == "x"
    return False


@jit_resolver
def lstrip_test(s: str) -> bool:
    return "b"[1:].lstrip().isupper() and s.rstrip("a") == "x"
'''

EMPTY_TAIL_CALLS = '''
import json, sys
import pyarrow as pa
import empty_tail

outcomes = {}
for name in ("parse_rest", "guarded_strip", "lstrip_test"):
    resolver = getattr(empty_tail, name)
    try:
        outcomes[name] = resolver(pa.array(["ab", "x", "y", ""])).to_pylist()
    except Exception as error:
        outcomes[name] = type(error).__name__
print(json.dumps(outcomes))
'''


def test_empty_tail_of_constant_reads_no_byte(tmp_path: Path) -> None:
    """An empty view one past the end of a constant ("ab"[2:]) is stripped and parsed without a read.

    The optimized kernels once loaded its first byte, which LLVM turned into a crash, a hang or
    garbage, so the calls run in a child process, on optimized kernels from the first call.
    """
    (tmp_path / "empty_tail.py").write_text(EMPTY_TAIL_RESOLVERS)
    environment = {**os.environ, "FEATUREJIT_QUICK_ROWS": "0", "FEATUREJIT_CACHE": "0", "PYTHONPATH": str(tmp_path)}
    completed = subprocess.run(
        [sys.executable, "-c", EMPTY_TAIL_CALLS], capture_output=True, text=True, env=environment, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    outcomes = json.loads(completed.stdout.strip().splitlines()[-1])
    assert outcomes["parse_rest"] == "ValueError"
    assert outcomes["guarded_strip"] == [False] * 4
    assert outcomes["lstrip_test"] == [False] * 4


@jit_resolver
def parsed_float(text: str) -> float:
    return float(text)


def test_float_of_text_runs_interpreted_under_comma_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    """strtod reads the C locale's decimal point, so a locale with "," must not reach the kernel."""
    texts = pa.array(["1.5", "0.1", "3"])
    assert parsed_float(texts).to_pylist() == [1.5, 0.1, 3.0]
    assert parsed_float.explain(show=False).last_slow_path_rows == 0
    conventions = locale.localeconv()
    monkeypatch.setattr(locale, "localeconv", lambda: {**conventions, "decimal_point": ","})
    assert parsed_float(texts).to_pylist() == [1.5, 0.1, 3.0]
    assert parsed_float.explain(show=False).last_slow_path_rows == 3
    fused = fj.fuse(parsed_float)
    assert fused(pa.table({"text": texts})).column("parsed_float").to_pylist() == [1.5, 0.1, 3.0]
    assert "last call: 3 rows, 3 on the slow path" in fused.explain(show=False)
