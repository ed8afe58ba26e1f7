"""The planner: it runs only what the outputs need, in dependency order, fused into as few kernels as it can."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

import featurejit as fj
from featurejit.graph.errors import GraphError
from featurejit.graph.planner import Plan
from tests.graph_models import RESOLVERS, Trip, trips


@pytest.fixture(scope="module")
def graph() -> Any:
    return fj.Graph(RESOLVERS, sources={Trip: trips(200)})


def stage_names(plan: Plan) -> list[list[list[str]]]:
    """Return each wave's stages as the short names of their resolvers."""
    return [[[node.function.__name__ for node in stage.nodes] for stage in wave] for wave in plan.waves]


def test_plan_prunes_what_outputs_do_not_need(graph: Any) -> None:
    plan = graph.plan((Trip.is_fast,), (), None)
    assert stage_names(plan) == [[["speed", "is_fast"]]]
    assert plan.source_reads == (Trip.distance, Trip.minutes)


def test_plan_reads_source_features_directly(graph: Any) -> None:
    plan = graph.plan((Trip.city, Trip.distance), (), None)
    assert plan.waves == ()
    assert plan.source_reads == (Trip.city, Trip.distance)
    assert graph.query_table([Trip.city, Trip.distance]).num_rows == 200


def test_compiled_resolvers_fuse_into_one_kernel(graph: Any) -> None:
    plan = graph.plan((Trip.is_fast, Trip.cost_per_mile, Trip.log_fare), (), None)
    assert stage_names(plan) == [[["speed", "is_fast", "cost_per_mile", "log_fare"]]]
    (stage,) = plan.stages
    assert stage.kind == "fused kernel"
    assert [feature.name for feature in stage.writes] == ["is_fast", "cost_per_mile", "log_fare"]
    assert stage.fused is not None
    assert stage.fused.outputs == ["is_fast", "cost_per_mile", "log_fare"]


def test_intermediate_feature_stays_in_the_kernel(graph: Any) -> None:
    (stage,) = graph.plan((Trip.is_fast,), (), None).stages
    assert [feature.name for feature in stage.writes] == ["is_fast"]
    assert "computed but not written: speed" in stage.fused.explain(show=False)


def test_interpreted_resolvers_get_own_stages_in_order(graph: Any) -> None:
    plan = graph.plan((Trip.hour_of_week, Trip.speed, Trip.city_code), (), None)
    assert stage_names(plan) == [[["speed", "city_code"], ["start_hour"]], [["week"]]]
    kinds = [stage.kind for stage in plan.stages]
    assert kinds == ["fused kernel", "interpreted", "interpreted"]
    assert "datetime.strftime() is not compiled" in plan.stages[1].reason
    assert "writes 2 features as a tuple" in plan.stages[2].reason
    # week reads start_hour, which an earlier stage must keep for it
    assert Trip.start_hour in plan.stages[1].writes
    assert Trip.is_weekend not in plan.stages[2].writes


def test_str_features_fuse_with_numbers(graph: Any) -> None:
    (stage,) = graph.plan((Trip.city_code, Trip.is_fast), (Trip.id,), None).stages
    assert stage.kind == "fused kernel"
    assert not stage.numeric
    (numeric,) = graph.plan((Trip.is_fast,), (Trip.id,), None).stages
    assert numeric.numeric


def test_compiled_resolver_after_interpreted_one_gets_second_kernel() -> None:
    @fj.jit_resolver
    def hour_score(start_hour: Trip.start_hour, distance: Trip.distance) -> Trip.tip:
        if start_hour is None:
            return None
        return start_hour * 0.5 + distance

    from tests.graph_models import speed, start_hour

    graph = fj.Graph([speed, start_hour, hour_score])
    plan = graph.plan((Trip.tip, Trip.speed), (Trip.distance, Trip.minutes, Trip.started), None)
    assert stage_names(plan) == [[["speed"], ["start_hour"]], [["hour_score"]]]
    result = graph.query([Trip.tip, Trip.speed], {"distance": [3, 4], "minutes": [60, 0], "started": [None, None]})
    assert result["tip"] == [None, None]
    assert result["speed"] == [3.0, None]


def test_unsupported_construct_runs_interpreted() -> None:
    @fj.jit_resolver
    def looped_tip(distance: Trip.distance) -> Trip.tip:
        total = 0.0
        count = 3
        while count:
            count -= 1
            total += distance
        return total

    graph = fj.Graph([looped_tip])
    (stage,) = graph.plan((Trip.tip,), (Trip.distance,), None).stages
    assert stage.kind == "interpreted"
    assert "while loops are not compiled yet" in stage.reason
    assert graph.query([Trip.tip], {Trip.distance: [1, 2]})["tip"] == [3.0, 6.0]


