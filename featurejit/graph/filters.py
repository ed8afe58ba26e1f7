"""Filters on the child rows of a has-many relationship, such as `Transaction.amount > 100`.

A filter compares a feature with a value (`== != < <= > >=`), tests membership with
`feature.isin(values)` or nulls with `feature.is_null()` and `feature.is_not_null()`, and
combines other filters with `&`, `|` and `~`. It becomes a pyarrow compute expression, which
is pushed into the scan of the child source when every feature it names is a source column.
As in SQL and Polars, a comparison with a null value is null, and only rows where the filter
is true are kept.

Python's `in` cannot build a filter, because it always returns a bool. `==` and `!=` between
two features also state the join condition of a relationship. Like SQLAlchemy's column
comparisons, their truth value is identity, so features still work as dict keys.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from featurejit.graph.errors import GraphError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc

    from featurejit.graph.entities import Entity, Feature

ORDERING = ("<", "<=", ">", ">=")
EXPRESSION_OPERATORS = {
    "==": lambda field, value: field == value,
    "!=": lambda field, value: field != value,
    "<": lambda field, value: field < value,
    "<=": lambda field, value: field <= value,
    ">": lambda field, value: field > value,
    ">=": lambda field, value: field >= value,
}


def timestamp_type(schema: pa.Schema | None, name: str) -> pa.DataType | None:
    """Return the type of column `name` in `schema` if it is a timestamp, else None."""
    import pyarrow as pa

    index = -1 if schema is None else schema.get_field_index(name)
    if index < 0:
        return None
    column_type = schema.field(index).type  # type: ignore[union-attr]
    return column_type if pa.types.is_timestamp(column_type) else None


def same_kind(value: Any, column_type: pa.DataType) -> bool:
    """Return whether a datetime and a timestamp type are both naive or both aware, as Python compares them."""
    return (value.tzinfo is None) == (column_type.tz is None)


def exact_operands(name: str, column_type: pa.DataType, value: datetime.datetime) -> tuple[pc.Expression, Any] | None:
    """Return a timestamp column and a datetime of its kind as operands that compare exactly, or None.

    pyarrow 26 compares timestamps of two types only for some pairs of unit and zone, so both
    operands get one type. A column of seconds or milliseconds becomes microseconds, which a
    datetime's fraction needs. A column of nanoseconds keeps its type, and None means that it
    cannot hold the datetime (outside years 1677 to 2262), so every value of it lies on one side.
    """
    import pyarrow as pa

    column = field(name)
    if column_type.unit in ("s", "ms"):
        column_type = pa.timestamp("us", tz=column_type.tz)
        column = column.cast(column_type)
    try:
        return column, pa.scalar(value, type=column_type)
    except (pa.ArrowInvalid, OverflowError):
        return None


def after_every_nanosecond_value(value: datetime.datetime) -> bool:
    """Return whether a datetime that timestamp[ns] cannot hold lies after its range, not before."""
    return value.year > 2000


def field(name: str) -> pc.Expression:
    """Return the pyarrow expression of a column; pyarrow loads here, so that declaring filters stays cheap."""
    import pyarrow.compute as pc

    return pc.field(name)


class Filter:
    """A condition on the features of one entity's rows."""

    def __and__(self, other: Any) -> Filter:
        return And(self, as_filter(other, "&"))

    def __or__(self, other: Any) -> Filter:
        return Or(self, as_filter(other, "|"))

    def __invert__(self) -> Filter:
        return Not(self)

    def __bool__(self) -> bool:
        raise TypeError(
            f"the filter {self!r} has no truth value; combine filters with &, | and ~ instead of and, or and not, "
            f"and test membership with feature.isin(values) instead of in"
        )

    def features(self) -> list[Feature]:
        """Return the features the filter reads, in order and without repeats."""
        raise NotImplementedError(f"{type(self).__name__} does not list its features")

    def expression(self, schema: pa.Schema | None = None) -> pc.Expression:
        """Return the filter as a pyarrow expression over columns named after the features.

        With the `schema` of the columns, datetime values take their column's type: pyarrow 26
        has no comparison of, say, timestamp[ns, tz=Europe/Dublin] with timestamp[us, tz=UTC].
        """
        raise NotImplementedError(f"{type(self).__name__} has no pyarrow expression")

    def check(self, entity: Entity, where: str) -> None:
        """Raise GraphError unless the filter reads only features of `entity` with values that fit their types."""
        from featurejit.graph.entities import Feature

        for feature in self.features():
            if type(feature) is not Feature or feature.entity is not entity:
                raise GraphError(
                    f"{where} filters on {feature!r}, which is not a feature of {entity.name}; a filter on child rows "
                    f"names the features of {entity.name} itself"
                )


