"""Running a resolver in the interpreter, row by row, in this process or in a pool of processes.

Resolvers that do not compile (loops, str or datetime features, several results) run here.
Small batches, such as online requests, run in the calling process. From
`settings.pool_rows` rows on, and with more than one thread allowed, the rows are split
into chunks that run in forked worker processes, which inherit the resolver's function, so it
need not be importable or picklable. The results are the same either way, errors included:
with on_error="raise" the first failing row raises, and with "null" failing rows are null.
"""

from __future__ import annotations

import datetime
import itertools
import logging
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from featurejit.errors import CompileError, OutputTypeError
from featurejit.graph.bindings import ResolverNode
from featurejit.graph.entities import Feature
from featurejit.runtime.batch import CallStats
from featurejit.runtime.slow_path import ResultCheck, convert_result, located_error
from featurejit.runtime.state import log_null_rows
from featurejit.settings import settings

logger = logging.getLogger("featurejit")

# Resolvers of the pool runs under way, by run number. Forked workers inherit this dict, so
# only run numbers and values cross the process boundary.
RUNNING: dict[int, ResolverNode] = {}
run_numbers = itertools.count()


@dataclass
class InterpretedResult:
    """The values of each written feature (None for null), in the resolver's output order, and the rows set to null."""

    columns: list[list[Any]]
    errors: int


def convert_value(value: Any, feature: Feature) -> Any:
    """Return the value a feature stores for a result, or raise OutputTypeError or OverflowError if it does not fit."""
    if value is None:
        return None
    python_type = feature.type.python_type
    if python_type in (bool, int, float):
        stored, _ = convert_result(value, python_type)
        return stored
    if python_type is str and isinstance(value, str):
        return value
    if python_type is datetime.datetime and isinstance(value, datetime.datetime):
        return value
    raise OutputTypeError(f"the result {value!r} ({type(value).__name__}) does not fit {feature!r}, declared {feature.type}")


def split_results(node: ResolverNode, result: Any) -> list[Any]:
    """Return one value per written feature from what the function returned."""
    if not node.returns_tuple:
        return [convert_value(result, node.outputs[0])]
    if not isinstance(result, tuple | list) or len(result) != len(node.outputs):
        raise OutputTypeError(
            f"the result {result!r} is not a tuple of {len(node.outputs)} values, "
            f"one for each of {', '.join(map(repr, node.outputs))}"
        )
    return [convert_value(value, feature) for value, feature in zip(result, node.outputs, strict=True)]


def excluding_none(node: ResolverNode) -> dict[str, str]:
    """Return the node's parameters whose annotation excludes None, or none for annotations the compiler cannot read."""
    try:
        return node.resolver.signature().excluding_none()
    except CompileError:
        return {}


def run_rows(node: ResolverNode, arguments: dict[str, list[Any]], rows: int, first_row: int) -> InterpretedResult:
    """Call the resolver's function on each of `rows` rows of `arguments`, one list of values per parameter."""
    names = list(arguments)
    function = node.function
    outputs: list[list[Any]] = [[] for _ in node.outputs]
    errors = 0
    # Parameters are passed by position, which is faster than by keyword, unless some are keyword-only.
    by_position = all(parameter.kind == parameter.POSITIONAL_OR_KEYWORD for parameter in node.parameters)
    rows_of_values = zip(*arguments.values(), strict=True) if arguments else itertools.repeat((), rows)
    # Only datetime outputs need a check of their own, that every row returns one kind.
    checks = {index: ResultCheck(datetime.datetime) for index, feature in enumerate(node.outputs) if feature.type.python_type is datetime.datetime}
    for row, values in enumerate(rows_of_values):
        try:
            result = function(*values) if by_position else function(**dict(zip(names, values, strict=True)))
            results = split_results(node, result)
            for index, check in checks.items():
                if results[index] is not None:
                    check.check_kind(results[index])
        except Exception as error:  # noqa: BLE001 - any exception of user code is a row error
            if node.resolver.on_error == "raise":
                raise located_error(error, node.name, first_row + row, names, list(values), excluding_none(node)) from error
            errors += 1
            results = [None] * len(node.outputs)
        for output, value in zip(outputs, results, strict=True):
            output.append(value)
    return InterpretedResult(outputs, errors)


def run_pool_chunk(run_number: int, arguments: dict[str, list[Any]], first_row: int) -> InterpretedResult:
    """Run one chunk in a worker process, finding the resolver in the inherited RUNNING dict."""
    rows = len(next(iter(arguments.values())))
    return run_rows(RUNNING[run_number], arguments, rows, first_row)


def uses_pool(rows: int) -> bool:
    # NOTE: workers are forked so that they inherit the function. Other platforms run every
    # batch in the calling process, because fork is missing on Windows and unsafe on macOS.
    return rows >= settings.pool_rows and settings.threads > 1 and sys.platform.startswith("linux")


def run_interpreted(node: ResolverNode, arguments: dict[str, list[Any]], rows: int) -> InterpretedResult:
    """Run the resolver on every row, in a process pool for large batches, else in this process.

    Rows that an on_error="null" resolver set to null are logged as a compiled call logs them.
    """
    result = run_batches(node, arguments, rows)
    if result.errors:
        log_null_rows(node.resolver, node.name, CallStats(rows=rows, error_rows=result.errors), explained=False)
    return result


def run_batches(node: ResolverNode, arguments: dict[str, list[Any]], rows: int) -> InterpretedResult:
    if not uses_pool(rows) or not arguments:
        return run_rows(node, arguments, rows, 0)
    chunk = -(-rows // (4 * settings.threads))
    starts = list(range(0, rows, chunk))
    run_number = next(run_numbers)
    RUNNING[run_number] = node
    logger.debug("%s: running %d rows in the interpreter in %d processes", node.name, rows, settings.threads)
    try:
        with ProcessPoolExecutor(settings.threads, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [
                pool.submit(run_pool_chunk, run_number, {name: values[start : start + chunk] for name, values in arguments.items()}, start)
                for start in starts
            ]
            # Chunks are read in row order, so the first failing row is the one raised, as in one process.
            results = [future.result() for future in futures]
    finally:
        del RUNNING[run_number]
    columns = [[value for result in results for value in result.columns[index]] for index in range(len(node.outputs))]
    errors = sum(result.errors for result in results) + null_mixed_kinds(node, arguments, columns)
    return InterpretedResult(columns, errors)


def null_mixed_kinds(node: ResolverNode, arguments: dict[str, list[Any]], columns: list[list[Any]]) -> int:
    """Fail the rows whose datetime differs in kind from the first of its column, as one process's run_rows does.

    Each pool chunk checks its own rows only. Return the rows set to null (on_error="null").
    """
    failed: set[int] = set()
    for feature, values in zip(node.outputs, columns, strict=True):
        if feature.type.python_type is not datetime.datetime:
            continue
        check = ResultCheck(datetime.datetime)
        for row, value in enumerate(values):
            if value is None or row in failed:
                continue
            try:
                check.check_kind(value)
            except OutputTypeError as error:
                if node.resolver.on_error == "raise":
                    names = list(arguments)
                    raise located_error(error, node.name, row, names, [arguments[name][row] for name in names]) from error
                failed.add(row)
    for row in failed:
        for values in columns:
            values[row] = None
    return len(failed)
