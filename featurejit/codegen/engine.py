"""The process-wide LLVM JIT: one target machine and one MCJIT engine, shared by every kernel.

A module is optimized, compiled to object code with the target machine, and the object code
is loaded into the engine. The same object code is what the disk cache stores, so a kernel
loaded from the cache runs exactly the machine code that was compiled.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import llvmlite.binding as llvm
from llvmlite import ir

from featurejit.codegen.mathlib import libm_symbols
from featurejit.codegen.pyentry import python_api_symbols

logger = logging.getLogger("featurejit")


@dataclass(frozen=True)
class CompiledModule:
    """Addresses of a module's entry points, its object code, and its LLVM IR before and after optimization."""

    addresses: dict[str, int]
    llvm_unoptimized: str
    llvm_optimized: str
    object_code: bytes


class JitEngine:
    """Optimizes LLVM modules for the host CPU and loads their object code into this process."""

    def __init__(self) -> None:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        for name, address in {**libm_symbols(), **python_api_symbols()}.items():
            llvm.add_symbol(name, address)
        target = llvm.Target.from_default_triple()
        self.cpu_name = llvm.get_host_cpu_name()
        self.cpu_features = llvm.get_host_cpu_features().flatten()
        # No fast-math: kernels keep IEEE NaN and infinity semantics, as CPython does.
        self.target_machine = target.create_target_machine(
            cpu=self.cpu_name, features=self.cpu_features, opt=3, jit=True
        )
        self.triple = target.triple
        self.data_layout = str(self.target_machine.target_data)
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.target_machine)
        self.lock = threading.Lock()
        # Entry point symbol -> address, for every object loaded. Symbols name their content
        # (see featurejit.cache), so a symbol loaded before is the same code and is not loaded again.
        self.loaded: dict[str, int] = {}

    def compile(self, module: ir.Module, entry_points: list[str]) -> CompiledModule:
        """Verify, optimize, compile and load `module`; return the addresses of `entry_points`."""
        module.triple = self.triple
        module.data_layout = self.data_layout
        unoptimized = str(module)
        parsed = llvm.parse_assembly(unoptimized)
        parsed.verify()
        self.optimize(parsed)
        optimized = str(parsed)
        object_code = self.target_machine.emit_object(parsed)
        addresses = self.load_object(object_code, entry_points)
        return CompiledModule(addresses, unoptimized, optimized, object_code)

    def optimize(self, module: llvm.ModuleRef) -> None:
        options = llvm.PipelineTuningOptions(speed_level=3)
        options.loop_vectorization = True
        options.slp_vectorization = True
        # Interleaving and unrolling the vectorized loops about doubled the time of the llvm stage
        # (to 45-55 ms for small resolvers) and left the best time over 10M rows unchanged, within
        # 3%, on an AMD EPYC (Zen 4) with LLVM 22. Kernels are memory bound, so wider loop bodies
        # did not pay for their compile time there.
        options.loop_interleaving = False
        options.loop_unrolling = False
        pass_builder = llvm.create_pass_builder(self.target_machine, options)
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
        return self.target_machine.emit_assembly(llvm.parse_assembly(optimized_llvm))


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
