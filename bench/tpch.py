"""TPC-H tables for the benchmarks, written as Parquet by tpchgen-cli and kept between runs.

tpchgen-cli is a TPC-H data generator on PyPI (`pip install tpchgen-cli`, part of the
`bench` extra). Its tables for one scale factor go to `bench/data/tpch-sf<scale>/`, which
git ignores, and later runs read them from there instead of generating them again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DATA_FOLDER = Path(__file__).resolve().parent / "data"
GENERATOR = "tpchgen-cli"
GENERATE_TIMEOUT_SECONDS = 900  # tpchgen-cli 4.0.0 wrote scale factor 1 in 5.5 s on 2 cores


class GeneratorMissing(Exception):
    """tpchgen-cli is not installed, and the tables it would write are not on disk either."""


def find_generator() -> str | None:
    """Return the path of tpchgen-cli, or None if it is not installed.

    pip puts the program beside the Python executable of the environment it installs into.
    That folder is searched first, so the program is found in a virtualenv that is not activated.
    """
    beside_python = Path(sys.executable).parent / GENERATOR
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which(GENERATOR)


def table_folder(scale: float, data_folder: Path = DATA_FOLDER) -> Path:
    return data_folder / f"tpch-sf{scale:g}"


def ensure_tables(scale: float, tables: Sequence[str], data_folder: Path = DATA_FOLDER) -> Path:
    """Return the folder that contains `<table>.parquet` for each of `tables` at `scale`, generating them if needed.

    Raises GeneratorMissing if a table is not on disk and tpchgen-cli is not installed, and
    RuntimeError if tpchgen-cli fails or times out.
    """
    folder = table_folder(scale, data_folder)
    if all((folder / f"{table}.parquet").is_file() for table in tables):
        return folder
    generator = find_generator()
    if generator is None:
        raise GeneratorMissing(
            f"{GENERATOR} is not installed and {folder} has no TPC-H tables. "
            f"Install it with pip install {GENERATOR} (or pip install -e '.[bench]')."
        )
    data_folder.mkdir(parents=True, exist_ok=True)
    # The tables go to a new folder that is renamed into place only once every file is
    # complete, so an interrupted run never leaves a partial table for later runs to read.
    partial = data_folder / f".{folder.name}-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)  # left by an interrupted run of a process with the same id
    partial.mkdir()
    command = [
        generator, "parquet", "--scale-factor", f"{scale:g}", "--tables", ",".join(tables),
        "--output-dir", str(partial), "--quiet",
    ]
    try:
        run_generator(command)
        if folder.exists():
            shutil.rmtree(folder)
        partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def run_generator(command: list[str]) -> None:
    """Run tpchgen-cli, raising RuntimeError with its error output if it fails."""
    text = " ".join(command)
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=GENERATE_TIMEOUT_SECONDS)
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"{text} failed with exit status {error.returncode}: {error.stderr.strip()}") from error
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"{text} timed out after {GENERATE_TIMEOUT_SECONDS} s") from error
    except OSError as error:
        raise RuntimeError(f"{text} failed to start: {error}") from error


def read_table(folder: Path, table: str, columns: Sequence[str]) -> pa.Table:
    """Read the named columns of a generated table, one chunk per Parquet row group."""
    return pq.read_table(folder / f"{table}.parquet", columns=list(columns))