def test_request_features_prune_their_resolvers(graph: Any) -> None:
    plan = graph.plan((Trip.is_fast,), (Trip.id, Trip.speed), None)
    assert stage_names(plan) == [[["is_fast"]]]
    assert plan.source_reads == ()


def test_request_values_win_over_a_tuple_resolver(graph: Any) -> None:
    plan = graph.plan((Trip.hour_of_week, Trip.is_weekend), (Trip.started, Trip.start_hour, Trip.is_weekend), None)
    (stage,) = plan.stages
    assert [feature.name for feature in stage.writes] == ["hour_of_week"]
    result = graph.query([Trip.is_weekend], {"started": [None], "start_hour": [3], "is_weekend": [True]})
    assert result["is_weekend"] == [True]


def test_plans_are_cached(graph: Any) -> None:
    first = graph.plan((Trip.is_fast,), (Trip.id,), None)
    assert graph.plan((Trip.is_fast,), (Trip.id,), None) is first
    assert graph.plan((Trip.speed,), (Trip.id,), None) is not first


def test_fused_kernels_are_shared_between_plans(graph: Any) -> None:
    online = graph.plan((Trip.is_fast,), (Trip.id,), None)
    offline = graph.plan((Trip.is_fast,), (), None)
    assert online.stages[0].fused is offline.stages[0].fused


@fj.features
class Driver:
    id: int
    rating: float


@fj.jit_resolver
def rating(id: Driver.id) -> Driver.rating:
    return 1.0


def test_outputs_of_two_entities_are_rejected(graph: Any) -> None:
    mixed = fj.Graph([*RESOLVERS, rating])
    with pytest.raises(GraphError, match="belong to 2 entities; query one entity's features at a time"):
        mixed.query_table([Trip.speed, Driver.rating])
    with pytest.raises(GraphError, match="the request gives Driver.id, but the outputs are features of Trip"):
        mixed.query([Trip.speed], {Driver.id: 1})


def test_query_without_outputs_is_rejected(graph: Any) -> None:
    with pytest.raises(GraphError, match="needs at least one output"):
        graph.query([], {Trip.id: 1})
    with pytest.raises(GraphError, match="built without outputs"):
        graph.query_table()


def test_explain_lists_stages_columns_and_estimates(graph: Any) -> None:
    text = graph.explain([Trip.is_fast, Trip.start_hour], show=False)
    assert "plan of Trip: is_fast, start_hour (offline" in text
    assert "columns read: distance, minutes, started (3 of 7)" in text
    assert "stage 1: fused kernel [speed, is_fast], native" in text
    assert "stage 2: interpreted [start_hour]" in text
    assert "runs in the interpreter because" in text
    assert "datetime.strftime() is not compiled" in text
    assert "estimated rows: 200" in text
    assert "actual rows" not in text


def test_explain_analyze_adds_rows_and_times(graph: Any) -> None:
    text = graph.explain([Trip.is_fast, Trip.start_hour], analyze=True, show=False)
    assert text.count("actual rows: 200, time: ") == 3
    assert "total time:" in text
    assert "every stage ran on the calling thread" in text


def test_explain_online_plan(graph: Any) -> None:
    text = graph.explain([Trip.is_fast], {Trip.id: [0, 3, 1]}, analyze=True, show=False)
    assert "(online, 3 request rows)" in text
    assert "(online, 1 request row)" in graph.explain([Trip.is_fast], {Trip.id: [0]}, show=False)
    assert "lookup by Trip.id" in text
    assert "keys found: 2 of 3" in text
    assert "actual rows: 2, time:" in text


def test_explain_prints_unless_told_not_to(graph: Any, capsys: pytest.CaptureFixture[str]) -> None:
    text = graph.explain([Trip.speed])
    assert capsys.readouterr().out == text + "\n"


def test_drawings(graph: Any) -> None:
    text = graph.draw()
    assert "Trip (key id; source: an Arrow table of 200 rows)" in text
    assert "speed: float | None, written by speed" in text
    assert "week: reads start_hour, started; writes hour_of_week, is_weekend" in text
    dot = graph.draw("dot")
    assert dot.startswith("digraph features {")
    assert '"Trip.distance" -> "resolver speed";' in dot
    assert '"resolver week" -> "Trip.is_weekend";' in dot
    svg = graph.draw("svg")
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    assert svg.count("<ellipse") == len(RESOLVERS)
    with pytest.raises(GraphError, match="draw\\(format='png'\\) is invalid"):
        graph.draw("png")


def test_drawing_formats_match_the_command() -> None:
    from featurejit.graph import commands, drawing

    assert commands.FORMATS == drawing.FORMATS


def test_empty_request_table(graph: Any) -> None:
    result = graph.query_table([Trip.speed, Trip.city_code], pa.table({"id": pa.array([], pa.int64())}))
    assert result.num_rows == 0
    assert result.schema.field("speed").type == pa.float64()
