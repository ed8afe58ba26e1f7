"""Forks while another thread is inside LLVM: the child must not inherit llvmlite's lock locked."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from featurejit.codegen import engine


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
