"""Every setting that changes featurejit's behaviour, read once from the environment.

| variable                  | default | meaning                                                        |
|---------------------------|---------|----------------------------------------------------------------|
| FEATUREJIT_DISABLE_JIT    | 0       | 1 runs every resolver in the interpreter, for debugging        |
| FEATUREJIT_VERIFY_IR      | 0       | 1 verifies the IR after every pass (tests turn it on)          |

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


@dataclass
class Settings:
    """The process's settings; tests may change fields of `settings` directly."""

    disable_jit: bool
    verify_ir: bool


settings = Settings(
    disable_jit=_flag("FEATUREJIT_DISABLE_JIT", False),
    verify_ir=_flag("FEATUREJIT_VERIFY_IR", False),
)
