"""Entities and their features, declared as annotated classes.

    @featurejit.features
    class Flight:
        id: int
        distance: int
        air_time: int | None
        tailnum: str | None
        speed_mph: float | None

After decoration `Flight.distance` is a `Feature`. Used as a resolver annotation it names the
feature the parameter reads or the return writes, and the compiler reads its declared type
through `__featurejit_annotation__()`.
"""

from __future__ import annotations

import datetime
import inspect
import sys
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from featurejit.graph.errors import GraphError
from featurejit.graph.filters import Comparison, IsIn, NullTest

if TYPE_CHECKING:
    from featurejit.graph.relationships import Relationship

VALUE_TYPES: tuple[type, ...] = (bool, int, float, str, datetime.datetime)
VALUE_SPELLING = "int, float, bool, str, datetime, or one of them | None"
KEY_TYPES: tuple[type, ...] = (int, str)

ClassType = TypeVar("ClassType", bound=type)


@dataclass(frozen=True)
class FeatureType:
    """The declared type of a feature's values, and whether a value may be None."""

    python_type: type
    optional: bool

    def annotation(self) -> Any:
        """Return the type annotation this type is, such as `int | None`."""
        return self.python_type | None if self.optional else self.python_type

    def accepts(self, other: FeatureType) -> bool:
        """Return whether a parameter of this type takes every value of a feature of type `other`.

        A float parameter takes ints and bools, and an int parameter takes bools, as in Python's
        numeric tower. A parameter that does not allow None cannot read an optional feature.
        """
        widening = {float: (float, int, bool), int: (int, bool)}
        allowed = widening.get(self.python_type, (self.python_type,))
        return other.python_type in allowed and (self.optional or not other.optional)

    def __str__(self) -> str:
        name = self.python_type.__name__
        return f"{name} | None" if self.optional else name


def parse_feature_type(annotation: Any, where: str) -> FeatureType:
    """Turn a type annotation into a FeatureType; raise GraphError naming `where` for anything else."""
    if annotation in VALUE_TYPES:
        return FeatureType(annotation, optional=False)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [member for member in typing.get_args(annotation) if member is not type(None)]
        has_none = len(members) < len(typing.get_args(annotation))
        if has_none and len(members) == 1 and members[0] in VALUE_TYPES:
            return FeatureType(members[0], optional=True)
    shown = getattr(annotation, "__name__", None) or repr(annotation)
    raise GraphError(f"{where} is annotated {shown}; a feature's type must be {VALUE_SPELLING}")


class PrimaryKey:
    """The marker that `primary_key()` returns, assigned to the field that is an entity's primary key."""

    def __repr__(self) -> str:
        return "featurejit.primary_key()"


def primary_key() -> Any:
    """Mark a field of a `@features` class as the entity's primary key: `flight_id: int = primary_key()`."""
    return PrimaryKey()


class Feature:
    """One feature of an entity, such as `Flight.distance`: its name, declared type and entity.

    Comparing a feature with a value, `Transaction.amount > 100`, makes a filter on the child
    rows of a has-many relationship (featurejit.graph.filters). The truth value of `==` and
    `!=` is identity, so features stay usable as dict keys and in `in` tests.
    """

    __slots__ = ("entity", "name", "type")

    def __init__(self, entity: Entity, name: str, type: FeatureType):
        self.entity = entity
        self.name = name
        self.type = type

    def __featurejit_annotation__(self) -> Any:
        """Return the type annotation of the feature's values, for the compiler."""
        return self.type.annotation()

    @property
    def qualified_name(self) -> str:
        return f"{self.entity.name}.{self.name}"

    @property
    def is_key(self) -> bool:
        return self.entity.key is self

    @property
    def column_name(self) -> str:
        """The name of the feature's column in the tables that fused kernels read, which name their arguments."""
        return self.name

    def __repr__(self) -> str:
        return self.qualified_name

    __hash__ = object.__hash__

    def __eq__(self, other: object) -> Any:  # type: ignore[override]
        return NullTest(self, negated=False) if other is None else Comparison(self, "==", other)

    def __ne__(self, other: object) -> Any:  # type: ignore[override]
        return NullTest(self, negated=True) if other is None else Comparison(self, "!=", other)

    def __lt__(self, other: Any) -> Comparison:
        return Comparison(self, "<", other)

    def __le__(self, other: Any) -> Comparison:
        return Comparison(self, "<=", other)

    def __gt__(self, other: Any) -> Comparison:
        return Comparison(self, ">", other)

    def __ge__(self, other: Any) -> Comparison:
        return Comparison(self, ">=", other)

    def isin(self, values: Iterable[Any]) -> IsIn:
        """Return the filter that keeps rows whose value of this feature is one of `values`."""
        return IsIn(self, values)

    def is_null(self) -> NullTest:
        return NullTest(self, negated=False)

    def is_not_null(self) -> NullTest:
        return NullTest(self, negated=True)


