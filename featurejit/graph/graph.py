"""The feature graph: resolvers and sources of entities, which runs online and offline queries.

    graph = featurejit.Graph([speed, is_delayed], sources={Flight: flights_table})
    graph.query([Flight.speed_mph], {Flight.id: [17, 42]})        # online: a QueryResult
    graph.query_table([Flight.speed_mph], filters=pc.field("distance") > 1000)   # offline: a Table
    graph.explain([Flight.speed_mph], analyze=True)

Both kinds of query use the same cached plans and the same compiled kernels.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurejit.graph.columns import ARROW_TYPES, Column
from featurejit.graph.dag import COLUMN_TYPE_CHECKS, FeatureDag
from featurejit.graph.entities import Entity, Feature
from featurejit.graph.errors import GraphError
from featurejit.graph.offline import ArrowColumn, OfflineTrace, run_offline
from featurejit.graph.online import OnlineStore, OnlineTrace, request_column, run_online
from featurejit.graph.planner import Plan, Planner
from featurejit.graph.results import QueryResult
from featurejit.graph.row_errors import RowKeys, key_of_column, scanned_key
from featurejit.graph.sources import Filter, Source, filter_expression
from featurejit.resolver import JitResolver
from featurejit.runtime.slow_path import relocated_error, row_location

FeatureReference = Feature | str


class Graph:
    """Resolvers and sources of entities' features, planned and run per query.

    `resolvers` are `@jit_resolver` functions (plain functions are wrapped) whose annotations
    name the features they read and write. `sources` maps each `@features` class to an Arrow
    Table, or the path of a Parquet file or folder or of a CSV file. `outputs` are the
    features that `featurejit run` computes; building the graph checks that they can be.
    """

    def __init__(
        self,
        resolvers: Iterable[Any],
        sources: Mapping[Any, Any] | None = None,
        outputs: Iterable[FeatureReference] | FeatureReference | None = None,
    ):
        if callable(resolvers) or isinstance(resolvers, str):
            name = getattr(resolvers, "name", None) or getattr(resolvers, "__name__", None) or repr(resolvers)
            raise TypeError(f"Graph() takes a list of resolvers, but got {name} alone; pass [{name}]")
        self.dag = FeatureDag(resolvers, sources)
        self.planner = Planner(self.dag)
        self.plans: dict[Any, Plan] = {}
        self.lock = threading.Lock()
        entities = dict.fromkeys([*self.dag.entities, *self.dag.sources])
        self.stores = {entity: OnlineStore(entity, self.dag.source_of(entity)) for entity in entities}
        self.resolved_outputs: dict[Any, tuple[Feature, ...]] = {}
        self.outputs: tuple[Feature, ...] = () if outputs is None else self.resolve_outputs(outputs)
        if self.outputs:
            self.plan(self.outputs, (), None)

    @property
    def resolvers(self) -> list[JitResolver]:
        return [node.resolver for node in self.dag.nodes]

    @property
    def entities(self) -> list[Entity]:
        return list(self.dag.entities)

    @property
    def sources(self) -> dict[Entity, Source]:
        return dict(self.dag.sources)

    def __repr__(self) -> str:
        names = ", ".join(entity.name for entity in self.dag.entities)
        resolvers, sources = len(self.dag.nodes), len(self.dag.sources)
        counts = f"{resolvers} resolver{'s' * (resolvers != 1)}, {sources} source{'s' * (sources != 1)}"
        return f"<feature graph of {names}: {counts}>"

    # ----------------------------------------------------------------------------------
    # Names and plans
    # ----------------------------------------------------------------------------------

    def feature(self, reference: FeatureReference) -> Feature:
        """Return the feature a reference names: a Feature, "Entity.name", or a name only one entity has."""
        if isinstance(reference, Feature):
            if reference.entity not in self.dag.entities:
                raise GraphError(f"{reference!r} is a feature of {reference.entity.name}, which this graph does not contain")
            return reference
        if not isinstance(reference, str):
            raise TypeError(f"a feature is named by a Feature such as Flight.distance or a str, but got {reference!r}")
        entity_name, _, name = reference.rpartition(".")
        entities = [entity for entity in self.dag.entities if not entity_name or entity.name == entity_name]
        matches = [entity.features[name] for entity in entities if name in entity.features]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise GraphError(f"several entities have a feature {name!r}; write it as {matches[0]!r}")
        known = ", ".join(entity.name for entity in self.dag.entities)
        raise GraphError(f"no feature {reference!r} in this graph, whose entities are {known}")

    def resolve_outputs(self, outputs: Any) -> tuple[Feature, ...]:
        """Return the features of a query's outputs: one reference or a sequence of them."""
        if not isinstance(outputs, Feature | str | Iterable) or isinstance(outputs, Mapping):
            raise TypeError(
                f"the outputs are features, such as [Trip.speed] or \"Trip.speed\", but got {type(outputs).__name__}"
            )
        key = outputs if isinstance(outputs, Feature | str) else tuple(outputs)
        resolved = self.resolved_outputs.get(key)
        if resolved is None:
            references = [key] if isinstance(key, Feature | str) else list(key)
            resolved = tuple(dict.fromkeys(self.feature(reference) for reference in references))
            self.resolved_outputs[key] = resolved
        return resolved

    def plan(self, outputs: tuple[Feature, ...], request: tuple[Feature, ...], expression: pc.Expression | None) -> Plan:
        """Return the plan of a query, made on its first use and cached."""
        key = (outputs, request, None if expression is None else str(expression))
        plan = self.plans.get(key)
        if plan is None:
            for feature in request:
                if outputs and feature.entity is not outputs[0].entity:
                    raise GraphError(
                        f"the request gives {feature!r}, but the outputs are features of {outputs[0].entity.name}"
                    )
            plan = self.planner.plan(outputs, request, expression)
            with self.lock:
                plan = self.plans.setdefault(key, plan)
        return plan

    def default_outputs(self, outputs: Any) -> Any:
        if outputs is not None:
            return outputs
        if not self.outputs:
            raise GraphError("name the output features; this graph was built without outputs=[...]")
        return self.outputs

    # ----------------------------------------------------------------------------------
    # Online queries
    # ----------------------------------------------------------------------------------

    def query(self, outputs: Any, inputs: Mapping[Any, Any] | Sequence[Mapping[Any, Any]]) -> QueryResult:
        """Return the output features for a few request rows: entity keys, or whole rows of input features.

        `inputs` maps features to one value or to a list of values, one per row, or is a list of
        such mappings, one per row. A key the source does not contain gives None for every
        feature the request does not give. Request values override the source and resolvers.
        `outputs` None means the graph's `outputs`.
        """
        result, _ = self.run_query(outputs, inputs, None)
        return result

    def run_query(self, outputs: Any, inputs: Any, trace: OnlineTrace | None) -> tuple[QueryResult, Plan]:
        features = self.resolve_outputs(self.default_outputs(outputs))
        if is_row_list(inputs):
            inputs, groups = self.row_groups(features, inputs)
            if len(groups) > 1:
                self.request_columns(inputs)  # checks every value first, so that an error names the request's row
                return self.run_query_groups(outputs, features, inputs, groups, trace)
        request, rows_count = self.request_columns(inputs)
        plan = self.plan(features, tuple(request), None)
        if rows_count == 0 and not request:  # an empty list of rows, which names no key: nothing to look up
            empty = {feature: Column.nulls(0, feature.type) for feature in features}
            return QueryResult({feature.name: empty[feature] for feature in features}, 0, features), plan
        columns = run_online(plan, request, rows_count, self.stores, trace)
        return QueryResult({feature.name: columns[feature] for feature in features}, rows_count, features), plan

    def row_groups(
        self, outputs: tuple[Feature, ...], rows: Sequence[Mapping[Any, Any]]
    ) -> tuple[list[dict[Feature, Any]], list[list[int]]]:
        """Return a list of request rows keyed by feature, and their indices grouped by the features each row gives.

        A row looks up every feature it leaves out, so rows that give different features need
        different plans. A row that leaves out the primary key, where other rows give it, gets
        None for it, which matches no source row, as a key of None does.
        """
        by_feature = [{self.feature(name): value for name, value in row.items()} for row in rows]
        key = outputs[0].entity.key if outputs else None
        if key is not None and any(key in row for row in by_feature):
            by_feature = [row if key in row else {**row, key: None} for row in by_feature]
        groups: dict[frozenset[Feature], list[int]] = {}
        for index, row in enumerate(by_feature):
            groups.setdefault(frozenset(row), []).append(index)
        return by_feature, list(groups.values())

    def run_query_groups(
        self,
        outputs: Any,
        features: tuple[Feature, ...],
        rows: Sequence[Mapping[Feature, Any]],
        groups: list[list[int]],
        trace: OnlineTrace | None,
    ) -> tuple[QueryResult, Plan]:
        """Run request rows that give different features as one query per group (see row_groups).

        The results come back in the order of the rows. `trace` follows the first group only;
        explain() describes each group by itself.
        """
        results, plans = [], []
        for index, group in enumerate(groups):
            try:
                result, plan = self.run_query(outputs, [rows[row] for row in group], trace if index == 0 else None)
            except Exception as error:
                location = row_location(error)
                if location is None or not location.show_row:
                    raise
                # The group's row numbers count its own rows; restate them as rows of the request.
                relocated = relocated_error(error, dataclasses.replace(location, row=group[location.row]))
                raise relocated from relocated.__cause__
            results.append(result)
            plans.append(plan)
        order = np.concatenate([np.array(group, dtype=np.int64) for group in groups])
        positions = np.empty(len(order), dtype=np.int64)
        positions[order] = np.arange(len(order), dtype=np.int64)
        columns = {
            feature.name: Column.concat([result.columns[feature.name] for result in results]).take(positions)
            for feature in features
        }
        return QueryResult(columns, len(rows), features), plans[0]

    def request_columns(self, inputs: Any) -> tuple[dict[Feature, Column], int]:
        """Check the request's values and return a column per feature, and the number of rows."""
        if is_row_list(inputs):
            return self.request_rows(inputs)
        if not isinstance(inputs, Mapping):
            raise TypeError(
                f"query() takes inputs as a dict of features to values, or a list of such dicts, "
                f"but got {type(inputs).__name__}"
            )
        pairs: dict[Feature, Any] = {}
        for name, value in inputs.items():
            feature = self.feature(name)
            if feature in pairs:
                raise GraphError(f"the request gives {feature!r} twice; give each feature once")
            pairs[feature] = value
        lists = {feature: request_values(value) for feature, value in pairs.items()}
        lengths = {len(values) for values in lists.values() if values is not None}
        if len(lengths) > 1:
            shown = ", ".join(f"{feature!r}: {len(values)}" for feature, values in lists.items() if values is not None)
            raise GraphError(f"the request's features have different numbers of values ({shown}); give one per row")
        rows = lengths.pop() if lengths else 1
        columns = {}
        for feature, values in lists.items():
            if values is None:
                value = pairs[feature]
                values = [value.item() if isinstance(value, np.generic) else value] * rows
            columns[feature] = request_column(feature, values)
        return columns, rows

    def request_rows(self, rows: Sequence[Mapping[Any, Any]]) -> tuple[dict[Feature, Column], int]:
        """Check a request given as one mapping per row; a feature that a row leaves out is None there.

        Queries split rows that give different features into groups first (see row_groups).
        """
        by_row = [{self.feature(name): value for name, value in row.items()} for row in rows]
        features = list(dict.fromkeys(feature for row in by_row for feature in row))
        values = {feature: [row.get(feature) for row in by_row] for feature in features}
        return self.request_columns(values) if values else ({}, len(rows))

    # ----------------------------------------------------------------------------------
    # Offline queries
    # ----------------------------------------------------------------------------------

    def query_table(self, outputs: Any = None, table: pa.Table | None = None, *, filters: Filter = None) -> pa.Table:
        """Return a Table of the output features for every row of the source, or of `table`.

        Without `table`, the source of the outputs' entity is scanned, reading only the columns
        the plan needs, with `filters` (a pyarrow.compute expression or DNF tuples) pushed into
        the scan. With `table`, its columns named after features are request values, and other
        features are looked up in the source by the primary key column.
        """
        result, _, _ = self.run_table_query(outputs, table, filters, None)
        return result

    def run_table_query(
        self, outputs: Any, table: pa.Table | None, filters: Filter, trace: OfflineTrace | None
    ) -> tuple[pa.Table, Plan, int]:
        features = self.resolve_outputs(self.default_outputs(outputs))
        expression = filter_expression(filters)
        if table is None:
            return self.run_scan(features, expression, trace)
        if expression is not None:
            raise GraphError("filters apply to the scan of a source; filter the table before passing it to query_table()")
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if not isinstance(table, pa.Table):
            raise TypeError(f"query_table() takes a pyarrow Table, but got {type(table).__name__}")
        return self.run_given_table(features, table, trace)

    def run_scan(
        self, features: tuple[Feature, ...], expression: pc.Expression | None, trace: OfflineTrace | None
    ) -> tuple[pa.Table, Plan, int]:
        plan = self.plan(features, (), expression)
        source = self.dag.source_of(plan.entity)
        if source is None:
            raise GraphError(f"{plan.entity.name} has no source to scan; pass a table to query_table()")
        scanned, stats = source.scan([feature.name for feature in plan.source_reads], expression)
        if trace is not None:
            trace.scan = stats
        columns: dict[Feature, ArrowColumn] = {feature: scanned.column(feature.name) for feature in plan.source_reads}
        keys = RowKeys(plan.entity, scanned_key(source, plan.entity, scanned, expression))
        run_offline(plan, columns, scanned.num_rows, None, trace, self.dag.sources, keys)
        return output_table(features, columns), plan, scanned.num_rows

    def run_given_table(
        self, features: tuple[Feature, ...], table: pa.Table, trace: OfflineTrace | None
    ) -> tuple[pa.Table, Plan, int]:
        entity = features[0].entity
        request = tuple(entity.features[name] for name in table.column_names if name in entity.features)
        for feature in request:
            check_column_type(feature, table.column(feature.name).type)
        plan = self.plan(features, request, None)
        columns: dict[Feature, ArrowColumn] = {feature: table.column(feature.name) for feature in request}
        found = None
        if plan.reads_source:
            found = self.join_source(plan, table, columns, trace)
        key = entity.key
        keys = None
        if key is not None and key.name in table.column_names:
            keys = RowKeys(entity, key_of_column(table.column(key.name)))
        run_offline(plan, columns, table.num_rows, found, trace, self.dag.sources, keys)
        return output_table(features, columns), plan, table.num_rows

    def join_source(
        self, plan: Plan, table: pa.Table, columns: dict[Feature, ArrowColumn], trace: OfflineTrace | None
    ) -> np.ndarray:
        """Add the source columns the plan reads, looked up by the table's key column; return which keys were found."""
        key = plan.entity.key
        assert key is not None, "every entity has a primary key"
        source = self.dag.source_of(plan.entity)
        if source is None or key.name not in table.column_names:
            where = f"{plan.entity.name} has no source" if source is None else f"the table has no column {key.name}"
            raise GraphError(
                f"the query reads {', '.join(map(repr, plan.source_reads))} from the source, but {where}; "
                f"pass those features as columns, or the key {key!r} to look them up"
            )
        rows = source.key_index(key.name).lookup_arrow(table.column(key.name))
        indices = pa.array(rows, mask=rows < 0)
        for feature in plan.source_reads:
            columns[feature] = source.column(feature.name).take(indices)
        found = rows >= 0
        if trace is not None:
            trace.keys, trace.found = len(rows), int(found.sum())
        return found

    # ----------------------------------------------------------------------------------
    # Explain and drawing
    # ----------------------------------------------------------------------------------

    def explain(
        self,
        outputs: Any = None,
        inputs: Any = None,
        *,
        filters: Filter = None,
        analyze: bool = False,
        show: bool = True,
    ) -> str:
        """Describe the plan of a query: its stages, the resolvers each fused kernel holds, the columns
        read, the filters pushed into the scan and the estimated rows.

        With `inputs` it is the plan of an online query for those request rows, else of an
        offline query over the source. With analyze=True the query runs, and each stage gets
        its actual rows and time, as EXPLAIN ANALYZE gives them.
        """
        from featurejit.graph.explain import explain_query

        text = explain_query(self, self.default_outputs(outputs), inputs, filters, analyze)
        if show:
            print(text)
        return text

    def draw(self, format: str = "text") -> str:
        """Return the graph of features and resolvers as text, Graphviz DOT or SVG."""
        from featurejit.graph.drawing import draw

        return draw(self, format)


