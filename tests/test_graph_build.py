"""Declaring entities and building graphs: each error names the features and resolvers involved."""

from __future__ import annotations

import datetime
from typing import Optional

import pyarrow as pa
import pytest

import featurejit as fj
from featurejit.graph.bindings import bind_resolver
from featurejit.graph.entities import FeatureType
from featurejit.graph.errors import GraphError
from tests.graph_models import Trip, is_fast, speed


@fj.features
class Rider:
    rider_id: str = fj.primary_key()
    rating: float | None
    joined: Optional[datetime.datetime]  # noqa: UP045 - the Optional spelling is part of what is tested
    loyal: bool


@fj.features
class Shop:
    id: int
    visits: int
    score: float | None
    grade: float | None


def test_features_declare_types_and_key() -> None:
    assert repr(Trip.distance) == "Trip.distance"
    assert Trip.distance.type == FeatureType(int, False)
    assert Trip.minutes.type == FeatureType(int, True)
    assert Trip.started.type == FeatureType(datetime.datetime, True)
    assert Trip.distance.__featurejit_annotation__() is int
    assert Trip.fare.__featurejit_annotation__() == float | None
    assert Trip.id.is_key
    assert Rider.rider_id.is_key
    assert Rider.joined.type == FeatureType(datetime.datetime, True)


def test_feature_references_compile_as_annotations() -> None:
    assert speed(10, 30) == 20.0
    assert speed.explain(show=False).native
    assert [name for name, _ in speed.signature().parameters] == ["distance", "minutes"]
    assert str(speed.signature().result) == "float | None"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("class Nothing:\n    pass", "Nothing declares no features"),
        ("class NoKey:\n    size: int", "NoKey has no primary key; name a field id, or mark one"),
        ("class BadType:\n    id: int\n    items: list", "BadType.items is annotated list; a feature's type must be int, float"),
        ("class OptionalKey:\n    id: int | None", "OptionalKey.id is the primary key, so it must be int or str, not int | None"),
        ("class FloatKey:\n    id: float", "FloatKey.id is the primary key, so it must be int or str, not float"),
        (
            "class TwoKeys:\n    a: int = fj.primary_key()\n    b: int = fj.primary_key()",
            "TwoKeys marks several primary keys",
        ),
        ("class Defaulted:\n    id: int\n    size: int = 3", "Defaulted.size has the value 3; features declare only a type"),
    ],
)
def test_entity_declaration_errors(body: str, message: str) -> None:
    namespace = {"fj": fj}
    exec(body, namespace)
    declared = next(value for name, value in namespace.items() if isinstance(value, type))
    with pytest.raises(GraphError, match=message):
        fj.features(declared)


def test_features_rejects_a_function() -> None:
    with pytest.raises(TypeError, match="@features decorates a class"):
        fj.features(len)  # type: ignore[type-var]


def test_single_resolver_instead_of_list() -> None:
    with pytest.raises(TypeError, match=r"Graph\(\) takes a list of resolvers, but got speed alone; pass \[speed\]"):
        fj.Graph(speed)


def test_duplicate_writers_are_both_named() -> None:
    @fj.jit_resolver
    def other_speed(distance: Trip.distance) -> Trip.speed:
        return distance * 1.0

    with pytest.raises(GraphError, match=r"Trip.speed is written by two resolvers, .*speed and .*other_speed"):
        fj.Graph([speed, other_speed])


def test_cycle_names_the_whole_cycle() -> None:
    @fj.jit_resolver
    def score_from_grade(grade: Shop.grade) -> Shop.score:
        return grade

    @fj.jit_resolver
    def grade_from_visits(visits: Shop.visits) -> Shop.grade:
        return visits / 2

    @fj.jit_resolver
    def visits_from_score(score: Shop.score) -> Shop.visits:
        return 1

    with pytest.raises(GraphError, match="the resolvers form a cycle: ") as raised:
        fj.Graph([score_from_grade, grade_from_visits, visits_from_score])
    message = str(raised.value)
    for part in ("Shop.score", "Shop.grade", "Shop.visits", "score_from_grade", "grade_from_visits", "visits_from_score"):
        assert part in message
    cycle = message.split("cycle: ")[1].split(";")[0].split(" -> ")
    assert cycle[0] == cycle[-1]
    assert len(cycle) == 7


def test_resolver_reading_its_own_output_is_a_cycle() -> None:
    @fj.jit_resolver
    def grow(score: Shop.score) -> Shop.score:
        return score

    with pytest.raises(GraphError, match=r"cycle: Shop.score -> .*grow -> Shop.score"):
        fj.Graph([grow])


