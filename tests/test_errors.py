"""Row errors (on_error), compile errors with their location, mode="require", and the fallback."""

from __future__ import annotations

import datetime
import logging
import traceback
from pathlib import Path

import pyarrow as pa
import pytest

import featurejit as fj
from featurejit import CompileError, jit_resolver
from tests.differential import import_source

THIS_FILE = str(Path(__file__).resolve())


@jit_resolver
def ratio(a: int, b: int) -> float:
    return a / b


@jit_resolver(on_error="null")
def ratio_or_null(a: int, b: int) -> float:
    return a / b


@jit_resolver
def square(x: int) -> int:
    return x * x


@jit_resolver
def to_int(x: float) -> int:
    return int(x)


@jit_resolver
def power(x: int, n: int) -> int:
    return x**n


@jit_resolver
def floor_division(a: int, b: int) -> int:
    return a // b


@jit_resolver
def loops(n: int) -> int:
    total = 0
    while n > 0:
        n -= 1
        total += n
    return total


def test_division_by_zero_names_row_and_inputs() -> None:
    with pytest.raises(ZeroDivisionError, match=r"division by zero \(row 2 of ratio: a=3, b=0\)"):
        ratio(pa.array([1, 2, 3]), pa.array([1, 1, 0]))


@jit_resolver
def add_optional(a: int, b: int | None) -> int:
    return a + b  # type: ignore[operator]


def test_none_type_error_names_annotation() -> None:
    hint = r"\(row 1 of add_optional: a=None, b=2; a is annotated int, not int \| None\)"
    with pytest.raises(TypeError, match=hint):
        add_optional(pa.array([1, None, 3]), pa.array([1, 2, 3]))
    with pytest.raises(TypeError, match=hint):
        fj.fuse(add_optional, square)(pa.table({"a": [1, None, 3], "b": [1, 2, 3], "x": [1, 2, 3]}))


def test_none_allowed_adds_no_annotation() -> None:
    with pytest.raises(TypeError, match=r"\(row 1 of add_optional: a=2, b=None\)$"):
        add_optional(pa.array([1, 2]), pa.array([1, None]))


@jit_resolver
def require_value(a: int) -> int:
    if a is None:  # type: ignore[comparison-overlap]
        raise ValueError("a is missing")
    return a


def test_other_error_adds_no_annotation() -> None:
    with pytest.raises(ValueError, match=r"a is missing \(row 0 of require_value: a=None\)$"):
        require_value(pa.array([None], pa.int64()))


@jit_resolver
def parse_count(text: str) -> int:
    return int(text)


def test_row_error_cuts_long_input() -> None:
    with pytest.raises(ValueError) as caught:
        parse_count(pa.array(["1", "x" * 100_000]))
    message = str(caught.value)
    assert message.endswith("... (a str of 100,000 characters))")
    assert "(row 1 of parse_count: text='xxx" in message
    assert len(message) < 1_000


def test_row_error_cuts_long_repr_of_other_values() -> None:
    from featurejit.runtime.slow_path import input_repr

    text = input_repr(list(range(1000)))
    assert text.startswith("[0, 1, 2, ")
    assert text.endswith("... (a repr of 4,890 characters)")
    assert input_repr("short") == "'short'"


def test_division_by_zero_scalar_is_python_error() -> None:
    with pytest.raises(ZeroDivisionError):
        ratio(1, 0)


def test_row_index_counts_across_chunks() -> None:
    a = pa.chunked_array([[1, 2], [3, 4, 5]])
    b = pa.chunked_array([[1], [1, 1, 0], [1]])
    with pytest.raises(ZeroDivisionError, match="row 3 "):
        ratio(a, b)


def test_on_error_null_sets_nulls_and_counts_them(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="featurejit"):
        result = ratio_or_null(pa.array([1, 2, 3, 4]), pa.array([1, 0, 0, 2]))
    assert result.to_pylist() == [1.0, None, None, 2.0]
    explanation = ratio_or_null.explain(show=False)
    assert explanation.last_error_rows == 2
    assert explanation.last_slow_path_rows == 0, "the kernel makes zero-divisor rows null itself"
    assert "2 of 4 rows raised" in caplog.text


