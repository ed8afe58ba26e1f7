"""Sources of an entity's features: an Arrow table in memory, a Parquet file or folder, or a CSV file.

Every source is a `pyarrow.dataset` Dataset, so a scan reads only the columns a plan needs
and evaluates the query's filter inside the scan. For Parquet the filter also skips row
groups whose min/max statistics rule it out, and `ScanStats` reports how many row groups
and compressed bytes were read. Online lookups read whole columns once and keep them.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from featurejit.data import (
    CSV_COLUMN_TYPES,
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    name_csv_columns,
    one_column_options,
)
from featurejit.graph.entities import Entity, Feature
from featurejit.graph.errors import GraphError
from featurejit.graph.keys import KeyIndex

Filter: TypeAlias = pc.Expression | Sequence[Any] | None


@dataclass
class ScanStats:
    """The statistics of one scan of a source. Row group and byte counts are known for Parquet only."""

    source: str
    columns: list[str]
    filter: str | None
    rows: int
    seconds: float
    files: int | None = None
    row_groups_total: int | None = None
    row_groups_read: int | None = None
    bytes_total: int | None = None  # compressed size of every column chunk of the files
    bytes_read: int | None = None  # compressed size of the column chunks of the columns and row groups read


@dataclass
class ScanEstimate:
    """The rows a scan is expected to return, before it runs: exact for tables, an upper bound with a filter."""

    rows: int | None
    row_groups_total: int | None = None
    row_groups_read: int | None = None


def column_names(item: Any) -> Any:
    """Return a filter tuple, or a list of them, with a feature as first item replaced by its column name."""
    if isinstance(item, list):
        return [column_names(part) for part in item]
    if isinstance(item, tuple) and item and isinstance(item[0], Feature):
        return (item[0].column_name, *item[1:])
    return item


def filter_expression(filters: Filter) -> pc.Expression | None:
    """Return a query's filters as one expression: a pyarrow.compute expression, or DNF tuples as pyarrow.parquet takes them."""
    if filters is None or isinstance(filters, pc.Expression):
        return filters
    if isinstance(filters, list | tuple) and not filters:
        return None  # no filter keeps every row
    if isinstance(filters, dict):
        raise GraphError(
            f"invalid filters {filters!r}: a dict is not a filter; pass tuples such as "
            f"[('distance', '>', 1000)], or a pyarrow.compute expression such as pc.field('distance') > 1000"
        )
    filters = [column_names(item) for item in filters] if isinstance(filters, list) else filters
    try:
        return pq.filters_to_expression(filters)
    except (TypeError, ValueError) as error:
        raise GraphError(
            f"invalid filters {filters!r}: {error}; pass a pyarrow.compute expression such as "
            f"pc.field('distance') > 1000, or tuples such as [('distance', '>', 1000)]"
        ) from None


