"""Calling conventions: scalars, Arrow arrays, chunked and sliced arrays, numpy, broadcasting, bad input."""

from __future__ import annotations

import enum
import math

import numpy as np
import pyarrow as pa
import pytest

from featurejit import CompileError, fuse, jit_resolver
from featurejit.runtime.memory import address


@jit_resolver
def speed_mph(distance: int, air_time: int | None) -> float | None:
    if air_time is None or air_time == 0:
        return None
    return distance / (air_time / 60)


@jit_resolver
def scaled(x: float, factor: float = 2.0) -> float:
    return x * factor


@jit_resolver
def is_late(delay: float | None, threshold: float) -> bool:
    return delay is not None and delay > threshold


@jit_resolver
def negate(flag: bool) -> bool:
    return not flag


def python_speed(distance: int, air_time: int | None) -> float | None:
    return speed_mph.function(distance, air_time)


DISTANCES = [1400, 200, 0, -5, 2**40, 17, 3000, 9]
AIR_TIMES = [227, None, 0, 13, 1, None, -60, 7]


def expected_speeds(distances, air_times):
    return [python_speed(d, a) for d, a in zip(distances, air_times, strict=True)]


def test_scalar_call_returns_python_values() -> None:
    assert speed_mph(1400, 227) == python_speed(1400, 227)
    assert speed_mph(1400, None) is None
    assert type(speed_mph(1400, 227)) is float


def test_arrow_arrays_return_arrow_array() -> None:
    result = speed_mph(pa.array(DISTANCES), pa.array(AIR_TIMES))
    assert isinstance(result, pa.Array)
    assert result.type == pa.float64()
    assert result.to_pylist() == expected_speeds(DISTANCES, AIR_TIMES)


def test_chunked_arrays_with_different_chunking() -> None:
    distances = pa.chunked_array([DISTANCES[:3], DISTANCES[3:]])
    air_times = pa.chunked_array([AIR_TIMES[:5], AIR_TIMES[5:6], AIR_TIMES[6:]])
    result = speed_mph(distances, air_times)
    assert isinstance(result, pa.ChunkedArray)
    assert result.to_pylist() == expected_speeds(DISTANCES, AIR_TIMES)


def test_chunked_array_with_plain_array() -> None:
    distances = pa.chunked_array([DISTANCES[:4], [], DISTANCES[4:]])
    result = speed_mph(distances, pa.array(AIR_TIMES))
    assert isinstance(result, pa.ChunkedArray)
    assert result.to_pylist() == expected_speeds(DISTANCES, AIR_TIMES)


@pytest.mark.parametrize("offset", [1, 3, 7, 9])
def test_sliced_arrays_at_odd_offsets(offset: int) -> None:
    distances = pa.array(list(range(40)))
    air_times = pa.array([None if i % 3 == 0 else i - 20 for i in range(40)])
    length = 40 - offset - 5
    result = speed_mph(distances.slice(offset, length), air_times.slice(offset + 2, length))
    expected = expected_speeds(
        distances.to_pylist()[offset : offset + length], air_times.to_pylist()[offset + 2 : offset + 2 + length]
    )
    assert result.to_pylist() == expected


def test_sliced_bool_array() -> None:
    flags = pa.array([i % 3 == 0 for i in range(30)])
    result = negate(flags.slice(5, 17))
    assert result.to_pylist() == [not value for value in flags.to_pylist()[5:22]]


EDGE_LENGTHS = [1, 7, 63, 64, 65, 71, 72, 73, 127, 128, 129, 135, 136, 137, 200]


