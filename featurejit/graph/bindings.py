"""Reading a resolver's annotations into the features it reads and writes.

A parameter annotated with a feature, `distance: Flight.distance`, reads that feature. A
parameter with a plain type annotation reads the feature of the resolver's entity with the
parameter's name, and its type must take that feature's values. The return annotation names
the feature written, `-> Flight.speed_mph`, or several of one entity, `-> tuple[Flight.a, Flight.b]`,
in which case the function returns a tuple of that many values.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from featurejit.graph.entities import Entity, Feature, FeatureType, parse_feature_type
from featurejit.graph.errors import GraphError
from featurejit.graph.relationships import ChildRows, HasManyReference
from featurejit.resolver import JitResolver, jit_resolver


@dataclass(frozen=True, eq=False)
class ResolverNode:
    """A resolver of the graph: the feature each parameter reads and the features it writes."""

    resolver: JitResolver
    entity: Entity
    inputs: dict[str, Feature]  # parameter name -> feature, in parameter order
    outputs: tuple[Feature, ...]
    returns_tuple: bool

    @property
    def name(self) -> str:
        return self.resolver.name

    @property
    def function(self) -> Callable[..., Any]:
        return self.resolver.function

    @property
    def parameters(self) -> list[inspect.Parameter]:
        return list(self.resolver.python_signature.parameters.values())

    def __repr__(self) -> str:
        return f"<resolver {self.name}: {', '.join(map(repr, self.outputs))}>"


def as_resolver(candidate: Any) -> JitResolver:
    """Return a `@jit_resolver`, wrapping a plain function as one; raise TypeError for anything else."""
    if isinstance(candidate, JitResolver):
        return candidate
    if inspect.isfunction(candidate):
        return jit_resolver(candidate)
    raise TypeError(f"a graph takes resolvers (@jit_resolver functions or plain functions), but got {candidate!r}")


def read_annotations(resolver: JitResolver) -> dict[str, Any]:
    try:
        return inspect.get_annotations(resolver.function, eval_str=True)
    except Exception as error:  # noqa: BLE001 - any failure to evaluate a string annotation
        hint = ""
        if isinstance(error, NameError):
            hint = (
                "; annotations written as strings, as `from __future__ import annotations` makes them, are "
                "evaluated in the module's globals, so declare entities at module level"
            )
        raise GraphError(f"the annotations of {resolver.name} could not be evaluated: {error}{hint}") from None


def written_features(resolver: JitResolver, annotation: Any) -> tuple[tuple[Feature, ...], bool]:
    """Return the features a return annotation names, and whether it is a tuple of them."""
    if isinstance(annotation, Feature):
        return (annotation,), False
    members = typing.get_args(annotation)
    if typing.get_origin(annotation) is tuple and members and all(isinstance(member, Feature) for member in members):
        duplicates = sorted({repr(member) for member in members if members.count(member) > 1})
        if duplicates:
            raise GraphError(f"{resolver.name} writes {duplicates[0]} twice in its return annotation")
        return tuple(members), True
    if annotation is inspect.Parameter.empty:
        shown = "nothing"
    else:
        shown = annotation.__name__ if isinstance(annotation, type) else repr(annotation)
    raise GraphError(
        f"the return annotation of {resolver.name} is {shown}; name the feature it writes, such as "
        f"-> Flight.speed_mph, or several features of one entity as -> tuple[Flight.a, Flight.b]"
    )


def resolver_entity(resolver: JitResolver, named: list[Feature]) -> Entity:
    """Return the one entity whose features the resolver names; raise GraphError if there are several."""
    entities = list(dict.fromkeys(feature.entity for feature in named))
    if len(entities) > 1:
        unique = list(dict.fromkeys(named))
        shown = ", ".join(f"{entity.name} ({', '.join(repr(f) for f in unique if f.entity is entity)})" for entity in entities)
        raise GraphError(
            f"{resolver.name} names features of several entities: {shown}; a resolver reads and writes "
            f"features of one entity, and reads other entities' features through a relationship of that "
            f"entity, such as Flight.plane.year"
        )
    return entities[0]


def bind_parameter(resolver: JitResolver, entity: Entity, parameter: inspect.Parameter, annotation: Any) -> Feature:
    """Return the feature a parameter reads; raise GraphError for a parameter that names none or has the wrong type."""
    if isinstance(annotation, Feature):
        return annotation
    where = f"parameter {parameter.name!r} of {resolver.name}"
    if isinstance(annotation, ChildRows | HasManyReference):
        raise GraphError(
            f"{where} reads {annotation!r}, the child rows of a has-many relationship, which a resolver takes only "
            f"aggregated; add .count(), .sum(), .mean(), .min() or .max()"
        )
    if annotation is inspect.Parameter.empty:
        raise GraphError(f"{where} has no annotation; annotate it with a feature, such as {entity.name}.{parameter.name}")
    feature = entity.features.get(parameter.name)
    if feature is None:
        raise GraphError(
            f"{where} is annotated with a type, so it reads the feature {entity.name}.{parameter.name}, "
            f"which is not declared; annotate it with one of the features of {entity.name}: {', '.join(entity.features)}"
        )
    declared: FeatureType = parse_feature_type(annotation, where)
    if not declared.accepts(feature.type):
        raise GraphError(
            f"{where} is annotated {declared}, but it reads {feature!r}, which is declared {feature.type}; "
            f"annotate it {feature.type} or {feature!r}"
        )
    return feature


def bind_resolver(candidate: Any) -> ResolverNode:
    """Read which features a resolver reads and writes; raise GraphError for annotations that name none."""
    resolver = as_resolver(candidate)
    annotations = read_annotations(resolver)
    parameters = list(inspect.signature(resolver.function).parameters.values())
    for parameter in parameters:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD, parameter.POSITIONAL_ONLY):
            raise GraphError(
                f"parameter {parameter.name!r} of {resolver.name} is {parameter.kind.description}; "
                f"a resolver of a graph takes named parameters, one per feature it reads"
            )
    outputs, returns_tuple = written_features(resolver, annotations.get("return", inspect.Parameter.empty))
    named = [*outputs, *(value for value in annotations.values() if isinstance(value, Feature))]
    entity = resolver_entity(resolver, named)
    inputs = {
        parameter.name: bind_parameter(resolver, entity, parameter, annotations.get(parameter.name, parameter.empty))
        for parameter in parameters
    }
    for feature in outputs:
        if type(feature) is not Feature:
            raise GraphError(
                f"{resolver.name} writes {feature!r}, which is read through a relationship; a resolver writes "
                f"only features declared on its entity"
            )
        if feature.is_key:
            raise GraphError(
                f"{resolver.name} writes {feature!r}, the primary key of {entity.name}; keys come from sources and requests"
            )
    return ResolverNode(resolver, entity, inputs, outputs, returns_tuple)
