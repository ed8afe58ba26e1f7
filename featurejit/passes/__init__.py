"""IR passes over resolver IR, the registry of their names, and the default pipeline."""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from featurejit.passes.cse import CommonSubexpressionPass
from featurejit.passes.dce import DeadCodePass
from featurejit.passes.fold_constants import FoldConstantsPass
from featurejit.passes.hoist import HoistPass
from featurejit.passes.if_conversion import IfConversionPass
from featurejit.passes.manager import (
    PassManager,
    PassPipelineError,
    PassReport,
    PassTiming,
    PassVerificationError,
    UnknownPassError,
    describe_pass,
)

__all__ = [
    "DEFAULT_PIPELINE",
    "PASSES",
    "CommonSubexpressionPass",
    "DeadCodePass",
    "FoldConstantsPass",
    "HoistPass",
    "IfConversionPass",
    "PassManager",
    "PassPipelineError",
    "PassReport",
    "PassTiming",
    "PassVerificationError",
    "UnknownPassError",
    "describe_pass",
    "run_pipeline",
]

PASSES: dict[str, type[ModulePass]] = {
    pass_class.name: pass_class
    for pass_class in (FoldConstantsPass, IfConversionPass, HoistPass, CommonSubexpressionPass, DeadCodePass)
}

DEFAULT_PIPELINE: tuple[str, ...] = (
    "fold-constants",
    # After folding, which removes branches on constant conditions.
    "if-conversion",
    # Before CSE: an op that every row runs then comes before the branches that repeat it.
    "hoist",
    # Folding can make two ops identical, and if-conversion puts former branches side by side.
    "cse",
    # Last, to remove the operands that folding leaves unused.
    "dce",
)


def run_pipeline(
    module: ModuleOp, passes: Sequence[str] = DEFAULT_PIPELINE, *, verify: bool = True
) -> ModuleOp:
    """Run the named passes on `module` in order, rewriting it in place, and return it.

    With `verify`, the module is verified before the first pass and after each pass, and
    PassVerificationError names the pass that broke it. An unknown pass name raises
    UnknownPassError, a ValueError. PassManager has the options to print and time the passes.
    """
    return PassManager(passes, verify=verify).run(module).module