def test_explain_reports_raising_call() -> None:
    with pytest.raises(ZeroDivisionError):
        ratio(pa.array([1, 2, 3]), pa.array([1, 0, 2]))
    explanation = ratio.explain(show=False)
    assert explanation.last_raised == "ZeroDivisionError"
    assert "last call: 3 rows, raised ZeroDivisionError" in str(explanation)
    ratio(pa.array([1, 2]), pa.array([1, 2]))
    assert "raised" not in str(ratio.explain(show=False))


def test_fused_explain_reports_raising_call() -> None:
    fused = fj.fuse(ratio, square)
    with pytest.raises(ZeroDivisionError):
        fused(pa.table({"a": [1, 2], "b": [0, 1], "x": [3, 4]}))
    assert "last call: 2 rows, raised ZeroDivisionError" in str(fused.explain(show=False))


def test_on_error_null_scalar_returns_none() -> None:
    assert ratio_or_null(1, 0) is None


def test_int64_overflow_result_is_overflow_error_naming_row() -> None:
    with pytest.raises(OverflowError, match=r"row 1 of square: x=4294967296"):
        square(pa.array([3, 2**32]))


def test_int64_overflow_scalar_returns_big_int() -> None:
    assert square(2**32) == 2**64


def test_intermediate_overflow_that_fits_at_the_end() -> None:
    @jit_resolver
    def back_in_range(x: int) -> int:
        return (x * x) // x

    big = 2**40
    assert back_in_range(pa.array([big, 5])).to_pylist() == [big, 5]


def test_int_of_nan_and_inf() -> None:
    with pytest.raises(ValueError, match="row 0 "):
        to_int(pa.array([float("nan")]))
    with pytest.raises(OverflowError, match="row 1 "):
        to_int(pa.array([1.5, float("inf")]))


def test_negative_int_power_returns_float_for_scalar_and_fails_int_column() -> None:
    assert power(2, -1) == 0.5
    with pytest.raises(TypeError, match=r"return annotation int \(row 0 of power"):
        power(pa.array([2]), pa.array([-1]))


def test_int64_min_floor_divided_by_minus_one() -> None:
    assert floor_division(-(2**63), -1) == 2**63
    with pytest.raises(OverflowError, match="row 0 "):
        floor_division(pa.array([-(2**63)]), pa.array([-1]))


def test_floor_division_and_modulo_of_negatives() -> None:
    assert floor_division(pa.array([-7, 7, -7, 7]), pa.array([2, -2, -2, 2])).to_pylist() == [-4, -4, 3, 3]


# --------------------------------------------------------------------------------------
# Compile errors and the fallback
# --------------------------------------------------------------------------------------


def test_fallback_runs_interpreted_and_explains_location() -> None:
    assert loops(4) == 6
    assert loops(pa.array([3, 4])).to_pylist() == [3, 6]
    explanation = loops.explain(show=False)
    assert not explanation.native
    assert f"{THIS_FILE}:{line_of('while n > 0:')}:5: while loops are not compiled yet" in explanation.reason
    assert "    while n > 0:" in explanation.reason


def test_fallback_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    @jit_resolver
    def with_loop(n: int) -> int:
        while n > 10:
            n -= 10
        return n

    with caplog.at_level(logging.WARNING, logger="featurejit"):
        with_loop(25)
        with_loop(pa.array([5, 35]))
    messages = [record for record in caplog.records if "runs in the interpreter" in record.getMessage()]
    assert len(messages) == 1
    assert "while loops are not compiled yet" in messages[0].getMessage()


def test_mode_require_raises_at_decoration_with_location() -> None:
    with pytest.raises(CompileError) as caught:

        @jit_resolver(mode="require")
        def with_comprehension(x: int) -> int:
            values = [i for i in range(x)]
            return values[0]

    error = caught.value
    assert error.location is not None
    assert error.location.path == THIS_FILE
    assert error.location.line == line_of("values = [i for i in range(x)]")
    assert "list comprehensions are not compiled yet" in str(error)
    assert "^" in str(error)


