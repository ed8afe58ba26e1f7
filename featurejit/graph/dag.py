"""The dependency graph of features and resolvers, built from annotations, and its checks.

Nodes are features and resolvers. An edge runs from each feature to the resolvers that read
it, and from each resolver to the features it writes. A feature read through a relationship,
such as `Flight.plane.year`, is a node too, with edges from the key features of the join and
from the other entity's feature, so a cycle through relationships is found like any other.
Building the graph checks what no query could get past. These are two resolvers writing one
feature, a cycle, a source column whose type does not fit the feature's declared type, and a
relationship whose other entity has no source or no key column.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

import networkx as nx
import pyarrow as pa

from featurejit.graph.bindings import ResolverNode, bind_resolver
from featurejit.graph.entities import Entity, Feature, entity_of
from featurejit.graph.errors import GraphError
from featurejit.graph.relationships import AggregateFeature, JoinedFeature, Relationship
from featurejit.graph.sources import Source, make_source

DagNode = Feature | ResolverNode

def is_dictionary_of_strings(arrow_type: pa.DataType) -> bool:
    """Return whether the type is dictionary-encoded text, as Parquet files of categorical columns give it."""
    return pa.types.is_dictionary(arrow_type) and any(
        check(arrow_type.value_type) for check in (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
    )


# Arrow types a source column may have for a feature of each declared type.
COLUMN_TYPE_CHECKS: dict[type, tuple[Any, ...]] = {
    bool: (pa.types.is_boolean,),
    int: (pa.types.is_integer,),
    float: (pa.types.is_floating, pa.types.is_integer),
    str: (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view, is_dictionary_of_strings),
    datetime.datetime: (pa.types.is_timestamp,),
}


def node_label(node: DagNode) -> str:
    return repr(node) if isinstance(node, Feature) else node.name


class FeatureDag:
    """Resolvers and sources of one or more entities, with their dependency graph checked."""

    def __init__(self, resolvers: Iterable[Any], sources: Mapping[Any, Any] | None = None):
        self.nodes = [bind_resolver(resolver) for resolver in dict.fromkeys(resolvers)]
        self.sources: dict[Entity, Source] = {
            entity_of(key): make_source(data, entity_of(key)) for key, data in (sources or {}).items()
        }
        self.checked: set[Relationship] = set()
        read_through = [
            (feature, node.name) for node in self.nodes for feature in node.inputs.values() if type(feature) is not Feature
        ]
        for feature, reader in read_through:
            self.check_read_through(feature, f"{reader} reads {feature!r}")
        related = [relationship.target for relationship in self.checked]
        self.entities = list(dict.fromkeys([*(node.entity for node in self.nodes), *self.sources, *related]))
        self.writers = self.find_writers()
        self.graph = self.build_graph()
        self.check_cycles()
        for entity, source in self.sources.items():
            self.check_source_types(entity, source)

    def find_writers(self) -> dict[Feature, ResolverNode]:
        writers: dict[Feature, ResolverNode] = {}
        for node in self.nodes:
            for feature in node.outputs:
                other = writers.setdefault(feature, node)
                if other is not node:
                    raise GraphError(
                        f"{feature!r} is written by two resolvers, {other.name} and {node.name}; "
                        f"keep one of them, or let one write another feature"
                    )
        return writers

    def build_graph(self) -> nx.DiGraph:
        graph = nx.DiGraph()
        for entity in self.entities:
            graph.add_nodes_from(entity.features.values(), kind="feature")
        for node in self.nodes:
            graph.add_node(node, kind="resolver")
            for parameter, feature in node.inputs.items():
                graph.add_edge(feature, node, parameter=parameter)
                add_read_through(graph, feature)
            graph.add_edges_from((node, feature) for feature in node.outputs)
        return graph

    def check_cycles(self) -> None:
        try:
            edges = nx.find_cycle(self.graph)
        except nx.NetworkXNoCycle:
            return
        path = [edge[0] for edge in edges]
        start = next(index for index, node in enumerate(path) if isinstance(node, Feature))
        path = path[start:] + path[:start]
        shown = " -> ".join(node_label(node) for node in [*path, path[0]])
        raise GraphError(f"the resolvers form a cycle: {shown}; a feature cannot depend on itself")

    def check_source_types(self, entity: Entity, source: Source) -> None:
        for feature in entity.features.values():
            if feature in self.writers or not source.has_column(feature.name):
                continue
            column_type = source.schema.field(feature.name).type
            checks = COLUMN_TYPE_CHECKS[feature.type.python_type]
            if not pa.types.is_null(column_type) and not any(check(column_type) for check in checks):
                raise GraphError(
                    f"the column {feature.name} of the source ({source.description}) is {column_type}, but {feature!r} "
                    f"is declared {feature.type}; declare the feature with the column's type, or cast the column"
                )

    def check_read_through(self, feature: Feature, reason: str) -> None:
        """Check each relationship a feature is read through: its declaration, and the other entity's source."""
        for relationship in relationships_of(feature):
            if relationship in self.checked:
                continue
            target, _, target_keys = relationship.resolve()
            source = self.sources.get(target)
            if source is None:
                raise GraphError(
                    f"{relationship.qualified_name} joins {target.name}, which has no source, but {reason}; "
                    f"pass one with sources={{{target.name}: ...}}"
                )
            for key in target_keys:
                if not source.has_column(key.name):
                    raise GraphError(
                        f"{relationship.qualified_name} joins on {key!r}, but the source of {target.name}, "
                        f"{source.description}, has no column {key.name}; join keys of {target.name} are read from its source"
                    )
            self.checked.add(relationship)

    def source_of(self, entity: Entity) -> Source | None:
        return self.sources.get(entity)

    def provides_from_source(self, feature: Feature) -> bool:
        source = self.sources.get(feature.entity)
        return source is not None and source.has_column(feature.name)


def relationships_of(feature: Feature) -> list[Relationship]:
    """Return the relationships a feature is read through, outermost first; none for a plain feature."""
    found = []
    while isinstance(feature, JoinedFeature | AggregateFeature):
        found.append(feature.relationship)
        if isinstance(feature, AggregateFeature):
            break
        feature = feature.target
    return found


def add_read_through(graph: nx.DiGraph, feature: Feature) -> None:
    """Add the edges into a feature read through a relationship: from the join's keys and from what it reads."""
    if isinstance(feature, JoinedFeature):
        sources = [*feature.relationship.owner_keys, feature.target]
    elif isinstance(feature, AggregateFeature):
        sources = [*feature.relationship.owner_keys, *feature.child_features]
    else:
        return
    for source in sources:
        graph.add_edge(source, feature)
        add_read_through(graph, source)
