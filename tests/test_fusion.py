"""Fused resolvers: one kernel over a table, equal to running each resolver on its own."""

from __future__ import annotations

import datetime
import math
import unicodedata
import zoneinfo

import numpy as np
import pyarrow as pa
import pytest

import featurejit as fj
from featurejit import jit_resolver
from featurejit.codegen import kernel
from featurejit.codegen.kernel import BLOCK_ROWS
from featurejit.settings import settings

LIMIT = 400.0


@jit_resolver
def speed(distance: int, air_time: int | None) -> float | None:
    if air_time is None or air_time == 0:
        return None
    return distance / (air_time / 60)


@jit_resolver
def is_fast(speed: float | None) -> bool:
    return speed is not None and speed > LIMIT


@jit_resolver(on_error="null")
def slowness(speed: float | None, distance: int) -> float:
    if speed is None:
        return math.inf
    return distance / speed


@jit_resolver
def hours(air_time: int | None) -> int | None:
    if air_time is None:
        return None
    return air_time // 60


@jit_resolver(on_error="null")
def per_hour(distance: int, air_time: int | None) -> float:
    return distance / (air_time // 60)  # type: ignore[operator]


@jit_resolver(on_error="null")
def inverse_per_hour(per_hour: float | None) -> float:
    if per_hour is None:
        return -1.0
    return 1 / per_hour


@jit_resolver
def strict_ratio(distance: int, air_time: int | None) -> float:
    return distance / air_time  # type: ignore[operator]


@jit_resolver
def as_int_score(distance: int) -> int:
    return distance * 2 if distance % 2 else distance // 2


@jit_resolver
def uses_int_score(as_int_score: int) -> float:
    return as_int_score / 4


def flights_table(rows: int, seed: int = 1) -> pa.Table:
    generator = np.random.default_rng(seed)
    distance = generator.integers(0, 5000, rows)
    air_time = generator.integers(-2, 600, rows)
    return pa.table(
        {
            "distance": pa.array(distance),
            "air_time": pa.array(air_time, mask=generator.random(rows) < 0.1),
        }
    )


def separately(resolvers: list, table: pa.Table) -> dict[str, list]:
    """Run each resolver on its own, reading earlier resolvers' outputs as columns."""
    columns = {name: table.column(name) for name in table.column_names}
    for resolver in resolvers:
        arguments = [columns[name] for name in resolver.signature().names]
        columns[resolver.function.__name__] = resolver(*arguments)
    return {name: column.to_pylist() for name, column in columns.items()}


@pytest.mark.parametrize("rows", [0, 1, 63, 64, 65, 1000, 20_000])
def test_fused_equals_separate_calls(rows: int) -> None:
    resolvers = [speed, is_fast, slowness, hours, per_hour, as_int_score, uses_int_score]
    table = flights_table(rows)
    fused = fj.fuse(*resolvers)
    result = fused(table)
    expected = separately(resolvers, table)
    assert result.column_names == [resolver.function.__name__ for resolver in resolvers]
    for name in result.column_names:
        assert result.column(name).to_pylist() == expected[name], name


@jit_resolver
def log_distance(distance: int) -> float:
    return math.log1p(distance)


@jit_resolver
def scaled_log(distance: int, air_time: int | None) -> float | None:
    if air_time is None:
        return None
    return math.log1p(distance) * 2.0 if air_time > 300 else float(air_time)


@pytest.mark.parametrize("tile_blocks", [1, 4, 1024])
@pytest.mark.parametrize("offset", [0, 5])
def test_fused_over_several_tiles(offset: int, tile_blocks: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two whole tiles and 100 more rows, so the last tile and its last block are partial, in one
    # kernel call. Each loop runs over a tile before the next, and the libm calls' loop runs first.
    # Each CPU gets the tile size measured best on it (see kernel.host_tile_blocks), so the test
    # sets each size in turn.
    monkeypatch.setattr(kernel, "TILE_BLOCKS", tile_blocks)
    rows = 2 * tile_blocks * BLOCK_ROWS + 100
    monkeypatch.setattr(settings, "threads", 1)
    monkeypatch.setattr(settings, "morsel_rows", rows)
    table = flights_table(rows + offset, seed=3).slice(offset)
    resolvers = [speed, is_fast, slowness, hours, per_hour, log_distance, scaled_log, as_int_score, uses_int_score]
    fused = fj.fuse(*resolvers)
    result = fused(table)
    expected = separately(resolvers, table)
    for name in result.column_names:
        assert result.column(name).to_pylist() == expected[name], name
    assert "native" in fused.explain(show=False).splitlines()[0]


def test_fused_compiles_to_one_native_kernel() -> None:
    fused = fj.fuse(speed, is_fast, hours)
    fused(flights_table(100))
    text = fused.explain(show=False)
    assert "compiled to one native kernel" in text
    assert "kernels compiled: 1" in text


def test_requested_outputs_only_and_chain_kept_in_registers() -> None:
    fused = fj.fuse(speed, is_fast, outputs=["is_fast"])
    table = flights_table(500)
    result = fused(table)
    assert result.column_names == ["is_fast"]
    assert result.column("is_fast").to_pylist() == separately([speed, is_fast], table)["is_fast"]
    ir = fused.dump("optimized")
    assert ir.count("py.column_value") == 2
    assert "func.return" in ir
    assert "computed but not written: speed" in fused.explain(show=False)


def test_common_subexpressions_computed_once() -> None:
    fused = fj.fuse(speed, strict_ratio)
    optimized = fused.dump("optimized")
    assert optimized.count("py.to_float %distance") == 1


def test_row_error_names_resolver_and_row() -> None:
    table = pa.table({"distance": [10, 20, 30], "air_time": [5, 0, 7]})
    with pytest.raises(ZeroDivisionError, match=r"row 1 of strict_ratio: distance=20, air_time=0"):
        fj.fuse(speed, strict_ratio)(table)


def test_on_error_null_in_fused_group() -> None:
    table = pa.table({"distance": [10, 20, 30], "air_time": [120, 30, None]})
    result = fj.fuse(hours, per_hour)(table)
    assert result.column("per_hour").to_pylist() == [5.0, None, None]
    assert result.column("hours").to_pylist() == [2, 0, None]


def test_chunked_columns_and_record_batch() -> None:
    table = pa.concat_tables([flights_table(100, seed=2), flights_table(70, seed=3)])
    fused = fj.fuse(speed, hours)
    result = fused(table)
    expected = separately([speed, hours], table)
    assert result.column("speed").to_pylist() == expected["speed"]
    batch = table.combine_chunks().to_batches()[0]
    assert fused(batch).column("hours").to_pylist() == expected["hours"]


def test_missing_column_names_it_and_its_reader() -> None:
    with pytest.raises(KeyError, match="no column 'air_time', which speed, hours read;") as raised:
        fj.fuse(speed, hours)(pa.table({"distance": [1]}))
    assert str(raised.value).startswith("the table has no column 'air_time'")


def test_missing_column_in_other_normalization_gets_hint() -> None:
    @jit_resolver
    def doubled(höhe: int) -> int:
        return höhe * 2

    decomposed = unicodedata.normalize("NFD", "höhe")
    with pytest.raises(KeyError, match="differs from 'höhe' only in its Unicode normalization"):
        fj.fuse(doubled)(pa.table({decomposed: [1]}))


def test_plain_function_is_rejected_with_the_fix() -> None:
    def plain(distance: int) -> int:
        return distance

    with pytest.raises(TypeError, match="but got function; decorate plain with @featurejit.jit_resolver"):
        fj.fuse(speed, plain)  # type: ignore[arg-type]


def test_column_named_twice_is_rejected() -> None:
    table = pa.Table.from_arrays([pa.array([1]), pa.array([60]), pa.array([2])], names=["distance", "air_time", "distance"])
    with pytest.raises(ValueError, match="the table has 2 columns named 'distance', which speed reads; rename or drop"):
        fj.fuse(speed)(table)


def test_outputs_string_rejected() -> None:
    with pytest.raises(TypeError, match=r"pass outputs=\['speed'\]"):
        fj.fuse(speed, hours, outputs="speed")  # type: ignore[arg-type]


def test_wrong_column_type_names_it() -> None:
    with pytest.raises(TypeError, match="'distance' expects int, but got values of Arrow type double"):
        fj.fuse(speed)(pa.table({"distance": [1.5], "air_time": [2]}))


def test_cycle_is_rejected() -> None:
    @jit_resolver
    def first(second: int) -> int:
        return second + 1

    @jit_resolver
    def second(first: int) -> int:
        return first + 1

    with pytest.raises(ValueError, match="cycle: first -> second -> first"):
        fj.fuse(first, second)


def test_parameter_named_after_own_resolver_is_explained() -> None:
    @jit_resolver
    def scaled(scaled: float) -> float:
        return scaled * 2

    with pytest.raises(ValueError, match="parameter 'scaled' of .*scaled reads the column 'scaled', which is the resolver's own output"):
        fj.fuse(scaled)


def test_empty_and_repeated_outputs_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"outputs=\[\]\) requests no output"):
        fj.fuse(speed, outputs=[])
    with pytest.raises(ValueError, match="outputs names 'speed' twice"):
        fj.fuse(speed, outputs=["speed", "speed"])


def test_chain_of_mismatched_types_is_rejected() -> None:
    @jit_resolver
    def halved(distance: int) -> float:
        return distance / 2

    @jit_resolver
    def positive(halved: int) -> bool:
        return halved > 0

    with pytest.raises(TypeError, match="parameter 'halved' of .*positive expects int, but reads the output of .*halved, which returns float"):
        fj.fuse(halved, positive)


def test_chain_of_accepted_types_is_fused() -> None:
    @jit_resolver
    def counted(distance: int) -> int:
        return distance + 1

    @jit_resolver
    def share(counted: float) -> float:
        return counted / 4

    result = fj.fuse(counted, share)(pa.table({"distance": [1, 3]}))
    assert result.column("share").to_pylist() == [0.5, 1.0]


@jit_resolver
def ratio_of(a: int, b: int) -> float:
    return a / b


@jit_resolver
def parsed(text: str) -> int:
    return int(text)


def test_chunked_table_raises_first_resolvers_error() -> None:
    table = pa.table({"a": [1, 1], "b": [1, 0], "text": ["x", "1"]})
    chunked = pa.concat_tables([table.slice(0, 1), table.slice(1, 1)])
    fused = fj.fuse(ratio_of, parsed)
    for given in (table, chunked):
        with pytest.raises(ZeroDivisionError, match=r"row 1 of .*ratio_of: a=1, b=0"):
            fused(given)


def test_unknown_output_and_duplicates_are_rejected() -> None:
    with pytest.raises(ValueError, match="no resolver produces the output 'nope'"):
        fj.fuse(speed, outputs=["nope"])
    with pytest.raises(ValueError, match="speed is passed more than once; pass each resolver once"):
        fj.fuse(speed, speed)
    lenient_speed = jit_resolver(on_error="null")(speed.function)
    with pytest.raises(ValueError, match="two resolvers produce the column 'speed'; rename one of them"):
        fj.fuse(speed, lenient_speed)
    with pytest.raises(TypeError, match="takes @jit_resolver functions"):
        fj.fuse(speed, len)  # type: ignore[arg-type]


def test_not_a_table_is_rejected() -> None:
    with pytest.raises(TypeError, match="takes a pyarrow Table or RecordBatch"):
        fj.fuse(speed)({"distance": [1]})  # type: ignore[arg-type]


def test_module_constant_change_is_seen() -> None:
    global LIMIT
    table = pa.table({"distance": [500, 500], "air_time": [60, 100]})
    fused = fj.fuse(speed, is_fast)
    assert fused(table).column("is_fast").to_pylist() == [True, False]
    LIMIT = 200.0
    try:
        assert fused(table).column("is_fast").to_pylist() == [True, True]
    finally:
        LIMIT = 400.0


def test_unsupported_resolver_runs_interpreted_in_group() -> None:
    @jit_resolver
    def looped(distance: int) -> int:
        total = 0
        count = 3
        while count:
            count -= 1
            total += distance
        return total

    table = flights_table(50)
    fused = fj.fuse(speed, looped)
    result = fused(table)
    assert result.column("looped").to_pylist() == [value * 3 for value in table.column("distance").to_pylist()]
    explanation = fused.explain(show=False)
    assert "runs in the interpreter" in explanation
    assert "looped cannot be fused: while loops are not compiled yet" in explanation
    assert "while count:" in explanation, "the error quotes the loop, not the def line"


def test_required_member_is_named_when_group_cannot_compile() -> None:
    @jit_resolver(mode="require")
    def plus_one(distance: int) -> int:
        return distance + 1

    @jit_resolver
    def looped(distance: int) -> int:
        total = 0
        count = 3
        while count:
            count -= 1
            total += distance
        return total

    fused = fj.fuse(plus_one, looped)
    explanation = fused.explain(show=False)
    assert "does not compile, so calls raise CompileError" in explanation
    with pytest.raises(fj.CompileError, match=r'plus_one has mode="require", so the fused call raises'):
        fused(pa.table({"distance": [1, 2]}))


NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


@jit_resolver(on_error="null")
def always_raises(n: int) -> int:
    # Subtracting a naive datetime from an aware one raises TypeError, so after the passes the
    # shift is dead and only the raise reads the timedelta constant.
    return (datetime.datetime(2013, 3, 10, tzinfo=NEW_YORK) - (datetime.datetime(1970, 1, 1) + datetime.timedelta(0))).days


@jit_resolver
def same_n(n: int) -> int:
    return n


def test_group_emits_values_its_dead_ops_read() -> None:
    fused = fj.fuse(always_raises, same_n)
    result = fused(pa.table({"n": [1, 2]}))
    assert result.column("always_raises").to_pylist() == [None, None]
    assert result.column("same_n").to_pylist() == [1, 2]
    assert "compiled to one native kernel" in fused.explain(show=False)


@jit_resolver
def local_time(moment: datetime.datetime | None) -> datetime.datetime | None:
    return None if moment is None else moment.astimezone(NEW_YORK)


@jit_resolver
def local_hour(local_time: datetime.datetime | None) -> int | None:
    return None if local_time is None else local_time.hour


@jit_resolver
def an_hour_later(moment: datetime.datetime | None) -> datetime.datetime | None:
    return None if moment is None else moment + datetime.timedelta(hours=1)


def datetime_table(zone: str | None) -> pa.Table:
    values = [0, None, 5 * 3600 * 10**6, 1_700_000_000 * 10**6, -(10**15)]
    stamps = pa.array(values, pa.timestamp("us", tz=zone))
    return pa.table({"moment": pa.chunked_array([stamps.slice(0, 2), stamps.slice(2)])})


@pytest.mark.parametrize("zone", [None, "UTC", "Europe/London"])
def test_datetime_outputs_compile_and_equal_separate_calls(zone: str | None) -> None:
    table = datetime_table(zone)
    fused = fj.fuse(local_time, local_hour, an_hour_later)
    result = fused(table)
    assert "compiled to one native kernel" in fused.explain(show=False)
    moments = table.column("moment")
    for name, expected in [
        ("local_time", local_time(moments)),
        ("local_hour", local_hour(local_time(moments))),
        ("an_hour_later", an_hour_later(moments)),
    ]:
        assert result.column(name).type == expected.type, name
        assert result.column(name).to_pylist() == expected.to_pylist(), name
    assert result.column("local_time").type == pa.timestamp("us", tz="America/New_York")


def test_datetime_output_read_but_not_written() -> None:
    fused = fj.fuse(local_time, local_hour, outputs=["local_hour"])
    result = fused(datetime_table("UTC"))
    assert result.column_names == ["local_hour"]
    moments = datetime_table("UTC").column("moment").to_pylist()
    assert result.column("local_hour").to_pylist() == [local_hour.function(local_time.function(value)) for value in moments]
    assert "compiled to one native kernel" in fused.explain(show=False)


@jit_resolver
def day_of(moment: datetime.datetime) -> datetime.date:
    return moment.date()


@jit_resolver
def weekday_of(day_of: datetime.date) -> int:
    return day_of.weekday()


@jit_resolver
def since(moment: datetime.datetime, start: datetime.datetime) -> datetime.timedelta:
    return moment - start


@jit_resolver
def days_since(since: datetime.timedelta) -> int:
    return since.days


def test_date_and_timedelta_chains_equal_separate_calls() -> None:
    moments = pa.array([0, 10**14, -(10**14)], pa.timestamp("us"))
    starts = pa.array([5, 0, 10**15], pa.timestamp("us"))
    fused = fj.fuse(day_of, weekday_of, since, days_since)
    result = fused(pa.table({"moment": moments, "start": starts}))
    assert "compiled to one native kernel" in fused.explain(show=False)
    assert result.column("weekday_of").to_pylist() == weekday_of(day_of(moments)).to_pylist()
    assert result.column("days_since").to_pylist() == days_since(since(moments, starts)).to_pylist()
    assert result.column("since").to_pylist() == since(moments, starts).to_pylist()


def test_results_equal_for_one_and_many_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    table = flights_table(200_000, seed=5)
    fused = fj.fuse(speed, is_fast, slowness, hours, per_hour)
    monkeypatch.setattr(settings, "threads", 1)
    single = fused(table)
    monkeypatch.setattr(settings, "threads", 4)
    monkeypatch.setattr(settings, "parallel_min_us", 0)  # run on several threads however short
    monkeypatch.setattr(settings, "morsel_rows", 1024)
    assert fused(table).equals(single)


def test_members_bind_parameters_and_name_outputs() -> None:
    from featurejit.fusion import FusedMember

    table = pa.table({"miles": [100, 200, 300], "minutes": [60, None, 0], "other_minutes": [30, 60, 90]})
    fused = fj.FusedResolvers(
        [
            FusedMember(speed, "fast", {"distance": "miles", "air_time": "minutes"}),
            FusedMember(speed, "other", {"distance": "miles", "air_time": "other_minutes"}),
            FusedMember(is_fast, "flag", {"speed": "fast"}),
        ]
    )
    result = fused(table)
    assert result.column_names == ["fast", "other", "flag"]
    assert result.column("fast").to_pylist() == [100.0, None, None]
    assert result.column("other").to_pylist() == [200.0, 200.0, 200.0]
    assert result.column("flag").to_pylist() == [False, False, False]
    assert "speed -> fast" in fused.explain(show=False)


def test_members_slow_path_reads_bound_columns() -> None:
    from featurejit.fusion import FusedMember

    table = pa.table({"miles": [10, 20], "minutes": [5, 0]})
    member = FusedMember(strict_ratio, "ratio", {"distance": "miles", "air_time": "minutes"})
    with pytest.raises(ZeroDivisionError, match=r"row 1 of strict_ratio: distance=20, air_time=0"):
        fj.FusedResolvers([member])(table)


def test_member_with_unbound_parameter_is_rejected() -> None:
    from featurejit.fusion import FusedMember

    with pytest.raises(ValueError, match="no column is given for parameter 'air_time' of speed"):
        fj.FusedResolvers([FusedMember(speed, "fast", {"distance": "miles"})])
    with pytest.raises(ValueError, match="speed has no parameter 'hours'"):
        fj.FusedResolvers([FusedMember(speed, "fast", {"distance": "a", "air_time": "b", "hours": "c"})])


@jit_resolver(on_error="null")
def quotient(distance: int, air_time: int | None) -> int:
    return distance // air_time  # type: ignore[operator]


@jit_resolver(on_error="null")
def quotient_plus_one(distance: int, air_time: int | None) -> int:
    return distance // air_time + 1  # type: ignore[operator]


def record_interpreted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Record (output, row) for each resolver call that the fused slow path makes."""
    from featurejit.runtime.fused import FusedState

    calls: list[tuple[str, int]] = []
    original = FusedState.run_member

    def run_member(self, member, columns, positions, rows, first_row, check):  # type: ignore[no-untyped-def]
        calls.extend((member.output, first_row + int(rows[position])) for position in positions)
        return original(self, member, columns, positions, rows, first_row, check)

    monkeypatch.setattr(FusedState, "run_member", run_member)
    return calls


@jit_resolver(on_error="null")
def doubled(distance: int) -> int:
    return distance * 2


@jit_resolver(on_error="null")
def halved(doubled: int) -> int:
    return doubled // 2


def test_zero_divisor_rows_need_no_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = record_interpreted(monkeypatch)
    table = pa.table({"distance": [600, 0, 300, 120], "air_time": [120, 30, 90, 60]})
    result = fj.fuse(speed, is_fast, hours, per_hour)(table)
    assert result.column("per_hour").to_pylist() == [300.0, None, 300.0, 120.0]  # row 1 divides by 30 // 60
    assert result.column("hours").to_pylist() == [2, 0, 1, 1]
    assert calls == [], "per_hour raises on row 1 for certain, so the kernel makes it null"


def test_zero_divisor_in_reader_needs_no_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = record_interpreted(monkeypatch)
    table = pa.table({"distance": [600, 0, 300], "air_time": [120, 30, 90]})
    result = fj.fuse(speed, is_fast, slowness)(table)
    assert result.column("slowness").to_pylist() == [2.0, None, 1.5]  # row 1 divides 0 by a speed of 0.0
    assert result.column("is_fast").to_pylist() == [False, False, False]
    assert calls == []


def test_slow_row_reruns_spoiled_resolvers_only(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = record_interpreted(monkeypatch)
    table = pa.table({"distance": [600, 2**62, 300], "air_time": [120, 30, 90]})
    result = fj.fuse(hours, doubled)(table)
    assert result.column("doubled").to_pylist() == [1200, None, 600]  # 2**63 does not fit int64
    assert result.column("hours").to_pylist() == [2, 0, 1]
    assert calls == [("doubled", 1)]


def test_slow_row_reruns_resolvers_read(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = record_interpreted(monkeypatch)
    table = pa.table({"distance": [600, 2**62, 300]})
    result = fj.fuse(doubled, halved)(table)
    assert result.column("halved").to_pylist() == [600, None, 300]  # None // 2 raises TypeError
    assert calls == [("doubled", 1), ("halved", 1)]


def test_zero_divisor_in_resolver_read_flags_its_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = record_interpreted(monkeypatch)
    table = pa.table({"distance": [600, 0, 300], "air_time": [120, 30, 90]})
    result = fj.fuse(per_hour, inverse_per_hour)(table)
    assert result.column("per_hour").to_pylist() == [300.0, None, 300.0]
    assert result.column("inverse_per_hour").to_pylist() == [1 / 300.0, -1.0, 1 / 300.0]
    assert calls == [("per_hour", 1), ("inverse_per_hour", 1)], "the reader gets None from per_hour"


def test_identical_divisions_stay_per_resolver_until_llvm() -> None:
    table = pa.table({"distance": [7, 8, 9, -9], "air_time": [2, 0, None, 4]})
    fused = fj.fuse(quotient, quotient_plus_one)
    # Each resolver keeps its own floordiv, tagged with its name, so that each raises on its
    # own rows. LLVM then computes the division once.
    assert fused.dump("optimized").count("py.floordiv") == 2
    assert fused.dump("llvm").count(" sdiv ") == 1
    result = fused(table)
    assert result.column("quotient").to_pylist() == [3, None, None, -3]
    assert result.column("quotient_plus_one").to_pylist() == [4, None, None, -2]


@pytest.mark.parametrize("outputs", [["quotient", "hours"], ["hours", "quotient"]])
def test_per_output_flags_with_bool_and_int_outputs(outputs: list[str]) -> None:
    table = flights_table(5000, seed=9)
    fused = fj.fuse(quotient, hours, is_fast, speed, outputs=[*outputs, "is_fast"])
    expected = separately([quotient, hours, speed, is_fast], table)
    result = fused(table)
    for name in result.column_names:
        assert result.column(name).to_pylist() == expected[name], name


@jit_resolver(on_error="null")
def route_label(origin: str, distance: int) -> str:
    return origin.upper() + "-" + str(100 // distance)


@jit_resolver(on_error="null")
def origin_share(origin: str, distance: int) -> float:
    return len(origin) / (distance - 5)


def test_str_output_beside_flagged_output() -> None:
    origins = ["jfk", "lga", "", "ewr", "sfo", "bos"]
    table = pa.table({"origin": origins, "distance": [5, 0, 7, 5, 200, -3]})
    fused = fj.fuse(route_label, origin_share)
    result = fused(table)
    assert "compiled to one native kernel" in fused.explain(show=False)
    expected = separately([route_label, origin_share], table)
    assert result.column("route_label").to_pylist() == expected["route_label"]
    assert result.column("origin_share").to_pylist() == expected["origin_share"]
    assert expected["route_label"][1] is None  # 100 // 0
    assert expected["origin_share"][0] is None  # 3 / 0


@jit_resolver(on_error="null")
def log_ratio(distance: int, air_time: int | None) -> float | None:
    if air_time is None:
        return None
    return math.log(distance / air_time)


@jit_resolver
def log_ratio_scaled(log_ratio: float | None, distance: int) -> float:
    return -1.0 if log_ratio is None else log_ratio * 2.0 + distance


@jit_resolver(on_error="null")
def speed_growth(speed: float | None) -> float | None:
    return None if speed is None else math.exp(speed / 100.0)


@pytest.mark.parametrize("rows", [0, 1, 64, 65, 5000])
def test_fused_loops_split_by_library_calls(rows: int) -> None:
    # log_ratio and speed_growth call libm, so they share one loop; speed and
    # log_ratio_scaled each get their own and read the others' values across loops.
    resolvers = [speed, log_ratio, log_ratio_scaled, speed_growth]
    table = flights_table(rows, seed=3)
    result = fj.fuse(*resolvers)(table)
    expected = separately(resolvers, table)
    for name in result.column_names:
        assert result.column(name).to_pylist() == expected[name], name


@jit_resolver
def tenth(a: int) -> int:
    return 10 // a


@jit_resolver
def parsed_text(text: str) -> int:
    return int(text)


@jit_resolver
def sum_of_both(parsed_text: int, tenth: int) -> int:  # lists its inputs in the other order
    return tenth + parsed_text


@pytest.mark.parametrize(
    ("group", "error"),
    [
        ((tenth, parsed_text, sum_of_both), ZeroDivisionError),
        ((sum_of_both, tenth, parsed_text), ZeroDivisionError),
        ((sum_of_both, parsed_text, tenth), ValueError),
        ((parsed_text, tenth, sum_of_both), ValueError),
    ],
    ids=["readers last", "reader first", "reader first, others swapped", "others swapped"],
)
def test_first_error_follows_order_given(group: tuple[fj.JitResolver, ...], error: type[Exception]) -> None:
    # tenth fails on row 1 and parsed_text on row 0; the one given first to fuse() raises.
    table = pa.table({"a": [1, 0], "text": ["x", "1"]})
    with pytest.raises(error):
        fj.fuse(*group)(table)
    with pytest.raises(error):
        fj.fuse(*group, outputs=["sum_of_both"])(table)
