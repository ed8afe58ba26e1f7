"""The `featurejit graph` command, and `featurejit run` for a file that defines a feature graph.

    featurejit graph FILE.py[:NAME] [--format text|dot|svg] [--output PATH]
    featurejit run FILE.py [--data PATH] [--rows N] [--output PATH] [--preview N]

A graph file defines a `featurejit.Graph` at its top level, built with outputs=[...]. `run`
runs those outputs over the source of their entity and prints the plan with each stage's
rows and time, then a preview of the results.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from featurejit.cli import (
    EXIT_OK,
    OUTPUT_TYPE_HINT,
    ResolverRowError,
    UsageError,
    check_output_folder,
    check_output_path,
    empty_name_message,
    find_resolvers,
    format_value,
    import_resolver_file,
    print_unwrapped,
    split_target,
)
from featurejit.errors import OutputTypeError
from featurejit.graph.errors import GraphError
from featurejit.resolver import counted

if TYPE_CHECKING:
    from featurejit.graph.graph import Graph

# The graph modules import networkx, which every featurejit command would pay for at start,
# so they are imported when a graph command runs. These are the formats of drawing.FORMATS.
FORMATS = ("text", "dot", "svg")
# The format of each --output extension, used when --format is not given.
FORMAT_SUFFIXES = {".txt": "text", ".dot": "dot", ".gv": "dot", ".svg": "svg"}
SUFFIX_SPELLING = ".txt for text, .dot or .gv for dot, or .svg for svg"


def add_graph_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    graph = commands.add_parser(
        "graph",
        parents=[common],
        help="draw the feature graph that a Python file defines",
        description="Import FILE and draw the featurejit.Graph defined at its top level (or the one named NAME): "
        "its entities, features and resolvers, with an edge from each feature to the resolvers that read it "
        "and from each resolver to the features it writes.",
    )
    graph.add_argument("target", metavar="FILE.py[:NAME]", help="Python file, optionally with the graph's variable name")
    graph.add_argument(
        "--format",
        choices=FORMATS,
        help="text: entities, features and resolvers as an indented list; dot: Graphviz DOT; "
        "svg: an SVG image laid out by featurejit (default: the format of the --output extension, "
        "else text)",
    )
    graph.add_argument(
        "--output",
        metavar="PATH",
        help=f"write the drawing to this file instead of stdout; without --format, its extension sets "
        f"the format: {SUFFIX_SPELLING}",
    )
    graph.set_defaults(handler=graph_command)


def find_graphs(module: ModuleType) -> dict[str, Graph]:
    """Return the graphs a module defines at its top level, by variable name."""
    from featurejit.graph.graph import Graph

    return {name: value for name, value in vars(module).items() if isinstance(value, Graph)}


def select_graph(path: Path, graphs: dict[str, Graph], name: str | None) -> tuple[str, Graph]:
    if name == "" and graphs:
        raise UsageError(empty_name_message(f"{path}:", path, "graphs", list(graphs)))
    if name is not None:
        if name not in graphs:
            shown = ", ".join(graphs) or "none"
            raise UsageError(f"{path} defines no graph named {name!r}; its graphs are: {shown}")
        return name, graphs[name]
    if not graphs:
        raise UsageError(f"{path} defines no featurejit.Graph at its top level")
    if len(graphs) > 1:
        raise UsageError(f"{path} defines {len(graphs)} graphs ({', '.join(graphs)}); name one as {path}:NAME")
    return next(iter(graphs.items()))


def drawing_format(output: str | None, requested: str | None) -> str:
    """Return the --format, or else the format of the --output extension, or else text.

    Raise UsageError for an --output extension that no format uses or that contradicts --format.
    A path without an extension takes --format or text.
    """
    suffix = "" if output is None else Path(output).suffix
    if not suffix:
        return requested or "text"
    implied = FORMAT_SUFFIXES.get(suffix.lower())
    if requested is None:
        if implied is None:
            raise UsageError(
                f"--output {output}: the extension {suffix} names no drawing format; use {SUFFIX_SPELLING}"
            )
        return implied
    if implied != requested:
        expected = " or ".join(extension for extension, name in FORMAT_SUFFIXES.items() if name == requested)
        other_format = "" if implied is None else ", or change --format"
        raise UsageError(
            f"--output {output}: the extension {suffix} does not match --format {requested}; "
            f"use the extension {expected}{other_format}"
        )
    return requested


def no_graph_message(path: Path, module: ModuleType) -> str:
    """Return the error for a file without a graph, with the command to use for a file of resolvers."""
    try:
        find_resolvers(module, path)
    except UsageError:
        return (
            f"{path} defines no featurejit.Graph at its top level; define one such as "
            f"graph = featurejit.Graph([resolver, ...], sources={{Entity: table}}, outputs=[Entity.feature])"
        )
    return (
        f"{path} defines no featurejit.Graph at its top level, only resolvers; to run them over a table, "
        f"use featurejit run {path}"
    )


def graph_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Draw the graph of a file in the requested format."""
    format_name = drawing_format(args.output, args.format)
    if args.output is not None:
        if Path(args.output).is_dir():
            example = Path(args.output, "graph.svg")
            raise UsageError(f"--output {args.output} is a folder; pass a file path such as {example}")
        check_output_folder(args.output)
    path, name = split_target(args.target, name_required=False)
    module = import_resolver_file(path)
    graphs = find_graphs(module)
    if not graphs:
        raise UsageError(no_graph_message(path, module))
    _, graph = select_graph(path, graphs, name)
    drawing = graph.draw(format_name)
    if args.output is None:
        out.file.write(drawing + "\n")
        return EXIT_OK
    try:
        Path(args.output).write_text(drawing + "\n", encoding="utf-8")
    except OSError as error:
        raise UsageError(f"writing {args.output} failed: {error}") from None
    out.print(f"wrote {args.output}")
    return EXIT_OK


