"""Drawings of a feature graph: indented text, Graphviz DOT, or SVG laid out without Graphviz.

Features are boxes and resolvers are ellipses. An edge runs from each feature to the
resolvers that read it, and from each resolver to the features it writes. The SVG puts each node in a
column by its topological generation, so edges run left to right.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

import networkx as nx

from featurejit.graph.bindings import ResolverNode
from featurejit.graph.dag import DagNode, node_label
from featurejit.graph.entities import Feature
from featurejit.graph.errors import GraphError

if TYPE_CHECKING:
    from featurejit.graph.graph import Graph

FORMATS = ("text", "dot", "svg")
COLUMN_GAP = 40
ROW_HEIGHT = 44
MIN_NODE_WIDTH = 180
NODE_HEIGHT = 28
# An estimate of a character's average width in 12 px sans-serif, a little above that of most
# characters (6 to 7 px). A label of many wide characters, such as "W" (11 px), can still overflow.
CHARACTER_WIDTH = 7.5


def used_nodes(graph: Graph) -> nx.DiGraph:
    """Return the part of the DAG that resolvers and sources touch, leaving out features nothing reads or writes."""
    dag = graph.dag.graph
    keep = [
        node for node in dag.nodes
        if isinstance(node, ResolverNode) or dag.degree(node) > 0 or graph.dag.provides_from_source(node)
    ]
    return dag.subgraph(keep)


def provider(graph: Graph, feature: Feature) -> str:
    writer = graph.dag.writers.get(feature)
    if writer is not None:
        return f"written by {writer.name}"
    if graph.dag.provides_from_source(feature):
        return "from the source"
    return "from requests only"


def draw_text(graph: Graph) -> str:
    lines = []
    for entity in graph.dag.entities:
        source = graph.dag.source_of(entity)
        key = entity.key.name if entity.key is not None else "-"
        lines.append(f"{entity.name} (key {key}; source: {source.description if source is not None else 'none'})")
        for feature in entity.features.values():
            lines.append(f"  {feature.name}: {feature.type}, {provider(graph, feature)}")
        used = [relationship for relationship in entity.relationships.values() if relationship in graph.dag.checked]
        if used:
            lines.append("  relationships:")
        for relationship in used:
            lines.append(f"    {relationship.name}: {relationship.summary()}")
        resolvers = [node for node in graph.dag.nodes if node.entity is entity]
        if resolvers:
            lines.append("  resolvers:")
        for node in resolvers:
            reads = ", ".join(feature.name for feature in node.inputs.values()) or "nothing"
            writes = ", ".join(feature.name for feature in node.outputs)
            lines.append(f"    {node.name}: reads {reads}; writes {writes}")
    if graph.outputs:
        lines.append(f"outputs: {', '.join(map(repr, graph.outputs))}")
    return "\n".join(lines)


def dot_text(text: str) -> str:
    """Escape text for a quoted DOT string: backslashes and double quotes."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def dot_id(node: DagNode) -> str:
    return f'"{dot_text(node_label(node))}"' if isinstance(node, Feature) else f'"resolver {dot_text(node.name)}"'


def draw_dot(graph: Graph) -> str:
    dag = used_nodes(graph)
    lines = ["digraph features {", "  rankdir=LR;"]
    for node in dag.nodes:
        if isinstance(node, Feature):
            style = ", style=bold" if node in graph.outputs else ""
            label = f"{dot_text(node_label(node))}\\n{dot_text(str(node.type))}"
            lines.append(f'  {dot_id(node)} [shape=box, label="{label}"{style}];')
        else:
            lines.append(f'  {dot_id(node)} [shape=ellipse, label="{dot_text(node.name)}"];')
    for start, end in dag.edges:
        lines.append(f"  {dot_id(start)} -> {dot_id(end)};")
    lines.append("}")
    return "\n".join(lines)


def svg_label(node: DagNode) -> str:
    return node_label(node) if isinstance(node, Feature) else node.name


def node_width(dag: nx.DiGraph) -> float:
    """Return the width of every node's box: wide enough for the longest label, with room for the ellipses' curve."""
    longest = max((len(svg_label(node)) for node in dag.nodes), default=0)
    return max(MIN_NODE_WIDTH, longest * CHARACTER_WIDTH + 30)


def layout(dag: nx.DiGraph, width: float) -> dict[DagNode, tuple[float, float]]:
    """Return the center of each node: its generation gives the column, its order in it the row."""
    positions = {}
    for column, generation in enumerate(nx.topological_generations(dag)):
        ordered = sorted(generation, key=node_label)
        for row, node in enumerate(ordered):
            positions[node] = (20 + width / 2 + column * (width + COLUMN_GAP), 20 + NODE_HEIGHT / 2 + row * ROW_HEIGHT)
    return positions


def svg_node(node: DagNode, x: float, y: float, output: bool, width: float) -> str:
    label = escape(svg_label(node))
    if isinstance(node, Feature):
        stroke = 2.5 if output else 1
        shape = (
            f'<rect x="{x - width / 2}" y="{y - NODE_HEIGHT / 2}" width="{width}" height="{NODE_HEIGHT}" '
            f'fill="#eef4ff" stroke="#335" stroke-width="{stroke}"/>'
        )
    else:
        shape = f'<ellipse cx="{x}" cy="{y}" rx="{width / 2}" ry="{NODE_HEIGHT / 2}" fill="#fff6e6" stroke="#653"/>'
    text = f'<text x="{x}" y="{y + 4}" text-anchor="middle" font-family="sans-serif" font-size="12">{label}</text>'
    return shape + text


def draw_svg(graph: Graph) -> str:
    dag = used_nodes(graph)
    box_width = node_width(dag)
    positions = layout(dag, box_width)
    width = max((x for x, _ in positions.values()), default=0) + box_width / 2 + 20
    height = max((y for _, y in positions.values()), default=0) + NODE_HEIGHT / 2 + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
    ]
    for start, end in dag.edges:
        (x1, y1), (x2, y2) = positions[start], positions[end]
        parts.append(
            f'<line x1="{x1 + box_width / 2}" y1="{y1}" x2="{x2 - box_width / 2}" y2="{y2}" '
            f'stroke="#555" marker-end="url(#arrow)"/>'
        )
    for node, (x, y) in positions.items():
        parts.append(svg_node(node, x, y, isinstance(node, Feature) and node in graph.outputs, box_width))
    parts.append("</svg>")
    return "\n".join(parts)


def draw(graph: Graph, format: str) -> str:
    """Return the drawing of the graph in `format`: "text", "dot" or "svg"."""
    drawers = {"text": draw_text, "dot": draw_dot, "svg": draw_svg}
    if format not in drawers:
        raise GraphError(f"draw(format={format!r}) is invalid; use one of {', '.join(map(repr, FORMATS))}")
    return drawers[format](graph)
