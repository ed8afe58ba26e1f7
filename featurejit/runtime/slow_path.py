"""The interpreter side of a batch: re-running flagged rows in CPython and storing their results.

A kernel flags the rows whose exact result it cannot compute (an int64 overflow, a division
by zero, None where the annotation does not allow it, ...). Those rows run here, through the
plain Python function, so the batch result is CPython's row for row, errors included.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from featurejit.errors import OutputTypeError
from featurejit.runtime.temporal import (
    MICROSECOND,
    TEMPORAL_ARROW_TYPES,
    python_values,
    raise_invalid,
    temporal_arrow_info,
)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


NUMPY_TYPES: dict[pa.DataType, type] = {
    pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64,
    pa.uint8(): np.uint8, pa.uint16(): np.uint16, pa.uint32(): np.uint32, pa.uint64(): np.uint64,
    pa.float32(): np.float32, pa.float64(): np.float64,
}


def read_bits(buffer: pa.Buffer, positions: np.ndarray) -> np.ndarray:
    """Return the bits of an LSB-first Arrow bitmap at the given positions, as booleans."""
    data = np.frombuffer(buffer, dtype=np.uint8)
    return ((data[positions >> 3] >> (positions & 7)) & 1).astype(bool)


def gather_values(source: pa.Array, broadcast: bool, rows: np.ndarray) -> list[Any]:
    """Return the Python values of `source` at `rows`, or its one value repeated if broadcast.

    Values come straight from the Arrow buffers through numpy, because pyarrow's take() and
    to_numpy() import pandas on first use, which costs 0.15 s.
    """
    if broadcast:
        return [source[0].as_py()] * len(rows)
    if temporal_arrow_info(source.type) is not None:
        return python_values(source, rows)
    if source.type not in NUMPY_TYPES and not pa.types.is_boolean(source.type):  # strings
        return [source[row].as_py() for row in rows.tolist()]
    validity, data = source.buffers()[:2]
    positions = rows.astype(np.int64) + source.offset
    if pa.types.is_boolean(source.type):
        values = read_bits(data, positions).tolist()
    else:
        elements: np.ndarray = np.frombuffer(data, dtype=NUMPY_TYPES[source.type], count=source.offset + len(source))
        values = elements[positions].tolist()
    if validity is not None and source.null_count:
        present = read_bits(validity, positions).tolist()
        values = [value if valid else None for value, valid in zip(values, present, strict=True)]
    return values


@dataclass(frozen=True)
class RowLocation:
    """The origin of a row error: the row's own exception, the resolver, the row and its inputs.

    `row` counts from the start of the call. A feature graph restates it once (`restated`), as
    a row of its query, and names the entity row by its key in `entity_row`, such as "the Trip
    with id=12". It hides the row number where it means nothing to the caller, as for the
    partner rows of a join.
    """

    cause: Exception
    resolver_name: str
    row: int
    inputs: str
    entity_row: str | None = None
    show_row: bool = True
    restated: bool = False

    def describe(self) -> str:
        where = f"row {self.row} of {self.resolver_name}" if self.show_row else self.resolver_name
        if self.entity_row is not None:
            where += f"{',' if self.show_row else ''} for {self.entity_row}"
        return f"{where}: {self.inputs}"


LOCATION_ATTRIBUTE = "_featurejit_row_location"


def located_error(
    error: Exception,
    resolver_name: str,
    row: int,
    names: Sequence[str],
    values: Sequence[Any],
    excluding_none: Mapping[str, str] | None = None,
) -> Exception:
    """Return the row's exception with the row index and its inputs added to what it reports.

    A builtin exception with a plain message (ZeroDivisionError, OverflowError, ...) is raised
    again with the row in its message. Any other exception keeps its identity and attributes,
    and gets the row as a note, which tracebacks print. row_location() returns the location.

    `excluding_none` maps the parameters whose annotation excludes None to that annotation.
    A TypeError of a row that passes None to one of them names that annotation, because the
    usual cause is a null in a column whose annotation excludes None.
    """
    inputs = ", ".join(f"{name}={input_repr(value)}" for name, value in zip(names, values, strict=True))
    if isinstance(error, TypeError) and excluding_none:
        none_inputs = [name for name, value in zip(names, values, strict=True) if value is None and name in excluding_none]
        inputs += "".join(f"; {name} is annotated {excluding_none[name]}, not {excluding_none[name]} | None" for name in none_inputs)
    return with_location(RowLocation(error, resolver_name, row, inputs))


# A row error shows at most this many characters of each input's repr.
MAX_INPUT_REPR = 200


def input_repr(value: Any) -> str:
    """Return repr(value) for a row error, cut to MAX_INPUT_REPR characters with the full size after it."""
    text = repr(value)
    if len(text) <= MAX_INPUT_REPR:
        return text
    size = f"a str of {len(value):,} characters" if isinstance(value, str) else f"a repr of {len(text):,} characters"
    return f"{text[:MAX_INPUT_REPR]}... ({size})"


def row_location(error: BaseException) -> RowLocation | None:
    """Return where a row error that located_error made came from, or None for any other exception."""
    location = getattr(error, LOCATION_ATTRIBUTE, None)
    return location if isinstance(location, RowLocation) else None


def relocated_error(error: Exception, location: RowLocation) -> Exception:
    """Return a row error that located_error made, reporting `location` in place of its own."""
    previous = row_location(error)
    assert previous is not None, "only errors from located_error are relocated"
    cause = location.cause
    if error is cause:  # the location is a note on the exception itself, so the old note goes
        cause.__notes__ = [note for note in getattr(cause, "__notes__", []) if note != f"in {previous.describe()}"]
    return with_location(location)


def with_location(location: RowLocation) -> Exception:
    error = location.cause
    where = location.describe()
    plain_message = type(error).__module__ == "builtins" or isinstance(error, OutputTypeError)
    if plain_message and not isinstance(error, KeyError | OSError) and len(error.args) <= 1:
        message = str(error)
        located = type(error)(f"{message} ({where})" if message else f"({where})")
        located.__cause__ = error
    else:
        error.add_note(f"in {where}")
        located = error
    setattr(located, LOCATION_ATTRIBUTE, location)
    return located


def convert_result(value: Any, output: type) -> tuple[Any, bool]:
    """Return (the value to store, whether it is present) for a Python result; raise if it does not fit."""
    if value is None:
        return 0, False
    if output is float:
        if type(value) in (float, int, bool):
            return float(value), True
    elif output is int:
        if type(value) in (int, bool):
            if not INT64_MIN <= value <= INT64_MAX:
                raise OverflowError(f"the result {short_int(value)} does not fit in int64, the output column's type")
            return int(value), True
    elif output is str:
        if type(value) is str:
            return value, True
    elif output in TEMPORAL_ARROW_TYPES:
        if type(value) is output:  # exactly: a datetime is not a date here
            if isinstance(value, datetime.timedelta) and not INT64_MIN <= value // MICROSECOND <= INT64_MAX:
                raise OverflowError(f"the result {value!r} does not fit in duration[us], the output column's type")
            return value, True  # TemporalOutput encodes it
    elif type(value) is bool:
        return value, True
    raise OutputTypeError(
        f"the result {value!r} ({type(value).__name__}) does not match the return annotation {output.__name__}"
    )


class ResultCheck:
    """The check of one output's results, row by row: each fits the annotation (see convert_result),
    and datetimes are all naive or all aware, since an Arrow column contains one kind."""

    def __init__(self, output: type):
        self.output = output
        self.aware: bool | None = None  # the kind of the first datetime stored

    def __call__(self, value: Any) -> tuple[Any, bool]:
        stored, present = convert_result(value, self.output)
        if present:
            self.check_kind(value)
        return stored, present

    def check_kind(self, value: Any) -> None:
        """Raise OutputTypeError for a datetime of the other kind than the first one checked."""
        if self.output is not datetime.datetime:
            return
        aware = value.tzinfo is not None
        if self.aware is None:
            self.aware = aware
        elif aware != self.aware:
            raise OutputTypeError(
                f"the result {value!r} is {'an aware' if aware else 'a naive'} datetime, but an earlier row "
                f"returned {'an aware' if self.aware else 'a naive'} one; return one kind on every row"
            )


@dataclass
class RowResults:
    """The interpreter's results for some rows: the values to store, their presence, and the error count."""

    values: list[Any]
    present: list[bool]
    errors: int


