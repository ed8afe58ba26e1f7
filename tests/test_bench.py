"""The benchmark harness runs end to end on tiny inputs. Nothing here looks at a time."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from bench import tpch
from bench.harness import Bench, Options
from bench.suites import joins as joins_suite
from featurejit.cli import main


def test_bench_lists_every_suite(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--list"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    for name in ("branchy", "resolvers", "fusion", "compile", "scalar", "online", "graph", "strings", "datetimes", "joins"):
        assert name in names


def test_bench_writes_json_page_and_charts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "branchy", "online", "strings", "--rows", "3000", "--repeats", "1", "--quick", "--output", str(tmp_path)])
    output = capsys.readouterr().out
    assert code == 0, output
    (run,) = tmp_path.iterdir()
    document = json.loads((run / "results.json").read_text())
    assert [suite["name"] for suite in document["suites"]] == ["branchy", "online", "strings"]
    assert document["machine"]["logical_cpus"] >= 1
    assert "featurejit" in document["versions"]
    branchy = document["suites"][0]
    statuses = {row["name"]: row["status"] for row in branchy["rows"]}
    assert statuses["featurejit"] == "ok"
    assert statuses["numpy np.where (both branches)"] == "ok"
    assert set(statuses.values()) <= {"ok", "missing"}
    assert all(row["threads"] == 1 for row in branchy["rows"])
    assert document["suites"][2]["skipped"] or document["suites"][2]["rows"]
    page = (run / "benchmarks.md").read_text()
    assert "## Branchy float resolver" in page
    if importlib.util.find_spec("matplotlib") is None:
        assert "matplotlib is not installed" in output
        return
    assert (run / "branchy.png").stat().st_size > 0
    assert (run / "online.png").stat().st_size > 0


def test_bench_rejects_unknown_suite(tmp_path: Path) -> None:
    assert main(["bench", "no_such_suite", "--output", str(tmp_path)]) == 2


def quick_bench() -> Bench:
    return Bench(Options(rows=[10_000], repeats=1, threads=1, quick=True, python_rows=10_000))


def test_joins_large_build_groups_quick() -> None:
    from featurejit import joins

    rows = joins_suite.SUITE.large_build(quick_bench(), joins)
    groups = {row.group for row in rows}
    assert groups == {
        "dense keys, inner, 100,000 probe rows, 300,000 build rows",
        "dense keys, left, 100,000 probe rows, 300,000 build rows",
    }
    for row in rows:
        assert row.status in ("ok", "missing"), (row.name, row.check)
    featurejit_rows = [row for row in rows if row.library == "featurejit"]
    assert len(featurejit_rows) == 2
    assert all(row.ok and "matches the build row" in row.check for row in featurejit_rows)


def test_joins_tpch_generates_checks_and_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if tpch.find_generator() is None:
        pytest.skip("tpchgen-cli is not installed")
    from featurejit import joins

    monkeypatch.setattr(joins_suite, "QUICK_TPCH_SCALE", 0.01)
    rows = joins_suite.SUITE.tpch(quick_bench(), joins, tmp_path)
    statuses = {row.library: row.status for row in rows}
    assert statuses["featurejit"] == "ok"
    assert statuses["pyarrow"] == "ok"
    assert set(statuses.values()) <= {"ok", "missing"}
    assert all(row.group == "TPC-H SF 0.01: lineitem inner join orders" for row in rows)
    assert all(row.rows > 50_000 for row in rows)
    assert "every value of the" in rows[0].check
    assert "on left.l_orderkey = right.o_orderkey" in rows[0].details["plan"]

    lineitem = tmp_path / "tpch-sf0.01" / "lineitem.parquet"
    written = lineitem.stat().st_mtime_ns
    joins_suite.SUITE.tpch(quick_bench(), joins, tmp_path)
    assert lineitem.stat().st_mtime_ns == written
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tpch-sf0.01"]


def test_joins_tpch_without_generator_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from featurejit import joins

    monkeypatch.setattr(tpch, "find_generator", lambda: None)
    rows = joins_suite.SUITE.tpch(quick_bench(), joins, tmp_path)
    assert [row.library for row in rows] == ["featurejit", "pyarrow", "duckdb", "polars"]
    assert all(row.status == "missing" for row in rows)
    assert all("tpchgen-cli is not installed" in row.check for row in rows)
    assert list(tmp_path.iterdir()) == []


def test_joins_tpch_generator_failure_is_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from featurejit import joins

    failing = shutil.which("false")
    assert failing is not None
    monkeypatch.setattr(tpch, "find_generator", lambda: failing)
    rows = joins_suite.SUITE.tpch(quick_bench(), joins, tmp_path)
    assert all(row.status == "error" for row in rows)
    assert all("failed with exit status 1" in row.check for row in rows)
    assert list(tmp_path.iterdir()) == []


def test_joins_tpch_check_compares_values() -> None:
    lineitem = pa.table({
        "l_orderkey": pa.array([3, 1, 1, 7], pa.int64()),
        "l_linenumber": pa.array([1, 2, 1, 1], pa.int32()),
        "l_extendedprice": pa.array([10.0, 20.0, 30.0, 40.0]),
    })
    orders = pa.table({
        "o_orderkey": pa.array([1, 3], pa.int64()),
        "o_totalprice": pa.array([100.0, 300.0]),
    })
    check = joins_suite.tpch_checker(lineitem, orders)
    right = pa.table({
        "l_orderkey": pa.array([1, 1, 3], pa.int64()),
        "l_linenumber": pa.array([1, 2, 1], pa.int32()),
        "l_extendedprice": [30.0, 20.0, 10.0],
        "o_totalprice": [100.0, 100.0, 300.0],
    })
    assert check(right).passed
    assert check(right.take([2, 0, 1])).passed

    wrong_price = right.set_column(3, "o_totalprice", pa.array([100.0, 300.0, 300.0]))
    result = check(wrong_price)
    assert not result.passed
    assert "1 values of o_totalprice differ" in result.message
    assert not check(right.slice(0, 2)).passed
    assert not check(right.drop_columns(["o_totalprice"])).passed


def test_joins_tpch_unreadable_table_is_error(tmp_path: Path) -> None:
    from featurejit import joins

    folder = tmp_path / "tpch-sf0.1"
    folder.mkdir()
    (folder / "lineitem.parquet").write_bytes(b"not parquet")
    (folder / "orders.parquet").write_bytes(b"not parquet")
    rows = joins_suite.SUITE.tpch(quick_bench(), joins, tmp_path)
    assert all(row.status == "error" for row in rows)
    assert all("could not be read" in row.check for row in rows)
    assert all("Delete the folder" in row.check for row in rows)


def test_join_check_rejects_wrong_rows() -> None:
    build = pa.table({"k": [10, 11, 12], "bid": [0, 1, 2], "x": [0.5, 1.5, 2.5]})
    probe = pa.table({"k": [12, 99, 10, 12], "pid": [0, 1, 2, 3]})
    reference = joins_suite.ReferenceJoin(probe, build)
    inner = joins_suite.join_checker(reference, "inner")
    left = joins_suite.join_checker(reference, "left")
    inner_result = pa.table({"k": [10, 12, 12], "pid": [2, 0, 3], "bid": [0, 2, 2], "x": [0.5, 2.5, 2.5]})
    left_result = pa.table({
        "k": [12, 99, 10, 12], "pid": [3, 1, 2, 0], "bid": pa.array([2, None, 0, 2], pa.int64()),
        "x": [2.5, None, 0.5, 2.5],
    })
    assert inner(inner_result).passed
    assert left(left_result).passed

    wrong_bid = inner_result.set_column(2, "bid", pa.array([0, 1, 2]))
    assert "1 rows matched another build row" in inner(wrong_bid).message
    repeated_row = inner_result.set_column(1, "pid", pa.array([2, 0, 0]))
    assert not inner(repeated_row).passed
    unmatched_row = inner_result.set_column(1, "pid", pa.array([2, 0, 1]))
    assert not inner(unmatched_row).passed
    out_of_range = inner_result.set_column(1, "pid", pa.array([2, 0, 7]))
    assert not inner(out_of_range).passed
    assert not left(inner_result).passed
    assert not inner(inner_result.drop_columns(["x"])).passed


def test_messages_keep_brackets(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.harness import SuiteResult
    from bench.report import print_suite
    from bench.run import consoles

    out, _ = consoles()
    print_suite(out, SuiteResult("x", "X", "", "throughput", notes=["charts not drawn; pip install -e '.[bench]'"]))
    assert "pip install -e '.[bench]'" in capsys.readouterr().out
