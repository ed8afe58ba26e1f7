"""Compiling, caching and calling the join kernels.

Each kernel is compiled on first use, alone in its LLVM module, by the process's JIT engine
(featurejit.codegen.engine). Its object code goes to the same disk cache as resolver
kernels, keyed by the kernel's name and the source of the function that emits it. The
cache key also covers the featurejit files, the LLVM version and the CPU, so an edit of
any kernel compiles it again. Kernels are called through ctypes, which releases the GIL
for the duration of the call, so probes of several morsels run on several threads.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from llvmlite import ir

from featurejit import cache
from featurejit.codegen.engine import get_engine
from featurejit.joins import kernels

logger = logging.getLogger("featurejit")

KERNEL_TYPE = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)
LOOKUP_INT_TYPE = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64)
LOOKUP_BYTES_TYPE = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int64)

Emit = Callable[[ir.Module, str], None]


def emitter_for(name: str) -> tuple[Callable[..., None], tuple[str, ...]]:
    """Return the emitting function of a kernel name such as "probe:hash:str32:int", and its parameters."""
    kind, *parameters = name.split(":")
    functions: dict[str, Callable[..., None]] = {
        "key_range": kernels.emit_key_range,
        "hash_keys": kernels.emit_hash_keys,
        "sketch": kernels.emit_sketch,
        "bloom_add": kernels.emit_bloom_add,
        "build_array": kernels.emit_build_array,
        "build_hash": kernels.emit_build_hash,
        "probe": kernels.emit_probe,
        "lookup_one": kernels.emit_lookup_one,
        "merge": kernels.emit_merge,
        "filter": kernels.emit_filter,
    }
    if kind not in functions:
        raise KeyError(f"no join kernel is named {name!r}")
    return functions[kind], tuple(parameters)


@functools.cache
def symbol_suffix() -> str:
    """Return a suffix that names the compiler's files, so a symbol stands for one machine code."""
    return cache.compiler_fingerprint()[:16]


class KernelTable:
    """The join kernels loaded in this process, by name, compiled or loaded from the disk cache once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.addresses: dict[str, int] = {}

    def address(self, name: str) -> int:
        address = self.addresses.get(name)
        if address is not None:
            return address
        with self.lock:
            address = self.addresses.get(name)
            if address is None:
                address = self.load(name)
                self.addresses[name] = address
        return address

    def load(self, name: str) -> int:
        emit, parameters = emitter_for(name)
        symbol = f"fj_join_{re.sub(r'[^A-Za-z0-9]', '_', name)}_{symbol_suffix()}"
        request = cache.KernelRequest(emit, (name,), None, int)
        kernel_cache = cache.get_cache()
        start = time.perf_counter()
        if kernel_cache is not None:
            entry = kernel_cache.load(request)
            if entry is not None and entry.entry_points == [symbol]:
                try:
                    address = get_engine().load_object(entry.object_code, [symbol])[symbol]
                except ValueError as error:
                    logger.warning("kernel cache: the join kernel %s cannot be loaded (%s); compiling", name, error)
                else:
                    logger.debug("kernel cache: loaded join kernel %s in %.2f ms", name, (time.perf_counter() - start) * 1000)
                    return address
        module = ir.Module(name=symbol)
        emit(module, symbol, *parameters)
        compiled = get_engine().compile(module, [symbol])
        logger.debug("compiled join kernel %s in %.1f ms", name, (time.perf_counter() - start) * 1000)
        if kernel_cache is not None:
            manifest: dict[str, Any] = {"captures": [], "callees": []}
            metadata = {"manifest": manifest, "kernel": name, "kind": "join", "created": time.time()}
            digest = request.content_digest(compiled.llvm_optimized, manifest)
            kernel_cache.store(request, cache.CacheEntry(digest, [symbol], compiled.object_code, metadata))
        return compiled.addresses[symbol]


KERNELS = KernelTable()


@functools.cache
def kernel(name: str) -> Callable[[int], int]:
    """Return the kernel `name` as a ctypes function of the address of its int64 fields."""
    return KERNEL_TYPE(KERNELS.address(name))  # type: ignore[no-any-return]


@functools.cache
def lookup_kernel(name: str) -> Callable[..., int]:
    address = KERNELS.address(name)
    return (LOOKUP_INT_TYPE if name.endswith(":int") else LOOKUP_BYTES_TYPE)(address)  # type: ignore[no-any-return]


def call(name: str, fields: list[int]) -> int:
    """Run kernel `name` on the given fields; the caller keeps every buffer they point to alive."""
    array = np.array(fields, dtype=np.int64)
    return int(kernel(name)(array.ctypes.data))
