"""Every setting that changes featurejit's behaviour, read once from the environment.

| variable                  | default | meaning                                                        |
|---------------------------|---------|----------------------------------------------------------------|
| FEATUREJIT_DISABLE_JIT    | 0       | 1 runs every resolver in the interpreter, for debugging        |
| FEATUREJIT_VERIFY_IR      | 0       | 1 verifies the IR after every pass (tests turn it on)          |
| FEATUREJIT_THREADS        | cores   | threads a batch call splits its rows across; default: the CPUs |
|                           |         | this process may run on                                        |
| FEATUREJIT_MORSEL_ROWS    | 65536   | minimum rows per unit of work handed to a thread, rounded up   |
|                           |         | to 64; large calls use about 4 units per thread                |

Nothing else in featurejit reads the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


def _count(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        parsed = int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not an integer; set it to a whole number of 1 or more") from None
    if parsed < 1:
        raise ValueError(f"{name}={value!r} is below 1; set it to a whole number of 1 or more")
    return parsed


def available_cpus() -> int:
    """Return the number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class Settings:
    """The process's settings; tests may change fields of `settings` directly."""

    disable_jit: bool
    verify_ir: bool
    threads: int
    morsel_rows: int


settings = Settings(
    disable_jit=_flag("FEATUREJIT_DISABLE_JIT", False),
    verify_ir=_flag("FEATUREJIT_VERIFY_IR", False),
    threads=_count("FEATUREJIT_THREADS", available_cpus()),
    morsel_rows=_count("FEATUREJIT_MORSEL_ROWS", 65536),
)
