"""Module constants, closure values and calls to other resolvers, which are inlined."""

from __future__ import annotations

import pyarrow as pa

from featurejit import jit_resolver
from tests.differential import check_resolver, grid

THRESHOLD = 10
SCALE = 1.5
ENABLED = True


@jit_resolver
def above_threshold(x: int) -> bool:
    return x > THRESHOLD


@jit_resolver
def scaled(x: float) -> float:
    return x * SCALE if ENABLED else x


@jit_resolver
def helper_ratio(a: float, b: float) -> float:
    if b == 0:
        return 0.0
    return a / b


@jit_resolver
def uses_helper(a: float, b: float) -> float:
    return helper_ratio(a, b) * 100 + helper_ratio(b=a, a=b)


@jit_resolver
def helper_with_default(x: int, offset: int = 3) -> int:
    return x + offset


@jit_resolver
def uses_default(x: int) -> int:
    return helper_with_default(x) - helper_with_default(x, 10)


@jit_resolver
def helper_half(x: float) -> float:
    return x // 2


@jit_resolver
def passes_int_to_float_helper(x: int) -> float:
    # The helper runs with an int, as CPython would run it, whatever its annotation says.
    return helper_half(x)


@jit_resolver
def helper_int(x: int) -> int:
    return x + 1


@jit_resolver
def passes_float_to_int_helper(x: float) -> float:
    # Calling helper_int with a float raises TypeError, compiled or not.
    return helper_int(x)  # type: ignore[arg-type]


def make_closure(limit: float):
    @jit_resolver
    def clipped(x: float) -> float:
        return min(x, limit)

    return clipped


def test_module_constant_change_is_seen_by_next_call() -> None:
    global THRESHOLD
    assert above_threshold(pa.array([5, 15])).to_pylist() == [False, True]
    assert above_threshold(12) is True
    THRESHOLD = 13
    try:
        assert above_threshold(pa.array([5, 15])).to_pylist() == [False, True]
        assert above_threshold(12) is False
        THRESHOLD = 20
        assert above_threshold(pa.array([5, 15])).to_pylist() == [False, False]
    finally:
        THRESHOLD = 10


def test_constant_changing_type_is_seen() -> None:
    global SCALE
    assert scaled(2.0) == 3.0
    SCALE = 2
    try:
        assert scaled(pa.array([1.5])).to_pylist() == [3.0]
        assert scaled(1.5) == 3.0
    finally:
        SCALE = 1.5


def test_bool_constant_changes_branch() -> None:
    global ENABLED
    ENABLED = False
    try:
        assert scaled(2.0) == 2.0
    finally:
        ENABLED = True
    assert scaled(2.0) == 3.0


def test_closure_values_are_constants_per_closure() -> None:
    low, high = make_closure(1.0), make_closure(100.0)
    assert low(pa.array([0.5, 5.0])).to_pylist() == [0.5, 1.0]
    assert high(pa.array([0.5, 5.0])).to_pylist() == [0.5, 5.0]


def test_inlined_resolver_matches_python() -> None:
    check_resolver(uses_helper, grid(float, float), (float, float))


def test_inlined_resolver_with_default_argument() -> None:
    check_resolver(uses_default, grid(int), (int,))


def test_inlined_resolver_runs_with_actual_argument_types() -> None:
    check_resolver(passes_int_to_float_helper, grid(int), (int,))
    assert type(passes_int_to_float_helper(5)) is int


def test_inlined_resolver_rejects_wrong_argument_type() -> None:
    check_resolver(passes_float_to_int_helper, grid(float), (float,))


def test_inlined_resolver_redefined_is_seen(tmp_path, monkeypatch) -> None:
    import importlib.util
    import sys

    helper = tmp_path / "helper_module.py"
    user = tmp_path / "user_module.py"
    helper.write_text("from featurejit import jit_resolver\n\n@jit_resolver\ndef bonus(x: int) -> int:\n    return x + 1\n")
    user.write_text(
        "from featurejit import jit_resolver\nimport helper_module\n\n"
        "@jit_resolver\ndef total(x: int) -> int:\n    return helper_module.bonus(x) * 2\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("helper_module", "user_module"):
        sys.modules.pop(name, None)
    import user_module  # type: ignore[import-not-found]

    assert user_module.total(pa.array([1, 2])).to_pylist() == [4, 6]
    helper.write_text("from featurejit import jit_resolver\n\n@jit_resolver\ndef bonus(x: int) -> int:\n    return x + 100\n")
    spec = importlib.util.spec_from_file_location("helper_module", helper)
    assert spec is not None and spec.loader is not None
    reloaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reloaded)
    user_module.helper_module = reloaded
    assert user_module.total(pa.array([1, 2])).to_pylist() == [202, 204]
    assert user_module.total(1) == 202


PREFIX = "Ä"


@jit_resolver
def prefixed(text: str) -> str:
    return PREFIX + text


@jit_resolver
def has_prefix(text: str | None) -> bool:
    return text is not None and (text.startswith(PREFIX) or text == PREFIX)


def make_suffixer(suffix: str):  # type: ignore[no-untyped-def]
    @jit_resolver
    def suffixed(text: str) -> str:
        return text + suffix

    return suffixed


def test_str_constants_compile_and_changes_are_seen() -> None:
    global PREFIX
    texts = ["Äb", "x", "", "Ä", "日本"]
    assert prefixed.explain(show=False).native
    assert has_prefix.explain(show=False).native
    assert prefixed(pa.array(texts)).to_pylist() == [prefixed.function(text) for text in texts]
    assert has_prefix(pa.array([*texts, None])).to_pylist() == [has_prefix.function(text) for text in [*texts, None]]
    PREFIX = ""
    try:
        assert prefixed(pa.array(texts)).to_pylist() == texts
        assert has_prefix(pa.array(texts)).to_pylist() == [True] * len(texts)
        assert prefixed("q") == "q"
    finally:
        PREFIX = "Ä"


def test_str_closure_values_per_closure() -> None:
    bang, question = make_suffixer("!"), make_suffixer("?")
    assert bang(pa.array(["a", ""])).to_pylist() == ["a!", "!"]
    assert question(pa.array(["a", ""])).to_pylist() == ["a?", "?"]
    assert bang.explain(show=False).native
