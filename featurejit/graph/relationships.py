"""Relationships between entities: has-one (a flight's plane) and has-many (a user's transactions).

    @featurejit.features
    class Flight:
        id: int
        tailnum: str | None
        origin: str
        dest: str
        plane: Plane = featurejit.has_one(lambda: Plane.tailnum == Flight.tailnum)
        weather: Weather = featurejit.has_one(on=["origin", "time_hour"])
        dest_airport: Airport = featurejit.has_one(left_on="dest", right_on="faa")

    @featurejit.features
    class User:
        id: int
        transactions: list[Transaction] = featurejit.has_many(lambda: Transaction.user_id == User.id)

A join condition is a lambda of equalities between a feature of the declaring entity and a
feature of the other entity, joined with `&`. It may also be given as feature names: `on=`
for the same names on both sides, or `left_on=` and `right_on=`. The lambda lets the
condition name an entity declared further down. Keys are int, str or datetime features, and the other entity's
key features must be columns of its source, where they are indexed.

Resolvers read through a has-one relationship with `Flight.plane.year`, a `JoinedFeature`
whose type allows None, because a flight without a matching plane gets None, as in a left
join. They read a has-many relationship as an aggregation over the child rows, optionally
filtered and projected: `User.transactions.count()`,
`User.transactions[Transaction.amount > 100, Transaction.amount].sum()`. An empty set of
child rows gives count 0 and sum 0, and None for mean, min and max.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from featurejit.errors import with_article
from featurejit.graph.entities import Entity, Feature, FeatureType, entity_of, evaluate_annotation
from featurejit.graph.errors import GraphError
from featurejit.graph.filters import And, Comparison, Filter, all_of

KEY_TYPES: tuple[type, ...] = (int, str, datetime.datetime)
AGGREGATIONS = ("count", "sum", "mean", "min", "max")


@dataclass(frozen=True)
class RelationshipMarker:
    """The marker that `has_one()` and `has_many()` return, assigned to a field of a `@features` class."""

    kind: str  # "one" or "many"
    condition: Callable[[], Any] | None
    left_on: tuple[str, ...]
    right_on: tuple[str, ...]


def names_of(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def relationship_marker(
    kind: str,
    condition: Callable[[], Any] | None,
    on: str | Sequence[str] | None,
    left_on: str | Sequence[str] | None,
    right_on: str | Sequence[str] | None,
) -> Any:
    function = f"has_{kind}"
    given = [name for name, value in (("on", on), ("left_on", left_on), ("right_on", right_on)) if value is not None]
    if condition is not None and given:
        raise TypeError(f"{function}() takes a join condition or {', '.join(given)}=, not both")
    if condition is not None and not callable(condition):
        raise TypeError(
            f"{function}() takes the join condition as a lambda, such as lambda: Plane.tailnum == Flight.tailnum, "
            f"but got {condition!r}"
        )
    if condition is None:
        if on is not None and (left_on is not None or right_on is not None):
            raise TypeError(f"{function}() takes on=, or left_on= and right_on=, not both")
        if on is None and (left_on is None or right_on is None):
            raise TypeError(
                f"{function}() needs the join condition: a lambda such as lambda: Plane.tailnum == Flight.tailnum, "
                f"on=NAMES, or left_on=NAMES and right_on=NAMES"
            )
    left, right = (names_of(on), names_of(on)) if on is not None else (names_of(left_on), names_of(right_on))
    return RelationshipMarker(kind, condition, left, right)


def has_one(
    condition: Callable[[], Any] | None = None,
    *,
    on: str | Sequence[str] | None = None,
    left_on: str | Sequence[str] | None = None,
    right_on: str | Sequence[str] | None = None,
) -> Any:
    """Declare a has-one relationship: at most one row of the annotated entity per row of this one.

    Give the join condition as a lambda of equalities, `lambda: Plane.tailnum == Flight.tailnum`
    (several joined with `&`), or as feature names: `on=` when both sides use the same names,
    else `left_on=` for this entity's features and `right_on=` for the other entity's.
    """
    return relationship_marker("one", condition, on, left_on, right_on)


def has_many(
    condition: Callable[[], Any] | None = None,
    *,
    on: str | Sequence[str] | None = None,
    left_on: str | Sequence[str] | None = None,
    right_on: str | Sequence[str] | None = None,
) -> Any:
    """Declare a has-many relationship: the rows of the annotated entity, `list[Child]`, that share this row's key.

    The join condition is given as for `has_one`. Resolvers read the child rows through
    aggregations such as `User.transactions[Transaction.amount > 100, Transaction.amount].sum()`.
    """
    return relationship_marker("many", condition, on, left_on, right_on)


class Relationship:
    """A declared relationship of an entity, resolved on first use: the other entity and the key features of both."""

    def __init__(self, owner: Entity, name: str, marker: RelationshipMarker, annotation: Any):
        self.owner = owner
        self.name = name
        self.marker = marker
        self.annotation = annotation
        self.resolved: tuple[Entity, tuple[Feature, ...], tuple[Feature, ...]] | None = None
        self.joined: dict[Feature, JoinedFeature] = {}
        self.aggregates: dict[str, AggregateFeature] = {}

    @property
    def kind(self) -> str:
        return self.marker.kind

    @property
    def qualified_name(self) -> str:
        return f"{self.owner.name}.{self.name}"

    def __repr__(self) -> str:
        return self.qualified_name

    @property
    def target(self) -> Entity:
        return self.resolve()[0]

    @property
    def owner_keys(self) -> tuple[Feature, ...]:
        return self.resolve()[1]

    @property
    def target_keys(self) -> tuple[Feature, ...]:
        return self.resolve()[2]

    def summary(self) -> str:
        """Return the kind, other entity and join condition, such as `has one Plane on Flight.tailnum = Plane.tailnum`."""
        condition = " AND ".join(f"{a!r} = {b!r}" for a, b in zip(self.owner_keys, self.target_keys, strict=True))
        return f"has {self.kind} {self.target.name} on {condition}"

    def describe(self) -> str:
        """Return the relationship's name and summary, such as `Flight.plane (has one Plane on ...)`."""
        return f"{self.qualified_name} ({self.summary()})"

    def reference(self) -> HasOneReference | HasManyReference:
        """Return the class attribute of this relationship, such as `Flight.plane`."""
        return HasOneReference((self,)) if self.kind == "one" else HasManyReference((self,))

    # ----------------------------------------------------------------------------------
    # Resolving the declaration
    # ----------------------------------------------------------------------------------

    def resolve(self) -> tuple[Entity, tuple[Feature, ...], tuple[Feature, ...]]:
        if self.resolved is None:
            declared = self.declared_target()
            if self.marker.condition is not None:
                target, owner_keys, target_keys = self.condition_keys(declared)
            else:
                target, owner_keys, target_keys = declared, *self.named_keys(declared)
            self.check_keys(owner_keys, target_keys)
            self.resolved = (target, owner_keys, target_keys)
        return self.resolved

    def declared_target(self) -> Entity:
        """Return the entity the annotation names: `Plane` or `Plane | None` for has-one, `list[Transaction]` for has-many."""
        annotation = evaluate_annotation(self.owner.declared, self.name, self.annotation)
        candidate = annotation
        if self.kind == "many":
            arguments = typing.get_args(annotation)
            candidate = arguments[0] if typing.get_origin(annotation) is list and len(arguments) == 1 else None
        else:
            members = [member for member in typing.get_args(annotation) if member is not type(None)]
            if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(members) == 1:
                candidate = members[0]
        if isinstance(candidate, typing.ForwardRef):
            candidate = candidate.__forward_arg__
        if isinstance(candidate, str):  # list["Child"]
            candidate = evaluate_annotation(self.owner.declared, self.name, candidate)
        if not isinstance(getattr(candidate, "__featurejit_entity__", None), Entity):
            expected = "list[Child]" if self.kind == "many" else "the other entity, such as Plane or Plane | None"
            shown = repr(annotation) if typing.get_origin(annotation) else getattr(annotation, "__name__", repr(annotation))
            raise GraphError(f"{self.qualified_name} is a has-{self.kind} relationship annotated {shown}; annotate it with {expected}")
        return entity_of(candidate)

    def condition_keys(self, declared: Entity) -> tuple[Entity, tuple[Feature, ...], tuple[Feature, ...]]:
        """Read the key pairs of a lambda condition such as `(A.x == B.x) & (A.y == B.y)`."""
        assert self.marker.condition is not None
        example = f"lambda: {declared.name}.key == {self.owner.name}.key"
        try:
            condition = self.marker.condition()
        except Exception as error:  # noqa: BLE001 - any failure of the user's lambda
            raise GraphError(f"the join condition of {self.qualified_name} raised {type(error).__name__}: {error}") from None
        pairs = equalities(condition)
        if pairs is None:
            raise GraphError(
                f"the join condition of {self.qualified_name} is {condition!r}; write it as equalities between a "
                f"feature of {self.owner.name} and one of {declared.name} joined with &, such as {example}"
            )
        owner_keys, target_keys = [], []
        for left, right in pairs:
            if left.entity is self.owner and right.entity is not self.owner:
                left, right = right, left
            if right.entity is not self.owner or left.entity is self.owner:
                raise GraphError(
                    f"the join condition of {self.qualified_name} compares {left!r} with {right!r}; each equality "
                    f"compares a feature of {self.owner.name} with one of {declared.name} (for a relationship of an "
                    f"entity to itself, name the keys with left_on= and right_on=)"
                )
            owner_keys.append(right)
            target_keys.append(left)
        targets = list(dict.fromkeys(feature.entity for feature in target_keys))
        if targets != [declared]:
            shown = ", ".join(entity.name for entity in targets)
            raise GraphError(
                f"{self.qualified_name} is annotated with {declared.name}, but its join condition names features of {shown}"
            )
        return declared, tuple(owner_keys), tuple(target_keys)

    def named_keys(self, target: Entity) -> tuple[tuple[Feature, ...], tuple[Feature, ...]]:
        left, right = self.marker.left_on, self.marker.right_on
        if not left or not right:
            raise GraphError(f"{self.qualified_name} names no key features; give on=, or left_on= and right_on=")
        owner_keys = tuple(self.named_feature(self.owner, name, "left_on") for name in left)
        target_keys = tuple(self.named_feature(target, name, "right_on") for name in right)
        if len(owner_keys) != len(target_keys):
            raise GraphError(
                f"{self.qualified_name} joins {len(owner_keys)} key feature(s) of {self.owner.name} "
                f"({', '.join(map(repr, owner_keys))}) with {len(target_keys)} of {target.name} "
                f"({', '.join(map(repr, target_keys))}); give the same number on both sides"
            )
        return owner_keys, target_keys

    def named_feature(self, entity: Entity, name: str, option: str) -> Feature:
        feature = entity.features.get(name)
        if feature is None:
            raise GraphError(
                f"{option} of {self.qualified_name} names {entity.name}.{name}, which is not declared; "
                f"the features of {entity.name} are {', '.join(entity.features)}"
            )
        return feature

    def check_keys(self, owner_keys: Sequence[Feature], target_keys: Sequence[Feature]) -> None:
        """Raise GraphError for key features whose declared types cannot be equal."""
        for owner_key, target_key in zip(owner_keys, target_keys, strict=True):
            for feature in (owner_key, target_key):
                if type(feature) is not Feature:
                    raise GraphError(
                        f"{self.qualified_name} joins on {feature!r}, which is read through another relationship; "
                        f"a join key is a feature of the entity itself"
                    )
                if feature.type.python_type not in KEY_TYPES:
                    raise GraphError(
                        f"{self.qualified_name} joins on {feature!r}, declared {feature.type}; join keys are int, "
                        f"str or datetime features"
                    )
            if owner_key.type.python_type is not target_key.type.python_type:
                raise GraphError(
                    f"{self.qualified_name} joins {owner_key!r} ({owner_key.type}) with {target_key!r} "
                    f"({target_key.type}); {with_article(owner_key.type.python_type.__name__)} key never equals "
                    f"{with_article(target_key.type.python_type.__name__)} key, so declare both with the same type"
                )

    # ----------------------------------------------------------------------------------
    # Features read through the relationship
    # ----------------------------------------------------------------------------------

    def joined_feature(self, target: Feature) -> JoinedFeature:
        """Return the feature of this entity that reads `target`, a feature of the other entity, through a has-one."""
        joined = self.joined.get(target)
        if joined is None:
            joined = JoinedFeature(self, target)
            self.joined[target] = joined
        return joined

    def aggregate(self, filter: Filter | None, projection: Feature | None, function: str) -> AggregateFeature:
        """Return the aggregation `function` of the child rows that pass `filter`, over `projection`."""
        name = aggregate_name(self.name, filter, projection, function)
        aggregate = self.aggregates.get(name)
        if aggregate is None:
            feature_type = aggregate_type(self, projection, function)
            aggregate = AggregateFeature(self, name, feature_type, filter, projection, function)
            self.aggregates[name] = aggregate
        return aggregate


