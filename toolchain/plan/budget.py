"""Does the planned model fit the board? Checked before any C is built, with the numbers."""
from __future__ import annotations

from dataclasses import dataclass

from ..graph.ir import Graph
from ..model.errors import ModelError
from .arena import ArenaPlan

# What the runtime, link and kernels take besides the model (measured on netduinoplus2 with -O2,
# rounded up; the exact figure comes from the ELF after the build).
RUNTIME_FLASH_ESTIMATE = 24 * 1024
RUNTIME_RAM_ESTIMATE = 2 * 1024
PARAM_BYTES_PER_CHANNEL = 8  # int32 multiplier + shift per output channel


class BudgetError(ModelError):
    """The model does not fit the board; the message gives needed vs available bytes.
    A ModelError: a model too big for the board is refused like an unsupported one (exit 3)."""


@dataclass
class Budget:
    weights_bytes: int
    flash_needed: int
    flash_available: int
    arena_bytes: int
    ram_needed: int
    ram_available: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def estimate(graph: Graph, plan: ArenaPlan, board) -> Budget:
    weights = sum(t.nbytes for t in graph.constants())
    params = 0
    for op in graph.ops:
        mult = op.attrs.get("out_multiplier")
        if mult is not None and hasattr(mult, "size"):
            params += int(mult.size) * PARAM_BYTES_PER_CHANNEL
    stack = int(getattr(board, "stack_bytes", 8 * 1024))
    return Budget(
        weights_bytes=weights,
        flash_needed=weights + params + RUNTIME_FLASH_ESTIMATE,
        flash_available=int(board.flash_bytes),
        arena_bytes=plan.arena_bytes,
        ram_needed=plan.arena_bytes + stack + RUNTIME_RAM_ESTIMATE,
        ram_available=int(board.ram_bytes),
    )


def check_fits(graph: Graph, plan: ArenaPlan, board) -> Budget:
    b = estimate(graph, plan, board)
    problems = []
    if b.flash_needed > b.flash_available:
        problems.append(
            f"flash: needs {b.flash_needed:,} bytes (weights {b.weights_bytes:,} + runtime ~{RUNTIME_FLASH_ESTIMATE:,}), "
            f"{board.name} has {b.flash_available:,}: {b.flash_needed - b.flash_available:,} bytes over"
        )
    if b.ram_needed > b.ram_available:
        problems.append(
            f"RAM: needs {b.ram_needed:,} bytes (arena {b.arena_bytes:,} + stack {int(getattr(board, 'stack_bytes', 8192)):,} "
            f"+ runtime ~{RUNTIME_RAM_ESTIMATE:,}), {board.name} has {b.ram_available:,}: "
            f"{b.ram_needed - b.ram_available:,} bytes over"
        )
    if problems:
        raise BudgetError(f"model '{graph.name}' does not fit board '{board.name}':\n  " + "\n  ".join(problems))
    return b
