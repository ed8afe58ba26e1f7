"""The process-wide LLVM JIT: one target machine and one MCJIT engine, shared by every kernel."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import llvmlite.binding as llvm
from llvmlite import ir

from featurejit.codegen.mathlib import libm_symbols

logger = logging.getLogger("featurejit")


@dataclass(frozen=True)
class CompiledModule:
    """Addresses of a module's entry points, and its text at each stage for dumps."""

    addresses: dict[str, int]
    llvm_unoptimized: str
    llvm_optimized: str
    assembly: str


class JitEngine:
    """Optimizes LLVM modules for the host CPU and JIT-compiles them into this process."""

    def __init__(self) -> None:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        for name, address in libm_symbols().items():
            llvm.add_symbol(name, address)
        target = llvm.Target.from_default_triple()
        self.cpu_name = llvm.get_host_cpu_name()
        self.cpu_features = llvm.get_host_cpu_features().flatten()
        # No fast-math: kernels keep IEEE NaN and infinity semantics, as CPython does.
        self.target_machine = target.create_target_machine(
            cpu=self.cpu_name, features=self.cpu_features, opt=3, jit=True
        )
        self.triple = target.triple
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.target_machine)
        self.lock = threading.Lock()

    def compile(self, module: ir.Module, entry_points: list[str]) -> CompiledModule:
        """Verify, optimize and load `module`; return the addresses of `entry_points`."""
        module.triple = self.triple
        module.data_layout = str(self.target_machine.target_data)
        unoptimized = str(module)
        parsed = llvm.parse_assembly(unoptimized)
        parsed.verify()
        self.optimize(parsed)
        optimized = str(parsed)
        assembly = self.target_machine.emit_assembly(parsed)
        with self.lock:
            self.engine.add_module(parsed)
            self.engine.finalize_object()
            addresses = {name: self.engine.get_function_address(name) for name in entry_points}
        return CompiledModule(addresses, unoptimized, optimized, assembly)

    def optimize(self, module: llvm.ModuleRef) -> None:
        options = llvm.PipelineTuningOptions(speed_level=3)
        options.loop_vectorization = True
        options.slp_vectorization = True
        pass_builder = llvm.create_pass_builder(self.target_machine, options)
        pass_builder.getModulePassManager().run(module, pass_builder)


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
