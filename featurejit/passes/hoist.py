"""Hoisting: move each op that every row runs above the branches it does not depend on.

A top-level op of a function runs on every row at any place in the block, so it may move up
to just after the ops that define its operands. The pass moves each op that CSE may merge (Pure or
`MayTakeSlowPath`, with results and without regions) up past `scf.if` ops, keeping the order
of the ops it moves. An op then dominates the identical ops inside the branches after it.
CSE merges the pure ones. LLVM computes once a library call that a branch repeats, such as a
fused group's `math.log1p(distance)` in one resolver's `else` and in another's body.

Moving an op that may flag a row earlier changes no result. The kernel combines the flags of
a row whatever their order, and a flagged row runs in the interpreter, which follows
CPython's order. An op never moves above an op whose effects the pass does not know, or
above one without results such as `py.raise`. The pass runs before CSE, so that CSE can merge
the identical ops that it lines up.

This resembles the early placement of global code motion, which puts each op at the first
point where its operands are ready, for the top level of a function only.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func, scf
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation
from xdsl.passes import ModulePass

from featurejit.passes.cse import is_mergeable


def hoist_in_block(block: Block) -> None:
    """Reorder the ops of a function's body block: each movable op goes before the first branch after its operands.

    The block is cut into segments, each ending with an op that does not move: a branch, or a
    barrier that no op passes. A movable op joins the earliest segment where its operands
    are defined and no barrier lies before, after the movable ops already there.
    """
    movable: list[list[Operation]] = [[]]
    enders: list[Operation] = []
    # The first segment whose ops may use an op's results.
    available: dict[Operation, int] = {}
    floor = 0
    for op in block.ops:
        if is_mergeable(op):
            target = floor
            for operand in op.operands:
                owner = operand.owner
                if isinstance(owner, Operation) and owner in available:
                    target = max(target, available[owner])
            movable[target].append(op)
            available[op] = target
            continue
        enders.append(op)
        movable.append([])
        available[op] = len(movable) - 1
        if not isinstance(op, scf.IfOp):
            floor = len(movable) - 1
    order = [op for segment, ender in zip(movable, [*enders, None], strict=True) for op in [*segment, ender] if op]
    if order == list(block.ops):
        return
    for op in order:
        block.detach_op(op)
    for op in order:
        block.add_op(op)


@dataclass(frozen=True)
class HoistPass(ModulePass):
    """Move ops that every row runs above the branches they do not depend on."""

    name = "hoist"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for function in op.walk():
            if isinstance(function, func.FuncOp) and function.body.blocks.first is not None:
                hoist_in_block(function.body.blocks.first)