def trimmed_bitmap(buffer: pa.Buffer, offset: int, length: int) -> pa.Buffer:
    """Copy the bytes of a bitmap that rows offset to offset + length - 1 need, and no more."""
    return pa.py_buffer(buffer.to_pybytes()[: (offset + length + 7) // 8])


@pytest.mark.parametrize("offset", [0, 1, 7, 8, 9, 63, 65])
def test_bitmaps_of_exact_size(offset: int) -> None:
    # Kernels read whole bitmap words in blocks far from the end of a bitmap and the last
    # bytes one at a time, so these lengths put the end in every position around a block.
    air_times = pa.array([None if i % 3 == 0 else i - 20 for i in range(offset + 200)])
    flags = pa.array([i % 5 < 2 for i in range(offset + 200)])
    for length in EDGE_LENGTHS:
        distances = pa.array(list(range(length)))
        exact_air_times = pa.Array.from_buffers(
            pa.int64(),
            length,
            [trimmed_bitmap(air_times.buffers()[0], offset, length), air_times.buffers()[1]],
            offset=offset,
        )
        result = speed_mph(distances, exact_air_times)
        assert result.to_pylist() == expected_speeds(distances.to_pylist(), exact_air_times.to_pylist()), length
        exact_flags = pa.Array.from_buffers(
            pa.bool_(), length, [None, trimmed_bitmap(flags.buffers()[1], offset, length)], offset=offset
        )
        assert negate(exact_flags).to_pylist() == [not flag for flag in exact_flags.to_pylist()], length


def test_empty_arrays() -> None:
    result = speed_mph(pa.array([], pa.int64()), pa.array([], pa.int64()))
    assert result.type == pa.float64()
    assert len(result) == 0


def test_empty_chunked_array() -> None:
    result = speed_mph(pa.chunked_array([], pa.int64()), pa.chunked_array([], pa.int64()))
    assert isinstance(result, pa.ChunkedArray)
    assert len(result) == 0


def test_all_null_arrays() -> None:
    assert speed_mph(pa.array([1, 2, 3]), pa.array([None, None, None], pa.int64())).to_pylist() == [None] * 3
    assert speed_mph(pa.array([1, 2, 3]), pa.nulls(3)).to_pylist() == [None] * 3


def test_null_in_parameter_not_annotated_optional_runs_python() -> None:
    # CPython would get None for distance and raise TypeError in the division.
    with pytest.raises(TypeError, match="row 1 "):
        speed_mph(pa.array([1, None, 3]), pa.array([1, 2, 3]))


def test_numpy_arrays() -> None:
    result = speed_mph(np.array(DISTANCES, dtype=np.int64), np.array([1, 2, 3, 4, 5, 6, 7, 8]))
    assert result.to_pylist() == expected_speeds(DISTANCES, [1, 2, 3, 4, 5, 6, 7, 8])


def test_numpy_float_nan_is_a_value_not_null() -> None:
    result = scaled(np.array([1.0, math.nan]))
    assert result.null_count == 0
    assert math.isnan(result[1].as_py())


def test_scalars_broadcast_against_arrays() -> None:
    assert scaled(pa.array([1.0, 2.0]), 3.0).to_pylist() == [3.0, 6.0]
    assert is_late(pa.array([None, 5.0, 20.0]), 15.0).to_pylist() == [False, False, True]
    assert speed_mph(120, pa.array([60, None, 0])).to_pylist() == [120.0, None, None]


def test_none_scalar_broadcasts_as_null() -> None:
    assert speed_mph(pa.array([1, 2]), None).to_pylist() == [None, None]


def test_keyword_and_default_arguments() -> None:
    assert scaled(x=2.0) == 4.0
    assert scaled(2.0, factor=0.5) == 1.0
    assert scaled(factor=3.0, x=pa.array([1.0])).to_pylist() == [3.0]


@pytest.mark.parametrize(
    "array_type", [pa.int8(), pa.int16(), pa.int32(), pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()]
)
def test_other_integer_widths_are_widened(array_type: pa.DataType) -> None:
    values = [0, 1, 100, 127]
    result = speed_mph(pa.array(values, array_type), pa.array([60, 60, 60, 60], array_type))
    assert result.to_pylist() == expected_speeds(values, [60] * 4)


def test_float32_is_widened_exactly() -> None:
    values = pa.array([0.1, 1.5, -2.25], pa.float32())
    assert scaled(values, 1.0).to_pylist() == values.to_pylist()


def test_uint64_beyond_int64_takes_slow_path() -> None:
    values = pa.array([1, 2**63 + 5, 2**64 - 1], pa.uint64())
    result = speed_mph(values, pa.array([60, 60, 60]))
    assert result.to_pylist() == [1.0, float(2**63 + 5), float(2**64 - 1)]
    assert speed_mph.explain(show=False).last_slow_path_rows == 2


def test_bool_column_for_int_parameter() -> None:
    assert speed_mph(pa.array([True, False]), pa.array([60, 60])).to_pylist() == [1.0, 0.0]


class Level(enum.IntEnum):
    HIGH = 3


class Meters(float):
    def __mul__(self, other: object) -> Meters:  # keeps the unit, unlike float's
        return Meters(float(self) * float(other))  # type: ignore[arg-type]


@jit_resolver
def describe_level(level: int) -> str:
    return f"{level!r} doubled is {level * 2}"


def test_int_and_float_subclass_scalars_run_python() -> None:
    assert describe_level(Level.HIGH) == describe_level.function(Level.HIGH) == "<Level.HIGH: 3> doubled is 6"
    assert speed_mph(Level.HIGH, 60) == speed_mph.function(Level.HIGH, 60)
    assert scaled(1.5, 3.0) == 4.5  # compiles the float kernel first
    product = scaled(Meters(1.5), 3.0)
    assert type(product) is Meters
    assert product == scaled.function(Meters(1.5), 3.0) == 4.5


@jit_resolver(mode="require")
def truncated_default(value: float) -> float:
    return math.trunc(2.675 or value)  # for an int value, a float-or-int operand, which is not compiled


def test_uncompilable_int_for_float_runs_python() -> None:
    # The int specialization cannot compile, which leaves only such calls in the interpreter.
    assert truncated_default(1) == truncated_default.function(1) == 2
    assert truncated_default(pa.array([1, 2])).to_pylist() == [2.0, 2.0]
    explanation = truncated_default.explain(show=False)
    assert explanation.native, explanation.reason
    assert truncated_default(1.5) == 2


@jit_resolver(mode="require")
def doubled_later(value: float) -> float:
    return defined_after(value)


def defined_after(value: float) -> float:
    return value * 2


def test_int_for_float_raises_when_nothing_compiles() -> None:
    # The annotated types do not compile either, so an int call must not hide that in the interpreter.
    with pytest.raises(CompileError, match="the call to defined_after is not compiled"):
        doubled_later(1)
    with pytest.raises(CompileError, match="the call to defined_after is not compiled"):
        doubled_later(pa.array([1, 2]))


def test_int_scalar_beyond_int64_runs_python() -> None:
    assert scaled(2**70, 1.0) == float(2**70)


def test_list_int_beyond_int64_message() -> None:
    with pytest.raises(TypeError, match=r"the int 9223372036854775808, which does not fit in int64; pass the list as pyarrow"):
        speed_mph([1, 2**63], [60, 60])
    # A uint64 array would truncate the floats of a list for a float parameter, so it is not suggested.
    with pytest.raises(TypeError, match=r"the int 9223372036854775808, .* int64; call the resolver on each value"):
        scaled([2**63, 1.5])
    with pytest.raises(TypeError, match=r"the int -9223372036854775809, .* int64; call the resolver on each value"):
        speed_mph([0, -(2**63) - 1], [60, 60])
    with pytest.raises(TypeError, match=r"the int 100000000000\.\.\. \(41 digits\)"):
        speed_mph([10**40], [60])


def test_missing_argument_names_parameter() -> None:
    with pytest.raises(TypeError, match="speed_mph.*air_time"):
        speed_mph(1400)


def test_too_many_positional_arguments() -> None:
    with pytest.raises(TypeError, match=r"^speed_mph\(\) takes 2 positional arguments but 3 were given$"):
        speed_mph(pa.array([1400]), pa.array([227]), pa.array([1]))
    with pytest.raises(TypeError, match=r"^scaled\(\) takes from 1 to 2 positional arguments but 3 were given$"):
        scaled(1.0, 2.0, 3.0)
    with pytest.raises(TypeError, match=r"^negate\(\) takes 1 positional argument but 2 were given$"):
        negate(True, False)


def test_positional_call_with_default_left_out() -> None:
    assert scaled(pa.array([1.5, -2.0])).to_pylist() == [3.0, -4.0]


def test_address_of_numpy_view_is_its_first_byte() -> None:
    base = np.arange(10, dtype=np.int64)
    view = base[3:]
    assert address(view) == view.ctypes.data
    assert address(view) == address(base) + 3 * 8


def test_unexpected_keyword() -> None:
    with pytest.raises(TypeError, match="speed_mph"):
        speed_mph(1400, 227, airtime=3)


def test_wrong_scalar_type_names_parameter_and_types() -> None:
    with pytest.raises(TypeError, match=r"'distance' expects int, but got str 'far'"):
        speed_mph("far", 227)


def test_float_array_for_int_parameter_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"'distance' expects int, but got values of Arrow type double"):
        speed_mph(pa.array([1.5]), pa.array([2]))


def test_accepted_type_checked_per_parameter() -> None:
    # Arrays of a type a parameter accepted skip the checks on later calls; the check is per annotation.
    doubles = pa.array([1.5, 2.5])
    assert scaled(doubles).to_pylist() == [3.0, 5.0]
    for _ in range(2):
        with pytest.raises(TypeError, match=r"'distance' expects int, but got values of Arrow type double"):
            speed_mph(doubles, pa.array([2, 3]))
    assert scaled(doubles, 0.5).to_pylist() == [0.75, 1.25]


def test_numpy_strings_name_the_layouts_to_pass() -> None:
    @jit_resolver
    def first_letter(text: str) -> str:
        return text[:1]

    with pytest.raises(TypeError, match=r"dtype <U2; pass a pyarrow string array or a list of str, because"):
        first_letter(np.array(["ab", "c"]))


def test_string_view_for_float_parameter_names_string_view() -> None:
    with pytest.raises(TypeError, match=r"'x' expects float, but got values of Arrow type string_view"):
        scaled(pa.array(["1.5"], pa.string_view()))


def test_string_array_is_rejected() -> None:
    with pytest.raises(TypeError, match="'air_time' expects int \\| None, but got values of Arrow type string"):
        speed_mph(pa.array([1]), pa.array(["x"]))


def test_different_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="distance=2, air_time=3"):
        speed_mph(pa.array([1, 2]), pa.array([1, 2, 3]))


