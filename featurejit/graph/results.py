"""The result of an online query: each requested feature's values, one per request row."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

from featurejit.graph.columns import Column


class QueryResult(Mapping[str, list[Any]]):
    """The requested features by name, each a list of Python values with None for null.

    `result["speed_mph"]` (or `result[Flight.speed_mph]`, the feature queried) is a list with
    one value per request row; `to_pylist()` gives one dict per row and `to_arrow()` a pyarrow Table.
    """

    def __init__(self, columns: dict[str, Column], rows: int, features: Sequence[Any] = ()):
        self.columns = columns
        self.rows = rows
        self.converted: dict[str, list[Any]] = {}
        # The features queried, by which the result may be indexed too. Features of other entities
        # may share a name with one of them, so a feature is looked up by itself, not by its name.
        self.names_of_features = {feature: feature.name for feature in features}

    def __getitem__(self, name: Any) -> list[Any]:
        if not isinstance(name, str):
            feature = name
            name = self.names_of_features.get(feature)
            if name is None:
                queried = ", ".join(map(repr, self.names_of_features)) or "none"
                raise KeyError(f"{feature!r} is not a feature of this query; the features queried are: {queried}")
        if name not in self.columns:
            raise KeyError(f"{name!r} is not a feature of this result, whose features are: {', '.join(self.columns)}")
        values = self.converted.get(name)
        if values is None:
            values = self.columns[name].to_pylist()
            self.converted[name] = values
        return values

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def to_pylist(self) -> list[dict[str, Any]]:
        """Return one dict of feature values per request row."""
        columns = {name: self[name] for name in self.columns}
        return [{name: values[row] for name, values in columns.items()} for row in range(self.rows)]

    def to_arrow(self) -> pa.Table:
        return pa.table({name: column.to_arrow() for name, column in self.columns.items()})

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={self[name]!r}" for name in self.columns)
        return f"QueryResult({shown})"