def line_of(text: str) -> int:
    """Return the line number of the first line of this file that contains `text`."""
    lines = Path(THIS_FILE).read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def test_compile_error_traceback_stays_out_of_compiler_internals() -> None:
    try:

        @jit_resolver(mode="require")
        def with_list(x: int) -> int:
            return len([x, x]) + x

    except CompileError as error:
        frames = traceback.extract_tb(error.__traceback__)
        assert not any("frontend" in frame.filename for frame in frames)
        assert error.__cause__ is None
    else:
        raise AssertionError("CompileError was not raised")


def test_mode_require_unsupported_call_names_supported_calls() -> None:
    def helper(x: int) -> int:
        return x

    with pytest.raises(CompileError, match="the call to .*helper is not compiled"):

        @jit_resolver(mode="require")
        def calls_plain_function(x: int) -> int:
            return helper(x)


def test_mode_require_missing_annotation() -> None:
    with pytest.raises(CompileError, match="parameter 'x' .* has no annotation"):

        @jit_resolver(mode="require")
        def no_annotation(x) -> int:  # type: ignore[no-untyped-def]
            return x


def test_missing_return_annotation_names_def_line() -> None:
    with pytest.raises(CompileError) as raised:

        @jit_resolver(mode="require")
        def no_return(x: int):  # type: ignore[no-untyped-def]
            return x

    location = raised.value.location
    assert location is not None
    assert location.path == __file__
    assert location.source_line.strip() == "def no_return(x: int):  # type: ignore[no-untyped-def]"
    assert "has no return annotation" in str(raised.value)


def test_tuple_result_names_the_fix() -> None:
    @jit_resolver
    def halves(total: int) -> tuple[int, int]:
        return total // 2, total - total // 2

    assert halves(5) == (2, 3)
    reason = halves.explain(show=False).reason
    assert "annotated tuple[int, int]" in reason
    assert "write one resolver per value to compile each" in reason


def test_unsupported_annotation_falls_back() -> None:
    @jit_resolver
    def byte_length(data: bytes) -> int:
        return len(data)

    assert byte_length(b"abc") == 3
    assert byte_length(pa.array([b"a", b"bcd"])).to_pylist() == [1, 3]
    explanation = byte_length.explain(show=False)
    assert "annotated bytes" in explanation.reason
    assert explanation.last_rows == 2
    assert explanation.last_slow_path_rows == 2
    chunked = byte_length(pa.chunked_array([[b"a"], [b"bc", b"def"]]))
    assert isinstance(chunked, pa.ChunkedArray)
    assert chunked.to_pylist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("source", "caret_line", "caret"),
    [
        ("def listed(x: list,\n           y: int) -> int:\n    return y\n", "def listed(x: list,", "              ^^^^"),
        ("def keyed(a: int, *, b: dict[str, int]) -> int:\n    return a\n", "def keyed(a: int, *, b: dict[str, int]) -> int:", "                        ^^^^^^^^^^^^^^"),
        ("def paired(a: int) -> tuple[int, int]:\n    return a, a\n", "def paired(a: int) -> tuple[int, int]:", "                      ^^^^^^^^^^^^^^^"),
    ],
    ids=["parameter", "keyword-only", "return"],
)
def test_unsupported_annotation_is_located(tmp_path: Path, source: str, caret_line: str, caret: str) -> None:
    name = source.split("(")[0].removeprefix("def ")
    module = import_source(tmp_path, f"annotated_{name}", "import featurejit as fj\n\n\n@fj.jit_resolver\n" + source)
    resolver = next(value for value in vars(module).values() if isinstance(value, fj.JitResolver))
    reason = resolver.explain(show=False).reason
    lines = reason.splitlines()
    assert lines[0].startswith(f"{module.__file__}:5:")
    assert lines[1] == f"    {caret_line}"
    assert lines[2] == f"    {caret}"