def test_two_dimensional_numpy_is_rejected() -> None:
    with pytest.raises(ValueError, match="1-D"):
        scaled(np.ones((2, 2)), 1.0)


def test_float16_is_rejected() -> None:
    with pytest.raises(TypeError, match="float16"):
        scaled(np.ones(3, dtype=np.float16), 1.0)


def test_numpy_dtype_error_names_parameter_types() -> None:
    with pytest.raises(TypeError, match="dtype float64; pass bool or integer values"):
        speed_mph(np.ones(3), np.ones(3, dtype=np.int64))
    with pytest.raises(TypeError, match="dtype float16; pass bool, integer, float32 or float64 values"):
        scaled(np.ones(3, dtype=np.float16), 1.0)


def test_list_input_is_converted() -> None:
    assert scaled([1.0, 2.5, 3.0], 2.0).to_pylist() == [2.0, 5.0, 6.0]
    assert is_late([None, 20.0], 15.0).to_pylist() == [False, True]


class ShortBufferArray:
    """Looks like an int64 Arrow array of 100 rows whose data buffer holds only 4 values."""

    type = pa.int64()
    offset = 0
    null_count = 0

    def __len__(self) -> int:
        return 100

    def buffers(self) -> list[pa.Buffer | None]:
        return [None, pa.py_buffer(np.arange(4, dtype=np.int64).tobytes())]


