"""Forks while another thread is inside LLVM: the child must not inherit llvmlite's lock locked."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from llvmlite import ir

from featurejit import jit_resolver
from featurejit.codegen import engine
from featurejit.settings import settings


def finalize_in_child() -> None:
    # A child's first LLVM call, as a target machine's finalizer makes it.
    with engine.llvm.ffi.lib._lock:
        pass


@pytest.mark.skipif(not hasattr(multiprocessing, "get_context") or "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_fork_during_llvm_call_waits() -> None:
    inside = threading.Event()

    def compile_in_background() -> None:
        with engine.llvm.ffi.lib._lock:
            inside.set()
            time.sleep(0.3)

    thread = threading.Thread(target=compile_in_background)
    thread.start()
    assert inside.wait(5)
    child = multiprocessing.get_context("fork").Process(target=finalize_in_child)
    child.start()
    child.join(10)
    thread.join()
    stuck = child.is_alive()
    if stuck:
        child.kill()
        child.join()
    assert not stuck, "the forked child waits forever for llvmlite's lock"
    assert child.exitcode == 0
    # The parent released the lock after the fork: another thread can take it.
    assert engine.LLVM_LOCK.acquire(timeout=5)
    engine.LLVM_LOCK.release()


HANDOVER_LOCK = threading.Lock()  # stands for a resolver's lock, which an optimized kernel's hand-over takes


def take_handover_lock_in_child() -> None:
    if not HANDOVER_LOCK.acquire(timeout=5):
        raise SystemExit(3)


@pytest.mark.skipif(not hasattr(multiprocessing, "get_context") or "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_fork_waits_for_optimized_kernel_handover() -> None:
    inside = threading.Event()

    def hand_over(compiled: Any) -> None:
        with HANDOVER_LOCK:
            inside.set()
            time.sleep(0.3)

    module = ir.Module("handover")
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), []), "fj_fork_handover")
    ir.IRBuilder(function.append_basic_block("entry")).ret_void()
    module.triple = engine.get_engine().triple
    pending = engine.get_engine().compile_later(str(module), ["fj_fork_handover"], hand_over)
    assert inside.wait(30)
    child = multiprocessing.get_context("fork").Process(target=take_handover_lock_in_child)
    child.start()
    child.join(10)
    pending.result(10)
    stuck = child.is_alive()
    if stuck:
        child.kill()
        child.join()
    assert not stuck
    assert child.exitcode == 0, "the child got the hand-over's lock locked by the parent's background thread"


def ratio_in_child(connection: Any) -> None:
    connection.send(ratio_of_quarters(ROWS)[-1].as_py())


ROWS = 600_000


@jit_resolver
def ratio(a: float, b: float) -> float:
    return a / b


def ratio_of_quarters(rows: int) -> Any:
    return ratio(pa.array(np.arange(rows, dtype=float)), pa.array(np.full(rows, 4.0)))


def test_forked_child_runs_morsels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "threads", 2)
    monkeypatch.setattr(settings, "morsel_rows", 65_536)
    monkeypatch.setattr(settings, "parallel_min_us", 0)
    expected = (ROWS - 1) / 4
    assert ratio_of_quarters(ROWS)[-1].as_py() == expected  # starts the parent's pool threads
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=ratio_in_child, args=(sender,))
    child.start()
    arrived = receiver.poll(30)
    child.join(10)
    if child.is_alive():
        child.kill()
        child.join()
    assert arrived, "the forked child's call never returned"
    assert receiver.recv() == expected