def equalities(condition: Any) -> list[tuple[Feature, Feature]] | None:
    """Return the (left, right) features of a condition made of `==` between features and `&`, or None."""
    if isinstance(condition, And) and type(condition) is And:
        left, right = equalities(condition.left), equalities(condition.right)
        return None if left is None or right is None else [*left, *right]
    if isinstance(condition, Comparison) and condition.operator == "==" and condition.joins_features:
        return [(condition.left, condition.right)]
    return None


def aggregate_name(relationship: str, filter: Filter | None, projection: Feature | None, function: str) -> str:
    inside = [repr(filter)] if filter is not None else []
    if projection is not None:
        inside.append(repr(projection))
    return f"{relationship}[{', '.join(inside)}].{function}()" if inside else f"{relationship}.{function}()"


def aggregate_type(relationship: Relationship, projection: Feature | None, function: str) -> FeatureType:
    """Return the type of an aggregation. Count is an int, sum has the projection's type (int for bools), and
    mean is a float. Min and max have the projection's type. Mean, min and max are None for no rows."""
    if function == "count":
        return FeatureType(int, optional=False)
    where = f"{relationship.qualified_name}[...].{function}()"
    if projection is None:
        raise GraphError(
            f"{where} needs a feature to aggregate, such as "
            f"{relationship.qualified_name}[{relationship.target.name}.amount].{function}()"
        )
    python_type = projection.type.python_type
    if function in ("sum", "mean") and python_type not in (int, float, bool):
        raise GraphError(f"{where} aggregates {projection!r}, declared {projection.type}; {function} takes int, float or bool features")
    if function == "sum":
        return FeatureType(float if python_type is float else int, optional=False)
    if function == "mean":
        return FeatureType(float, optional=True)
    return FeatureType(python_type, optional=True)


