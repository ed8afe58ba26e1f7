"""The compile pipeline: from a Python function and its parameter types to a native entry point."""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from llvmlite import ir
from xdsl.ir import Attribute

from featurejit import cache
from featurejit.codegen.engine import CompiledModule, get_engine
from featurejit.codegen.kernel import (
    ColumnLayout,
    build_batch_kernel,
    build_scalar_entry,
    find_function,
)
from featurejit.codegen.pyabi import guard_specs
from featurejit.codegen.pyentry import build_python_entries, scalar_entry_arguments
from featurejit.compiled_kernel import BATCH_KERNEL_TYPE, CompiledKernel
from featurejit.frontend.annotations import read_signature
from featurejit.frontend.lower import LoweredFunction, lower_function
from featurejit.ir import print_module
from featurejit.ir.dialect import OptionalType
from featurejit.passes import run_pipeline
from featurejit.settings import settings

logger = logging.getLogger("featurejit")

_symbol_numbers = itertools.count()
# Object code from the disk cache keeps the symbols of the process that compiled it, so
# symbols carry a random token per process besides the counter.
_symbol_token = secrets.token_hex(8)


def symbol_for(name: str) -> str:
    """Return a unique LLVM symbol for a resolver's next kernel."""
    return f"fj_{re.sub(r'[^A-Za-z0-9_]', '_', name)}_{next(_symbol_numbers)}_{_symbol_token}"


def compile_kernel(
    request: cache.KernelRequest, name: str, parameter_types: Sequence[Attribute], quick: bool = False
) -> CompiledKernel:
    """Compile the kernel that `request` describes for these parameter IR types, and store it in the disk cache.

    `request` holds the function, and the layouts of a batch kernel (None for a scalar entry).
    Callers look the request up in the disk cache first, because a hit needs neither this
    module nor xDSL (see featurejit.runtime.state.load_or_compile). With `quick` the kernel
    comes first as a quick kernel (see compile_lowered).
    """
    assert request.parameter_types == tuple(map(str, parameter_types)), "the request's types are the printed IR types"
    symbol = symbol_for(name)
    return compile_lowered(
        name,
        symbol,
        lambda: lower_function(request.function, parameter_types, symbol),
        request.layouts,
        [request.output],
        quick=quick,
        store=lambda kernel: cache.store_kernel(request, kernel),
    )


def compile_lowered(
    name: str,
    symbol: str,
    lower: Callable[[], LoweredFunction],
    layouts: Sequence[ColumnLayout] | None,
    outputs: list[type],
    quick: bool = False,
    store: Callable[[CompiledKernel], None] | None = None,
) -> CompiledKernel:
    """Run the compile pipeline on the function that `lower` produces, named `symbol` in LLVM.

    With `layouts` it builds a batch kernel with one output column per function result, of the
    Python types in `outputs`; without, a scalar entry. `store` receives the optimized kernel,
    for the disk cache.

    With `quick`, LLVM compiles the kernel without optimizing it, and the optimized kernel
    follows on a background thread (see CompiledKernel).
    """
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now

    # Lower the resolver's AST to the py dialect, specialized on the parameter types.
    lowered = lower()
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
        build_batch_kernel(llvm_module, function_op, list(layouts), outputs, entry_name)
        entry_points = [entry_name]
    else:
        build_scalar_entry(llvm_module, function_op, entry_name)
        entry_points = list(
            build_python_entries(
                llvm_module, entry_name, scalar_entry_arguments(function_op), guard_specs(lowered.captures), entry_name
            )
        )
    lap("codegen")

    # Optimize for the host CPU, compile to object code and load it into this process.
    compiled = get_engine().compile(llvm_module, entry_points, quick=quick)
    lap("quick llvm" if quick else "llvm")

    addresses = [compiled.addresses[entry_point] for entry_point in entry_points]
    kernel = CompiledKernel(
        entry=BATCH_KERNEL_TYPE(addresses[0]) if layouts is not None else None,
        symbol=entry_name,
        captures=lowered.captures,
        inlined=lowered.inlined,
        result_type_text=str(function_op.function_type.outputs.data[0]),
        result_type_texts=tuple(map(str, function_op.function_type.outputs.data)),
        ir_text=ir_text,
        optimized_ir_text=optimized_ir_text,
        llvm_text=compiled.llvm_unoptimized,
        optimized_llvm_text=compiled.llvm_optimized,
        stage_seconds=seconds,
        python_entries=None if layouts is not None else (addresses[0], addresses[1]),
        object_code=compiled.object_code,
        entry_points=entry_points,
        tier="quick" if quick else "optimized",
    )
    if quick:
        if settings.optimize_quick_kernels:
            kernel.optimizing_process = os.getpid()
            kernel.optimizing = optimize_later(kernel, compiled.llvm_unoptimized, store)
    elif store is not None:
        store(kernel)
    logger.debug(
        "compiled %s as %s in %.1f ms (%s)",
        name,
        entry_name,
        kernel.compile_seconds * 1000,
        ", ".join(f"{stage} {value * 1000:.1f} ms" for stage, value in seconds.items()),
    )
    return kernel


def optimize_later(
    kernel: CompiledKernel, unoptimized: str, store: Callable[[CompiledKernel], None] | None
) -> Future[None]:
    """Compile the optimized tier of a quick kernel on the background thread and switch the kernel to it."""

    def done(compiled: CompiledModule) -> None:
        kernel.take_optimized(compiled)
        kernel.optimizing = None
        logger.debug("optimized %s in the background in %.1f ms", kernel.symbol, compiled.seconds * 1000)
        if store is not None:
            store(kernel)

    pending = get_engine().compile_later(unoptimized, kernel.entry_points, done)

    def report(finished: Future[None]) -> None:
        error = finished.exception()
        if error is not None:
            kernel.optimizing = None
            logger.error(
                "internal compiler error while optimizing %s; its quick kernel stays in use: %s: %s",
                kernel.symbol,
                type(error).__name__,
                error,
            )

    pending.add_done_callback(report)
    return pending


def lower_resolver(
    function: Callable[..., Any], name: str, parameter_types: Sequence[Attribute] | None = None
) -> LoweredFunction:
    """Lower `function` to py dialect IR and run no pass, for tools that run the passes themselves.

    The parameter types default to those of the annotations, which the default batch kernel
    is compiled for. Raises CompileError for an annotation or construct that does not compile.
    """
    if parameter_types is None:
        parameter_types = []
        for _, spec in read_signature(function).parameters:
            element_type = spec.ir_type()
            parameter_types.append(OptionalType(element_type) if spec.optional else element_type)
    return lower_function(function, parameter_types, symbol_for(name))
