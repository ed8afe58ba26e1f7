"""The compiled kernel that the runtime calls, whether compiled in this process or loaded from the disk cache.

This module imports neither xDSL nor the compiler, so a kernel loaded from the disk cache
runs without them.
"""

from __future__ import annotations

import ctypes
import functools
import locale
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from featurejit.frontend.captures import Capture

STRTOD_CALL = re.compile(r'@"?strtod"?\(')

if TYPE_CHECKING:
    from xdsl.ir import Attribute

    from featurejit.codegen.engine import CompiledModule

BATCH_KERNEL_TYPE = ctypes.CFUNCTYPE(
    ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p
)


@dataclass
class CompiledKernel:
    """A native entry point with what it was compiled from, for dumps and cache checks.

    A batch kernel has `entry`; a scalar kernel has `python_entries`, the addresses of its
    checked and unchecked entries (see featurejit.codegen.pyentry).

    A quick kernel (`tier` "quick") has `optimizing`, the background compile of its optimized
    tier. When that is done it replaces `entry` (or `python_entries`), the LLVM text, the object
    code and the stages in place, so everything holding the kernel runs the optimized code.
    """

    entry: Callable[..., int] | None
    symbol: str
    captures: list[Capture]
    inlined: list[Callable[..., Any]]
    result_type_text: str  # the IR type of the result as xDSL prints it, such as "!py.optional<f64>"
    ir_text: str
    optimized_ir_text: str
    llvm_text: str
    optimized_llvm_text: str
    stage_seconds: dict[str, float] = field(default_factory=dict)
    python_entries: tuple[int, int] | None = None
    object_code: bytes = b""
    entry_points: list[str] = field(default_factory=list)
    cached: bool = False  # loaded from the disk cache
    tier: str = "optimized"
    optimizing: Future[None] | None = None
    optimizing_process: int = 0  # the process whose background thread runs `optimizing`
    # Run once the optimized tier has replaced the quick one, such as re-installing scalar entries.
    when_optimized_callbacks: list[Callable[[], None]] = field(default_factory=list)
    # The printed IR type of each result, for kernels with several (fused ones); the first is result_type_text.
    result_type_texts: tuple[str, ...] = ()
    tier_lock: threading.Lock = field(default_factory=threading.Lock)

    @functools.cached_property
    def result_type(self) -> Attribute:
        """The IR type of the result, parsed from its text on first use because parsing imports xDSL."""
        from featurejit.cache import parse_type

        result_type: Attribute = parse_type(self.result_type_text)
        return result_type

    @functools.cached_property
    def parses_floats(self) -> bool:
        """Whether the kernel calls strtod, which reads the decimal point of the C library's current locale."""
        return STRTOD_CALL.search(self.llvm_text) is not None

    def runs_in_this_locale(self) -> bool:
        """Return whether the kernel computes CPython's results under the current LC_NUMERIC locale.

        float() of text parses with strtod, which a program's locale.setlocale() call can make
        read "1,5" and stop at "1.5". CPython's float() always takes "." as the decimal point.
        """
        return not self.parses_floats or locale.localeconv()["decimal_point"] == "."

    @property
    def compile_seconds(self) -> float:
        return sum(self.stage_seconds.values())

    def wait_optimized(self) -> None:
        """Wait for the optimized tier of a quick kernel. After a failed background compile the quick one stays."""
        pending = self.optimizing
        if pending is None or self.optimizing_process != os.getpid():
            return  # a forked child keeps the quick kernel: the parent's thread is not in it
        try:
            pending.result()
        except Exception:  # noqa: BLE001 - logged by the background compile; the quick kernel stays correct
            pass

    def take_optimized(self, compiled: CompiledModule) -> None:
        """Switch a quick kernel to its optimized tier, then run the callbacks of `when_optimized`."""
        with self.tier_lock:
            self.optimized_llvm_text = compiled.llvm_optimized
            self.object_code = compiled.object_code
            self.stage_seconds = {**self.stage_seconds, "optimized llvm": compiled.seconds}
            addresses = [compiled.addresses[name] for name in self.entry_points]
            if self.entry is not None:
                self.entry = BATCH_KERNEL_TYPE(addresses[0])
            else:
                self.python_entries = (addresses[0], addresses[1])
            self.tier = "optimized"
            callbacks, self.when_optimized_callbacks = self.when_optimized_callbacks, []
        for callback in callbacks:
            callback()

    def when_optimized(self, callback: Callable[[], None]) -> None:
        """Run `callback` when a quick kernel switches to its optimized tier (it never runs for a kernel that stays quick)."""
        with self.tier_lock:
            if self.tier == "quick":
                self.when_optimized_callbacks.append(callback)
                return
        callback()

    @property
    def assembly(self) -> str:
        """The host CPU's assembly, emitted on request because dumps are rare."""
        from featurejit.codegen.engine import get_engine

        return get_engine().assembly(self.optimized_llvm_text)
