"""If-conversion: turn an `scf.if` whose branches cannot flag into `py.select` ops.

Both branches' ops move in front of the `scf.if`, which runs them on every row, and each
result becomes a select between the two yielded values. This is only valid when running a
branch's ops on a row that CPython would not run them on changes nothing. So every op must
be free of effects, and none may flag the row (see `effects.py`): speculating `x // y`
would flag rows where CPython never divides. Branches are small, so the cost of running both
is a few instructions, and straight-line code lets LLVM vectorize the loop over rows.

Inner `scf.if` ops are converted first, so nested conditionals collapse from the inside out.
This resembles LLVM's SimplifyCFG speculation and MLIR's scf-to-select canonicalization.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import scf
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation
from xdsl.passes import ModulePass

from featurejit.ir.dialect import SelectOp
from featurejit.passes.effects import is_free_of_effects

# Branches with more ops than this stay branches: running both sides would cost more than
# a mispredicted branch.
MAX_SPECULATED_OPS = 24


def branch_ops(block: Block | None) -> list[Operation]:
    """Return a branch's ops without its terminator."""
    if block is None:
        return []
    return [op for op in block.ops if not isinstance(op, scf.YieldOp)]


def is_convertible(op: scf.IfOp) -> bool:
    """Return whether both branches are small and consist of ops without effects."""
    branches = [branch_ops(op.true_region.blocks.first), branch_ops(op.false_region.blocks.first)]
    if sum(len(branch) for branch in branches) > MAX_SPECULATED_OPS:
        return False
    return all(is_free_of_effects(inner) and not isinstance(inner, scf.IfOp) for branch in branches for inner in branch)


def convert(op: scf.IfOp) -> None:
    """Move both branches in front of `op` and replace its results with selects."""
    parent = op.parent_block()
    assert parent is not None, "a converted scf.if sits in a block"
    yielded = []
    for region in (op.true_region, op.false_region):
        block = region.blocks.first
        terminator = block.last_op if block is not None else None
        yielded.append(list(terminator.operands) if isinstance(terminator, scf.YieldOp) else [])
        for inner in branch_ops(block):
            inner.detach()
            parent.insert_op_before(inner, op)
    selects = [SelectOp(op.cond, true_value, false_value) for true_value, false_value in zip(*yielded, strict=True)]
    for select in selects:
        parent.insert_op_before(select, op)
    for result, select in zip(op.results, selects, strict=True):
        result.replace_all_uses_with(select.result)
    op.detach()
    op.erase()


@dataclass(frozen=True)
class IfConversionPass(ModulePass):
    """Replace small `scf.if` ops whose branches cannot flag with `py.select`."""

    name = "if-conversion"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        # Inner ifs come first, so an outer if sees its branches with them already converted.
        for candidate in post_order(op):
            if is_convertible(candidate):
                convert(candidate)


def post_order(root: Operation) -> list[scf.IfOp]:
    """Return the `scf.if` ops under `root`, each after every `scf.if` nested inside it."""
    found: list[scf.IfOp] = []

    def visit(op: Operation) -> None:
        for region in op.regions:
            for block in region.blocks:
                for inner in list(block.ops):
                    visit(inner)
        if isinstance(op, scf.IfOp):
            found.append(op)

    visit(root)
    return found