def request_values(value: Any) -> list[Any] | None:
    """Return a request value as a list of Python values, or None for a scalar."""
    if isinstance(value, pa.Array | pa.ChunkedArray):
        return value.to_pylist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [item.item() if isinstance(item, np.generic) else item for item in value]
    return None


def check_column_type(feature: Feature, column_type: pa.DataType) -> None:
    checks = COLUMN_TYPE_CHECKS[feature.type.python_type]
    if not pa.types.is_null(column_type) and not any(check(column_type) for check in checks):
        raise GraphError(f"the table's column {feature.name} is {column_type}, but {feature!r} is declared {feature.type}")


def output_table(features: tuple[Feature, ...], columns: dict[Feature, ArrowColumn]) -> pa.Table:
    """Return the outputs as a Table, with source columns of numbers and strings cast to the declared types."""
    arrays = {}
    for feature in features:
        column = columns[feature]
        declared = ARROW_TYPES[feature.type.python_type]
        if column.type != declared and not pa.types.is_timestamp(column.type):
            column = column.cast(declared)
        arrays[feature.name] = column
    return pa.table(arrays)


def is_row_list(inputs: Any) -> bool:
    """Return whether a query's inputs are a list of mappings, one per request row."""
    return isinstance(inputs, Sequence) and not isinstance(inputs, str) and all(isinstance(row, Mapping) for row in inputs)
