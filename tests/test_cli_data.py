"""Tests of the files that `featurejit run --data` reads: CSV types, empty lines, text and zones."""

from __future__ import annotations

import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import featurejit as fj
from featurejit.zones import fixed_offset
from tests.test_cli import run_main, write_resolver_file

TEXT_LENGTH = (
    "import featurejit as fj\n\n"
    "@fj.jit_resolver\n"
    "def text_length(txt: str | None) -> int | None:\n"
    "    return None if txt is None else len(txt)\n"
)
OR_MINUS_ONE = (
    "import featurejit as fj\n\n"
    "@fj.jit_resolver\n"
    "def a_or_minus_one(a: int | None) -> int:\n"
    "    return -1 if a is None else a\n"
)
HOUR = (
    "from datetime import datetime\n\n"
    "import featurejit as fj\n\n"
    "@fj.jit_resolver\n"
    "def hour(ts: datetime) -> int:\n"
    "    return ts.hour\n"
)


def run_to_parquet(capsys: pytest.CaptureFixture[str], tmp_path: Path, source: str, data: Path) -> tuple[int, str, pa.Table | None]:
    """Run the resolver source over the data file with --output; return the exit code, stderr and the written table."""
    resolvers = write_resolver_file(tmp_path, "resolvers.py", source)
    output = tmp_path / "out.parquet"
    code, _, err = run_main(capsys, "run", str(resolvers), "--data", str(data), "--output", str(output), "--preview", "0")
    return code, err, pq.read_table(output) if code == 0 else None


def test_one_column_csv_keeps_empty_lines_as_nulls(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "one.csv"
    data.write_text("a\n1\n\n2\n\n")

    code, err, written = run_to_parquet(capsys, tmp_path, OR_MINUS_ONE, data)

    assert code == 0, err
    assert written is not None
    assert written.column("a").to_pylist() == [1, None, 2, None]
    assert written.column("a_or_minus_one").to_pylist() == [1, -1, 2, -1]


@pytest.mark.parametrize(
    ("content", "values"),
    [("\na\n1\n\n2\n", [1, None, 2]), ("\r\n\r\na\r\n1\r\n", [1]), ("a\n", [])],
    ids=["empty line before the header", "CRLF lines", "header only"],
)
def test_one_column_csv_keeps_its_header(capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, values: list[int | None]) -> None:
    data = tmp_path / "one.csv"
    data.write_bytes(content.encode())

    code, err, written = run_to_parquet(capsys, tmp_path, OR_MINUS_ONE, data)

    assert code == 0, err
    assert written is not None
    assert written.column("a").to_pylist() == values


def test_csv_of_two_columns_skips_empty_lines(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "two.csv"
    data.write_text("a,b\n1,x\n\n2,y\n,z\n")

    code, err, written = run_to_parquet(capsys, tmp_path, OR_MINUS_ONE, data)

    assert code == 0, err
    assert written is not None
    assert written.column("a_or_minus_one").to_pylist() == [1, 2, -1], "an empty line is no row, an empty field is null"


def test_csv_columns_take_annotated_types(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "typed.csv"
    data.write_text("txt,flag\n02134,1\n10001,0\n")
    source = TEXT_LENGTH + (
        "\n@fj.jit_resolver\n"
        "def flipped(flag: bool) -> bool:\n"
        "    return not flag\n"
    )

    code, err, written = run_to_parquet(capsys, tmp_path, source, data)

    assert code == 0, err
    assert written is not None
    assert written.column("txt").to_pylist() == ["02134", "10001"], "digits read by a str parameter stay text"
    assert written.column("text_length").to_pylist() == [5, 5]
    assert written.column("flipped").to_pylist() == [False, True]


def test_csv_column_of_mixed_parameter_types(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "mixed.csv"
    data.write_text("a\n1\n2\n")
    source = OR_MINUS_ONE + (
        "\n@fj.jit_resolver\n"
        "def half(a: float) -> float:\n"
        "    return a / 2\n"
    )

    code, err, written = run_to_parquet(capsys, tmp_path, source, data)

    assert code == 0, err
    assert written is not None
    assert written.column("a").type == pa.int64(), "an int column serves a float parameter too"
    assert written.column("half").to_pylist() == [0.5, 1.0]


def test_csv_value_that_does_not_parse_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "late.csv"
    data.write_text("a\n" + "1\n" * 5000 + "x\n")

    code, err, _ = run_to_parquet(capsys, tmp_path, OR_MINUS_ONE, data)

    assert code == 2
    assert "In CSV column #0 ('a'): CSV conversion error to int64: invalid value 'x'" in err
    assert "Traceback" not in err


def test_csv_row_longer_than_a_block(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "long.csv"
    data.write_text("txt,a\n" + "x" * 3_000_000 + ",1\nyz,2\n")

    code, err, written = run_to_parquet(capsys, tmp_path, TEXT_LENGTH, data)

    assert code == 0, err
    assert written is not None
    assert written.column("text_length").to_pylist() == [3_000_000, 2]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"caf\xe9\n1\n", "bad.csv are not UTF-8 text; save the file as UTF-8"),
        (b"txt\nd\xe9j\xe0\n", "save the file as UTF-8 text"),
    ],
    ids=["latin-1 header", "latin-1 text field"],
)
def test_csv_that_is_not_utf8(capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, message: str) -> None:
    data = tmp_path / "bad.csv"
    data.write_bytes(content)

    code, err, _ = run_to_parquet(capsys, tmp_path, TEXT_LENGTH, data)

    assert code == 2
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "column",
    [
        pa.array(["ab", None, "été"], type=pa.string_view()),
        pa.array(["ab", None, "été"]).dictionary_encode().cast(pa.dictionary(pa.uint32(), pa.string())),
    ],
    ids=["string_view", "dictionary with uint32 indices"],
)
def test_text_columns_cast_for_kernels(capsys: pytest.CaptureFixture[str], tmp_path: Path, column: pa.Array) -> None:
    data = tmp_path / "text.parquet"
    pq.write_table(pa.table({"txt": column}), data)

    code, err, written = run_to_parquet(capsys, tmp_path, TEXT_LENGTH, data)

    assert code == 0, err
    assert written is not None
    assert written.column("text_length").to_pylist() == [2, None, 3]


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ("Mars/Olympus", "the time zone 'Mars/Olympus' is not in the zoneinfo database"),
        ("+25:00", "the UTC offset '+25:00' is out of range"),
        ("+05:60", "the UTC offset '+05:60' is out of range"),
    ],
)
def test_unknown_zone_of_a_column(capsys: pytest.CaptureFixture[str], tmp_path: Path, zone: str, message: str) -> None:
    data = tmp_path / "zoned.parquet"
    pq.write_table(pa.table({"ts": pa.array([0, 3_600_000_000], type=pa.timestamp("us", tz=zone))}), data)

    code, err, _ = run_to_parquet(capsys, tmp_path, HOUR, data)

    assert code == 2
    assert f"error: resolver hour: parameter 'ts': {message}" in err
    assert "Traceback" not in err