def with_input(graph: Graph, data: str | None, rows: int | None) -> Graph:
    """Return the graph with the outputs' source replaced by --data, and cut to the first --rows rows."""
    from featurejit.graph.graph import Graph
    from featurejit.graph.sources import TableSource, make_source

    if data is None and rows is None:
        return graph
    entity = graph.outputs[0].entity
    sources: dict[Any, Any] = {source_entity.declared: source for source_entity, source in graph.sources.items()}
    try:
        source = make_source(data, entity) if data is not None else graph.sources.get(entity)
    except (GraphError, TypeError) as error:
        raise UsageError(str(error)) from None
    if source is None:
        raise UsageError(f"{entity.name} has no source; pass one with --data PATH")
    if rows is not None:
        source = TableSource(source.dataset.head(rows), f"the first {counted(rows, 'row')} of {source.description}")
    sources[entity.declared] = source
    return Graph(graph.resolvers, sources, graph.outputs)


def run_graph_file(
    args: argparse.Namespace, path: Path, graphs: dict[str, Graph], out: Console, name: str | None = None
) -> int:
    """Run the outputs of the file's graph (the one named `name`, if given) over its source and print the plan, its times and a preview."""
    from featurejit.graph.explain import describe_offline
    from featurejit.graph.offline import OfflineTrace

    _, graph = select_graph(path, graphs, name)
    if not graph.outputs:
        raise UsageError(f"the graph in {path} has no outputs to run; build it with featurejit.Graph(..., outputs=[...])")
    output_path = None if args.output is None else check_output_path(args.output, args.data)
    try:
        graph = with_input(graph, args.data, args.rows)
    except GraphError as error:
        raise UsageError(str(error)) from None
    trace = OfflineTrace()
    start = time.perf_counter()
    try:
        result, plan, _ = graph.run_table_query(None, None, None, trace)
    except GraphError as error:
        raise UsageError(str(error)) from None
    except Exception as error:
        message = " ".join(str(error).split())
        if isinstance(error, OutputTypeError):
            message += f"; {OUTPUT_TYPE_HINT}"
        raise ResolverRowError(f"a resolver raised {type(error).__name__}: {message}") from error
    out.print(describe_offline(graph, plan, trace, time.perf_counter() - start))
    if args.preview > 0 and result.num_rows > 0:
        print_unwrapped(out, preview(result, args.preview))
    if output_path is not None:
        try:
            pq.write_table(result, output_path)
        except OSError as error:
            raise UsageError(f"writing {output_path} failed: {error}") from None
        out.print(f"wrote {output_path}: {counted(result.num_rows, 'row')}, {counted(result.num_columns, 'column')}")
    return EXIT_OK


def preview(result: pa.Table, rows: int) -> Table:
    table = Table(header_style="bold")
    table.add_column("row", justify="right", style="dim")
    columns = [result.column(name).slice(0, rows).to_pylist() for name in result.column_names]
    for name in result.column_names:
        table.add_column(name, justify="right", overflow="fold")
    for row in range(min(rows, result.num_rows)):
        table.add_row(str(row), *(format_value(column[row]) for column in columns))
    return table
