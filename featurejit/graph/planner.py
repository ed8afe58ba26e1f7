"""Query plans: which resolvers a query needs, in which stages, fused how.

The planner walks back from the requested outputs. A feature comes from the request if the
request gives it, else from the resolver that writes it, else from the entity's source. A
feature read through a relationship (`Flight.plane.year`, `User.transactions.count()`) comes
from a join stage, one per relationship, which reads the join's key features and runs a plan
of the other entity for the features it needs there. Then the planner groups resolvers and
joins into waves. A wave has one fused kernel, made of every compiled resolver whose inputs
are ready, one interpreted stage per other ready resolver, and one stage per ready join. The
stages of a wave do not depend on each other, so they may run in parallel.

Every join of a relationship is a left join: each row keeps its place, with nulls where the
other entity has no matching row. Joins therefore keep the order in which the request first
needs them, which never changes a result. How each join runs is chosen when it runs: from
statistics offline (featurejit.graph.offline_joins), through indexes online
(featurejit.graph.online_joins).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import pyarrow.compute as pc

from featurejit.errors import CompileError
from featurejit.fusion import FusedMember, FusedResolvers
from featurejit.graph.bindings import ResolverNode
from featurejit.graph.entities import Entity, Feature
from featurejit.graph.errors import GraphError
from featurejit.graph.relationships import AggregateFeature, JoinedFeature, Relationship

if TYPE_CHECKING:
    from featurejit.graph.dag import FeatureDag
    from featurejit.graph.sources import Source

# Feature types that fused kernels read and write.
FUSED_TYPES = (bool, int, float, str, datetime.datetime)


@dataclass(eq=False)
class JoinStep:
    """The join of one relationship in a plan: it reads the key features and writes the features read through it."""

    relationship: Relationship
    outputs: tuple[Feature, ...]  # JoinedFeature or AggregateFeature of the relationship's owner
    subplan: Plan | None  # the other entity's plan for the features read there; None if it reads none

    @property
    def name(self) -> str:
        return f"join {self.relationship.qualified_name}"

    @property
    def inputs(self) -> dict[str, Feature]:
        return {feature.name: feature for feature in self.relationship.owner_keys}

    @property
    def aggregates(self) -> list[AggregateFeature]:
        return [feature for feature in self.outputs if isinstance(feature, AggregateFeature)]


PlanNode = ResolverNode | JoinStep


@dataclass(eq=False)
class Stage:
    """Resolvers that run together, one fused kernel or one resolver in the interpreter, or one join."""

    number: int
    nodes: tuple[ResolverNode, ...]
    reads: tuple[Feature, ...]  # features it reads from the request, the source or earlier stages
    writes: tuple[Feature, ...]  # features it keeps for later stages and the outputs
    fused: FusedResolvers | None = None
    fused_inputs: tuple[Feature, ...] = ()  # the fused kernel's input columns, in its order
    reason: str = ""  # why an interpreted stage is not compiled
    join: JoinStep | None = None

    @property
    def kind(self) -> str:
        if self.join is not None:
            return "join"
        return "fused kernel" if self.fused is not None else "interpreted"

    @cached_property
    def numeric(self) -> bool:
        """Whether every column the stage reads and writes is bool, int or float."""
        features = (*self.reads, *self.writes)
        return all(feature.type.python_type in (bool, int, float) for feature in features)

    def describe(self) -> str:
        if self.join is not None:
            return f"stage {self.number}: left join {self.join.relationship.describe()}"
        names = ", ".join(node.name for node in self.nodes)
        return f"stage {self.number}: {self.kind} [{names}]"


@dataclass(eq=False)
class Plan:
    """The plan of one query: what it reads, and its stages in waves of independent stages."""

    entity: Entity
    outputs: tuple[Feature, ...]
    request: tuple[Feature, ...]  # features the request gives, which override the source and resolvers
    source_reads: tuple[Feature, ...]  # features read from the entity's source
    waves: tuple[tuple[Stage, ...], ...]
    filter: pc.Expression | None = None
    computed: tuple[Feature, ...] = field(default=())  # features that stages write

    @property
    def stages(self) -> list[Stage]:
        return [stage for wave in self.waves for stage in wave]

    @property
    def reads_source(self) -> bool:
        return bool(self.source_reads)

    @cached_property
    def source_stages(self) -> frozenset[Stage]:
        """The stages that read a source column, directly or through earlier stages' features.

        For rows whose key the source does not contain, only these stages' features are null:
        the other stages compute from the request alone, as a left join of the request with
        the source would.
        """
        needing = set(self.source_reads)
        stages = set()
        for stage in self.stages:
            if needing.intersection(stage.reads):
                stages.add(stage)
                needing.update(stage.writes)
        return frozenset(stages)


def output_entity(outputs: tuple[Feature, ...]) -> Entity:
    entities = list(dict.fromkeys(feature.entity for feature in outputs))
    if len(entities) != 1:
        shown = ", ".join(map(repr, outputs))
        raise GraphError(
            f"the outputs {shown} belong to {len(entities)} entities; query one entity's features at a time, "
            f"and read other entities' features through its relationships, such as Flight.plane.year"
        )
    return entities[0]


def is_read_through(feature: Feature) -> bool:
    return isinstance(feature, JoinedFeature | AggregateFeature)


class Planner:
    """Builds plans for one graph, and keeps what every plan reuses: compile checks and fused groups."""

    def __init__(self, dag: FeatureDag):
        self.dag = dag
        self.compile_reasons: dict[ResolverNode, str] = {}
        self.fused_groups: dict[tuple[tuple[int, ...], tuple[str, ...]], FusedResolvers] = {}

    def plan(
        self, outputs: tuple[Feature, ...], request: tuple[Feature, ...], expression: pc.Expression | None = None
    ) -> Plan:
        """Plan a query for `outputs` when the request gives the features `request`."""
        if not outputs:
            raise GraphError("a query needs at least one output feature")
        entity = output_entity(outputs)
        nodes, source_reads = self.needed(outputs, set(request))
        source = self.dag.source_of(entity)
        if expression is not None:
            if source is None:
                raise GraphError(f"filters apply to the scan of a source, and {entity.name} has none")
            source.check_filter(expression)
            self.check_filter_columns(entity, source, expression)
        # A request that gives keys may name rows the source lacks, where only the stages that
        # need a source column give null (Plan.source_stages), so no kernel may mix those
        # resolvers with the others.
        key_given = entity.key is not None and entity.key in request
        waves = self.group(nodes, set(request), set(source_reads), outputs, split_source=key_given and bool(source_reads))
        computed = tuple(feature for wave in waves for stage in wave for feature in stage.writes)
        return Plan(entity, outputs, request, tuple(source_reads), waves, expression, computed)

    def check_filter_columns(self, entity: Entity, source: Source, expression: pc.Expression) -> None:
        """Raise GraphError if a scan filter reads a source column that a resolver computes a feature of.

        The filter runs on the source's column, which the resolver's value replaces in the
        results, so it would keep rows by a value the results do not show.
        """
        for feature, node in self.dag.writers.items():
            if feature.entity is entity and source.has_column(feature.name) and source.filter_reads(expression, feature.name):
                raise GraphError(
                    f"the filter reads the source column {feature.name}, but the resolver {node.name} computes "
                    f"{feature!r}, which replaces that column in the results; filter on the columns {node.name} "
                    f"reads, or filter the result table"
                )

    # ----------------------------------------------------------------------------------
    # Walking back from the outputs
    # ----------------------------------------------------------------------------------

    def needed(self, outputs: tuple[Feature, ...], request: set[Feature]) -> tuple[list[PlanNode], list[Feature]]:
        """Return the resolvers and joins the outputs need, in dependency order, and the features read from the source."""
        nodes: dict[ResolverNode | Relationship, None] = {}
        source_reads: dict[Feature, None] = {}
        joined: dict[Relationship, dict[Feature, None]] = {}

        def visit(feature: Feature, path: list[str]) -> None:
            if feature in request or feature in source_reads:
                return
            if isinstance(feature, JoinedFeature | AggregateFeature):
                relationship = feature.relationship
                if relationship not in joined:
                    self.dag.check_read_through(feature, " and ".join(path))
                    for key in relationship.owner_keys:
                        visit(key, [*path, f"{relationship.qualified_name} joins on {key!r}"])
                    joined[relationship] = {}
                    nodes[relationship] = None
                joined[relationship][feature] = None
                return
            writer = self.dag.writers.get(feature)
            if writer is None:
                if not self.dag.provides_from_source(feature):
                    self.raise_missing(feature, path)
                source_reads[feature] = None
                return
            if writer in nodes:
                return
            for input_feature in writer.inputs.values():
                visit(input_feature, [*path, f"{writer.name} reads {input_feature!r}"])
            nodes[writer] = None

        for output in outputs:
            visit(output, [f"the output {output!r}"])
        steps = {relationship: self.join_step(relationship, tuple(features)) for relationship, features in joined.items()}
        ordered: list[PlanNode] = [steps[node] if isinstance(node, Relationship) else node for node in nodes]
        return ordered, list(source_reads)

    def join_step(self, relationship: Relationship, features: tuple[Feature, ...]) -> JoinStep:
        """Make the join of a relationship, with the plan of the other entity for the features read there."""
        wanted: list[Feature] = []
        for feature in features:
            if isinstance(feature, JoinedFeature):
                wanted.append(feature.target)
            elif isinstance(feature, AggregateFeature):
                wanted.extend(feature.child_features)
        wanted = list(dict.fromkeys(wanted))
        subplan = self.plan(tuple(wanted), ()) if wanted else None
        return JoinStep(relationship, features, subplan)

    def raise_missing(self, feature: Feature, path: list[str]) -> None:
        source = self.dag.source_of(feature.entity)
        where = (
            f"the source of {feature.entity.name}, {source.description}, has no column {feature.name}"
            if source is not None
            else f"{feature.entity.name} has no source"
        )
        if path == [f"the output {feature!r}"]:
            needed = "a requested output"
        else:
            needed = "which is needed along this chain: " + "; ".join(path)
        raise GraphError(
            f"nothing provides {feature!r}, {needed}: no resolver writes it and {where}; "
            f"add a resolver that writes it, add the column to the source, or pass it in the request"
        )

    # ----------------------------------------------------------------------------------
    # Stages
    # ----------------------------------------------------------------------------------

    def compile_reason(self, node: ResolverNode) -> str:
        """Return why a resolver cannot join a fused kernel, or "" if it can. Computed once per resolver."""
        reason = self.compile_reasons.get(node)
        if reason is None:
            reason = self.find_compile_reason(node)
            self.compile_reasons[node] = reason
        return reason

    @staticmethod
    def find_compile_reason(node: ResolverNode) -> str:
        if node.returns_tuple:
            return f"it writes {len(node.outputs)} features as a tuple, and only single results are compiled"
        if not node.inputs:
            return "it reads no feature, and fused kernels take their row count from their input columns"
        for feature in (*node.inputs.values(), *node.outputs):
            if feature.type.python_type not in FUSED_TYPES:
                return f"{feature!r} is a {feature.type.python_type.__name__} feature, which is not compiled yet"
        from featurejit.compiler import lower_resolver  # imported late: it loads xDSL

        try:
            lower_resolver(node.function, node.name)
        except CompileError as error:
            return str(error)
        return ""

    def runs_alone(self, node: PlanNode) -> bool:
        """Return whether a node is a stage of its own: a join, or a resolver that is not compiled."""
        return isinstance(node, JoinStep) or bool(self.compile_reason(node))

    def group(
        self,
        nodes: list[PlanNode],
        request: set[Feature],
        source_reads: set[Feature],
        outputs: tuple[Feature, ...],
        split_source: bool = False,
    ) -> tuple[tuple[Stage, ...], ...]:
        """Split the resolvers and joins, given in dependency order, into waves of stages.

        With `split_source`, a fused group never mixes resolvers that need a source column,
        directly or through other resolvers, with resolvers that do not: those that do wait
        for a later wave.
        """
        remaining = list(nodes)
        available = request | source_reads
        needs_source = set(source_reads)
        waves: list[list[tuple[list[PlanNode], str]]] = []
        while remaining:
            interpreted = [
                node for node in remaining
                if self.runs_alone(node) and all(feature in available for feature in node.inputs.values())
            ]
            # Compiled resolvers wait while a join is ready, so that those before and after the
            # joins fuse into one kernel instead of two.
            joins_ready = any(isinstance(node, JoinStep) for node in interpreted)
            fused: list[PlanNode] = [] if joins_ready else list(self.ready_to_fuse(remaining, available))
            if split_source and fused:
                fused = without_source_dependents(fused, needs_source)
            assert fused or interpreted, "a graph without cycles always has a ready resolver"
            wave = ([(fused, "")] if fused else []) + [([node], self.stage_reason(node)) for node in interpreted]
            waves.append(wave)
            done = {*fused, *interpreted}
            remaining = [node for node in remaining if node not in done]
            available |= {feature for node in done for feature in node.outputs}
            for node in [*fused, *interpreted]:  # the fused group is in dependency order
                if needs_source.intersection(node.inputs.values()):
                    needs_source.update(node.outputs)
        return self.build_stages(waves, request, outputs)

    def stage_reason(self, node: PlanNode) -> str:
        return "" if isinstance(node, JoinStep) else self.compile_reason(node)

    def ready_to_fuse(self, remaining: list[PlanNode], available: set[Feature]) -> list[ResolverNode]:
        """Return the compiled resolvers whose inputs are available or written by others of the group."""
        group: list[ResolverNode] = []
        produced: set[Feature] = set()
        for node in remaining:  # dependency order, so one pass finds chains within the group
            if isinstance(node, JoinStep) or self.compile_reason(node):
                continue
            if all(feature in available or feature in produced for feature in node.inputs.values()):
                group.append(node)
                produced |= set(node.outputs)
        return group

    def build_stages(
        self, waves: list[list[tuple[list[PlanNode], str]]], request: set[Feature], outputs: tuple[Feature, ...]
    ) -> tuple[tuple[Stage, ...], ...]:
        """Make the stages, each keeping only what later stages or the outputs read.

        A feature the request gives is never written, even by a resolver that writes it
        alongside a feature the query needs, because request values override.
        """
        reads = [[group_reads(nodes) for nodes, _ in wave] for wave in waves]
        readers = set(outputs).union(*(stage_reads for wave in reads for stage_reads in wave))
        built: list[tuple[Stage, ...]] = []
        number = 1
        for wave, wave_reads in zip(waves, reads, strict=True):
            stages = []
            for (nodes, reason), stage_reads in zip(wave, wave_reads, strict=True):
                writes = tuple(
                    feature for node in nodes for feature in node.outputs if feature in readers and feature not in request
                )
                stages.append(self.build_stage(number, nodes, reason, stage_reads, writes))
                number += 1
            built.append(tuple(stages))
        return tuple(built)

    def build_stage(
        self, number: int, nodes: list[PlanNode], reason: str, reads: tuple[Feature, ...], writes: tuple[Feature, ...]
    ) -> Stage:
        if isinstance(nodes[0], JoinStep):
            return Stage(number, (), reads, writes, join=nodes[0])
        resolvers = [node for node in nodes if isinstance(node, ResolverNode)]
        if reason:
            return Stage(number, tuple(resolvers), reads, writes, reason=reason)
        fused = self.fused_group(resolvers, writes)
        by_name = {feature.column_name: feature for feature in reads}
        inputs = tuple(by_name[name] for name in fused.inputs)
        return Stage(number, tuple(resolvers), reads, writes, fused=fused, fused_inputs=inputs)

    def fused_group(self, nodes: list[ResolverNode], writes: tuple[Feature, ...]) -> FusedResolvers:
        """Return the fused resolvers of a group, made once per group and outputs so that kernels compile once."""
        key = (tuple(id(node) for node in nodes), tuple(feature.name for feature in writes))
        fused = self.fused_groups.get(key)
        if fused is None:
            members = [
                FusedMember(node.resolver, node.outputs[0].name, {name: f.column_name for name, f in node.inputs.items()})
                for node in nodes
            ]
            fused = FusedResolvers(members, [feature.name for feature in writes])
            self.fused_groups[key] = fused
        return fused


def without_source_dependents(group: list[PlanNode], needs_source: set[Feature]) -> list[PlanNode]:
    """Return the resolvers of a fused group that need no source column, or the whole group if all of them do.

    `group` is in dependency order, so a resolver that reads another's output comes after it.
    """
    dependent = set(needs_source)
    independent = []
    for node in group:
        if dependent.intersection(node.inputs.values()):
            dependent.update(node.outputs)
        else:
            independent.append(node)
    return independent or group


def group_reads(nodes: list[PlanNode]) -> tuple[Feature, ...]:
    """Return the features a group of resolvers reads that none of them writes."""
    written = {feature for node in nodes for feature in node.outputs}
    return tuple(dict.fromkeys(f for node in nodes for f in node.inputs.values() if f not in written))
