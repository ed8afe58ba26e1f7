"""The graph benchmark suite runs end to end on a small source. Nothing here looks at a time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from featurejit.cli import main


def test_graph_suite_checks_every_peer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.suites import graph_online

    monkeypatch.setattr(graph_online, "SOURCE_ROWS", 5000)
    code = main(["bench", "graph", "--quick", "--output", str(tmp_path)])
    output = capsys.readouterr().out
    assert code == 0, output
    (run,) = tmp_path.iterdir()
    (suite,) = json.loads((run / "results.json").read_text())["suites"]
    statuses = {row["name"]: row["status"] for row in suite["rows"]}
    assert statuses["featurejit graph.query, one key"] == "ok"
    assert set(statuses.values()) <= {"ok", "missing"}
    assert suite["targets"][0]["measured"].startswith("p50 ")


def test_graph_joins_suite_checks_every_peer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.suites import graph_joins

    monkeypatch.setattr(graph_joins, "SOURCE_ROWS", 5000)
    code = main(["bench", "graph-joins", "--quick", "--output", str(tmp_path)])
    output = capsys.readouterr().out
    assert code == 0, output
    (run,) = tmp_path.iterdir()
    (suite,) = json.loads((run / "results.json").read_text())["suites"]
    statuses = {row["name"]: row["status"] for row in suite["rows"]}
    assert statuses["featurejit graph.query, one key, two joins"] == "ok"
    assert set(statuses.values()) <= {"ok", "missing"}
    assert suite["targets"][0]["measured"].startswith("p50 ")
