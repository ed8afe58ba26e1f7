"""The error a feature graph raises when its declarations or a query do not fit together."""

from __future__ import annotations


class GraphError(ValueError):
    """A graph that cannot be built or a query that cannot be planned. The message names the features involved."""