def safe_column_name(name: str) -> str:
    """Return a column name of the characters IR names allow, made unique by a hash of `name` when it differs."""
    safe = re.sub(r"[^A-Za-z0-9_.$-]", "_", name)
    if safe == name:
        return name
    return f"{safe.strip('_')}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"


class JoinedFeature(Feature):
    """A feature read through a has-one relationship, such as `Flight.plane.year`, as a feature of the first entity.

    Its `target` is the feature of the other entity: a feature, another joined feature for a
    longer path, or an aggregation. Its type allows None, for rows without a partner.
    """

    __slots__ = ("relationship", "target")

    def __init__(self, relationship: Relationship, target: Feature):
        super().__init__(relationship.owner, f"{relationship.name}.{target.name}", FeatureType(target.type.python_type, True))
        self.relationship = relationship
        self.target = target

    @property
    def column_name(self) -> str:
        return safe_column_name(self.name)


class AggregateFeature(Feature):
    """An aggregation over the child rows of a has-many relationship, as a feature of the parent entity."""

    __slots__ = ("filter", "function", "projection", "relationship")

    def __init__(
        self,
        relationship: Relationship,
        name: str,
        type: FeatureType,
        filter: Filter | None,
        projection: Feature | None,
        function: str,
    ):
        super().__init__(relationship.owner, name, type)
        self.relationship = relationship
        self.filter = filter
        self.projection = projection
        self.function = function

    @property
    def column_name(self) -> str:
        return safe_column_name(self.name)

    @property
    def child_features(self) -> list[Feature]:
        """Return the child features the aggregation reads: its projection and the features its filter names."""
        features = [] if self.filter is None else self.filter.features()
        if self.projection is not None:
            features.append(self.projection)
        return list(dict.fromkeys(features))


