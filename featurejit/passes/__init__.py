"""IR passes over resolver IR, and the pipeline that runs them in order."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import VerifyException

from featurejit.ir.context import make_context
from featurejit.passes.cse import CommonSubexpressionPass
from featurejit.passes.dce import DeadCodePass
from featurejit.passes.fold_constants import FoldConstantsPass
from featurejit.passes.if_conversion import IfConversionPass

__all__ = [
    "DEFAULT_PIPELINE",
    "PASSES",
    "CommonSubexpressionPass",
    "DeadCodePass",
    "FoldConstantsPass",
    "IfConversionPass",
    "PassVerificationError",
    "run_pipeline",
]

logger = logging.getLogger("featurejit")

PASSES: dict[str, type[ModulePass]] = {
    pass_class.name: pass_class
    for pass_class in (FoldConstantsPass, IfConversionPass, CommonSubexpressionPass, DeadCodePass)
}

DEFAULT_PIPELINE: tuple[str, ...] = (
    "fold-constants",
    # After folding, which removes branches on constant conditions.
    "if-conversion",
    # Folding can make two ops identical, and if-conversion puts former branches side by side.
    "cse",
    # Last, to remove the operands that folding leaves unused.
    "dce",
)


class PassVerificationError(Exception):
    """An internal compiler error: a pass produced IR that does not verify."""


def run_pipeline(
    module: ModuleOp, passes: Sequence[str] = DEFAULT_PIPELINE, *, verify: bool = True
) -> ModuleOp:
    """Run the named passes on `module` in order, rewriting it in place, and return it.

    With `verify`, the module is verified after each pass, and PassVerificationError names the
    pass that broke it. An unknown pass name raises ValueError.
    """
    unknown = [name for name in passes if name not in PASSES]
    if unknown:
        raise ValueError(f"unknown pass {unknown[0]!r}, expected one of: {', '.join(PASSES)}")

    context = make_context()
    for name in passes:
        logger.debug("running pass %s", name)
        PASSES[name]().apply(context, module)
        if not verify:
            continue
        try:
            module.verify()
        except VerifyException as error:
            raise PassVerificationError(
                f"internal compiler error: the IR does not verify after pass {name!r}: {error}"
            ) from error
    return module
