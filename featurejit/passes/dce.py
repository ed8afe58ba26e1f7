"""Dead code elimination: remove ops whose results are unused and that cannot flag a row.

xDSL's `dce` keeps every op that does not declare its memory effects, as `MayTakeSlowPath` ops
do not. This pass removes an unused `MayTakeSlowPath` op when its operand types show that no
input makes it flag (see `effects.py`). An unused `scf.if` goes when nothing in its regions can
flag or raise. Erasing an op can leave its operands unused, so the walk repeats until nothing
changes.

This resembles LLVM's `dce` pass, and the erasure of trivially dead ops in MLIR's greedy
rewriter, with the `py` dialect's rules for which ops may flag.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern
from xdsl.traits import IsTerminator

from featurejit.passes.effects import is_free_of_effects


def is_dead(op: Operation) -> bool:
    """Return whether `op` can be erased without changing what the function computes or flags."""
    if op.parent is None or op.has_trait(IsTerminator):
        return False
    if any(result.uses for result in op.results):
        return False
    return is_free_of_effects(op)


class RemoveDeadOp(RewritePattern):
    """Erase an op that `is_dead`."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if is_dead(op):
            rewriter.erase(op)


@dataclass(frozen=True)
class DeadCodePass(ModulePass):
    """Remove unused ops that cannot flag a row."""

    name = "dce"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        # Walking backwards visits the users of a value before the op that defines it, so most
        # chains of dead ops go in one walk. The walker repeats until a walk changes nothing.
        PatternRewriteWalker(RemoveDeadOp(), walk_reverse=True).rewrite_module(op)