def run_rows(
    function: Callable[..., Any],
    resolver_name: str,
    names: Sequence[str],
    columns: Sequence[list[Any]],
    rows: np.ndarray,
    first_row: int,
    on_error: str,
    output: type,
    check: ResultCheck | None = None,
    excluding_none: Mapping[str, str] | None = None,
) -> RowResults:
    """Run `function` on the given rows and return what to store for each.

    `check` checks the results; a call of several segments passes one for all of them.
    `excluding_none` is as for located_error.

    `columns` contains each argument's Python values at `rows`, in the same order. With
    on_error="raise" the first failing row raises its CPython exception class, with the row
    index (counted from the start of the call) and the row's inputs in the message. With
    on_error="null" a failing row becomes null and is counted.
    """
    results = RowResults([], [], 0)
    # Gathers each column once, instead of once per row. Indexing, not list(), so that an
    # IndexError of a gather is raised instead of ending the iteration early.
    columns = [columns[index] for index in range(len(columns))]
    if check is None:
        check = ResultCheck(output)
    for position, row in enumerate(rows.tolist()):
        values = [column[position] for column in columns]
        try:
            raise_invalid(values)
            stored, present = check(function(*values))
        except Exception as error:  # noqa: BLE001 - any exception of user code is a row error
            if on_error == "raise":
                raise located_error(error, resolver_name, first_row + row, names, values, excluding_none) from error
            results.errors += 1
            stored, present = 0, False
        results.values.append(stored)
        results.present.append(present)
    return results


def short_int(value: int) -> str:
    """Return an int as text, or its leading digits and its digit count when it is long."""
    text = str(value)
    digits = len(text.lstrip("-"))
    if digits <= 30:
        return text
    return f"{text[:12]}... ({digits} digits)"
