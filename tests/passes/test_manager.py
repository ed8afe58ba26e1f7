"""Tests of PassManager: pass order, printing the IR after passes, timing, verification and pass lookup."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import ArrayAttr, ModuleOp, StringAttr, i1
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from featurejit.ir import parse_module, print_module
from featurejit.ir.dialect import ConstantOp
from featurejit.passes import (
    PASSES,
    PassManager,
    PassPipelineError,
    PassVerificationError,
    UnknownPassError,
    describe_pass,
)

INPUT = """
func.func @f(%x: i64) -> i64 {
  %two = py.constant 2 : i64
  %three = py.constant 3 : i64
  %sum = py.add %two, %three : i64
  %unused = py.neg %sum : i64
  %r = py.mul %x, %sum : i64
  func.return %r : i64
}
"""


def append_to_trace(module: ModuleOp, name: str) -> None:
    """Append `name` to the module's `trace` attribute, so that the printed IR shows which passes ran."""
    trace = module.attributes.get("trace")
    names = list(trace.data) if isinstance(trace, ArrayAttr) else []
    module.attributes["trace"] = ArrayAttr([*names, StringAttr(name)])


@dataclass(frozen=True)
class TraceAPass(ModulePass):
    """Record "a" in the module's trace."""

    name = "trace-a"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        append_to_trace(op, "a")


@dataclass(frozen=True)
class TraceBPass(ModulePass):
    """Record "b" in the module's trace."""

    name = "trace-b"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        append_to_trace(op, "b")


@dataclass(frozen=True)
class RetypeConstantsPass(ModulePass):
    """A broken pass: it gives every i64 constant an i1 result, which fails verification."""

    name = "retype-constants"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for constant in list(op.walk()):
            if isinstance(constant, ConstantOp):
                Rewriter.replace_value_with_new_type(constant.result, i1)


TRACE_PASSES: dict[str, type[ModulePass]] = {"trace-a": TraceAPass, "trace-b": TraceBPass}


def dump_headers(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("// -----// IR Dump After")]


def test_runs_passes_in_order() -> None:
    module = parse_module(INPUT)

    report = PassManager(["trace-b", "trace-a", "trace-b"], registry=TRACE_PASSES).run(module)

    assert module.attributes["trace"] == ArrayAttr([StringAttr("b"), StringAttr("a"), StringAttr("b")])
    assert [timing.name for timing in report.timings] == ["trace-b", "trace-a", "trace-b"]
    assert report.module is module


def test_empty_pipeline_leaves_module_unchanged() -> None:
    module = parse_module(INPUT)
    before = print_module(module)

    report = PassManager([]).run(module)

    assert print_module(module) == before
    assert report.timings == []


def test_prints_nothing_without_options() -> None:
    stream = io.StringIO()

    PassManager(["fold-constants", "dce"], stream=stream).run(parse_module(INPUT))

    assert stream.getvalue() == ""


def test_print_after_all_shows_each_pass() -> None:
    stream = io.StringIO()
    module = parse_module(INPUT)

    PassManager(["fold-constants", "cse", "dce"], print_after_all=True, stream=stream).run(module)

    output = stream.getvalue()
    assert dump_headers(output) == [
        "// -----// IR Dump After FoldConstantsPass (fold-constants) //----- //",
        "// -----// IR Dump After CommonSubexpressionPass (cse) //----- //",
        "// -----// IR Dump After DeadCodePass (dce) //----- //",
    ]
    after_fold, after_cse, after_dce = output.split("// -----// IR Dump After")[1:]
    # Folding leaves the unused constants, which dce removes.
    assert "%sum = py.constant 5 : i64" in after_fold
    assert "%two = py.constant 2 : i64" in after_fold
    assert "%two" in after_cse
    assert "%two" not in after_dce
    # The last dump is the final module, and each dump is followed by a blank line.
    assert after_dce.endswith(print_module(module) + "\n")


def test_print_after_all_dumps_read_back() -> None:
    stream = io.StringIO()

    PassManager(["fold-constants", "dce"], print_after_all=True, stream=stream).run(parse_module(INPUT))

    for dump in re.split(r"^// -----// IR Dump After .*$", stream.getvalue(), flags=re.MULTILINE)[1:]:
        parse_module(dump)


def test_print_after_named_pass_only() -> None:
    stream = io.StringIO()

    PassManager(["fold-constants", "cse", "dce"], print_after={"cse"}, stream=stream).run(parse_module(INPUT))

    assert dump_headers(stream.getvalue()) == [
        "// -----// IR Dump After CommonSubexpressionPass (cse) //----- //"
    ]


def test_print_after_pass_that_runs_twice() -> None:
    stream = io.StringIO()

    PassManager(
        ["trace-a", "trace-b", "trace-a"], print_after={"trace-a"}, stream=stream, registry=TRACE_PASSES
    ).run(parse_module(INPUT))

    output = stream.getvalue()
    assert dump_headers(output) == ["// -----// IR Dump After TraceAPass (trace-a) //----- //"] * 2
    assert 'trace = ["a"]' in output
    assert 'trace = ["a", "b", "a"]' in output


