"""Checking and normalizing the arguments of a resolver call.

Each argument is a Python scalar (or None), a pyarrow Array or ChunkedArray, a 1-D numpy
array, or a list. Arrays are checked against the parameter's annotation, and lists and numpy
arrays become Arrow arrays. The result tells a scalar call from a batch call, and gives a
batch's common length.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from featurejit.frontend.annotations import ACCEPTED_TYPES, Signature, ValueSpec
from featurejit.runtime.slow_path import short_int
from featurejit.runtime.temporal import (
    TEMPORAL_ARROW_TYPES,
    InvalidValue,
    check_zone,
    converter,
    temporal_arrow_info,
    temporal_list_to_arrow,
)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1

# Arrow type -> (physical name in the kernel ABI, Python type of its values).
ARROW_TYPES: dict[pa.DataType, tuple[str, type]] = {
    pa.bool_(): ("bool", bool),
    pa.int8(): ("int8", int),
    pa.int16(): ("int16", int),
    pa.int32(): ("int32", int),
    pa.int64(): ("int64", int),
    pa.uint8(): ("uint8", int),
    pa.uint16(): ("uint16", int),
    pa.uint32(): ("uint32", int),
    pa.uint64(): ("uint64", int),
    pa.float32(): ("float32", float),
    pa.float64(): ("float64", float),
    pa.string(): ("utf8", str),
    pa.large_string(): ("large_utf8", str),
}

DICTIONARY_INDEX_LAYOUTS: dict[pa.DataType, str] = {
    pa.int8(): "dict8_utf8",
    pa.int16(): "dict16_utf8",
    pa.int32(): "dict32_utf8",
    pa.int64(): "dict64_utf8",
}


# Dictionary index types that kernels do not read, and the signed type that fits each.
SIGNED_INDEX_TYPES: dict[pa.DataType, pa.DataType] = {
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): pa.int64(),  # indices are below the dictionary's length
}


# The value types of dictionary-encoded strings that readable_strings casts.
STRING_VALUE_TYPES = (pa.string(), pa.large_string(), pa.string_view())


def readable_strings(
    resolver_name: str, name: str, array: pa.Array | pa.ChunkedArray, python_type: type | None = None
) -> pa.Array | pa.ChunkedArray:
    """Cast strings to a layout that kernels read; return other arrays as they are.

    Only a parameter of `python_type` str (or of no known type) gets a cast, so that a check of
    another parameter's type names the Arrow type passed.

    Kernels read string, large_string and dictionaries of string values with signed indices.
    Polars' categorical columns come as large_string values with uint32 indices, so those
    values are cast to string and unsigned indices to the next wider signed type, which
    copies the indices. string_view columns, which newer Polars and Arrow writers produce, are
    cast to string, which copies the text. Kernels do not read a dictionary's own validity,
    so a dictionary with a null entry is decoded, which makes the rows that point at it null.
    """
    if python_type is not None and python_type is not str:
        return array
    arrow_type = array.type
    targets: list[pa.DataType]  # cast in turn
    if pa.types.is_string_view(arrow_type):
        targets = [pa.string()]
    elif pa.types.is_dictionary(arrow_type) and arrow_type.value_type in STRING_VALUE_TYPES:
        index_type = SIGNED_INDEX_TYPES.get(arrow_type.index_type, arrow_type.index_type)
        if dictionary_has_nulls(array):
            targets = [pa.large_string() if arrow_type.value_type == pa.large_string() else pa.string()]
            if pa.types.is_string_view(arrow_type.value_type):
                # Arrow decodes no dictionary of string_view values, so those become string values first.
                targets.insert(0, pa.dictionary(index_type, pa.string()))
        elif index_type == arrow_type.index_type and arrow_type.value_type == pa.string():
            return array
        else:
            targets = [pa.dictionary(index_type, pa.string())]
    else:
        return array
    target = targets[0]
    try:
        for target in targets:
            array = array.cast(target)
        return array
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise TypeError(
            f"{resolver_name}(): parameter {name!r} got strings of Arrow type {arrow_type} that cannot be cast "
            f"to {target} ({error}); pass a string or large_string column"
        ) from None


def dictionary_has_nulls(array: pa.Array | pa.ChunkedArray) -> bool:
    """Return whether the dictionary of a dictionary-encoded array, or of any of its chunks, has a null entry."""
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    return any(chunk.dictionary.null_count > 0 for chunk in chunks)


def arrow_info(arrow_type: pa.DataType) -> tuple[str, type] | None:
    """Return (the kernel's physical layout, the Python type of the values) for an Arrow type.

    Dictionary-encoded strings with signed integer indices are read through their dictionary.
    Returns None for a type that featurejit does not read.
    """
    if pa.types.is_dictionary(arrow_type):
        layout = DICTIONARY_INDEX_LAYOUTS.get(arrow_type.index_type)
        if layout is not None and arrow_type.value_type == pa.string():
            return layout, str
        return None
    return ARROW_TYPES.get(arrow_type) or temporal_arrow_info(arrow_type)


# A tuple, because `pa.Array | pa.ChunkedArray` would build a union object on every call.
ARROW_ARRAYS = (pa.Array, pa.ChunkedArray)

ARROW_TYPE_OF: dict[type, pa.DataType] = {
    bool: pa.bool_(),
    int: pa.int64(),
    float: pa.float64(),
    str: pa.string(),
    **TEMPORAL_ARROW_TYPES,
}


# Argument, BoundCall and SegmentInput (in batch.py) are built on every call and never changed
# after. Plain slotted dataclasses build in a third of the time of frozen ones (0.23 against
# 0.65 us on an AMD EPYC (Zen 4) VM), and a call builds several per column.


@dataclass(slots=True)
class Argument:
    """One bound argument: a scalar value, or an Arrow array or chunked array."""

    name: str
    spec: ValueSpec
    scalar: Any = None
    array: pa.Array | pa.ChunkedArray | None = None

    @property
    def is_scalar(self) -> bool:
        return self.array is None

    @property
    def python_type(self) -> type | None:
        """The Python type of this argument's values, or None for a None scalar or an all-null array."""
        if self.array is None:
            return None if self.scalar is None else type(self.scalar)
        if pa.types.is_null(self.array.type):
            return None
        info = arrow_info(self.array.type)
        assert info is not None, "arrays are checked when bound"
        return info[1]


@dataclass(slots=True)
class BoundCall:
    """The checked arguments of one call, in parameter order."""

    arguments: tuple[Argument, ...]
    length: int | None  # None for a scalar call
    chunked: bool

    def scalar_values(self) -> list[Any]:
        return [argument.scalar for argument in self.arguments]


def describe(value: Any) -> str:
    """Describe a rejected argument in a few words: its type, and its value if it is short."""
    if isinstance(value, ARROW_ARRAYS):
        return f"an Arrow array of type {value.type}"
    if isinstance(value, np.ndarray):
        return f"a numpy array of dtype {value.dtype}"
    kind = type(value)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    shown = repr(value)
    if len(shown) > 40 or "\n" in shown:
        return f"a {name}"
    return f"{name} {shown}"


def normalize_scalar(value: Any) -> Any:
    """Turn numpy and Arrow scalars into the Python value they hold.

    Arrow's datetime, date and timedelta scalars convert as a batch's elements do, so that a
    timestamp[ns] is a datetime, not a pandas Timestamp, and one with nanoseconds raises ValueError.
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pa.Scalar):
        if value.is_valid and temporal_arrow_info(value.type) is not None:
            converted = converter(value.type)(value.value)
            if type(converted) is InvalidValue:
                raise converted.error
            return converted
        return value.as_py()
    return value


def a_type_name(python_type: type) -> str:
    """Return "an int" or "a float": the type's name with its article."""
    name = python_type.__name__
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def check_scalar(resolver_name: str, name: str, spec: ValueSpec, value: Any) -> Any:
    argument = value
    try:
        value = normalize_scalar(value)
    except (ValueError, OverflowError) as error:  # an Arrow datetime scalar that Python's types cannot hold
        raise type(error)(f"{resolver_name}(): parameter {name!r}: {error}") from None
    if value is None:
        return None
    accepted = ACCEPTED_TYPES[spec.python_type]
    if type(value) in accepted:
        return value
    if isinstance(value, accepted) and not (spec.python_type is datetime.date and isinstance(value, datetime.datetime)):
        # A subclass, such as an IntEnum member, which the call passes to the plain function (see call_scalar).
        return value
    kind = {datetime.datetime: np.datetime64, datetime.timedelta: np.timedelta64}.get(spec.python_type)
    if kind is not None and isinstance(argument, kind):
        # item() gives an int for nanoseconds, and a date for a datetime64 of days.
        reason = "Python cannot hold to the microsecond" if type(value) is int else f"is not {a_type_name(spec.python_type)}"
        raise TypeError(
            f"{resolver_name}(): parameter {name!r} expects {spec}, but got numpy.{kind.__name__} {argument}, which "
            f"{reason}; convert it with value.astype('{kind.__name__}[us]'), or pass it in an array"
        )
    raise TypeError(
        f"{resolver_name}(): parameter {name!r} expects {spec}, but got {describe(argument if isinstance(argument, np.datetime64 | np.timedelta64) else value)}; "
        f"pass {a_type_name(spec.python_type)}, or a column as a pyarrow array, a 1-D numpy array or a list "
        f"(for a pandas or Polars series, pass pyarrow.array(series), which keeps its nulls, or series.to_numpy())"
    )


# The numpy dtype kinds that a parameter of each Python type accepts, and their names for errors.
NUMPY_KINDS: dict[type | None, tuple[str, str]] = {
    int: ("biu", "bool or integer values"),
    float: ("biuf", "bool, integer, float32 or float64 values"),
    bool: ("b", "bool values"),
    str: ("", "a pyarrow string array or a list of str, because kernels read no numpy strings"),
    datetime.datetime: ("M", "datetime64 values"),
    datetime.date: ("M", "datetime64 values"),
    datetime.timedelta: ("m", "timedelta64 values"),
    None: ("biufMm", "bool, integer, float32, float64, datetime64 or timedelta64 values"),
}
# The numpy datetime64 units that Arrow converts to a timestamp; coarser ones become date32.
TIMESTAMP_UNITS = ("s", "ms", "us", "ns")


def to_arrow(
    resolver_name: str, name: str, value: Any, spec: ValueSpec | None = None
) -> pa.Array | pa.ChunkedArray | None:
    """Return `value` as an Arrow array if it is array-like, None if it is a scalar."""
    if isinstance(value, ARROW_ARRAYS):
        return readable_strings(resolver_name, name, value, None if spec is None else spec.python_type)
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise ValueError(
                f"{resolver_name}(): parameter {name!r} got a {value.ndim}-D numpy array of shape {value.shape}; "
                f"pass a 1-D array"
            )
        kinds, accepted = NUMPY_KINDS.get(spec.python_type, NUMPY_KINDS[None]) if spec else NUMPY_KINDS[None]
        if value.dtype.kind not in kinds or value.dtype == np.float16:
            raise TypeError(
                f"{resolver_name}(): parameter {name!r} got a numpy array of dtype {value.dtype}; pass {accepted}"
            )
        unit = np.datetime_data(value.dtype)[0] if value.dtype.kind in "Mm" else ""
        if spec is not None and spec.python_type is datetime.datetime and unit not in ("", *TIMESTAMP_UNITS):
            raise TypeError(
                f"{resolver_name}(): parameter {name!r} expects {spec}, but got a numpy array of dtype {value.dtype}, "
                f"which becomes Arrow dates; convert it with array.astype('datetime64[us]')"
            )
        if value.dtype.kind == "m" and unit not in TIMESTAMP_UNITS:
            raise TypeError(
                f"{resolver_name}(): parameter {name!r} got a numpy array of dtype {value.dtype}, whose unit Arrow "
                f"durations lack; convert it with array.astype('timedelta64[us]')"
            )
        if not value.dtype.isnative:
            raise TypeError(
                f"{resolver_name}(): parameter {name!r} got a numpy array of byte-swapped dtype {value.dtype.str}; "
                f"convert it with array.astype(array.dtype.newbyteorder('='))"
            )
        return pa.array(value)
    if isinstance(value, list | tuple):
        try:
            if spec is not None and spec.python_type in TEMPORAL_ARROW_TYPES:
                return temporal_list_to_arrow(value, spec.python_type)
            return pa.array(value)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError) as error:
            too_large = next((item for item in value if type(item) is int and not fits_int64(item)), None)
            if too_large is not None:
                fix = "call the resolver on each value, which runs such ints in the interpreter"
                int_parameter = spec is not None and spec.python_type is int
                if int_parameter and all(item is None or (type(item) is int and 0 <= item <= UINT64_MAX) for item in value):
                    fix = f"pass the list as pyarrow.array(values, pyarrow.uint64()), or {fix}"
                raise TypeError(
                    f"{resolver_name}(): parameter {name!r} got a list with the int {short_int(too_large)}, "
                    f"which does not fit in int64; {fix}"
                ) from None
            raise TypeError(f"{resolver_name}(): parameter {name!r} got a list Arrow cannot convert: {error}") from None
    return None