# --------------------------------------------------------------------------------------
# The class attributes that stand for relationships
# --------------------------------------------------------------------------------------


def through(path: tuple[Relationship, ...], feature: Feature) -> Feature:
    """Return `feature`, of the last entity of a path of has-one relationships, as a feature of the first."""
    for relationship in reversed(path):
        feature = relationship.joined_feature(feature)
    return feature


class HasOneReference:
    """`Flight.plane`: its attributes are the other entity's features, read through the relationship."""

    __slots__ = ("_path",)

    def __init__(self, path: tuple[Relationship, ...]):
        self._path = path

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        target = self._path[-1].target
        if name in target.features:
            return through(self._path, target.features[name])
        if name in target.relationships:
            relationship = target.relationships[name]
            path = (*self._path, relationship)
            return HasOneReference(path) if relationship.kind == "one" else HasManyReference(path)
        names = [*target.features, *target.relationships]
        raise AttributeError(f"{self!r} is a {target.name}, which has no feature {name!r}; its features are {', '.join(names)}")

    def __repr__(self) -> str:
        return ".".join([self._path[0].owner.name, *(relationship.name for relationship in self._path)])


class HasManyReference:
    """`User.transactions`: index it with filters and a feature, `[Transaction.amount > 100, Transaction.amount]`,
    then aggregate with `.sum()`, `.count()`, `.mean()`, `.min()` or `.max()`."""

    __slots__ = ("_path",)

    def __init__(self, path: tuple[Relationship, ...]):
        self._path = path

    def __getitem__(self, items: Any) -> ChildRows:
        relationship = self._path[-1]
        child = relationship.target
        where = f"{self!r}[...]"
        filters: list[Filter] = []
        projection: Feature | None = None
        for item in items if isinstance(items, tuple) else (items,):
            if isinstance(item, Filter):
                item.check(child, where)
                filters.append(item)
            elif isinstance(item, Feature):
                if type(item) is not Feature or item.entity is not child:
                    raise GraphError(f"{where} selects {item!r}, which is not a feature of {child.name}")
                if projection is not None:
                    raise GraphError(f"{where} selects two features, {projection!r} and {item!r}; aggregate one at a time")
                projection = item
            elif isinstance(item, bool):
                raise GraphError(
                    f"{where} is given {item}, which Python's `in` or `and` returns; write membership as "
                    f"{child.name}.feature.isin([...]) and combine filters with & and |"
                )
            else:
                raise GraphError(f"{where} is given {item!r}; give filters such as {child.name}.amount > 100 and one feature")
        return ChildRows(self._path, all_of(filters), projection)

    def count(self) -> Feature:
        """Return the number of child rows."""
        return ChildRows(self._path, None, None).count()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        target = self._path[-1].target
        child = target.name
        if name in ("sum", "mean", "min", "max"):
            numbers = [feature for feature in target.features if target.features[feature].type.python_type in (int, float)]
            example = numbers[-1] if numbers else "amount"
            raise AttributeError(
                f"{self!r}.{name}() needs a feature to aggregate; select one first, as in {self!r}[{child}.{example}].{name}()"
            )
        raise AttributeError(
            f"{self!r} has no attribute {name!r}; index it with filters and a feature of {child}, "
            f"then aggregate with count(), sum(), mean(), min() or max()"
        )

    def __repr__(self) -> str:
        return ".".join([self._path[0].owner.name, *(relationship.name for relationship in self._path)])


@dataclass(frozen=True)
class ChildRows:
    """The child rows of a has-many relationship that pass a filter, with one feature selected."""

    path: tuple[Relationship, ...]
    filter: Filter | None
    projection: Feature | None

    def __repr__(self) -> str:
        owner = ".".join([self.path[0].owner.name, *(relationship.name for relationship in self.path)])
        items = [repr(item) for item in (self.filter, self.projection) if item is not None]
        return f"{owner}[{', '.join(items)}]"

    def aggregated(self, function: str) -> Feature:
        relationship = self.path[-1]
        return through(self.path[:-1], relationship.aggregate(self.filter, self.projection, function))

    def count(self) -> Feature:
        """Count the rows, or with a feature selected its non-null values."""
        return self.aggregated("count")

    def sum(self) -> Feature:
        """Sum the selected feature's non-null values; 0 for none."""
        return self.aggregated("sum")

    def mean(self) -> Feature:
        """Average the selected feature's non-null values; None for none."""
        return self.aggregated("mean")

    def min(self) -> Feature:
        return self.aggregated("min")

    def max(self) -> Feature:
        return self.aggregated("max")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(f"{self!r} has no aggregation {name}(); the aggregations are count(), sum(), mean(), min() and max()")