class Source:
    """An entity's stored features, scanned through a pyarrow dataset."""

    def __init__(self, dataset: ds.Dataset, description: str):
        self.dataset = dataset
        self.description = description
        self.lock = threading.Lock()
        self.loaded_columns: dict[str, pa.Array] = {}
        self.key_indexes: dict[str, KeyIndex] = {}
        # Lookup indexes, child groups and statistics of relationship keys (featurejit.graph.indexes).
        self.relationship_lookups: dict[tuple[str, tuple[str, ...]], Any] = {}

    @property
    def schema(self) -> pa.Schema:
        return self.dataset.schema

    def has_column(self, name: str) -> bool:
        return self.schema.get_field_index(name) >= 0

    def __repr__(self) -> str:
        return f"<source {self.description}>"

    def check_filter(self, expression: pc.Expression) -> None:
        """Raise GraphError unless the filter names only columns of this source with fitting types."""
        try:
            self.dataset.scanner(columns=[], filter=expression)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
            # Arrow's message for an unknown column goes on to print the whole schema.
            reason = str(error).splitlines()[0].split(" in ")[0]
            if "No match for FieldRef" in reason:
                hint = f"filters are pushed into the scan, so they may name only the source's columns: {', '.join(self.schema.names)}"
            else:
                columns = ", ".join(f"{field.name} {field.type}" for field in self.schema)
                hint = f"compare each column with a value of its type, such as pyarrow.scalar(value, type); the columns are: {columns}"
            raise GraphError(f"the filter {expression} does not apply to the source ({self.description}): {reason}; {hint}") from None

    def filter_columns(self, expression: pc.Expression | None) -> list[str]:
        """Return the columns of this source that a filter reads, in schema order."""
        if expression is None:
            return []
        # A column the filter reads has its name in the filter's text, which rules most columns out cheaply.
        text = str(expression)
        return [name for name in self.schema.names if name in text and self.filter_reads(expression, name)]

    def filter_reads(self, expression: pc.Expression, name: str) -> bool:
        """Return whether a filter that applies to this source reads the column `name`."""
        without = pa.schema([column for column in self.schema if column.name != name])
        try:
            ds.dataset(without.empty_table()).scanner(columns=[], filter=expression)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return True
        return False

    def scan(self, columns: list[str], expression: pc.Expression | None) -> tuple[pa.Table, ScanStats]:
        """Read `columns` of the rows that pass the filter."""
        start = time.perf_counter()
        table = self.read(self.dataset, columns, expression)
        stats = ScanStats(self.description, columns, None if expression is None else str(expression), table.num_rows, 0.0)
        stats.seconds = time.perf_counter() - start
        return table, stats

    def read(self, dataset: ds.Dataset, columns: list[str], expression: pc.Expression | None) -> pa.Table:
        try:
            return dataset.to_table(columns=columns, filter=expression)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError) as error:
            raise GraphError(f"scanning the source ({self.description}) failed: {error}") from None

    def estimate(self, expression: pc.Expression | None) -> ScanEstimate:
        return ScanEstimate(self.count_rows() if expression is None else None)

    def count_rows(self) -> int | None:
        return None

    def column(self, name: str) -> pa.Array:
        """Return the whole column, read once and kept, for online lookups."""
        with self.lock:
            loaded = self.loaded_columns.get(name)
            if loaded is None:
                loaded = self.read_column(name)
                self.loaded_columns[name] = loaded
            return loaded

    def read_column(self, name: str) -> pa.Array:
        return self.read(self.dataset, [name], None).column(name).combine_chunks()

    def key_index(self, name: str) -> KeyIndex:
        """Return the index of the key column `name`, built on first use."""
        index = self.key_indexes.get(name)
        if index is None:
            index = KeyIndex(name, self.column(name))
            with self.lock:
                index = self.key_indexes.setdefault(name, index)
        return index


class TableSource(Source):
    """An Arrow table in memory."""

    def __init__(self, table: pa.Table, description: str | None = None):
        rows = f"{table.num_rows:,} row{'' if table.num_rows == 1 else 's'}"
        super().__init__(ds.dataset(table), description or f"an Arrow table of {rows}")
        self.table = table

    def count_rows(self) -> int:
        return self.table.num_rows

    def read_column(self, name: str) -> pa.Array:
        return self.table.column(name).combine_chunks()


class CsvSource(Source):
    """A CSV file, optionally gzip or bzip2 compressed. Empty fields and "NA" are nulls, in string columns too.

    Columns of declared int, float, bool and str features are read as those types; others as
    Arrow guesses from the first rows. A column of `empty_types` that Arrow guesses to hold only
    nulls, such as a datetime column without values, is read as the type given there, so that
    joins through it find no match instead of failing on Arrow's null type.
    """

    def __init__(
        self, path: Path, column_types: dict[str, pa.DataType] | None = None, empty_types: dict[str, pa.DataType] | None = None
    ):
        convert = pa_csv.ConvertOptions(strings_can_be_null=True, column_types=column_types or {})
        try:
            dataset = ds.dataset(path, format=ds.CsvFileFormat(convert_options=convert))
            empty = {
                name: arrow_type
                for name, arrow_type in (empty_types or {}).items()
                if dataset.schema.get_field_index(name) >= 0 and pa.types.is_null(dataset.schema.field(name).type)
            }
            if empty:
                convert = pa_csv.ConvertOptions(strings_can_be_null=True, column_types={**(column_types or {}), **empty})
                dataset = ds.dataset(path, format=ds.CsvFileFormat(convert_options=convert))
            if len(dataset.schema) == 1:  # empty lines are empty fields, as featurejit.data.read_csv reads them
                read, parse = one_column_options(path, dataset.schema.names[0], pa_csv.ReadOptions())
                dataset = ds.dataset(path, format=ds.CsvFileFormat(read_options=read, parse_options=parse, convert_options=convert))
        except (pa.ArrowInvalid, OSError) as error:
            raise GraphError(f"{path} could not be read as CSV: {name_csv_columns(path, str(error))}") from None
        except UnicodeDecodeError:
            raise GraphError(f"the column names of {path} are not UTF-8 text; save the file as UTF-8") from None
        super().__init__(dataset, str(path))