@jit_resolver
def halved_if_positive(a: int) -> float:
    x = a
    if a > 0:
        x = a / 2  # type: ignore[assignment]
    return x


def test_int_result_in_float_column() -> None:
    values = [-(2**53) - 1, -(2**63), 2**53 + 1, 0, -3]
    plain = [halved_if_positive.function(value) for value in values]
    assert halved_if_positive(-(2**53) - 1) == -(2**53) - 1
    assert halved_if_positive(pa.array(values)).to_pylist() == [float(value) for value in plain]
    assert halved_if_positive(pa.array(values)).to_pylist()[0] == -(2.0**53)


STR_MISUSE_FILE = '''
import datetime

import featurejit as fj

TEXT = "abc"


@fj.jit_resolver
def plus_one(k: int) -> float:
    return TEXT + 1


@fj.jit_resolver
def negated(s: str) -> float:
    return -s


@fj.jit_resolver
def date_as_float(d: datetime.date) -> float:
    return d
'''


def test_str_misuse_raises_python_error(tmp_path: Path) -> None:
    module = import_source(tmp_path, "str_misuse", STR_MISUSE_FILE)
    cases = [
        (module.plus_one, pa.array([1]), TypeError, "can only concatenate str"),
        (module.negated, pa.array(["a"]), TypeError, "bad operand type for unary -: 'str'"),
        (module.date_as_float, pa.array([datetime.date(2020, 1, 2)]), fj.OutputTypeError, "does not match the return annotation float"),
    ]
    for resolver, column, error, message in cases:
        assert resolver.explain(show=False).native, resolver.explain(show=False).reason
        with pytest.raises(error, match=message):
            resolver(column)


@pytest.mark.parametrize("statement", ["acc = acc[-1]", "acc = 1 if x in acc else 2", "acc = acc.get(x)"])
def test_local_read_before_assignment_is_named(tmp_path: Path, statement: str) -> None:
    source = f"import featurejit as fj\n\n\n@fj.jit_resolver\ndef early(x: int) -> int:\n    {statement}\n    return x\n"
    module = import_source(tmp_path, f"early_{abs(hash(statement))}", source)
    explanation = module.early.explain(show=False)
    assert "local variable 'acc' is read before assignment" in explanation.reason
    with pytest.raises(UnboundLocalError):
        module.early(pa.array([1]))


def test_mixed_result_types_error() -> None:
    @jit_resolver
    def power(a: int, b: int) -> int | float:
        return a**b

    assert power(pa.array([3, 2]), pa.array([2, 3])).to_pylist() == [9, 8]
    with pytest.raises(TypeError, match="power has no return annotation that featurejit reads"):
        power(pa.array([2, 2]), pa.array([62, -1]))


def test_invalid_decorator_arguments() -> None:
    with pytest.raises(ValueError, match=r"mode='fast'\) is invalid"):
        jit_resolver(mode="fast")(lambda x: x)
    with pytest.raises(ValueError, match=r"on_error='ignore'\) is invalid"):
        jit_resolver(on_error="ignore")(lambda x: x)


def test_invalid_dump_stage() -> None:
    with pytest.raises(ValueError, match="dump\\('bitcode'\\) is invalid"):
        ratio.dump("bitcode")


def test_dump_stages() -> None:
    assert "py.truediv" in ratio.dump("ir")
    assert "func.func" in ratio.dump("optimized")
    assert "define" in ratio.dump("llvm")
    assert ".text" in ratio.dump("asm") or "ret" in ratio.dump("asm")


def test_explain_reports_types_and_native() -> None:
    explanation = ratio.explain(show=False)
    assert explanation.native
    assert ("a", "int", "i64") in explanation.parameters
    assert explanation.result[0] == "float"
    assert "float64 column" in explanation.result[1]
    text = str(explanation)
    assert "compiled to native code" in text


class CodedError(Exception):
    def __init__(self, code: int):
        super().__init__(f"code {code}")
        self.code = code


@jit_resolver
def raises_coded(x: int) -> int:
    if x > 100:
        raise CodedError(7)
    return x


