"""The `featurejit graph` command and `featurejit run` on a graph file."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from featurejit.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "flights_graph.py"

GRAPH_FILE = '''
import pyarrow as pa
import featurejit as fj


@fj.features
class Item:
    id: int
    price: float | None
    count: int
    total: float | None
    label: str


@fj.jit_resolver
def total(price: Item.price, count: Item.count) -> Item.total:
    return None if price is None else price * count


@fj.jit_resolver
def label(total: Item.total) -> Item.label:
    return "none" if total is None else f"{total:.1f}"


items = pa.table({"id": [1, 2, 3], "price": [2.5, None, 4.0], "count": [2, 3, 0]})
graph = fj.Graph([total, label], sources={Item: items}, outputs=[Item.total, Item.label])
'''


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def graph_file(tmp_path: Path) -> Path:
    path = tmp_path / "items_graph.py"
    path.write_text(GRAPH_FILE)
    return path


def test_graph_command_text(graph_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "graph", str(graph_file))
    assert code == 0, err
    assert "Item (key id; source: an Arrow table of 3 rows)" in out
    assert "total: reads price, count; writes total" in out
    assert "outputs: Item.total, Item.label" in out


def test_dump_of_graph_names_its_resolvers(graph_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "dump", f"{graph_file}:graph")
    assert code == 2
    assert "graph in " in err
    assert "is a featurejit.Graph, not a resolver; name one of its resolvers (total" in err
    assert f"run `featurejit explain {graph_file}:graph` for its plan" in err


def test_explain_command_prints_graph_plan(graph_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "explain", f"{graph_file}:graph")
    assert code == 0, err
    assert out.startswith("plan of Item: total, label (offline, a scan of an Arrow table of 3 rows)")
    code, out, err = run_main(capsys, "explain", f"{graph_file}:total")
    assert code == 0, err
    assert out.startswith("total: compiled to native code")


def test_explain_of_graph_file_without_own_resolvers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "shop_model.py").write_text(GRAPH_FILE)
    path = tmp_path / "shop.py"
    path.write_text("from shop_model import graph, label, total\n")

    code, _, err = run_main(capsys, "explain", str(path))

    assert code == 2
    assert "defines no resolvers of its own" in err
    assert f"to explain a graph's plan, pass {path}:GRAPH with one of: graph" in err


def test_graph_command_dot_and_svg(graph_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "graph", f"{graph_file}:graph", "--format", "dot")
    assert code == 0
    assert '"Item.total" -> "resolver label";' in out
    svg = tmp_path / "items.svg"
    code, out, _ = run_main(capsys, "graph", str(graph_file), "--format", "svg", "--output", str(svg))
    assert code == 0
    assert svg.read_text().startswith("<svg")
    assert f"wrote {svg}" in out


@pytest.mark.parametrize(
    ("name", "start"),
    [("g.svg", "<svg"), ("g.SVG", "<svg"), ("g.dot", "digraph"), ("g.gv", "digraph"), ("g.txt", "Item (key id")],
)
def test_graph_format_from_extension(
    graph_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, start: str
) -> None:
    output = tmp_path / name
    code, _, err = run_main(capsys, "graph", str(graph_file), "--output", str(output))
    assert code == 0, err
    assert output.read_text().startswith(start)


@pytest.mark.parametrize(
    ("name", "options", "fragment"),
    [
        ("g.png", [], "the extension .png names no drawing format; use .txt for text"),
        ("g.png", ["--format", "svg"], "the extension .png does not match --format svg; use the extension .svg"),
        ("g.svg", ["--format", "dot"], "the extension .svg does not match --format dot; use the extension .dot"),
    ],
)
def test_graph_extension_errors(
    graph_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    options: list[str],
    fragment: str,
) -> None:
    output = tmp_path / name
    code, _, err = run_main(capsys, "graph", str(graph_file), "--output", str(output), *options)
    assert code == 2
    assert fragment in err
    assert not output.exists()


def test_graph_output_missing_folder(
    graph_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "missing" / "g.svg"
    code, _, err = run_main(capsys, "graph", str(graph_file), "--output", str(output))
    assert code == 2
    assert f"the folder {output.parent} does not exist; create it first" in err
    assert "Errno" not in err


@pytest.mark.parametrize("command", ["graph", "run"])
def test_graph_empty_name_after_colon(graph_file: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, _, err = run_main(capsys, command, f"{graph_file}:")
    assert code == 2
    assert f"the name after ':' in {graph_file}: is empty" in err
    assert "its graphs: graph" in err


def test_graph_command_errors(graph_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "graph", f"{graph_file}:other")
    assert code == 2
    assert "defines no graph named 'other'; its graphs are: graph" in err
    plain = tmp_path / "plain.py"
    plain.write_text("x = 1\n")
    code, _, err = run_main(capsys, "graph", str(plain))
    assert code == 2
    assert "defines no featurejit.Graph at its top level" in err
    assert "define one such as graph = featurejit.Graph(" in err
    code, _, err = run_main(capsys, "graph", str(graph_file), "--format", "png")
    assert code == 2
    broken = tmp_path / "cycle_graph.py"
    broken.write_text(GRAPH_FILE.replace("def total(price: Item.price", "def total(label: Item.label, price: Item.price"))
    code, _, err = run_main(capsys, "graph", str(broken))
    assert code == 2
    assert "GraphError: the resolvers form a cycle" in err


def test_graph_of_resolver_file_suggests_run(capsys: pytest.CaptureFixture[str]) -> None:
    example = EXAMPLE.with_name("flights.py")
    code, _, err = run_main(capsys, "graph", str(example))
    assert code == 2
    assert f"{example} defines no featurejit.Graph at its top level, only resolvers" in err
    assert f"use featurejit run {example}" in err


def test_run_graph_file(graph_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out.parquet"
    code, out, err = run_main(capsys, "run", str(graph_file), "--output", str(output))
    assert code == 0, err
    assert "plan of Item: total, label (offline, a scan of an Arrow table of 3 rows)" in out
    assert "stage 1: fused kernel [total], native" in out
    assert "stage 2: interpreted [label]" in out
    assert "f-string format specs" in out
    assert "actual rows: 3" in out
    assert pq.read_table(output).to_pydict() == {"total": [5.0, None, 0.0], "label": ["5.0", "none", "0.0"]}


def test_run_graph_file_with_data_and_rows(graph_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pyarrow as pa

    data = tmp_path / "items.parquet"
    pq.write_table(pa.table({"id": [7, 8, 9], "price": [1.0, 2.0, 3.0], "count": [1, 1, 1]}), data)
    code, out, err = run_main(capsys, "run", str(graph_file), "--data", str(data), "--rows", "2", "--preview", "5")
    assert code == 0, err
    assert "the first 2 rows of" in out
    assert "actual rows: 2" in out


def test_run_graph_one_row_singular(graph_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out.parquet"
    code, out, err = run_main(capsys, "run", str(graph_file), "--rows", "1", "--output", str(output))
    assert code == 0, err
    assert "the first 1 row of" in out
    assert f"wrote {output}: 1 row, 2 columns" in out


def test_run_graph_file_row_error(graph_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failing = tmp_path / "failing_graph.py"
    failing.write_text(GRAPH_FILE.replace('f"{total:.1f}"', "f\"{1 / (total - 5.0):.1f}\""))
    code, _, err = run_main(capsys, "run", str(failing))
    assert code == 1
    assert "ZeroDivisionError" in err
    assert "row 0 of label" in err


def test_run_graph_output_type_hint(graph_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failing = tmp_path / "int_label_graph.py"
    failing.write_text(GRAPH_FILE.replace('return "none" if total is None else f"{total:.1f}"', "return 1"))
    code, _, err = run_main(capsys, "run", str(failing))
    assert code == 1
    assert "OutputTypeError" in err
    assert "change the return annotation" in err


def test_run_example_graph(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "run", str(EXAMPLE), "--rows", "2000", "--preview", "3")
    assert code == 0, err
    assert "stage 1: fused kernel [speed, fast, delayed, made_up_time, departure_period, scheduled_minutes, " in out
    assert "recovered, route], native" in out
    assert "stage 2: interpreted [calendar]" in out
    assert out.count("actual rows: 2,000") == 3


def test_run_names_one_of_several_graphs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "two_graphs.py"
    path.write_text(GRAPH_FILE + "\nother = fj.Graph([total], sources={Item: items}, outputs=[Item.total])\n")
    code, _, err = run_main(capsys, "run", str(path))
    assert code == 2
    assert f"name one as {path}:NAME" in err
    code, out, err = run_main(capsys, "run", f"{path}:other", "--preview", "0")
    assert code == 0, err
    assert "total" in out
    code, _, err = run_main(capsys, "run", f"{path}:missing")
    assert code == 2
    assert "defines no graph named 'missing'; its graphs are: graph, other" in err


QUOTED_GRAPH_FILE = '''
import pyarrow as pa
import featurejit as fj


@fj.features
class Customer:
    id: int
    orders: "list[Order]" = fj.has_many(lambda: Order.customer_id == Customer.id)
    mean_amount: float | None


@fj.features
class Order:
    id: int
    customer_id: int
    status: str
    amount: float


@fj.jit_resolver
def mean_amount(m: Customer.orders[Order.status == 'say "hi" \\\\o/', Order.amount].mean()) -> Customer.mean_amount:
    return m


orders = pa.table({"id": [1], "customer_id": [1], "status": ['say "hi" \\\\o/'], "amount": [2.0]})
graph = fj.Graph([mean_amount], sources={Customer: pa.table({"id": [1]}), Order: orders}, outputs=[Customer.mean_amount])
'''


def test_dot_escapes_quotes_and_backslashes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "quoted_graph.py"
    path.write_text(QUOTED_GRAPH_FILE)
    code, out, err = run_main(capsys, "graph", str(path), "--format", "dot")
    assert code == 0, err
    # The label shows the value's repr, 'say "hi" \\o/', and DOT escapes its quotes and backslashes.
    assert r"""Order.status == 'say \"hi\" \\\\o/'""" in out
    for line in out.splitlines():
        unescaped = line.replace("\\\\", "").replace('\\"', "")
        assert unescaped.count('"') % 2 == 0, line
