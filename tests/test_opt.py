"""Tests of `featurejit opt` and of the pass options of `featurejit dump`, through main()."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, i1
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from featurejit import passes
from featurejit.cli import main
from featurejit.ir import parse_module, print_module
from featurejit.ir.dialect import ConstantOp
from featurejit.passes import DEFAULT_PIPELINE, PASSES, describe_pass
from featurejit.settings import settings

INPUT_IR = """\
func.func @f(%x: i64) -> (i64, i64) {
  %two = py.constant 2 : i64
  %three = py.constant 3 : i64
  %sum = py.add %two, %three : i64
  %a = py.mul %x, %sum : i64
  %b = py.mul %x, %sum : i64
  %dead = py.neg %sum : i64
  func.return %a, %b : i64, i64
}
"""

OPTIMIZED_IR = """\
builtin.module {
  func.func @f(%x: i64) -> (i64, i64) {
    %sum = py.constant 5 : i64
    %a = py.mul %x, %sum : i64
    func.return %a, %a : i64, i64
  }
}
"""

RESOLVER_SOURCE = """\
from featurejit import jit_resolver


@jit_resolver
def scaled(x: int, y: float | None) -> float:
    if y is None:
        return 0.0
    return x * (2 * 3) + y
"""


@dataclass(frozen=True)
class RetypeConstantsPass(ModulePass):
    """A broken pass: it gives every i64 constant an i1 result, which fails verification."""

    name = "retype-constants"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for constant in list(op.walk()):
            if isinstance(constant, ConstantOp):
                Rewriter.replace_value_with_new_type(constant.result, i1)


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected a one-line error, but got:\n{err}"
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} missing from {lines[0]!r}"


def dump_headers(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("// -----// IR Dump After")]


def header_for(name: str) -> str:
    return f"// -----// IR Dump After {PASSES[name].__name__} ({name}) //----- //"


@pytest.fixture
def ir_file(tmp_path: Path) -> Path:
    path = tmp_path / "input.mlir"
    path.write_text(INPUT_IR)
    return path


@pytest.fixture
def resolver_file(tmp_path: Path) -> Path:
    path = tmp_path / "scaled.py"
    path.write_text(RESOLVER_SOURCE)
    return path


@pytest.fixture
def broken_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PASSES, RetypeConstantsPass.name, RetypeConstantsPass)


# --------------------------------------------------------------------------------------
# opt
# --------------------------------------------------------------------------------------


def test_opt_runs_passes(capsys: pytest.CaptureFixture[str], ir_file: Path) -> None:
    code, out, err = run_main(capsys, "opt", str(ir_file), "-p", "fold-constants,cse,dce")

    assert code == 0, err
    assert out == OPTIMIZED_IR
    assert err == ""


def test_opt_runs_passes_in_given_order(capsys: pytest.CaptureFixture[str], ir_file: Path) -> None:
    # dce before folding removes nothing: the unused i64 negation may overflow until folding
    # turns it into a constant.
    code, out, _ = run_main(capsys, "opt", str(ir_file), "-p", "dce,fold-constants")

    assert code == 0
    assert "%dead = py.constant -5 : i64" in out


def test_opt_without_passes_prints_input(capsys: pytest.CaptureFixture[str], ir_file: Path) -> None:
    code, out, _ = run_main(capsys, "opt", str(ir_file))

    assert code == 0
    assert out == print_module(parse_module(INPUT_IR))


def test_opt_reads_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(INPUT_IR))

    code, out, _ = run_main(capsys, "opt", "-", "-p", "fold-constants,cse,dce")

    assert code == 0
    assert out == OPTIMIZED_IR


def test_opt_output_reads_back(capsys: pytest.CaptureFixture[str], ir_file: Path, tmp_path: Path) -> None:
    code, out, _ = run_main(capsys, "opt", str(ir_file), "-p", ",".join(DEFAULT_PIPELINE))
    assert code == 0
    again = tmp_path / "again.mlir"
    again.write_text(out)

    code, out_again, _ = run_main(capsys, "opt", str(again), "-p", ",".join(DEFAULT_PIPELINE))

    assert code == 0
    assert out_again == out


def test_opt_print_after_all(capsys: pytest.CaptureFixture[str], ir_file: Path) -> None:
    code, out, err = run_main(
        capsys, "opt", str(ir_file), "-p", "fold-constants,cse,dce", "--print-after-all"
    )

    assert code == 0
    assert out == OPTIMIZED_IR
    assert dump_headers(err) == [header_for("fold-constants"), header_for("cse"), header_for("dce")]
    # The dump after the last pass is the output.
    assert err.endswith(header_for("dce") + "\n" + OPTIMIZED_IR + "\n")


def test_opt_print_after_named_passes(capsys: pytest.CaptureFixture[str], ir_file: Path) -> None:
    code, _, err = run_main(
        capsys,
        "opt",
        str(ir_file),
        "-p",
        "fold-constants,cse,dce",
        "--print-after",
        "cse",
        "--print-after",
        "dce",
    )

    assert code == 0
    assert dump_headers(err) == [header_for("cse"), header_for("dce")]
    after_cse = err.split(header_for("cse"))[1].split(header_for("dce"))[0]
    assert "%dead = py.constant -5 : i64" in after_cse
    assert "%b = " not in after_cse


def test_opt_print_after_comma_separated(capsys: pytest.CaptureFixture[str], ir_file: Path) -> None:
    code, _, err = run_main(
        capsys, "opt", str(ir_file), "-p", "fold-constants,cse,dce", "--print-after", "dce,cse"
    )

    assert code == 0
    assert dump_headers(err) == [header_for("cse"), header_for("dce")]


def test_opt_time_passes(
    capsys: pytest.CaptureFixture[str], ir_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "verify_ir", False)

    code, out, err = run_main(capsys, "opt", str(ir_file), "-p", "fold-constants,cse,dce", "--time-passes")

    assert code == 0
    assert out == OPTIMIZED_IR
    assert "... Pass execution time report ..." in err
    assert re.search(r"Total Execution Time: \d+\.\d{4} seconds", err)
    names = re.findall(r"^ +\d+\.\d{4} \( *\d+\.\d%\)  (\S+)$", err, flags=re.MULTILINE)
    assert names == ["fold-constants", "cse", "dce", "Total"]


def test_opt_time_passes_with_verify_each(capsys: pytest.CaptureFixture[str], ir_file: Path) -> None:
    code, _, err = run_main(capsys, "opt", str(ir_file), "-p", "cse", "--time-passes", "--verify-each")

    assert code == 0
    names = re.findall(r"^ +\d+\.\d{4} \( *\d+\.\d%\)  (\S+)$", err, flags=re.MULTILINE)
    assert names == ["cse", "verifier", "Total"]


def test_opt_list_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "opt", "--list-passes")

    assert code == 0
    lines = out.splitlines()
    for line, (name, pass_class) in zip(lines, PASSES.items(), strict=False):
        assert line.split(None, 1) == [name, describe_pass(pass_class)]
    assert lines[-1] == f"default pipeline: -p {','.join(DEFAULT_PIPELINE)}"


def test_opt_verify_each_names_broken_pass(
    capsys: pytest.CaptureFixture[str], ir_file: Path, broken_pass: None
) -> None:
    code, out, err = run_main(capsys, "opt", str(ir_file), "-p", "cse,retype-constants,dce", "--verify-each")

    assert code == 1
    assert out == ""
    assert_one_line_error(err, "does not verify after pass 'retype-constants'")


def test_opt_verify_setting_names_broken_pass(
    capsys: pytest.CaptureFixture[str], ir_file: Path, broken_pass: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "verify_ir", True)

    code, _, err = run_main(capsys, "opt", str(ir_file), "-p", "retype-constants")

    assert code == 1
    assert_one_line_error(err, "does not verify after pass 'retype-constants'")


def test_opt_broken_pass_unverified(
    capsys: pytest.CaptureFixture[str], ir_file: Path, broken_pass: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "verify_ir", False)

    code, out, _ = run_main(capsys, "opt", str(ir_file), "-p", "retype-constants")

    # Without verification the pass's output is printed as it is, as by mlir-opt -verify-each=false.
    assert code == 0
    assert "builtin.module" in out


def test_opt_broken_pass_dump_in_generic_form(
    capsys: pytest.CaptureFixture[str], ir_file: Path, broken_pass: None
) -> None:
    code, _, err = run_main(
        capsys, "opt", str(ir_file), "-p", "retype-constants", "--verify-each", "--print-after-all"
    )

    assert code == 1
    assert "// -----// IR Dump After RetypeConstantsPass Failed (retype-constants) //----- //" in err
    assert '%two = "py.constant"() <{value = 2 : i64}> : () -> i1' in err
    assert err.splitlines()[-1].startswith(
        "error: internal compiler error: the IR does not verify after pass"
    )


# --------------------------------------------------------------------------------------
# opt with bad input
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, location, message",
    [
        (
            "func.func @f(%x: i64) -> i64 {\n  %a = py.bogus %x : i64\n  func.return %a : i64\n}\n",
            ":2:8",
            "Operation py.bogus is not registered",
        ),
        ("garbage\n", ":1:1", "Operation garbage is not registered"),
        (
            "func.func @f(%x: i64) -> i64 {\n  func.return %y : i64\n}\n",
            ":2:15",
            "values used but not defined: [%y]",
        ),
        (
            "func.func @f(%x: i64) -> i64 {\n  %a = py.add %x, %x : f64\n  func.return %x : i64\n}\n",
            ":2:",
            "operand is used with type f64",
        ),
        ("func.func @f(%x: i64) -> i64 {\n", ":", "invalid IR: "),
        ("%a = py.constant 1 : i64\n%a = py.constant 2 : i64\n", ":2:1", "SSA value %a is already defined"),
    ],
    ids=["unknown_op", "unknown_op_alone", "undefined_value", "type_mismatch", "unclosed_region", "redefined_value"],
)
def test_opt_invalid_ir_syntax(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, location: str, message: str
) -> None:
    path = tmp_path / "bad.mlir"
    path.write_text(text)

    code, out, err = run_main(capsys, "opt", str(path), "-p", "cse")

    assert code == 2
    assert out == ""
    assert_one_line_error(err, f"{path}{location}", message)


def test_opt_ir_that_fails_verification(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.mlir"
    path.write_text("func.func @f(%x: i64) -> i1 {\n  func.return %x : i64\n}\n")

    code, _, err = run_main(capsys, "opt", str(path))

    assert code == 2
    assert_one_line_error(err, f"{path}: invalid IR: ", "expected [i1], got [i64]")


def test_opt_op_verifier_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.mlir"
    path.write_text(
        textwrap.dedent(
            """\
            func.func @f(%x: i64) -> i1 {
              %r = py.cmp "lt2", %x, %x : i64, i64
              func.return %r : i1
            }
            """
        )
    )

    code, _, err = run_main(capsys, "opt", str(path))

    assert code == 2
    assert_one_line_error(err, "expected a py.cmp predicate among eq, ne, lt, le, gt, ge, but got 'lt2'")


def test_opt_invalid_ir_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("py.bogus\n"))

    code, _, err = run_main(capsys, "opt", "-")

    assert code == 2
    assert_one_line_error(err, "<stdin>:", "Operation py.bogus is not registered")


def test_opt_unknown_pass(capsys: pytest.CaptureFixture[str], ir_file: Path) -> None:
    code, out, err = run_main(capsys, "opt", str(ir_file), "-p", "cse,canonicalize")

    assert code == 2
    assert out == ""
    assert_one_line_error(
        err, "unknown pass 'canonicalize'", f"expected one of: {', '.join(PASSES)}", "--list-passes"
    )


def test_opt_unknown_pass_before_reading_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = io.StringIO(INPUT_IR)
    monkeypatch.setattr(sys, "stdin", stdin)

    code, _, err = run_main(capsys, "opt", "-", "-p", "canonicalize")

    assert code == 2
    assert_one_line_error(err, "unknown pass 'canonicalize'")
    assert stdin.tell() == 0


def test_opt_unknown_print_after_pass(capsys: pytest.CaptureFixture[str], ir_file: Path) -> None:
    code, _, err = run_main(capsys, "opt", str(ir_file), "-p", "cse", "--print-after", "cse2")

    assert code == 2
    assert_one_line_error(err, "unknown pass 'cse2'")


def test_opt_print_after_pass_not_run(capsys: pytest.CaptureFixture[str], ir_file: Path) -> None:
    code, _, err = run_main(capsys, "opt", str(ir_file), "-p", "cse", "--print-after", "dce")

    assert code == 2
    assert_one_line_error(err, "cannot print the IR after pass 'dce'", "the pipeline is: cse")


@pytest.mark.parametrize("passes", ["cse,", ",cse", "cse,,dce"])
def test_opt_empty_pass_name(capsys: pytest.CaptureFixture[str], ir_file: Path, passes: str) -> None:
    code, _, err = run_main(capsys, "opt", str(ir_file), "-p", passes)

    assert code == 2
    assert_one_line_error(err, "contains an empty pass name")


def test_opt_without_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "opt", "-p", "cse")

    assert code == 2
    assert_one_line_error(err, "opt needs an IR file, or - to read stdin")


def test_opt_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_main(capsys, "opt", str(tmp_path / "missing.mlir"))

    assert code == 2
    assert_one_line_error(err, "missing.mlir not found")


def test_opt_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_main(capsys, "opt", str(tmp_path))

    assert code == 2
    assert_one_line_error(err, "is a folder")


def test_opt_empty_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "empty.mlir"
    path.write_text("  \n")

    code, _, err = run_main(capsys, "opt", str(path))

    assert code == 2
    assert_one_line_error(err, "empty.mlir is empty")


def test_opt_binary_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "binary.mlir"
    path.write_bytes(b"\xff\xfe\x00func")

    code, _, err = run_main(capsys, "opt", str(path))

    assert code == 2
    assert_one_line_error(err, "binary.mlir is not UTF-8 text")


def test_opt_console_script_reads_pipe(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "featurejit.cli", "opt", "-", "-p", "fold-constants,cse,dce"],
        input=INPUT_IR,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == OPTIMIZED_IR


# --------------------------------------------------------------------------------------
# dump with pass options
# --------------------------------------------------------------------------------------


def test_dump_print_after_all(capsys: pytest.CaptureFixture[str], resolver_file: Path) -> None:
    code, out, err = run_main(
        capsys, "dump", f"{resolver_file}:scaled", "--stage", "optimized", "--print-after-all"
    )

    assert code == 0, err
    assert dump_headers(err) == [header_for(name) for name in DEFAULT_PIPELINE]
    # The stage printed is the IR after the last pass, under the same function name.
    assert err.endswith(header_for(DEFAULT_PIPELINE[-1]) + "\n" + out + "\n")


def test_dump_print_after_fold(capsys: pytest.CaptureFixture[str], resolver_file: Path) -> None:
    code, out, err = run_main(capsys, "dump", f"{resolver_file}:scaled", "--print-after", "fold-constants")

    assert code == 0, err
    assert dump_headers(err) == [header_for("fold-constants")]
    assert "py.constant 6 : i64" in err
    # The default stage is the IR before any pass, where 2 * 3 is not folded yet.
    assert "py.constant 6 : i64" not in out
    assert "py.mul" in out


def test_dump_stage_ir_matches_dumped_function(
    capsys: pytest.CaptureFixture[str], resolver_file: Path
) -> None:
    code, out, err = run_main(capsys, "dump", f"{resolver_file}:scaled", "--print-after", "dce")

    assert code == 0
    symbol = re.search(r"func\.func @(\w+)", out)
    assert symbol is not None
    assert f"func.func @{symbol.group(1)}(" in err


def test_dump_pass_options_match_compiled_ir(capsys: pytest.CaptureFixture[str], resolver_file: Path) -> None:
    # The dumps run the default pipeline themselves, which must give the IR the compiler produced.
    code, compiled, _ = run_main(capsys, "dump", f"{resolver_file}:scaled", "--stage", "optimized")
    assert code == 0
    code, dumped, _ = run_main(
        capsys, "dump", f"{resolver_file}:scaled", "--stage", "optimized", "--time-passes"
    )
    assert code == 0

    assert re.sub(r"@fj_\w+", "@F", dumped) == re.sub(r"@fj_\w+", "@F", compiled)


def test_dump_time_passes(capsys: pytest.CaptureFixture[str], resolver_file: Path) -> None:
    code, out, err = run_main(capsys, "dump", f"{resolver_file}:scaled", "--stage", "llvm", "--time-passes")

    assert code == 0, err
    assert "define" in out
    names = re.findall(r"^ +\d+\.\d{4} \( *\d+\.\d%\)  (\S+)$", err, flags=re.MULTILINE)
    assert names == [*DEFAULT_PIPELINE, "verifier", "Total"]
    assert dump_headers(err) == []


def test_dump_asm_with_print_after(capsys: pytest.CaptureFixture[str], resolver_file: Path) -> None:
    code, out, err = run_main(
        capsys, "dump", f"{resolver_file}:scaled", "--stage", "asm", "--print-after", "cse"
    )

    assert code == 0, err
    assert "ret" in out
    assert dump_headers(err) == [header_for("cse")]


def test_dump_unknown_print_after_pass(capsys: pytest.CaptureFixture[str], resolver_file: Path) -> None:
    code, out, err = run_main(capsys, "dump", f"{resolver_file}:scaled", "--print-after", "canonicalize")

    assert code == 2
    assert out == ""
    assert_one_line_error(err, "unknown pass 'canonicalize'", f"expected one of: {', '.join(PASSES)}")


def test_dump_broken_pass_exits_with_one(
    capsys: pytest.CaptureFixture[str],
    resolver_file: Path,
    broken_pass: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(passes, "DEFAULT_PIPELINE", ("fold-constants", "retype-constants"))

    code, out, err = run_main(capsys, "dump", f"{resolver_file}:scaled", "--print-after", "retype-constants")

    assert code == 1
    assert out == ""
    assert "// -----// IR Dump After RetypeConstantsPass Failed (retype-constants) //----- //" in err
    assert err.splitlines()[-1].startswith(
        "error: internal compiler error: the IR does not verify after pass"
    )


def test_dump_interpreted_resolver_with_pass_options(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "looping.py"
    path.write_text(
        "from featurejit import jit_resolver\n\n@jit_resolver\ndef total(n: int) -> int:\n"
        "    result = 0\n    while n > 0:\n        n -= 1\n        result += n\n    return result\n"
    )

    code, _, err = run_main(capsys, "dump", f"{path}:total", "--print-after-all")

    assert code == 2
    assert "total runs in the interpreter, so it has no compiled code" in err
    assert err.count("while loops are not compiled yet") == 1, "the reason is printed once, not also as a warning"
    assert "Traceback" not in err