def as_filter(value: Any, operator: str) -> Filter:
    if isinstance(value, Filter):
        return value
    raise TypeError(f"{operator} combines filters, but got {value!r}; compare a feature with a value to make a filter")


def value_fits(python_type: type, value: Any) -> bool:
    """Return whether a filter may compare a feature of `python_type` with `value`."""
    if python_type in (int, float):
        return isinstance(value, int | float)
    if python_type is datetime.datetime:
        return isinstance(value, datetime.datetime)
    return isinstance(value, python_type)


def check_value(feature: Feature, value: Any, where: str) -> None:
    if not value_fits(feature.type.python_type, value):
        from featurejit.runtime.inputs import a_type_name  # imported late: importing featurejit stays cheap

        raise GraphError(
            f"{where} compares {feature!r}, declared {feature.type}, with {value!r} ({type(value).__name__}); "
            f"compare it with {a_type_name(feature.type.python_type)}"
        )


class Comparison(Filter):
    """`feature OP value`, or `feature == other_feature` in the join condition of a relationship."""

    __slots__ = ("left", "operator", "right")

    def __init__(self, left: Feature, operator: str, right: Any):
        self.left = left
        self.operator = operator
        self.right = right

    def __bool__(self) -> bool:
        # Identity, so that `feature == other` in dict lookups and `in` tests on lists means the same object.
        if self.operator == "==":
            return self.left is self.right
        if self.operator == "!=":
            return self.left is not self.right
        return super().__bool__()

    @property
    def joins_features(self) -> bool:
        """Whether this compares two features, as a join condition does."""
        from featurejit.graph.entities import Feature

        return isinstance(self.right, Feature)

    def features(self) -> list[Feature]:
        return [self.left]

    def expression(self, schema: pa.Schema | None = None) -> pc.Expression:
        column_type = timestamp_type(schema, self.left.name)
        if column_type is not None and isinstance(self.right, datetime.datetime) and not same_kind(self.right, column_type):
            kind = "an aware" if column_type.tz is not None else "a naive"
            if self.operator in ORDERING:
                raise TypeError(
                    f"the filter {self!r} orders {kind} timestamp column ({column_type}) by a datetime of the other kind, "
                    f"which Python cannot compare; give the datetime {'a zone' if column_type.tz else 'no zone'}"
                )
            # Python's == between a naive and an aware datetime is False, and != is True.
            return self.on_every_value(self.operator == "!=")
        if column_type is None or not isinstance(self.right, datetime.datetime):
            return EXPRESSION_OPERATORS[self.operator](field(self.left.name), self.right)
        operands = exact_operands(self.left.name, column_type, self.right)
        if operands is None:
            above = after_every_nanosecond_value(self.right)
            return self.on_every_value({"==": False, "!=": True, "<": above, "<=": above, ">": not above, ">=": not above}[self.operator])
        return EXPRESSION_OPERATORS[self.operator](*operands)

    def on_every_value(self, outcome: bool) -> pc.Expression:
        """Return the filter that gives `outcome` on every row with a value, and null on null rows."""
        import pyarrow as pa
        import pyarrow.compute as pc

        column = field(self.left.name)
        return pc.if_else(column.is_null(), pa.scalar(None, pa.bool_()), pa.scalar(outcome))

    def check(self, entity: Entity, where: str) -> None:
        if self.joins_features:
            raise GraphError(
                f"{where} compares two features, {self.left!r} and {self.right!r}; a filter compares a feature "
                f"with a value, such as {self.left!r} > 100"
            )
        super().check(entity, where)
        check_value(self.left, self.right, where)
        if self.operator in ORDERING and self.left.type.python_type is bool:
            raise GraphError(f"{where} orders the bool feature {self.left!r}; compare it with == or !=")

    def __repr__(self) -> str:
        right = repr(self.right)
        return f"{self.left!r} {self.operator} {right}"


