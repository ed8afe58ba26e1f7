"""Structural checks that batch kernels use the host CPU's vector instructions (not timings)."""

from __future__ import annotations

import re

import llvmlite.binding as llvm
import pytest

from featurejit import jit_resolver


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
