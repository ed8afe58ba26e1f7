"""Every setting that changes featurejit's behaviour, read once from the environment.

| variable                  | default | meaning                                                        |
|---------------------------|---------|----------------------------------------------------------------|
| FEATUREJIT_DISABLE_JIT    | 0       | 1 runs every resolver in the interpreter, for debugging        |
| FEATUREJIT_VERIFY_IR      | 0       | 1 verifies the IR after every pass (tests turn it on)          |
| FEATUREJIT_SLOW_PATH_LIST | 0.05    | fraction of flagged rows (0 to 1) above which the slow path    |
|                           |         | converts whole columns to Python lists instead of single rows |

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


def _fraction(name: str, default: float) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        parsed = float(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a number; set it to a fraction between 0 and 1") from None
    if not 0.0 <= parsed <= 1.0:
        raise ValueError(f"{name}={value!r} is outside 0 to 1; set it to a fraction between 0 and 1")
    return parsed


@dataclass
class Settings:
    """The process's settings; tests may change fields of `settings` directly."""

    disable_jit: bool
    verify_ir: bool
    slow_path_list_fraction: float


settings = Settings(
    disable_jit=_flag("FEATUREJIT_DISABLE_JIT", False),
    verify_ir=_flag("FEATUREJIT_VERIFY_IR", False),
    slow_path_list_fraction=_fraction("FEATUREJIT_SLOW_PATH_LIST", 0.05),
)
