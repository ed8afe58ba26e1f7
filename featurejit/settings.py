"""Every setting that changes featurejit's behaviour, read once from the environment.

| variable                  | default | meaning                                                        |
|---------------------------|---------|----------------------------------------------------------------|
| FEATUREJIT_DISABLE_JIT    | 0       | 1 runs every resolver in the interpreter, for debugging        |
| FEATUREJIT_VERIFY_IR      | 0       | 1 verifies the IR after every pass (tests turn it on)          |
| FEATUREJIT_THREADS        | cores   | threads a batch call splits its rows across; default: the CPUs |
|                           |         | this process may run on; at most 1024                          |
| FEATUREJIT_MORSEL_ROWS    | 65536   | minimum rows per unit of work handed to a thread, rounded up   |
|                           |         | to 64; large calls use about 4 units per thread                |
| FEATUREJIT_PARALLEL_MIN_US| measured| a call runs on several threads only if its kernel is expected  |
|                           |         | to take this many microseconds or more on one; default: 8      |
|                           |         | times a pool thread's wake-up, measured once                   |
| FEATUREJIT_QUICK_ROWS     | 1000000 | batch calls of fewer rows may run a quick kernel, compiled    |
|                           |         | without LLVM's optimizations, while the optimized kernel       |
|                           |         | compiles on a background thread; 0 always waits for it         |
| FEATUREJIT_POOL_ROWS      | 100000  | rows from which a graph runs an interpreted resolver in a pool |
|                           |         | of processes (Linux only), instead of in the calling process   |
| FEATUREJIT_CACHE          | 1       | 0 turns off the disk cache of compiled kernels                 |
| FEATUREJIT_CACHE_DIR      | user    | folder of the disk cache, relative to the working folder at    |
|                           |         | import; default: $XDG_CACHE_HOME/featurejit                    |
|                           |         | or ~/.cache/featurejit (~/Library/Caches/featurejit on macOS,  |
|                           |         | %LOCALAPPDATA%/featurejit/Cache on Windows)                    |
| FEATUREJIT_CACHE_MAX_MB   | 256     | size in MiB above which the least recently used entries of the |
|                           |         | disk cache are deleted                                         |

Nothing else in featurejit reads the environment.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

# Values of the settings that are not valid, each described with its fix. They are warned
# about at import and leave the setting at its default; the command line rejects them.
problems: list[str] = []

TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    word = value.strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    problems.append(f"{name}={value!r} is not a switch; set it to 1 or 0")
    return default


# Counts above this would not fit the int64 arithmetic of the runtime. Row settings may be
# that large on purpose: a huge FEATUREJIT_QUICK_ROWS runs every call on quick kernels.
MAX_COUNT = 2**62


def _count(name: str, default: int, minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    text = value.strip()
    # Only ASCII digits: int() would also take "1_000" and digits of other scripts.
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        problems.append(f"{name}={value!r} is not an integer; set it to a whole number of {minimum} or more")
        return default
    parsed = int(text)
    if parsed < minimum:
        problems.append(f"{name}={value!r} is below {minimum}; set it to a whole number of {minimum} or more")
        return default
    if parsed > maximum:
        problems.append(f"{name}={value!r} is above {maximum}; set it to a whole number from {minimum} to {maximum}")
        return default
    return parsed


def _cache_dir() -> Path:
    """Return FEATUREJIT_CACHE_DIR as an absolute path, fixed at import, or the platform's default."""
    value = os.environ.get("FEATUREJIT_CACHE_DIR")
    if not value:
        return default_cache_dir()
    if not value.strip():
        problems.append(f"FEATUREJIT_CACHE_DIR={value!r} is only spaces; set it to a folder, or unset it for the default")
        return default_cache_dir()
    return Path(value).expanduser().absolute()


def _optional_count(name: str, minimum: int) -> int | None:
    """Return the variable's whole number, or None if it is not set or not valid."""
    parsed = _count(name, -1, minimum)
    return None if parsed < minimum else parsed


# Threads of a batch call, and processes of a graph's interpreted stages: more than this is a
# typing mistake on any machine featurejit runs on.
MAX_THREADS = 1024


def available_cpus() -> int:
    """Return the number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_cache_dir() -> Path:
    """Return the per-user cache folder of the platform, with a featurejit subfolder."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "featurejit" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "featurejit"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "featurejit"


@dataclass
class Settings:
    """The process's settings; tests may change fields of `settings` directly."""

    disable_jit: bool
    verify_ir: bool
    threads: int
    morsel_rows: int
    parallel_min_us: int | None  # None: measured (see featurejit.runtime.parallel)
    quick_rows: int
    pool_rows: int
    cache_enabled: bool
    cache_dir: Path
    cache_max_bytes: int
    # False keeps quick kernels from being replaced by optimized ones, so that tests can run
    # the quick tier on purpose. No variable sets it.
    optimize_quick_kernels: bool = True
    # True fills the output buffers that a kernel must write whole with a byte pattern instead
    # of leaving them as they are, so that tests see any element a kernel leaves out. No
    # variable sets it.
    poison_kernel_outputs: bool = False


settings = Settings(
    disable_jit=_flag("FEATUREJIT_DISABLE_JIT", False),
    verify_ir=_flag("FEATUREJIT_VERIFY_IR", False),
    threads=_count("FEATUREJIT_THREADS", available_cpus(), maximum=MAX_THREADS),
    morsel_rows=_count("FEATUREJIT_MORSEL_ROWS", 65536),
    parallel_min_us=_optional_count("FEATUREJIT_PARALLEL_MIN_US", minimum=0),
    quick_rows=_count("FEATUREJIT_QUICK_ROWS", 1_000_000, minimum=0),
    pool_rows=_count("FEATUREJIT_POOL_ROWS", 100_000),
    cache_enabled=_flag("FEATUREJIT_CACHE", True),
    cache_dir=_cache_dir(),
    cache_max_bytes=_count("FEATUREJIT_CACHE_MAX_MB", 256, maximum=2**30) * 2**20,
)


def run_by_command_line() -> bool:
    """Return whether the featurejit command runs this process: its main() reports the problems as errors."""
    if not sys.argv or not sys.argv[0]:
        return False
    program = Path(sys.argv[0])
    return program.name == "featurejit" or program.resolve() == Path(__file__).resolve().parent / "cli.py"


def caller_stacklevel() -> int:
    """Return the `warnings.warn` stacklevel, seen from this module, of the first code outside featurejit.

    Settings are read when featurejit first needs them, so the warning names the user's line
    rather than a featurejit module. `warnings` does not count the import machinery's frames,
    so neither does this.
    """
    package = str(Path(__file__).resolve().parent)

    def is_import_machinery(name: str) -> bool:
        return "importlib" in name and "_bootstrap" in name

    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None:
        name = frame.f_code.co_filename
        if not (name.startswith(package) or is_import_machinery(name)):
            break
        frame = frame.f_back
        if not is_import_machinery(frame.f_code.co_filename):
            level += 1
    return level


if not run_by_command_line():
    for _problem in problems:
        warnings.warn(f"{_problem}; featurejit uses the default meanwhile", RuntimeWarning, stacklevel=caller_stacklevel())
