"""Quick kernels: small calls run one while the optimized kernel compiles in the background."""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import featurejit as fj
from featurejit import compiler
from featurejit.codegen import engine
from featurejit.settings import settings
from tests.differential import EDGE_FLOATS, EDGE_INTS, check_batch_call, grid, import_source, outcome


@pytest.fixture
def tiers() -> Iterator[None]:
    """Let calls of fewer than 1,000 rows run quick kernels, with the optimized tier in the background."""
    saved = settings.quick_rows, settings.optimize_quick_kernels
    settings.quick_rows, settings.optimize_quick_kernels = 1000, True
    try:
        yield
    finally:
        settings.quick_rows, settings.optimize_quick_kernels = saved


def make_speed() -> fj.JitResolver:
    @fj.jit_resolver
    def speed(distance: int, air_time: int | None) -> float | None:
        if air_time is None or air_time == 0:
            return None
        return distance / (air_time / 60)

    return speed


def only_kernel(resolver: fj.JitResolver) -> compiler.CompiledKernel:
    state = resolver.state
    assert state is not None
    (kernel,) = state.batch_kernels.values()
    assert kernel is not None
    return kernel


def test_small_call_runs_quick_kernel_then_optimized(tiers: None) -> None:
    speed = make_speed()
    distance, air_time = pa.array([1400, 10, 5]), pa.array([227, None, 0])
    assert speed(distance, air_time).to_pylist() == [1400 / (227 / 60), None, None]
    kernel = only_kernel(speed)
    quick_entry = kernel.entry
    assert list(kernel.stage_seconds) == ["lower", "passes", "codegen", "quick llvm"]
    assert kernel.symbol + engine.QUICK_SUFFIX in kernel.optimized_llvm_text  # the unoptimized text, renamed

    kernel.wait_optimized()
    assert kernel.tier == "optimized"
    assert kernel.entry is not quick_entry
    assert list(kernel.stage_seconds) == ["lower", "passes", "codegen", "quick llvm", "optimized llvm"]
    assert speed(distance, air_time).to_pylist() == [1400 / (227 / 60), None, None]
    assert speed.explain(show=False).kernels == 1


def test_large_call_waits_for_optimized_kernel(tiers: None) -> None:
    speed = make_speed()
    speed(pa.array([1]), pa.array([2]))
    kernel = only_kernel(speed)
    result = speed(pa.array(range(1000)), pa.array([60] * 1000))
    assert kernel.tier == "optimized"
    assert result.to_pylist() == [float(value) for value in range(1000)]


def test_compile_waits_for_optimized_kernel(tiers: None) -> None:
    speed = make_speed()
    speed(pa.array([1]), pa.array([2]))
    speed.compile()
    kernel = only_kernel(speed)
    assert kernel.tier == "optimized"
    assert engine.QUICK_SUFFIX not in speed.dump("llvm")


@pytest.mark.parametrize("optimize", [False, True], ids=["quick", "optimized"])
def test_both_tiers_match_python_on_edge_values(tiers: None, optimize: bool) -> None:
    settings.optimize_quick_kernels = optimize

    @fj.jit_resolver
    def mixed(a: int, x: float) -> float:
        if a % 3 == 0:
            return x / a
        return math.floor(x) * 2.0 + a // 7 if x == x else -1.0

    rows = grid(int, float)
    safe_rows = [row for row in rows if outcome(mixed.function, row)[0] == "value"]
    assert len(safe_rows) < len(rows)
    for _ in range(2):  # before and after the background compile, if there is one
        check_batch_call(mixed, rows, [int, float])
        check_batch_call(mixed, safe_rows, [int, float])
        kernel = only_kernel(mixed)
        kernel.wait_optimized()
    assert kernel.tier == ("optimized" if optimize else "quick")


