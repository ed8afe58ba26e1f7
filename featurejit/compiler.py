"""The compile pipeline: from a Python function and its parameter types to a native entry point."""

from __future__ import annotations

import ctypes
import itertools
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llvmlite import ir
from xdsl.ir import Attribute

from featurejit.codegen.engine import get_engine
from featurejit.codegen.kernel import (
    ColumnLayout,
    build_batch_kernel,
    build_scalar_entry,
    find_function,
    scalar_argument_types,
)
from featurejit.frontend.captures import Capture
from featurejit.frontend.lower import lower_function
from featurejit.ir import print_module
from featurejit.passes import run_pipeline
from featurejit.settings import settings

logger = logging.getLogger("featurejit")

BATCH_KERNEL_TYPE = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


class ScalarResult(ctypes.Structure):
    """The two i64 a scalar entry returns in registers: the result's bits and a status."""

    _fields_ = [("bits", ctypes.c_int64), ("status", ctypes.c_int64)]


def scalar_entry_type(argument_types: Sequence[object]) -> Any:
    """Return the ctypes prototype of a scalar entry taking these LLVM argument types."""
    from featurejit.codegen.arith import F64

    return ctypes.CFUNCTYPE(
        ScalarResult, *(ctypes.c_double if argument_type == F64 else ctypes.c_int64 for argument_type in argument_types)
    )

_symbol_numbers = itertools.count()


@dataclass
class CompiledKernel:
    """A native entry point with what it was compiled from, for dumps and cache checks."""

    entry: Callable[..., int]
    symbol: str
    captures: list[Capture]
    inlined: list[Callable[..., Any]]
    result_type: Attribute
    ir_text: str
    optimized_ir_text: str
    llvm_text: str
    optimized_llvm_text: str
    assembly: str
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def compile_seconds(self) -> float:
        return sum(self.stage_seconds.values())


def symbol_for(name: str) -> str:
    """Return a unique LLVM symbol for a resolver's next kernel."""
    return f"fj_{re.sub(r'[^A-Za-z0-9_]', '_', name)}_{next(_symbol_numbers)}"


def compile_kernel(
    function: Callable[..., Any],
    name: str,
    parameter_types: Sequence[Attribute],
    layouts: Sequence[ColumnLayout] | None,
    output: type,
) -> CompiledKernel:
    """Compile `function` for these parameter IR types: a batch kernel for `layouts`, else a scalar entry."""
    symbol = symbol_for(name)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now

    # Lower the resolver's AST to the py dialect, specialized on the parameter types.
    lowered = lower_function(function, parameter_types, symbol)
    ir_text = print_module(lowered.module)
    lap("lower")

    # Fold constants with Python semantics, share common subexpressions, drop dead code.
    run_pipeline(lowered.module, verify=settings.verify_ir)
    optimized_ir_text = print_module(lowered.module)
    lap("passes")

    # Emit LLVM IR for the entry point: the row body inside a loop, or a scalar call.
    function_op = find_function(lowered.module)
    llvm_module = ir.Module(name=symbol)
    entry_name = f"{symbol}_{'batch' if layouts is not None else 'scalar'}"
    if layouts is not None:
        build_batch_kernel(llvm_module, function_op, list(layouts), [output], entry_name)
    else:
        build_scalar_entry(llvm_module, function_op, entry_name)
    lap("codegen")

    # Optimize for the host CPU and load the machine code into this process.
    compiled = get_engine().compile(llvm_module, [entry_name])
    lap("llvm")

    if layouts is not None:
        entry_type = BATCH_KERNEL_TYPE
    else:
        entry_type = scalar_entry_type(scalar_argument_types(function_op))
    kernel = CompiledKernel(
        entry=entry_type(compiled.addresses[entry_name]),
        symbol=entry_name,
        captures=lowered.captures,
        inlined=lowered.inlined,
        result_type=function_op.function_type.outputs.data[0],
        ir_text=ir_text,
        optimized_ir_text=optimized_ir_text,
        llvm_text=compiled.llvm_unoptimized,
        optimized_llvm_text=compiled.llvm_optimized,
        assembly=compiled.assembly,
        stage_seconds=seconds,
    )
    logger.debug(
        "compiled %s as %s in %.1f ms (%s)",
        name,
        entry_name,
        kernel.compile_seconds * 1000,
        ", ".join(f"{stage} {value * 1000:.1f} ms" for stage, value in seconds.items()),
    )
    return kernel