def test_writes_to_stderr_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    PassManager(["dce"], print_after_all=True, time_passes=True).run(parse_module(INPUT))

    captured = capsys.readouterr()
    assert captured.out == ""
    assert "IR Dump After DeadCodePass (dce)" in captured.err
    assert "Pass execution time report" in captured.err


def test_time_passes_writes_table() -> None:
    stream = io.StringIO()

    report = PassManager(["fold-constants", "cse", "dce"], time_passes=True, stream=stream).run(
        parse_module(INPUT)
    )

    lines = stream.getvalue().splitlines()
    assert "... Pass execution time report ..." in lines[1]
    assert lines[3] == f"  Total Execution Time: {report.total_seconds:.4f} seconds"
    assert lines[5] == "  ----Wall Time----  ----Name----"
    rows = [re.fullmatch(r"  +(\d+\.\d{4}) \( *(\d+\.\d)%\)  (\S+)", line) for line in lines[6:]]
    assert all(rows), lines[6:]
    assert [row.group(3) for row in rows if row] == ["fold-constants", "cse", "dce", "verifier", "Total"]
    total_row = rows[-1]
    assert total_row is not None
    assert total_row.group(2) == "100.0"


def test_report_times_each_pass() -> None:
    report = PassManager(["fold-constants", "dce"]).run(parse_module(INPUT))

    assert [timing.name for timing in report.timings] == ["fold-constants", "dce"]
    assert all(timing.seconds > 0 for timing in report.timings)
    assert all(timing.verify_seconds > 0 for timing in report.timings)
    assert report.total_seconds == pytest.approx(
        sum(timing.seconds + timing.verify_seconds for timing in report.timings) + report.input_verify_seconds
    )


def test_time_table_without_verification_has_no_verifier_row() -> None:
    stream = io.StringIO()

    report = PassManager(["dce"], verify=False, time_passes=True, stream=stream).run(parse_module(INPUT))

    assert report.verify_seconds == 0
    assert "verifier" not in stream.getvalue()
    assert stream.getvalue().splitlines()[-1].endswith("(100.0%)  Total")


def test_verification_failure_names_the_pass() -> None:
    registry: dict[str, type[ModulePass]] = {**PASSES, RetypeConstantsPass.name: RetypeConstantsPass}

    with pytest.raises(
        PassVerificationError, match="does not verify after pass 'retype-constants'"
    ) as caught:
        PassManager(["cse", "retype-constants", "dce"], registry=registry).run(parse_module(INPUT))

    assert caught.value.pass_name == "retype-constants"


def test_broken_ir_printed_in_generic_form() -> None:
    registry: dict[str, type[ModulePass]] = {**PASSES, RetypeConstantsPass.name: RetypeConstantsPass}
    stream = io.StringIO()
    manager = PassManager(["retype-constants", "dce"], print_after_all=True, stream=stream, registry=registry)

    with pytest.raises(PassVerificationError):
        manager.run(parse_module(INPUT))

    # The generic form shows the i1 result, which the custom form of py.constant hides.
    output = stream.getvalue()
    assert dump_headers(output) == [
        "// -----// IR Dump After RetypeConstantsPass Failed (retype-constants) //----- //"
    ]
    assert '%two = "py.constant"() <{value = 2 : i64}> : () -> i1' in output


def test_invalid_input_fails_before_first_pass() -> None:
    module = parse_module(INPUT)
    RetypeConstantsPass().apply(Context(), module)

    with pytest.raises(PassVerificationError, match="does not verify before the first pass") as caught:
        PassManager(["fold-constants"]).run(module)

    assert caught.value.pass_name is None


def test_without_verification_broken_ir_passes_through() -> None:
    registry: dict[str, type[ModulePass]] = {**PASSES, RetypeConstantsPass.name: RetypeConstantsPass}
    module = parse_module(INPUT)

    PassManager(["retype-constants"], verify=False, registry=registry).run(module)

    constant = next(op for op in module.walk() if isinstance(op, ConstantOp))
    assert constant.result.type == i1


def test_unknown_pass_lists_known_names() -> None:
    with pytest.raises(
        UnknownPassError, match=f"unknown pass 'canonicalize', expected one of: {', '.join(PASSES)}$"
    ):
        PassManager(["cse", "canonicalize"])


def test_unknown_print_after_pass() -> None:
    with pytest.raises(UnknownPassError, match="unknown pass 'cse2', expected one of: "):
        PassManager(["cse"], print_after={"cse2"})


def test_print_after_pass_not_in_pipeline() -> None:
    with pytest.raises(
        PassPipelineError,
        match="cannot print the IR after pass 'dce', because the pipeline does not run it; the pipeline is: cse$",
    ):
        PassManager(["cse"], print_after={"dce"})


def test_pipeline_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        PassManager(["no-such-pass"])


@pytest.mark.parametrize("name", list(PASSES))
def test_every_pass_has_one_line_description(name: str) -> None:
    description = describe_pass(PASSES[name])

    assert description
    assert "\n" not in description
    assert description.endswith(".")