def test_custom_exception_keeps_attributes_and_gets_row_note() -> None:
    with pytest.raises(CodedError) as caught:
        raises_coded(pa.array([1, 200]))
    assert caught.value.code == 7
    assert str(caught.value) == "code 7"
    assert "in row 1 of raises_coded: x=200" in caught.value.__notes__


def test_key_error_gets_row_note() -> None:
    @jit_resolver
    def raises_key_error(x: int) -> int:
        if x > 1:
            raise KeyError("k")
        return x

    with pytest.raises(KeyError) as caught:
        raises_key_error(pa.array([0, 5]))
    assert caught.value.args == ("k",)
    assert caught.value.__notes__ == ["in row 1 of test_key_error_gets_row_note.<locals>.raises_key_error: x=5"]


LIMIT = 10


@jit_resolver
def over_limit(x: int) -> bool:
    return x > LIMIT


def test_constant_fixed_after_failure_recompiles() -> None:
    global LIMIT
    assert over_limit(11) is True
    LIMIT = [10]  # type: ignore[assignment]  # a list does not compile, and int > list raises
    try:
        with pytest.raises(TypeError):
            over_limit(11)
        assert not over_limit.explain(show=False).native
    finally:
        LIMIT = 5
    try:
        assert over_limit(pa.array([1, 20])).to_pylist() == [False, True]
        assert over_limit(6) is True
        explanation = over_limit.explain(show=False)
        assert explanation.native
        assert explanation.last_slow_path_rows == 0
    finally:
        LIMIT = 10


def test_name_defined_after_first_call_recompiles() -> None:
    @jit_resolver
    def uses_later_constant(x: int) -> int:
        return x + LATER  # noqa: F821 - defined below, after the first call

    with pytest.raises(NameError):
        uses_later_constant(1)
    globals()["LATER"] = 100
    try:
        assert uses_later_constant(1) == 101
        assert uses_later_constant.explain(show=False).native
    finally:
        del globals()["LATER"]


def test_method_is_rejected_with_advice() -> None:
    with pytest.raises(TypeError, match="cannot decorate the method .*Model.score; define the resolver at module level"):

        class Model:
            @jit_resolver
            def score(self, x: int) -> int:
                return x


def test_misspelled_keyword_is_reported_as_unexpected() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'bb'"):
        ratio(1, bb=2)


def test_explain_and_dump_show_as_text_in_a_session() -> None:
    assert repr(ratio.explain(show=False)) == "<Explanation ratio: native; print() it for details>"
    assert repr(ratio.dump("ir")).startswith("builtin.module {\n")


class FeatureLike:
    """Stands for a feature whose declared type is float | None."""

    def __featurejit_annotation__(self) -> object:
        return float | None


DELAY = FeatureLike()


@jit_resolver
def scaled_delay(delay: DELAY) -> float | None:  # type: ignore[valid-type]
    return None if delay is None else delay * 2


def test_annotation_object_stands_for_its_type() -> None:
    assert scaled_delay(pa.array([1.5, None])).to_pylist() == [3.0, None]
    assert scaled_delay.explain(show=False).parameters == [("delay", "float | None", "!py.optional<f64>")]


def test_long_int_result_is_shortened_in_overflow_error() -> None:
    with pytest.raises(OverflowError, match=r"the result 100000000000\.\.\. \(309 digits\) does not fit in int64"):
        to_int(pa.array([1.0, 1e308]))


@jit_resolver
def halved(a: int) -> int:
    return a / 2  # type: ignore[return-value]


def test_output_type_error_is_public() -> None:
    with pytest.raises(fj.OutputTypeError, match="does not match the return annotation int"):
        halved(pa.array([1, 2, 4]))
    assert issubclass(fj.OutputTypeError, TypeError)


def test_column_not_found_error_is_public() -> None:
    fused = fj.fuse(halved)
    with pytest.raises(fj.ColumnNotFoundError, match="the table has no column 'a'"):
        fused(pa.table({"b": [1]}))