def check_array(resolver_name: str, name: str, spec: ValueSpec, array: pa.Array | pa.ChunkedArray) -> None:
    if pa.types.is_null(array.type):
        return
    entry = arrow_info(array.type)
    if entry is None or entry[1] not in ACCEPTED_TYPES[spec.python_type]:
        accepted = {
            float: "float64, float32, integer or bool",
            int: "integer or bool",
            bool: "bool",
            str: "string, large_string or dictionary-encoded string",
            datetime.datetime: "timestamp",
            datetime.date: "date32 or date64",
            datetime.timedelta: "duration",
        }[spec.python_type]
        raise TypeError(
            f"{resolver_name}(): parameter {name!r} expects {spec}, but got values of Arrow type {array.type}; "
            f"pass {accepted} values, or cast the column first"
        )


# Arrow types that parameters of a spec accepted before, as they were, without a cast: later
# arrays of these types skip the checks of bind_arguments (about 1 us per column).
ACCEPTED_ARROW_TYPES: set[tuple[pa.DataType, ValueSpec]] = set()
ACCEPTED_LIMIT = 1024  # past this many, the set is cleared (types of distinct zones add entries)


def bind_arguments(resolver_name: str, signature: Signature, values: list[Any]) -> BoundCall:
    """Check each argument against its annotation and find the batch length, if any."""
    arguments = []
    lengths: dict[str, int] = {}
    chunked = False
    for (name, spec), value in zip(signature.parameters, values, strict=True):
        if isinstance(value, ARROW_ARRAYS) and (value.type, spec) in ACCEPTED_ARROW_TYPES:
            array = value
        else:
            array = to_arrow(resolver_name, name, value, spec)
            if array is None:
                arguments.append(Argument(name, spec, scalar=check_scalar(resolver_name, name, spec, value)))
                continue
            check_array(resolver_name, name, spec, array)
            check_zone(array.type, name)
            # A dictionary array's type does not tell whether its dictionary has a null entry.
            if array is value and not pa.types.is_dictionary(array.type):
                if len(ACCEPTED_ARROW_TYPES) >= ACCEPTED_LIMIT:
                    ACCEPTED_ARROW_TYPES.clear()
                ACCEPTED_ARROW_TYPES.add((array.type, spec))
        chunked = chunked or isinstance(array, pa.ChunkedArray)
        lengths[name] = len(array)
        arguments.append(Argument(name, spec, array=array))
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise ValueError(f"{resolver_name}(): array arguments have different lengths ({shown}); pass arrays of one length")
    length = next(iter(lengths.values())) if lengths else None
    return BoundCall(tuple(arguments), length, chunked)


def fits_int64(value: Any) -> bool:
    return not isinstance(value, int) or isinstance(value, bool) or INT64_MIN <= value <= INT64_MAX
