"""The `check_pass` fixture: run one pass on IR text and match the output with FileCheck.

The checks use the syntax of LLVM FileCheck (`CHECK:`, `CHECK-NEXT:`, `CHECK-NOT:`...), as
implemented by the `filecheck` package, which runs as a subprocess on the printed output.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from featurejit.ir import parse_module, print_module
from featurejit.passes import run_pipeline

CheckPass = Callable[[str, str, str], None]


@pytest.fixture
def check_pass(tmp_path: Path) -> CheckPass:
    """Return a function that runs pass `pass_name` on `input_ir` and checks the output with FileCheck."""

    def check(pass_name: str, input_ir: str, checks: str) -> None:
        module = parse_module(textwrap.dedent(input_ir))
        run_pipeline(module, [pass_name])
        output = print_module(module)
        # The printed IR must read back, or later stages could not consume a dump of it.
        parse_module(output)

        check_file = tmp_path / "checks"
        check_file.write_text(textwrap.dedent(checks))
        completed = subprocess.run(
            [sys.executable, "-m", "filecheck", str(check_file)],
            input=output,
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, (
            f"FileCheck rejected the output of {pass_name}:\n{completed.stderr}\nOutput:\n{output}"
        )

    return check