class Entity:
    """An entity declared with `@features`: its name, its features in declaration order and its primary key."""

    def __init__(self, name: str, declared: type):
        self.name = name
        self.declared = declared
        self.features: dict[str, Feature] = {}
        self.relationships: dict[str, Relationship] = {}
        self.key: Feature | None = None

    def feature(self, name: str) -> Feature:
        """Return the feature called `name`; raise GraphError listing the features if there is none."""
        feature = self.features.get(name)
        if feature is None:
            raise GraphError(f"{self.name} has no feature {name!r}; its features are {', '.join(self.features)}")
        return feature

    def __repr__(self) -> str:
        return f"<entity {self.name}: {', '.join(self.features)}>"


def entity_of(declared: Any) -> Entity:
    """Return the entity of a `@features` class; raise GraphError for anything else."""
    entity = getattr(declared, "__featurejit_entity__", None) if isinstance(declared, type) else None
    if not isinstance(entity, Entity):
        shown = getattr(declared, "__name__", None) or repr(declared)
        raise GraphError(f"{shown} is not an entity; declare it as a class decorated with @featurejit.features")
    return entity


def evaluate_annotation(declared: type, name: str, annotation: Any) -> Any:
    """Evaluate one field's annotation, which is a string under `from __future__ import annotations`.

    Strings are evaluated as `inspect.get_annotations(eval_str=True)` does: in the globals of
    the class's module, with the class namespace as locals.
    """
    if not isinstance(annotation, str):
        return annotation
    module = sys.modules.get(declared.__module__)
    try:
        return eval(annotation, vars(module) if module is not None else {}, dict(vars(declared)))  # noqa: S307
    except Exception as error:  # noqa: BLE001 - any failure to evaluate a string annotation
        raise GraphError(f"the annotation of {declared.__qualname__}.{name} could not be evaluated: {error}") from None


def features(declared: ClassType) -> ClassType:
    """Declare an entity: each annotated field of the class becomes a feature of the declared type.

    The primary key is the field assigned `primary_key()`, or else the field named `id`. It must
    be an int or str that is never None. After decoration each field is a `Feature` attribute.
    A field assigned `has_one(...)` or `has_many(...)` is a relationship to another entity
    instead (featurejit.graph.relationships). Its annotation names that entity and is
    evaluated on first use, so it may name an entity declared further down.
    """
    from featurejit.graph.relationships import Relationship, RelationshipMarker

    if not isinstance(declared, type):
        raise TypeError(f"@features decorates a class, but got {type(declared).__name__}")
    annotations = inspect.get_annotations(declared)
    if not annotations:
        raise GraphError(f"{declared.__qualname__} declares no features; annotate one field per feature, such as id: int")
    entity = Entity(declared.__name__, declared)
    marked = []
    for name, annotation in annotations.items():
        value = declared.__dict__.get(name, None)
        if isinstance(value, RelationshipMarker):
            entity.relationships[name] = Relationship(entity, name, value, annotation)
            continue
        if isinstance(value, PrimaryKey):
            marked.append(name)
        elif name in declared.__dict__:
            raise GraphError(
                f"{entity.name}.{name} has the value {value!r}; features declare only a type, "
                f"and the primary key may be marked with = featurejit.primary_key()"
            )
        where = f"{entity.name}.{name}"
        entity.features[name] = Feature(entity, name, parse_field_type(evaluate_annotation(declared, name, annotation), where))
    entity.key = entity.features[choose_key(entity, marked)]
    for name, feature in entity.features.items():
        setattr(declared, name, feature)
    for name, relationship in entity.relationships.items():
        setattr(declared, name, relationship.reference())
    declared.__featurejit_entity__ = entity  # type: ignore[attr-defined]
    return declared


def parse_field_type(annotation: Any, where: str) -> FeatureType:
    """Parse a field's type, pointing to has_one and has_many for a field annotated with an entity."""
    target = typing.get_args(annotation)[0] if typing.get_origin(annotation) is list and typing.get_args(annotation) else annotation
    if isinstance(target, type) and isinstance(getattr(target, "__featurejit_entity__", None), Entity):
        kind = "has_many" if target is not annotation else "has_one"
        raise GraphError(
            f"{where} is annotated with the entity {target.__name__}; declare the relationship with "
            f"= featurejit.{kind}(...), naming the features that join them"
        )
    return parse_feature_type(annotation, where)


def choose_key(entity: Entity, marked: list[str]) -> str:
    """Return the name of the entity's primary key: the one marked field, or `id`."""
    if len(marked) > 1:
        raise GraphError(f"{entity.name} marks several primary keys ({', '.join(marked)}); mark one")
    if marked:
        name = marked[0]
    elif "id" in entity.features:
        name = "id"
    else:
        raise GraphError(
            f"{entity.name} has no primary key; name a field id, or mark one with = featurejit.primary_key()"
        )
    key_type = entity.features[name].type
    if key_type.optional or key_type.python_type not in KEY_TYPES:
        raise GraphError(f"{entity.name}.{name} is the primary key, so it must be int or str, not {key_type}")
    return name
