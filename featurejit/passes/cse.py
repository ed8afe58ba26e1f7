"""Common subexpression elimination: replace an op by an identical op that dominates it.

Two ops are identical when they have the same name, operands, properties, attributes and result
types, and neither has regions. Resolver IR is structured: every region has one block, so an op
dominates the ops after it in its block and in the regions nested there. The pass walks each
block in order with a scope of the ops seen so far. A nested region starts from a copy of the
enclosing scope, except the body of an op isolated from above, such as `func.func`, which
starts empty.

`MayTakeSlowPath` ops are merged too: the same inputs flag the same rows, and the dominating op
has already flagged them. `py.raise` is never merged, and neither is an op whose effects this
pass does not know (one that is neither Pure nor `MayTakeSlowPath`, such as `func.call`).

This resembles MLIR's `-cse` and LLVM's `early-cse`.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation
from xdsl.passes import ModulePass
from xdsl.traits import IsolatedFromAbove, Pure

from featurejit.ir.dialect import may_take_slow_path

OpKey = tuple[Hashable, ...]


def is_mergeable(op: Operation) -> bool:
    """Return whether `op` may be replaced by an identical op that dominates it.

    An op without results, such as `py.raise` or a terminator, is never merged, because it
    exists for what it does where it is. The key does not compare regions, so ops with
    regions are never merged either.
    """
    if op.regions or not op.results:
        return False
    return op.has_trait(Pure) or may_take_slow_path(op)


def op_key(op: Operation) -> OpKey:
    """Return a key that is equal for two ops exactly when they are identical."""
    return (
        op.name,
        tuple(op.operands),
        tuple(sorted(op.properties.items())),
        tuple(sorted(op.attributes.items())),
        tuple(op.result_types),
    )


def eliminate_in_block(block: Block, dominating: dict[OpKey, Operation]) -> None:
    """Replace each op in `block` and its nested regions by an identical dominating op.

    `dominating` contains the ops that dominate the start of the block, and is not modified.
    """
    seen = dict(dominating)
    for op in list(block.ops):
        for region in op.regions:
            enclosing = {} if op.has_trait(IsolatedFromAbove) else seen
            for nested in region.blocks:
                eliminate_in_block(nested, enclosing)

        if not is_mergeable(op):
            continue
        key = op_key(op)
        earlier = seen.get(key)
        if earlier is None:
            seen[key] = op
            continue
        for result, earlier_result in zip(op.results, earlier.results, strict=True):
            result.replace_all_uses_with(earlier_result)
        block.erase_op(op)


@dataclass(frozen=True)
class CommonSubexpressionPass(ModulePass):
    """Replace ops by identical ops that dominate them."""

    name = "cse"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        eliminate_in_block(op.body.block, {})