class ParquetSource(Source):
    """A Parquet file or a folder of Parquet files. Scans skip row groups by their statistics."""

    def __init__(self, path: Path):
        try:
            dataset = ds.dataset(path, format="parquet")
        except (pa.ArrowInvalid, OSError) as error:
            raise GraphError(f"{path} could not be read as Parquet: {error}") from None
        super().__init__(dataset, str(path))

    def count_rows(self) -> int:
        return int(self.dataset.count_rows())

    def pruned_fragments(self, expression: pc.Expression | None) -> tuple[list[Any], list[Any]]:
        """Return the files, and the same files narrowed to the row groups the filter may match."""
        fragments = list(self.dataset.get_fragments())
        if expression is None:
            return fragments, fragments
        kept = [fragment.subset(filter=expression) for fragment in self.dataset.get_fragments(filter=expression)]
        return fragments, kept

    def estimate(self, expression: pc.Expression | None) -> ScanEstimate:
        fragments, kept = self.pruned_fragments(expression)
        rows = sum(group.num_rows for fragment in kept for group in fragment.row_groups)
        total = sum(fragment.num_row_groups for fragment in fragments)
        return ScanEstimate(rows, total, sum(len(fragment.row_groups) for fragment in kept))

    def scan(self, columns: list[str], expression: pc.Expression | None) -> tuple[pa.Table, ScanStats]:
        start = time.perf_counter()
        fragments, kept = self.pruned_fragments(expression)
        narrowed = ds.FileSystemDataset(kept, self.schema, self.dataset.format, self.dataset.filesystem)
        table = self.read(narrowed, columns, expression)
        # The scan also reads the columns the filter tests, which the output may leave out.
        read = [*columns, *(name for name in self.filter_columns(expression) if name not in columns)]
        stats = ScanStats(
            self.description,
            columns,
            None if expression is None else str(expression),
            table.num_rows,
            0.0,
            files=len(fragments),
            row_groups_total=sum(fragment.num_row_groups for fragment in fragments),
            row_groups_read=sum(len(fragment.row_groups) for fragment in kept),
            bytes_total=sum(chunk_bytes(fragment, None, None) for fragment in fragments),
            bytes_read=sum(chunk_bytes(fragment, read, [group.id for group in fragment.row_groups]) for fragment in kept),
        )
        stats.seconds = time.perf_counter() - start
        return table, stats


def chunk_bytes(fragment: Any, columns: list[str] | None, row_groups: list[int] | None) -> int:
    """Return the compressed size of a Parquet file's column chunks, of some columns and row groups or all."""
    metadata = fragment.metadata
    groups = range(metadata.num_row_groups) if row_groups is None else row_groups
    total = 0
    for group in groups:
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            chunk = row_group.column(index)
            if columns is None or chunk.path_in_schema.split(".")[0] in columns:
                total += chunk.total_compressed_size
    return total


def csv_column_types(entity: Entity | None) -> dict[str, pa.DataType]:
    """Return the Arrow type of each CSV column of `entity`'s int, float, bool and str features."""
    if entity is None:
        return {}
    return {
        name: CSV_COLUMN_TYPES[feature.type.python_type]
        for name, feature in entity.features.items()
        if feature.type.python_type in CSV_COLUMN_TYPES
    }


def csv_empty_types(entity: Entity | None) -> dict[str, pa.DataType]:
    """Return the Arrow type of each CSV column of `entity`'s datetime features, for columns without values.

    Arrow reads such a column as its null type, which joins cannot compare with other keys.
    Naive microseconds are the unit of Python's datetimes, and a key column without values
    matches no key of any type (see featurejit.graph.offline_joins.target_has_keys).
    """
    if entity is None:
        return {}
    return {name: pa.timestamp("us") for name, feature in entity.features.items() if feature.type.python_type is datetime.datetime}


def make_source(data: Any, entity: Entity | None = None) -> Source:
    """Return a source for a Table or RecordBatch, or the path of a Parquet file or folder or a CSV file.

    A CSV file's columns take the types of `entity`'s features of their names (see CsvSource).
    """
    if isinstance(data, Source):
        return data
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if isinstance(data, pa.Table):
        return TableSource(data)
    if not isinstance(data, str | Path):
        raise TypeError(
            f"a source is a pyarrow Table or the path of a Parquet or CSV file, but got {type(data).__name__}"
        )
    path = Path(data)
    name = path.name.lower()
    if not path.exists():
        raise GraphError(f"the source {path} was not found; check the path")
    if name.endswith(CSV_SUFFIXES) and path.is_file():
        return CsvSource(path, csv_column_types(entity), csv_empty_types(entity))
    if name.endswith(PARQUET_SUFFIXES) or path.is_dir():
        return ParquetSource(path)
    raise GraphError(f"the source {path} is neither a Parquet file or folder nor a CSV file; use .parquet, .pq or .csv")