def test_failed_background_compile_keeps_quick_kernel(
    tiers: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    jit = engine.get_engine()
    compile_text = jit.compile_text

    def failing(unoptimized: str, entry_points: list[str], suffix: str):  # type: ignore[no-untyped-def]
        if not suffix:
            raise RuntimeError("out of memory in the optimizer")
        return compile_text(unoptimized, entry_points, suffix)

    monkeypatch.setattr(jit, "compile_text", failing)
    speed = make_speed()
    with caplog.at_level(logging.ERROR, logger="featurejit"):
        assert speed(pa.array([120]), pa.array([60])).to_pylist() == [120.0]
        kernel = only_kernel(speed)
        kernel.wait_optimized()
    assert kernel.tier == "quick"
    assert kernel.optimizing is None
    assert any("its quick kernel stays in use" in record.getMessage() for record in caplog.records)
    assert speed(pa.array(range(2000)), pa.array([60] * 2000)).to_pylist() == [float(value) for value in range(2000)]


def test_fused_small_call_runs_quick_kernel(tiers: None) -> None:
    @fj.jit_resolver
    def doubled(x: int) -> int:
        return x * 2

    @fj.jit_resolver
    def shifted(doubled: int, y: float) -> float:
        return doubled + y

    fused = fj.fuse(doubled, shifted)
    table = pa.table({"x": pa.array([1, -4, 2**40]), "y": pa.array([0.5, math.inf, -1.0])})
    expected = [2.5, math.inf, float(2**41) - 1.0]
    result = fused(table)
    assert result.column("shifted").to_pylist() == expected
    assert result.column("doubled").to_pylist() == [2, -8, 2**41]
    state = fused.state
    assert state is not None
    (kernel,) = (kernel for kernel in state.kernels.values() if kernel is not None)
    kernel.wait_optimized()
    assert kernel.tier == "optimized"
    assert fused(table).column("shifted").to_pylist() == expected


def test_calls_on_threads_during_the_switch_agree(tiers: None) -> None:
    speed = make_speed()
    distance = pa.array(EDGE_INTS[:12] * 4)
    air_time = pa.array([value if value != 0 else None for value in EDGE_INTS[:12]] * 4)
    expected_rows = [speed.function(d, a) for d, a in zip(distance.to_pylist(), air_time.to_pylist(), strict=True)]
    results: list[list[float | None]] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            for _ in range(50):
                results.append(speed(distance, air_time).to_pylist())
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(result == expected_rows for result in results)
    assert len(results) == 200


def test_disk_cache_stores_the_optimized_kernel(tiers: None, tmp_path: Path) -> None:
    settings.cache_enabled, settings.cache_dir = True, tmp_path / "cache"
    try:
        first = make_speed()
        first(pa.array([60]), pa.array([60]))
        only_kernel(first).wait_optimized()
        second = make_speed()
        assert second(pa.array([60]), pa.array([30])).to_pylist() == [120.0]
        loaded = only_kernel(second)
        assert loaded.cached
        assert loaded.tier == "optimized"
        assert loaded.object_code == only_kernel(first).object_code
    finally:
        settings.cache_enabled = False


def test_float_edges_in_quick_kernel(tiers: None) -> None:
    settings.optimize_quick_kernels = False

    @fj.jit_resolver
    def ratio(x: float, y: float) -> float:
        return x / y if y != 0.0 else x * 0.5

    rows = grid(float, float)
    assert {row[0] for row in rows} >= set(EDGE_FLOATS) - {math.nan}
    check_batch_call(ratio, rows, [float, float])
    assert only_kernel(ratio).tier == "quick"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is missing on this platform")
def test_forked_child_does_not_wait_for_parent_thread(tiers: None) -> None:
    jit = engine.get_engine()
    release = threading.Event()
    blocker = jit.background.submit(release.wait, 60)  # keeps the next optimization pending
    try:
        speed = make_speed()
        speed(pa.array([1]), pa.array([60]))
        assert only_kernel(speed).tier == "quick"
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        child = context.Process(target=run_in_child, args=(speed, results))  # forked, so nothing is pickled
        child.start()
        in_child = results.get(timeout=60)
        child.join(timeout=60)
        assert child.exitcode == 0
        assert in_child == ([float(value) for value in range(2000)], "quick", "optimized")
    finally:
        release.set()
        blocker.result()


def run_in_child(speed: fj.JitResolver, results: Any) -> None:
    """Call a resolver whose optimization the parent has pending, then compile a new one in the child."""
    values = speed(pa.array(range(2000)), pa.array([60] * 2000)).to_pylist()
    fresh = make_speed()
    fresh(pa.array([1]), pa.array([60]))
    kernel = only_kernel(fresh)
    kernel.wait_optimized()
    results.put((values, only_kernel(speed).tier, kernel.tier))


def test_explain_reports_both_tiers(tiers: None) -> None:
    speed = make_speed()
    speed(pa.array([1]), pa.array([60]))
    text = str(speed.explain(show=False))
    assert "quick llvm" in text
    assert "optimized llvm" in text
    assert "kernel tiers: a quick kernel for the first call, then the optimized one" in text
    assert text.splitlines()[-1].endswith("errors set to null, on the quick kernel")
    speed(pa.array([2]), pa.array([60]))
    assert not str(speed.explain(show=False)).endswith("on the quick kernel")


def test_explain_waits_for_optimized_scalar_kernel(tiers: None) -> None:
    # The scalar kernel is the last compile, and its optimized tier may still be compiling.
    speed = make_speed()
    speed(pa.array([100, 200]), pa.array([60, None]))
    assert speed(1400, 227) == 1400 / (227 / 60)
    text = str(speed.explain(show=False))
    assert "kernel tiers: a quick kernel for the first call, then the optimized one" in text


def test_scalar_call_switches_native_entry_to_optimized(tiers: None) -> None:
    speed = make_speed()
    assert speed(1400, 227) == 1400 / (227 / 60)
    state = speed.state
    assert state is not None and state.native is not None
    (kernel,) = (kernel for kernel in state.scalar_kernels.values() if kernel is not None)
    assert "quick llvm" in kernel.stage_seconds
    kernel.wait_optimized()
    assert kernel.tier == "optimized"
    assert kernel.python_entries is not None
    assert state.native.entries[-1][0] == kernel.python_entries[0]
    for arguments in [(1400, 227), (1400, None), (1400, 0), (2**70, 3), (True, 60), (-(2**63), 1)]:
        assert speed(*arguments) == speed.function(*arguments), arguments


def test_scalar_entry_of_dropped_kernel_is_not_reinstalled(tiers: None) -> None:
    release = threading.Event()
    blocker = engine.get_engine().background.submit(release.wait, 60)
    try:
        speed = make_speed()
        assert speed(60, 60) == 60.0
        state = speed.state
        assert state is not None and state.native is not None
        (kernel,) = (kernel for kernel in state.scalar_kernels.values() if kernel is not None)
        state.scalar_kernels.clear()  # as drop_stale_kernels does when a captured value changes
        quick_address = state.native.entries[-1][0]
    finally:
        release.set()
        blocker.result()
    kernel.wait_optimized()
    assert state.native.entries[-1][0] == quick_address


REBOUND_FILE = """
import featurejit as fj

OFFSET = 5


@fj.jit_resolver
def shifted(x: int) -> int:
    return x + OFFSET
"""


def test_name_rebound_while_optimizing_is_seen(tiers: None, tmp_path: Path) -> None:
    module = import_source(tmp_path, "rebound_offset", REBOUND_FILE)
    assert module.shifted(1) == 6
    state = module.shifted.state
    (key, kernel), = state.scalar_kernels.items()
    module.OFFSET = 50  # rebound before the optimized tier replaces the quick entry
    kernel.wait_optimized()
    state.reinstall_native_entries(key, kernel)  # what the optimized tier does when it is ready
    assert module.shifted(1) == 51
