"""Does the planned model fit the board? Checked before any C is built, with the numbers."""
from __future__ import annotations

from dataclasses import dataclass

from ..graph.ir import Graph
from ..model.errors import ModelError
from .arena import ArenaPlan

# What the runtime, link and kernels take besides the model comes from the board
# (board.json "runtime", measured there; the exact figure comes from the ELF after the build).
PARAM_BYTES_PER_CHANNEL = 8  # int32 multiplier + shift per output channel
# The model's own tables in RAM, on top of the board's runtime figure (upper bounds on every
# board: a u32 cycle count and an op-name pointer per layer, an mf_io entry per input/output).
RAM_BYTES_PER_LAYER = 8
RAM_BYTES_PER_IO = 12


class BudgetError(ModelError):
    """The model does not fit the board; the message gives needed vs available bytes.
    A ModelError: a model too big for the board is refused like an unsupported one (exit 3)."""


@dataclass
class Budget:
    weights_bytes: int
    code_bytes: int  # runtime, link and the model's kernels (estimate)
    flash_needed: int
    flash_available: int
    arena_bytes: int
    ram_needed: int
    ram_available: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def runtime_ram(graph: Graph, board) -> int:
    """Static RAM besides arena and stack: the board's runtime figure plus the model's tables
    (inputs, outputs and state tensors; the state table has one entry when empty)."""
    layers = sum(1 for op in graph.ops if op.kind != "reshape")
    return board.runtime_ram_bytes + RAM_BYTES_PER_LAYER * layers + RAM_BYTES_PER_IO * (
        len(graph.inputs) + len(graph.outputs) + max(len(graph.states()), 1))


def estimate(graph: Graph, plan: ArenaPlan, board, extension_ram: int = 0) -> Budget:
    weights = sum(t.nbytes for t in graph.constants())
    params = 0
    for op in graph.ops:
        mult = op.attrs.get("out_multiplier")
        if mult is not None and hasattr(mult, "size"):
            params += int(mult.size) * PARAM_BYTES_PER_CHANNEL
    stack = int(getattr(board, "stack_bytes", 8 * 1024))
    code = board.runtime_flash_bytes + sum(board.kernel_flash_bytes.get(k, 0) for k in {op.kind for op in graph.ops})
    return Budget(
        weights_bytes=weights,
        code_bytes=code,
        flash_needed=weights + params + code,
        flash_available=int(board.flash_bytes),
        arena_bytes=plan.arena_bytes,
        ram_needed=plan.arena_bytes + stack + runtime_ram(graph, board) + extension_ram,
        ram_available=int(board.ram_bytes),
    )


def check_fits(graph: Graph, plan: ArenaPlan, board, extension_ram: int = 0) -> Budget:
    """``extension_ram``: static RAM of the firmware extensions the model brings (e.g. the RNN's
    ring of frames)."""
    b = estimate(graph, plan, board, extension_ram)
    problems = []
    if b.flash_needed > b.flash_available:
        problems.append(
            f"flash: needs {b.flash_needed:,} bytes (weights {b.weights_bytes:,} + code ~{b.code_bytes:,}), "
            f"{board.name} has {b.flash_available:,}: {b.flash_needed - b.flash_available:,} bytes over"
        )
    if b.ram_needed > b.ram_available:
        problems.append(
            f"RAM: needs {b.ram_needed:,} bytes (arena {b.arena_bytes:,} + stack {int(getattr(board, 'stack_bytes', 8192)):,} "
            f"+ runtime ~{runtime_ram(graph, board):,}"
            + (f" + extensions {extension_ram:,}" if extension_ram else "")
            + f"), {board.name} has {b.ram_available:,}: "
            f"{b.ram_needed - b.ram_available:,} bytes over"
        )
    if problems:
        raise BudgetError(f"model '{graph.name}' does not fit board '{board.name}':\n  " + "\n  ".join(problems))
    return b
