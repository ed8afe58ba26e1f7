"""The process-wide LLVM JIT: one MCJIT engine, shared by every kernel, and its target machines.

A module is optimized, compiled to object code with a target machine, and the object code
is loaded into the engine. The same object code is what the disk cache stores, so a kernel
loaded from the cache runs exactly the machine code that was compiled.

Batch kernels come in two tiers. A quick kernel skips LLVM's optimizations and uses its fast
instruction selector. It compiles in a few milliseconds and, in our measurements, runs two to
four times slower. The optimized kernel compiles from the same LLVM IR on a background thread.

LLVM does not allow a context or a target machine to be used by two threads at once.
Resolvers may compile on several threads, so every compile parses its module into a context
of its own, and each thread has its own target machines.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import llvmlite.binding as llvm
from llvmlite import ir

from featurejit.codegen.mathlib import libm_symbols, memory_symbols
from featurejit.codegen.pyabi import python_api_symbols

logger = logging.getLogger("featurejit")


@dataclass(frozen=True)
class CompiledModule:
    """Addresses of a module's entry points, its object code, and its LLVM IR before and after optimization."""

    addresses: dict[str, int]
    llvm_unoptimized: str
    llvm_optimized: str
    object_code: bytes
    seconds: float = 0.0  # from parsing the LLVM IR to loading the object code


QUICK_SUFFIX = "_quick"  # quick kernels' symbols end with it, so that both tiers of a kernel can be loaded


class JitEngine:
    """Optimizes LLVM modules for the host CPU and loads their object code into this process."""

    def __init__(self) -> None:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        for name, address in {**libm_symbols(), **memory_symbols(), **python_api_symbols()}.items():
            llvm.add_symbol(name, address)
        self.target = llvm.Target.from_default_triple()
        self.cpu_name = llvm.get_host_cpu_name()
        self.cpu_features = llvm.get_host_cpu_features().flatten()
        self.target_machine = self.create_target_machine(opt=3)  # for engine creation and the data layout
        self.machines = threading.local()  # per thread: optimization level -> target machine
        self.triple = self.target.triple
        self.data_layout = str(self.target_machine.target_data)
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.target_machine)
        # MCJIT's first finalize sets up the engine's memory and symbol lookup (about 1.2 ms
        # measured here). Done now, it is part of engine setup rather than of the first kernel load.
        self.engine.finalize_object()
        self.lock = threading.Lock()
        # Entry point symbol -> address, for every object loaded. Symbols name their content
        # (see featurejit.cache), so a symbol loaded before is the same code and is not loaded again.
        self.loaded: dict[str, int] = {}
        # One thread compiles the optimized tier of quick kernels, in submission order.
        self.background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="featurejit-optimize")
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self.after_fork_in_child)

    def after_fork_in_child(self) -> None:
        """Give a forked child a background thread and lock of its own.

        The parent's background thread does not exist in the child, and the parent's compiles
        still pending there never finish in it (CompiledKernel.wait_optimized checks for that).
        A fork waits until no thread is inside LLVM (see hold_locks_for_fork).
        """
        self.lock = threading.Lock()
        self.background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="featurejit-optimize")

    def create_target_machine(self, opt: int) -> llvm.TargetMachine:
        # No fast-math: kernels keep IEEE NaN and infinity semantics, as CPython does.
        return self.target.create_target_machine(cpu=self.cpu_name, features=self.cpu_features, opt=opt, jit=True)

    def machine(self, opt: int) -> llvm.TargetMachine:
        """Return this thread's target machine for optimization level `opt` (0 or 3)."""
        machines: dict[int, llvm.TargetMachine] | None = getattr(self.machines, "by_level", None)
        if machines is None:
            machines = self.machines.by_level = {}
        if opt not in machines:
            machines[opt] = self.create_target_machine(opt)
        return machines[opt]

    def compile(self, module: ir.Module, entry_points: list[str], quick: bool = False) -> CompiledModule:
        """Verify, optimize, compile and load `module`; return the addresses of `entry_points`.

        With `quick` nothing is optimized, the object code comes from LLVM's fast instruction
        selector, and the entry points are loaded under their names with QUICK_SUFFIX (the
        addresses are still keyed by the names given).
        """
        module.triple = self.triple
        module.data_layout = self.data_layout
        return self.compile_text(str(module), entry_points, QUICK_SUFFIX if quick else "")

    def compile_text(self, unoptimized: str, entry_points: list[str], suffix: str) -> CompiledModule:
        """Compile LLVM IR text: optimized without `suffix`, quick with it (see `compile`)."""
        start = time.perf_counter()
        machine = self.machine(0 if suffix else 3)
        parsed = llvm.parse_assembly(unoptimized, context=llvm.create_context())
        parsed.verify()
        if suffix:
            for name in entry_points:
                parsed.get_function(name).name = name + suffix
        else:
            self.optimize(parsed, machine)
        optimized = str(parsed)
        object_code = machine.emit_object(parsed)
        loaded = self.load_object(object_code, [name + suffix for name in entry_points])
        addresses = {name: loaded[name + suffix] for name in entry_points}
        return CompiledModule(addresses, unoptimized, optimized, object_code, time.perf_counter() - start)

    def compile_later(
        self, unoptimized: str, entry_points: list[str], done: Callable[[CompiledModule], None]
    ) -> Future[None]:
        """Optimize and load LLVM IR text on the background thread, then pass the result to `done` there.

        The future completes after `done` returns. If either step fails, it contains the exception.
        """

        def run() -> None:
            compiled = self.compile_text(unoptimized, entry_points, "")
            with BACKGROUND_CALLBACK_LOCK:
                done(compiled)

        return self.background.submit(run)

    def optimize(self, module: llvm.ModuleRef, machine: llvm.TargetMachine) -> None:
        # LLVM's O2 pipeline without the SLP vectorizer. On an AMD EPYC (Zen 4) VM with LLVM 22,
        # O3 with SLP took 36 ms of llvm stage for the branchy resolver against 21 ms. Most of
        # that came from O3 unswitching its loop into two copies, and SLP only vectorized the
        # scalar remainders of vectorized loops. Kernel times over 1M and 10M rows stayed
        # within the machine's noise (branchy 12.2 against 13.3 ms at 10M rows, joins within 10%).
        options = llvm.PipelineTuningOptions(speed_level=2)
        options.loop_vectorization = True
        options.slp_vectorization = False
        # Interleaving and unrolling the vectorized loops about doubled the time of the llvm stage
        # (to 45-55 ms for small resolvers) and left the best time over 10M rows unchanged, within
        # 3%, on an AMD EPYC (Zen 4) with LLVM 22. Kernels are memory bound, so wider loop bodies
        # did not pay for their compile time there.
        options.loop_interleaving = False
        options.loop_unrolling = False
        pass_builder = llvm.create_pass_builder(machine, options)
        pass_builder.getModulePassManager().run(module, pass_builder)

    def load_object(self, object_code: bytes, entry_points: list[str]) -> dict[str, int]:
        """Load object code into the engine and return the addresses of `entry_points`.

        Raises ValueError if the object code lacks one of them.
        """
        with self.lock:
            if all(name in self.loaded for name in entry_points):
                return {name: self.loaded[name] for name in entry_points}
            self.engine.add_object_file(llvm.ObjectFileRef.from_data(object_code))
            self.engine.finalize_object()
            addresses = {name: self.engine.get_function_address(name) for name in entry_points}
            missing = [name for name, address in addresses.items() if not address]
            if missing:
                raise ValueError(f"the object code does not define {', '.join(missing)}")
            self.loaded.update(addresses)
        return addresses

    def assembly(self, optimized_llvm: str) -> str:
        """Return the host CPU's assembly for optimized LLVM IR, as the loaded object code has it."""
        return self.machine(3).emit_assembly(llvm.parse_assembly(optimized_llvm, context=llvm.create_context()))