class IsIn(Filter):
    """`feature.isin(values)`: the feature's value is one of `values`."""

    __slots__ = ("feature", "values")

    def __init__(self, feature: Feature, values: Iterable[Any]):
        if isinstance(values, str | bytes):
            raise TypeError(f"{feature!r}.isin() takes a list, tuple or set of values, not a single {type(values).__name__}")
        self.feature = feature
        self.values = tuple(values)

    def features(self) -> list[Feature]:
        return [self.feature]

    def expression(self, schema: pa.Schema | None = None) -> pc.Expression:
        import pyarrow as pa
        import pyarrow.compute as pc

        # Arrow's is_in gives false for a null value, so ~isin would keep it. A null value
        # gives null here, as SQL's IN does, so that neither the filter nor its negation keeps the row.
        column = field(self.feature.name)
        values: list[Any] = list(self.values)
        column_type = timestamp_type(schema, self.feature.name)
        if column_type is not None:
            values = []
            for value in self.values:
                if not isinstance(value, datetime.datetime):
                    values.append(value)
                    continue
                # A datetime of the other kind, or outside the column's range, equals no value of it.
                operands = exact_operands(self.feature.name, column_type, value) if same_kind(value, column_type) else None
                if operands is not None:
                    column = operands[0]
                    values.append(operands[1])
        return pc.if_else(field(self.feature.name).is_null(), pa.scalar(None, pa.bool_()), column.isin(values))

    def check(self, entity: Entity, where: str) -> None:
        super().check(entity, where)
        for value in self.values:
            check_value(self.feature, value, where)

    def __repr__(self) -> str:
        return f"{self.feature!r}.isin({list(self.values)!r})"


class NullTest(Filter):
    """`feature.is_null()`, or `feature.is_not_null()` when `negated`."""

    __slots__ = ("feature", "negated")

    def __init__(self, feature: Feature, negated: bool):
        self.feature = feature
        self.negated = negated

    def features(self) -> list[Feature]:
        return [self.feature]

    def expression(self, schema: pa.Schema | None = None) -> pc.Expression:
        column = field(self.feature.name)
        return column.is_valid() if self.negated else column.is_null()

    def __repr__(self) -> str:
        return f"{self.feature!r}.{'is_not_null' if self.negated else 'is_null'}()"


class And(Filter):
    __slots__ = ("left", "right")

    def __init__(self, left: Filter, right: Filter):
        self.left = left
        self.right = right

    def features(self) -> list[Feature]:
        return list(dict.fromkeys([*self.left.features(), *self.right.features()]))

    def expression(self, schema: pa.Schema | None = None) -> pc.Expression:
        return self.left.expression(schema) & self.right.expression(schema)

    def check(self, entity: Entity, where: str) -> None:
        self.left.check(entity, where)
        self.right.check(entity, where)

    def __repr__(self) -> str:
        return f"({self.left!r}) & ({self.right!r})"


class Or(And):
    def expression(self, schema: pa.Schema | None = None) -> pc.Expression:
        return self.left.expression(schema) | self.right.expression(schema)

    def __repr__(self) -> str:
        return f"({self.left!r}) | ({self.right!r})"


class Not(Filter):
    __slots__ = ("operand",)

    def __init__(self, operand: Filter):
        self.operand = operand

    def features(self) -> list[Feature]:
        return self.operand.features()

    def expression(self, schema: pa.Schema | None = None) -> pc.Expression:
        return ~self.operand.expression(schema)

    def check(self, entity: Entity, where: str) -> None:
        self.operand.check(entity, where)

    def __repr__(self) -> str:
        return f"~({self.operand!r})"


def all_of(filters: list[Filter]) -> Filter | None:
    """Return the conjunction of `filters`, or None for none."""
    if not filters:
        return None
    result = filters[0]
    for item in filters[1:]:
        result = And(result, item)
    return result
