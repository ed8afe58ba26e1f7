"""The pass manager: runs a named pipeline, and verifies, prints and times the IR between passes.

It offers the debugging options of MLIR's pass manager under shorter names: `verify` is
`-verify-each`, `print_after_all` and `print_after` are `-mlir-print-ir-after-all` and
`-mlir-print-ir-after`, and `time_passes` is `-mlir-timing`. Printed IR and the timing report
go to one text stream, standard error by default, as in `mlir-opt`.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from featurejit.ir.context import make_context, print_module

logger = logging.getLogger("featurejit")

RULE = "===" + "-" * 73 + "==="


class PassPipelineError(ValueError):
    """A pipeline or a print option names a pass that does not exist or that the pipeline does not run."""


class UnknownPassError(PassPipelineError):
    """A pass name that is not registered."""


class PassVerificationError(Exception):
    """An internal compiler error: the IR does not verify after a pass, or before the first one."""

    def __init__(self, message: str, pass_name: str | None):
        super().__init__(message)
        self.pass_name = pass_name


def registered_passes() -> Mapping[str, type[ModulePass]]:
    """Return the passes known by name, as `featurejit.passes.PASSES` lists them."""
    # Imported here because featurejit.passes imports this module to define run_pipeline.
    from featurejit.passes import PASSES

    return PASSES


def describe_pass(pass_class: type[ModulePass]) -> str:
    """Return the first line of the pass class's docstring, its one-line description."""
    lines = (pass_class.__doc__ or "").strip().splitlines()
    return lines[0] if lines else ""


def timed_verification(module: ModuleOp) -> tuple[VerifyException | None, float]:
    """Verify `module`, and return the error if it is invalid and the seconds the check took."""
    start = time.perf_counter()
    try:
        module.verify()
    except VerifyException as error:
        return error, time.perf_counter() - start
    return None, time.perf_counter() - start


def check_pass_names(names: Collection[str], known: Collection[str]) -> None:
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UnknownPassError(f"unknown pass {unknown[0]!r}, expected one of: {', '.join(known)}")


@dataclass(frozen=True)
class PassTiming:
    """The wall time of one pass run, and of the verification after it, in seconds."""

    name: str
    seconds: float
    verify_seconds: float


@dataclass
class PassReport:
    """The module a pipeline rewrote, and the time each pass took, in pipeline order."""

    module: ModuleOp
    timings: list[PassTiming]
    # Verification of the input, before the first pass, which belongs to no pass.
    input_verify_seconds: float = 0.0

    @property
    def verify_seconds(self) -> float:
        return self.input_verify_seconds + sum(timing.verify_seconds for timing in self.timings)

    @property
    def total_seconds(self) -> float:
        return self.verify_seconds + sum(timing.seconds for timing in self.timings)

    def format_timings(self) -> str:
        """Format the times as a table in the layout of `mlir-opt -mlir-timing`.

        Each pass run has a row, in pipeline order, so a pass that runs twice has two rows.
        The time of all verification is one `verifier` row.
        """
        total = self.total_seconds
        rows = [(timing.seconds, timing.name) for timing in self.timings]
        if self.verify_seconds:
            rows.append((self.verify_seconds, "verifier"))
        rows.append((total, "Total"))

        lines = [
            RULE,
            "... Pass execution time report ...".center(len(RULE)).rstrip(),
            RULE,
            f"  Total Execution Time: {total:.4f} seconds",
            "",
            "  ----Wall Time----  ----Name----",
        ]
        for seconds, name in rows:
            share = 100 * seconds / total if total else 0.0
            lines.append(f"  {seconds:8.4f} ({share:5.1f}%)  {name}")
        return "\n".join(lines) + "\n"


@dataclass
class PassManager:
    """Run the named passes in order on a module, rewriting it in place.

    `verify` checks the IR before the first pass and after each pass, and raises
    PassVerificationError naming the pass whose output does not verify. `print_after_all` and
    `print_after` write the IR after every pass, or after the named ones, to `stream`, each
    under a header line. `time_passes` writes a table of pass times to `stream` after the last
    pass. The returned PassReport has the times whatever the options.

    Without `verify`, the dumps cannot tell that a pass broke the IR, so they print it in the
    custom form, which may hide the fault.

    A pass name that is not registered raises UnknownPassError listing the known names. A
    `print_after` name that the pipeline does not run raises PassPipelineError.
    """

    passes: Sequence[str]
    verify: bool = True
    print_after_all: bool = False
    print_after: Collection[str] = frozenset()
    time_passes: bool = False
    stream: IO[str] | None = None
    registry: Mapping[str, type[ModulePass]] = field(default_factory=registered_passes)

    def __post_init__(self) -> None:
        self.passes = tuple(self.passes)
        self.print_after = frozenset(self.print_after)
        check_pass_names(self.passes, self.registry)
        check_pass_names(sorted(self.print_after), self.registry)
        not_run = sorted(self.print_after - set(self.passes))
        if not_run:
            raise PassPipelineError(
                f"cannot print the IR after pass {not_run[0]!r}, because the pipeline does not run it; "
                f"the pipeline is: {', '.join(self.passes) or 'empty'}"
            )

    def run(self, module: ModuleOp) -> PassReport:
        """Run the pipeline on `module` and return the report of its times."""
        context = make_context()
        report = PassReport(module, [])
        if self.verify:
            error, report.input_verify_seconds = timed_verification(module)
            if error is not None:
                raise PassVerificationError(
                    f"internal compiler error: the IR does not verify before the first pass: {error}", None
                ) from error

        for name in self.passes:
            pass_class = self.registry[name]
            start = time.perf_counter()
            pass_class().apply(context, module)
            seconds = time.perf_counter() - start
            logger.debug("ran pass %s in %.3f ms", name, seconds * 1000)

            error, verify_seconds = timed_verification(module) if self.verify else (None, 0.0)
            report.timings.append(PassTiming(name, seconds, verify_seconds))
            # The dump comes before the error, so that it shows what a broken pass produced.
            if self.print_after_all or name in self.print_after:
                self.write_dump(module, pass_class, failed=error is not None)
            if error is not None:
                raise PassVerificationError(
                    f"internal compiler error: the IR does not verify after pass {name!r}: {error}", name
                ) from error

        if self.time_passes:
            self.write(report.format_timings())
        return report

    def write_dump(self, module: ModuleOp, pass_class: type[ModulePass], failed: bool) -> None:
        """Write the IR after a pass under MLIR's header line, marked "Failed" if the IR does not verify.

        IR that failed verification is printed in the generic form, as MLIR prints it, because
        the custom form can hide the fault: `py.constant` prints the type of its value, not of
        its result.
        """
        status = " Failed" if failed else ""
        self.write(f"// -----// IR Dump After {pass_class.__name__}{status} ({pass_class.name}) //----- //\n")
        if failed:
            text = io.StringIO()
            Printer(stream=text, print_generic_format=True).print_op(module)
            self.write(text.getvalue() + "\n\n")
        else:
            self.write(print_module(module) + "\n")

    def write(self, text: str) -> None:
        stream = self.stream if self.stream is not None else sys.stderr
        stream.write(text)
        stream.flush()
