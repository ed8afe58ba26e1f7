"""Settings shared by every test."""

from __future__ import annotations

import os

import pytest

from featurejit.settings import settings

# Tests compile every kernel, as their checks of compile stages expect, and write nothing to
# the user's cache folder. Tests of the disk cache turn it on with a folder of their own.
# Child processes inherit the variable.
os.environ["FEATUREJIT_CACHE"] = "0"
settings.cache_enabled = False

# Every compile verifies the IR before the first pass and after each pass, so a pass that
# breaks the IR is reported by name instead of failing later in code generation.
os.environ["FEATUREJIT_VERIFY_IR"] = "1"
settings.verify_ir = True

# Output buffers that kernels must write whole start as a byte pattern instead of zeros, so a
# result that shows the pattern is an element or bitmap word that a kernel did not write.
settings.poison_kernel_outputs = True

# Calls compile the optimized kernel at once, so that every test runs the code that large
# inputs run, and stage checks see one compile. `pytest --kernel-tier=quick` runs the tests
# on quick kernels instead, which never switch to the optimized tier. CI runs both.
os.environ["FEATUREJIT_QUICK_ROWS"] = "0"
settings.quick_rows = 0


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kernel-tier",
        choices=("optimized", "quick"),
        default="optimized",
        help="the tier of batch kernels that calls compile: optimized (default) or quick",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--kernel-tier") == "quick":
        os.environ["FEATUREJIT_QUICK_ROWS"] = str(2**62)
        settings.quick_rows = 2**62
        settings.optimize_quick_kernels = False
