"""Feature graphs: entities declared with `@features`, their relationships, resolvers over their features, and sources.

`Graph` builds the dependency graph of resolvers from their annotations, plans queries and
runs them online (a few keys) or offline (whole tables). It imports pyarrow and networkx, so
it loads on first use of `featurejit.Graph`, which keeps `import featurejit` cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from featurejit.graph.entities import Entity, Feature, FeatureType, features, primary_key
from featurejit.graph.errors import GraphError
from featurejit.graph.relationships import has_many, has_one

if TYPE_CHECKING:
    from featurejit.graph.graph import Graph

__all__ = ["Entity", "Feature", "FeatureType", "Graph", "GraphError", "features", "has_many", "has_one", "primary_key"]


def __getattr__(name: str) -> Any:
    if name == "Graph":
        from featurejit.graph.graph import Graph

        return Graph
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