def test_short_buffer_is_rejected_before_the_kernel_runs() -> None:
    from featurejit.frontend.annotations import ValueSpec
    from featurejit.runtime.batch import SegmentInput, column_descriptor
    from featurejit.runtime.inputs import Argument

    argument = Argument("distance", ValueSpec(int, False), array=pa.array([1]))
    segment = SegmentInput(argument, ShortBufferArray(), broadcast=False, python_type=int)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="malformed: its data buffer has 32 bytes"):
        column_descriptor(segment, 100)


def test_large_input_matches_numpy() -> None:
    generator = np.random.default_rng(5)
    distances = generator.integers(0, 5000, 200_000)
    air_times = generator.integers(-5, 600, 200_000)
    result = speed_mph(distances, air_times).to_numpy(zero_copy_only=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(air_times == 0, np.nan, distances / (air_times / 60))
    assert np.array_equal(result, expected, equal_nan=True)


@pytest.mark.parametrize(
    "array_type",
    [pa.bool_(), pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64(),
     pa.float32(), pa.float64()],
    ids=str,
)
@pytest.mark.parametrize("offset", [0, 3, 13])
def test_slow_path_reads_values_from_buffers(array_type: pa.DataType, offset: int) -> None:
    from featurejit.runtime.slow_path import gather_values

    if pa.types.is_boolean(array_type):
        values = [None if i % 5 == 0 else i % 3 == 0 for i in range(40)]
    else:
        values = [None if i % 5 == 0 else i * 3 for i in range(40)]
    array = pa.array(values, array_type).slice(offset, 40 - offset - 2)
    rows = np.array([0, 1, 2, 7, len(array) - 1])
    expected = [array.to_pylist()[row] for row in rows]
    assert gather_values(array, False, rows) == expected
    without_nulls = pa.array([v for v in values if v is not None], array_type).slice(offset, 10)
    assert gather_values(without_nulls, False, np.array([0, 9])) == [without_nulls[0].as_py(), without_nulls[9].as_py()]


def test_int_beyond_int64_after_fast_scalar_call() -> None:
    @jit_resolver
    def plus_one(x: int) -> int:
        return x + 1

    @jit_resolver
    def double_it(x: float) -> float:
        return x * 2

    assert plus_one(1) == 2
    assert plus_one(2**64) == 2**64 + 1
    assert plus_one(-(2**63) - 1) == -(2**63)
    assert double_it(1) == 2
    assert double_it(2**63) == 2.0**64


def test_long_rejected_value_is_described_briefly() -> None:
    class Series:
        def __repr__(self) -> str:
            return "0    1.0\n1    2.0\ndtype: float64"

    with pytest.raises(TypeError, match=r"but got a tests\.test_calls\..*Series; pass a float, or a column as a pyarrow array"):
        scaled(Series(), 1.0)


def test_byte_swapped_numpy_is_rejected_with_fix() -> None:
    with pytest.raises(TypeError, match=r"'x' got a numpy array of byte-swapped dtype >f8; convert it"):
        scaled(np.arange(4, dtype=">f8"), 1.0)


@jit_resolver
def flag_mix(flag: bool, count: int | None, weight: float | None) -> bool | None:
    if count is None:
        return None
    if flag:
        return weight is not None and weight > count
    return count % 3 == 0


@pytest.mark.parametrize("offset", [0, 1, 7, 8, 63, 64, 65, 130])
@pytest.mark.parametrize("length", [1, 63, 64, 65, 200, 1000])
def test_block_boundaries_with_nulls_and_bools(offset: int, length: int) -> None:
    total = offset + length + 3
    generator = np.random.default_rng(offset * 1000 + length)
    flags = pa.array(generator.random(total) < 0.5)
    counts = pa.array([None if generator.random() < 0.2 else int(value) for value in generator.integers(-50, 50, total)])
    weights = pa.array([None if generator.random() < 0.3 else float(value) for value in generator.normal(0, 30, total)])
    arguments = [column.slice(offset, length) for column in (flags, counts, weights)]
    result = flag_mix(*arguments)
    expected = [flag_mix.function(*row) for row in zip(*(column.to_pylist() for column in arguments), strict=True)]
    assert result.to_pylist() == expected


@jit_resolver
def scaled_by(a: int, *, k: int = 3) -> int:
    return a * k


@jit_resolver(on_error="null")
def ratio(a: int, *, b: int = 0) -> float:
    return a / b


@jit_resolver
def tagged(text: str, *, suffix: str = "!") -> str:
    total = ""
    for part in (text, suffix):
        total += part
    return total


INT64_MAX = 2**63 - 1


def test_keyword_only_in_interpreter() -> None:
    # Rows the kernel hands back to Python (an int64 overflow, a division by zero) call the
    # plain function with the keyword-only parameters by keyword.
    assert scaled_by(INT64_MAX) == scaled_by.function(INT64_MAX)
    assert scaled_by(2, k=-1) == -2
    with pytest.raises(OverflowError, match=r"row 1 of scaled_by: a=9223372036854775807, k=3"):
        scaled_by(pa.array([2, INT64_MAX]))
    assert ratio(pa.array([1, INT64_MAX, 4]), b=pa.array([2, 1, 0])).to_pylist() == [0.5, INT64_MAX / 1, None]
    assert ratio(5) is None
    assert tagged("a") == "a!"
    assert tagged(pa.array(["é", ""]), suffix="?").to_pylist() == ["é?", "?"]


def test_keyword_only_in_fused_kernels() -> None:
    fused = fuse(ratio, scaled_by)
    table = pa.table({"a": [3, INT64_MAX], "b": [0, 1], "k": [2, 1]})
    result = fused(table)
    assert result.column("ratio").to_pylist() == [None, float(INT64_MAX)]
    assert result.column("scaled_by").to_pylist() == [6, INT64_MAX]