@fj.jit_resolver
def hour_of(ts: datetime.datetime) -> int:
    return ts.hour


def test_offset_out_of_range_in_a_call() -> None:
    with pytest.raises(ValueError, match=r"the UTC offset '\+24:00' is out of range"):
        hour_of(pa.array([0], type=pa.timestamp("us", tz="+24:00")))


@pytest.mark.parametrize(("zone", "seconds"), [("+00:00", 0), ("-00:00", 0), ("+23:59", 86_340), ("-00:30", -1800)])
def test_offsets_in_range(zone: str, seconds: int) -> None:
    assert fixed_offset(zone) == seconds
    assert hour_of(pa.array([3_600_000_000], type=pa.timestamp("us", tz=zone))).to_pylist() == [(1 + seconds // 3600) % 24]


def test_output_of_input_with_repeated_column_names(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "repeated.csv"
    data.write_text("txt,x,x\nab,1,2\n")

    code, err, _ = run_to_parquet(capsys, tmp_path, TEXT_LENGTH, data)

    assert code == 2
    assert "--output: the input has 2 columns named 'x'" in err
    assert not (tmp_path / "out.parquet").exists()


def test_parquet_without_columns(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "empty.parquet"
    pq.write_table(pa.table({}), data)

    code, err, _ = run_to_parquet(capsys, tmp_path, TEXT_LENGTH, data)

    assert code == 2
    assert "needs column 'txt', which the table lacks and no resolver of the file computes; the table has no columns" in err


def test_partitioned_parquet_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "by_year"
    pq.write_to_dataset(pa.table({"a": [1, 2, 3], "year": [2023, 2023, 2024]}), folder, partition_cols=["year"])
    source = OR_MINUS_ONE + "\n@fj.jit_resolver\ndef next_year(year: int) -> int:\n    return year + 1\n"

    code, err, written = run_to_parquet(capsys, tmp_path, source, folder)

    assert code == 0, err
    assert written is not None
    assert sorted(written.column("next_year").to_pylist()) == [2024, 2024, 2025], "the partition column reads as ints"


def test_parquet_folder_of_different_schemas(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(pa.table({"a": [1, 2]}), folder / "p1.parquet")
    pq.write_table(pa.table({"a": ["x", "y"]}), folder / "p2.parquet")

    code, err, _ = run_to_parquet(capsys, tmp_path, OR_MINUS_ONE, folder)

    assert code == 2
    assert "whose schemas differ: column 'a' is int64 in p1.parquet but string in p2.parquet" in err
