"""The benchmark harness runs end to end on tiny inputs. Nothing here looks at a time."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

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