def test_missing_provider_names_feature_and_path() -> None:
    table = pa.table({"id": [1], "distance": [3]})
    with pytest.raises(GraphError) as raised:
        fj.Graph([speed, is_fast], sources={Trip: table}, outputs=[Trip.is_fast])
    message = str(raised.value)
    assert message.startswith("nothing provides Trip.minutes")
    assert "the output Trip.is_fast" in message
    assert "is_fast reads Trip.speed" in message
    assert "speed reads Trip.minutes" in message
    assert "has no column minutes" in message


def test_missing_requested_output_says_so() -> None:
    table = pa.table({"id": [1], "distance": [3]})
    with pytest.raises(GraphError, match=r"^nothing provides Trip.minutes, a requested output: no resolver writes it"):
        fj.Graph([speed], sources={Trip: table}, outputs=[Trip.minutes])


def test_missing_provider_without_source() -> None:
    with pytest.raises(GraphError, match="nothing provides Trip.distance.*Trip has no source"):
        fj.Graph([speed], outputs=[Trip.speed])


def test_parameter_type_must_match_feature() -> None:
    @fj.jit_resolver
    def minutes_label(minutes: int, distance: Trip.distance) -> Trip.fare:
        return minutes / 2

    with pytest.raises(
        GraphError,
        match=r"parameter 'minutes' of .*minutes_label is annotated int, but it reads Trip.minutes, "
        r"which is declared int \| None",
    ):
        fj.Graph([minutes_label])


def test_parameter_of_float_takes_int_feature() -> None:
    @fj.jit_resolver
    def halved(distance: float) -> Trip.fare:
        return distance / 2

    node = bind_resolver(halved)
    assert node.inputs == {"distance": Trip.distance}


def test_source_column_type_must_match_feature() -> None:
    table = pa.table({"id": [1], "distance": ["far"], "minutes": [3]})
    with pytest.raises(GraphError, match=r"the column distance of the source .* is string, but Trip.distance is declared int"):
        fj.Graph([speed], sources={Trip: table})


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "def f(distance: Trip.distance, visits: Shop.visits) -> Trip.speed:\n    return 1.0",
            "names features of several entities: Trip .*Shop",
        ),
        ("def f(distance: Trip.distance) -> float:\n    return 1.0", "the return annotation of .*f is float; name the feature"),
        ("def f(distance: Trip.distance):\n    return 1.0", "the return annotation of .*f is nothing"),
        ("def f(distance) -> Trip.speed:\n    return 1.0", "parameter 'distance' of .*f has no annotation"),
        ("def f(wheels: int) -> Trip.speed:\n    return 1.0", "reads the feature Trip.wheels, which is not declared"),
        ("def f(*distances: int) -> Trip.speed:\n    return 1.0", "parameter 'distances' of .*f is variadic positional"),
        ("def f(distance: Trip.distance) -> Trip.id:\n    return 1", "writes Trip.id, the primary key of Trip"),
        (
            "def f(distance: Trip.distance) -> tuple[Trip.speed, Trip.speed]:\n    return 1.0, 2.0",
            "writes Trip.speed twice",
        ),
    ],
)
def test_resolver_annotation_errors(source: str, message: str) -> None:
    namespace = {"Trip": Trip, "Shop": Shop}
    exec(source, namespace)
    with pytest.raises(GraphError, match=message):
        fj.Graph([namespace["f"]])


def test_graph_rejects_things_that_are_not_resolvers() -> None:
    with pytest.raises(TypeError, match="a graph takes resolvers"):
        fj.Graph([42])
    with pytest.raises(GraphError, match="int is not an entity"):
        fj.Graph([speed], sources={int: pa.table({"id": [1]})})
    with pytest.raises(TypeError, match="a source is a pyarrow Table or the path"):
        fj.Graph([speed], sources={Trip: {"id": [1]}})


def test_same_resolver_twice_counts_once() -> None:
    graph = fj.Graph([speed, speed])
    assert len(graph.resolvers) == 1


def test_local_entity_in_string_annotation_is_explained() -> None:
    @fj.features
    class Local:
        id: int
        size: float

    def size(id: Local.id) -> Local.size:
        return 1.0

    size.__annotations__ = {"id": "Local.id", "return": "Local.size"}
    with pytest.raises(GraphError, match="name 'Local' is not defined; .* declare entities at module level"):
        fj.Graph([size])