# llvmlite runs every call into LLVM under one process-wide lock. A child forked while another
# thread is inside LLVM, such as a background compile, gets that lock locked by a thread it
# does not have, and its first LLVM call (even a target machine's finalizer) waits forever.
# So a fork first waits for the lock, and both processes release it. The lock is private to
# llvmlite: the reentrant lock inside its lock object, or None if a version lays it out otherwise.
LLVM_LOCK: Any = getattr(getattr(getattr(llvm.ffi, "lib", None), "_lock", None), "_lock", None)


# The background thread holds this lock while it hands an optimized kernel over (see
# compile_later). The hand-over takes the kernel's, its resolver's and the disk cache's locks,
# and a child forked meanwhile would get them locked by a thread it does not have, so its next
# call of that resolver would wait forever. A fork waits for the hand-over to finish.
BACKGROUND_CALLBACK_LOCK = threading.Lock()


def hold_locks_for_fork() -> None:
    # The callback lock first: a hand-over may call into LLVM, never the other way round.
    BACKGROUND_CALLBACK_LOCK.acquire()
    if LLVM_LOCK is not None:
        LLVM_LOCK.acquire()


def release_locks_after_fork() -> None:
    if LLVM_LOCK is not None:
        LLVM_LOCK.release()
    BACKGROUND_CALLBACK_LOCK.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=hold_locks_for_fork, after_in_parent=release_locks_after_fork, after_in_child=release_locks_after_fork)

_engine: JitEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> JitEngine:
    """Return the process's JIT engine, creating it on first use."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = JitEngine()
    return _engine


def llvm_version() -> str:
    return ".".join(str(part) for part in llvm.llvm_version_info)
