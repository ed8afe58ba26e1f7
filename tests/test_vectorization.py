"""Structural checks that batch kernels use the host CPU's vector instructions (not timings)."""

from __future__ import annotations

import math
import re

import llvmlite.binding as llvm
import pytest

from featurejit import fuse, jit_resolver


@jit_resolver
def branchy(a: float, b: float, c: float) -> float:
    return (a * 1.07 + b) / (c + 1.0) if a > b else a - b


@jit_resolver
def speed(distance: int, air_time: int | None) -> float | None:
    if air_time is None or air_time == 0:
        return None
    return distance / (air_time / 60)


def host_features() -> set[str]:
    features = llvm.get_host_cpu_features()
    return {name for name, enabled in features.items() if enabled}


def widest_vector_register() -> str:
    features = host_features()
    if "avx512f" in features:
        return "zmm"
    if "avx" in features:
        return "ymm"
    return "xmm"


@pytest.mark.parametrize("resolver", [branchy, speed], ids=lambda resolver: resolver.name)
def test_batch_kernel_divides_packed_doubles(resolver) -> None:
    assembly = resolver.dump("asm")
    packed_division = re.findall(r"\bv?divpd\b", assembly)
    assert packed_division, f"{resolver.name}: no packed double division (divpd) in the kernel"


def test_batch_kernel_uses_wide_vector_registers() -> None:
    register = widest_vector_register()
    if register == "xmm":
        pytest.skip("the host CPU has no AVX, so xmm registers are the widest")
    # LLVM tunes some AVX-512 CPUs (Intel's since Skylake-SP) to prefer 256-bit vectors, so
    # ymm registers pass there too; SSE's xmm alone does not.
    wide = "ymm|zmm" if register == "zmm" else "ymm"
    assembly = branchy.dump("asm")
    assert re.search(rf"%({wide})\d+", assembly), f"no {wide} register in the branchy kernel"


@jit_resolver
def checked_sum(a: int, b: int, c: int) -> int:
    return a + b - c


def test_checked_int_arithmetic_is_packed() -> None:
    # The overflow checks of + and - test sign bits, which vectorize, where LLVM's
    # s*.with.overflow intrinsics would keep the loop scalar.
    assembly = checked_sum.dump("asm")
    assert re.search(r"\bvpaddq\b", assembly), "no packed int64 addition (vpaddq) in the kernel"
    assert re.search(r"\bvpsubq\b", assembly), "no packed int64 subtraction (vpsubq) in the kernel"


@jit_resolver
def growth(rate: float) -> float:
    return math.exp(rate)


@jit_resolver
def weighted(arr_delay: int | None, distance: int) -> float | None:
    if arr_delay is None:
        return None
    return arr_delay * math.log1p(distance)


@jit_resolver
def log_distance(distance: int) -> float:
    return math.log1p(distance)


def test_fused_kernel_vectorizes_beside_a_library_call() -> None:
    # The exp call is scalar; branchy's output has a loop of its own, which vectorizes.
    fused = fuse(branchy, growth)
    assembly = fused.dump("asm")
    assert re.search(r"\bv?divpd\b", assembly), "no packed double division (divpd) in the fused kernel"
    assert "fj_libm_exp" in assembly


def test_fused_shared_library_call_runs_once() -> None:
    # weighted calls log1p(distance) in a branch, log_distance on every row: the kernel
    # makes the call once per row, in the loop of its calls (kernel.separate_calls).
    fused = fuse(weighted, log_distance)
    calls = re.findall(r"call double @fj_libm_log1p\(", fused.dump("llvm"))
    assert len(calls) == 1, f"{len(calls)} calls of log1p in the optimized LLVM IR"
